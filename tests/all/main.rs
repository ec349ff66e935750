//! Anya's integration tests: one binary, so wasmtime links once.

mod common;

mod cli;
mod refusals;
