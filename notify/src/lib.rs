//! Anya's update notifications: webhook, Slack and e-mail, delivered off the update path.
//!
//! The host builds a [`NotifierConfig`] from its policy, [starts](Notifier::start) one
//! [`Notifier`], and [sends](Notifier::send) an [`Event`] whenever an update is available,
//! installed, refused or rolled back, or a security-critical update appears.
//!
//! # Targets
//!
//! - **Webhook**: `POST` of the event as JSON (see [`Event`] for the schema) with the
//!   [Standard Webhooks](https://www.standardwebhooks.com/) headers `webhook-id` (the
//!   event id, the same on every attempt), `webhook-timestamp` (Unix seconds of the
//!   attempt) and, when a secret is configured, `webhook-signature`
//!   (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`). Receivers can check it
//!   with [`verify_signature`] or any Standard Webhooks library.
//! - **Slack**: an incoming-webhook `POST` of `{"text": summary, "blocks": [section]}`.
//! - **E-mail**: one plain-text message per event to every recipient over SMTP, subject
//!   [`Event::summary`]; STARTTLS required when configured, plain SMTP otherwise.
//!
//! # Guarantees
//!
//! - **Sending never waits.** [`Notifier::send`] takes a short lock to queue the event and
//!   returns; delivery happens on one background thread. A slow or dead receiver cannot
//!   delay an update.
//! - **Bounded memory.** Ordinary events and security alerts each have a queue of
//!   `queue_capacity` events; when a queue is full the event is dropped, counted
//!   ([`Notifier::dropped`]) and [`QueueFull`] returned. At most about `queue_capacity`
//!   ordinary deliveries wait for a retry; beyond that new events wait in the queue.
//! - **Security first.** With `security_alert_immediate`, security alerts
//!   ([`Event::is_security`]) and their retries go ahead of every ordinary event.
//! - **Retries.** Each delivery (one event to one target) is retried on its own: up to
//!   `retry.attempts` attempts, exponential backoff with full jitter (a 429/503
//!   `Retry-After` is honoured up to `max_backoff`). Waiting for a retry never holds up
//!   other deliveries; an attempt in progress does, for at most `per_attempt_timeout`
//!   (HTTP: the whole exchange; SMTP: each read or write).
//! - **What is retried.** HTTP 2xx is delivered. 5xx, 408, 429, timeouts and connection
//!   errors are retried. Other 4xx answers are final. Redirects are never followed: a
//!   3xx is a final failure, logged with its `Location`. SMTP 4xx replies and network
//!   errors are retried; 5xx replies and client-side refusals (for example a server not
//!   offering STARTTLS when it is required) are final.
//! - **At least once, no order across targets.** A receiver may see an event twice (an
//!   answer lost after it was processed); use `webhook-id` to drop duplicates.
//! - **Shutdown.** [`Notifier::shutdown`] delivers what it can within a deadline and
//!   reports what was abandoned; dropping the notifier abandons the queue at once.
//! - **No secrets in logs.** Targets are logged as `scheme://host[:port]` (a Slack URL's
//!   path is its credential); `Debug` of the configuration hides secrets.
//!
//! HTTP goes through `ureq` (rustls with the bundled web PKI roots; `HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured), SMTP through `lettre` (rustls).
//! Logs go to `tracing`.

mod config;
mod deliver;
mod event;
mod notifier;
mod signature;

pub use config::{ConfigError, EmailConfig, NotifierConfig, RetryPolicy, parse_webhook_secret};
pub use event::{Event, EventKind};
pub use notifier::{Notifier, QueueFull, Stats};
pub use signature::{sign, verify_signature};
