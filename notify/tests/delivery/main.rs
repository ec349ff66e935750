//! Delivery tests against real receivers: an HTTP server on loopback and aiosmtpd.
//! One binary, so the crate and its dependencies link once.

mod email;
mod queue;
mod slack;
mod support;
mod webhook;
