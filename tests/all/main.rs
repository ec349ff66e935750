//! Anya's integration tests: one binary, so wasmtime links once.

mod common;

mod cache;
mod cli;
mod interop;
mod refusals;
