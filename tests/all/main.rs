//! Anya's integration tests: one binary, so wasmtime links once.

mod common;

mod bips;
mod cache;
mod cli;
mod compat;
mod crash;
mod daemon;
mod deps;
mod fleet;
mod gate;
mod hotswap;
mod index;
mod interop;
mod oci;
mod product;
mod refusals;
mod scheduler;
mod sdk;
mod validate;
