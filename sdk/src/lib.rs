//! Build Anya extensions and validators in Rust.
//!
//! An Anya component is a WebAssembly component (built for `wasm32-wasip2`)
//! that targets one of the worlds in Anya's WIT packages (the `wit/` folder,
//! [`WIT_DIR`]). This crate generates the bindings for those worlds once, so
//! that a component is its domain code plus a few lines:
//!
//! ```ignore
//! use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};
//!
//! struct Bech32;
//!
//! impl Lifecycle for Bech32 {
//!     fn activate(_previous: Option<String>) -> Result<(), String> { Ok(()) }
//!     fn health() -> Result<(), String> { Ok(()) }
//! }
//!
//! impl Address for Bech32 {
//!     fn decode(address: String) -> Result<SegwitAddress, String> { todo!() }
//!     fn encode(hrp: String, version: u8, program: Vec<u8>) -> Result<String, String> { todo!() }
//! }
//!
//! anya_sdk::export_address_provider!(Bech32);
//! ```
//!
//! | world | implement | export with |
//! |---|---|---|
//! | `anya:extension/extension` | [`extension::Lifecycle`] | [`export_extension!`] |
//! | `anya:validator/validator` | [`validator::Suite`] | [`export_validator!`] |
//! | `anya:bitcoin/address-provider` | [`bitcoin::provider::Lifecycle`], [`bitcoin::provider::Address`] | [`export_address_provider!`] |
//! | `anya:bitcoin/address-validator` | [`bitcoin::validator::Suite`] | [`export_address_validator!`] |
//! | `anya:bitcoin/bitcoin-module@1.1.0` | [`bitcoin::module::Lifecycle`] and the interface traits in [`bitcoin::module`] | [`export_bitcoin_module!`] |
//! | `anya:bitcoin/bitcoin-validator@1.1.0` | [`bitcoin::module_validator::Suite`] | [`export_bitcoin_validator!`] |
//! | a world of your own | what its `generate!` makes | [`generate!`], then its `export!` |
//!
//! Every world's host imports are the same functions, reachable through
//! [`log`] and [`kv`] whatever the world. The crate re-exports [`wit_bindgen`]
//! so that authors never pin it themselves.
//!
//! On targets other than `wasm32` the crate compiles (so that it can sit in a
//! host workspace), but calling a host import there panics.

// The generated export macros name this crate by its path, `anya_sdk::...`,
// because they expand in the author's crate; this makes the same path work
// inside the SDK.
extern crate self as anya_sdk;

pub use wit_bindgen;

// `WIT_DIR` and `generate!`, written by build.rs with the absolute path of
// `wit/` baked in.
include!(concat!(env!("OUT_DIR"), "/generate.rs"));

/// Anya's WIT packages: the sub-folders of [`WIT_DIR`], in the order a WIT
/// resolver must load them (each refers only to packages before it).
///
/// `bitcoin` is `anya:bitcoin@1.0.0` (addresses) and `bitcoin-1.1` is
/// `anya:bitcoin@1.1.0` (addresses, transactions, signature hashes, taproot,
/// Schnorr signatures, PSBTs): a published version never changes, so the
/// minor version that added interfaces is a folder of its own.
pub const WIT_PACKAGES: [&str; 5] = ["host", "extension", "validator", "bitcoin", "bitcoin-1.1"];

/// The generated bindings, one module per Anya world.
///
/// The friendlier paths ([`log`], [`kv`], [`extension`], [`validator`],
/// [`bitcoin`]) re-export what authors need from here.
pub mod bindings {
    /// `anya:extension/extension`: host log and kv in, lifecycle out.
    pub mod extension {
        wit_bindgen::generate!({
            path: ["wit/host", "wit/extension"],
            world: "anya:extension/extension",
            runtime_path: "anya_sdk::wit_bindgen::rt",
            pub_export_macro: true,
            default_bindings_module: "anya_sdk::bindings::extension",
            export_macro_name: "export_extension",
            with: {
                "anya:host/log@1.0.0": generate,
                "anya:host/kv@1.0.0": generate,
            },
        });
    }

    /// `anya:validator/validator`: host log in, suite out.
    pub mod validator {
        wit_bindgen::generate!({
            path: ["wit/host", "wit/validator"],
            world: "anya:validator/validator",
            runtime_path: "anya_sdk::wit_bindgen::rt",
            pub_export_macro: true,
            default_bindings_module: "anya_sdk::bindings::validator",
            export_macro_name: "export_validator",
            with: {
                "anya:host/log@1.0.0": anya_sdk::bindings::extension::anya::host::log,
            },
        });
    }

    // wit-bindgen defines one `#[macro_export]` macro per exported interface,
    // at the crate root, so each exported interface may be generated only
    // once in this crate. The `anya:bitcoin` worlds are therefore built from
    // pieces: the world-level export macros above, plus the address export
    // and the address import on their own. wit-component unions the pieces'
    // worlds into the component's one world.

    /// The `anya:bitcoin/address` export, on its own (see
    /// [`export_address_provider!`](crate::export_address_provider)).
    pub mod address_export {
        wit_bindgen::generate!({
            path: ["wit/host", "wit/extension", "wit/validator", "wit/bitcoin"],
            inline: "
                package anya-sdk:pieces;
                world address-export { export anya:bitcoin/address@1.0.0; }
            ",
            world: "anya-sdk:pieces/address-export",
            runtime_path: "anya_sdk::wit_bindgen::rt",
            pub_export_macro: true,
            default_bindings_module: "anya_sdk::bindings::address_export",
            export_macro_name: "export_address",
        });
    }

    /// The `anya:bitcoin/address` import, on its own: the candidate a
    /// validator of the `anya:bitcoin/address-validator` world tests.
    pub mod address_import {
        wit_bindgen::generate!({
            path: ["wit/host", "wit/extension", "wit/validator", "wit/bitcoin"],
            inline: "
                package anya-sdk:pieces;
                world address-import { import anya:bitcoin/address@1.0.0; }
            ",
            world: "anya-sdk:pieces/address-import",
            runtime_path: "anya_sdk::wit_bindgen::rt",
            with: { "anya:bitcoin/address@1.0.0": generate },
        });
    }
    /// The exports of the `anya:bitcoin/bitcoin-module@1.1.0` world (without
    /// the lifecycle), on their own (see
    /// [`export_bitcoin_module!`](crate::export_bitcoin_module)). Only the
    /// 1.1.0 package is loaded here, so the module paths carry no version.
    pub mod module_export {
        wit_bindgen::generate!({
            path: ["wit/host", "wit/extension", "wit/validator", "wit/bitcoin-1.1"],
            inline: "
                package anya-sdk:pieces;
                world module-export {
                    export anya:bitcoin/address@1.1.0;
                    export anya:bitcoin/transaction@1.1.0;
                    export anya:bitcoin/sighash@1.1.0;
                    export anya:bitcoin/taproot@1.1.0;
                    export anya:bitcoin/schnorr@1.1.0;
                    export anya:bitcoin/psbt@1.1.0;
                }
            ",
            world: "anya-sdk:pieces/module-export",
            runtime_path: "anya_sdk::wit_bindgen::rt",
            pub_export_macro: true,
            default_bindings_module: "anya_sdk::bindings::module_export",
            export_macro_name: "export_module_interfaces",
        });
    }

    /// The imports of the `anya:bitcoin/bitcoin-validator@1.1.0` world, on
    /// their own: the module a BIP validator tests. A validator component
    /// keeps only the imports its code calls.
    pub mod module_import {
        wit_bindgen::generate!({
            path: ["wit/host", "wit/extension", "wit/validator", "wit/bitcoin-1.1"],
            inline: "
                package anya-sdk:pieces;
                world module-import {
                    import anya:bitcoin/transaction@1.1.0;
                    import anya:bitcoin/sighash@1.1.0;
                    import anya:bitcoin/taproot@1.1.0;
                    import anya:bitcoin/schnorr@1.1.0;
                    import anya:bitcoin/psbt@1.1.0;
                }
            ",
            world: "anya-sdk:pieces/module-import",
            runtime_path: "anya_sdk::wit_bindgen::rt",
            generate_all,
        });
    }
}

/// Exports `$ty` as a component of the `anya:bitcoin/bitcoin-module@1.1.0`
/// world: `$ty` implements [`bitcoin::module::Lifecycle`] and every
/// interface trait in [`bitcoin::module`].
#[macro_export]
macro_rules! export_bitcoin_module {
    ($ty:ident) => {
        $crate::export_extension!($ty);
        anya_sdk::bindings::module_export::export_module_interfaces!($ty);
    };
}

/// Exports `$ty` as a component of the
/// `anya:bitcoin/bitcoin-validator@1.1.0` world: `$ty` implements
/// [`bitcoin::module_validator::Suite`] and calls the module under test
/// through [`bitcoin::module_validator`].
#[macro_export]
macro_rules! export_bitcoin_validator {
    ($ty:ident) => {
        $crate::export_validator!($ty);
    };
}

/// Exports `$ty` as a component of the `anya:bitcoin/address-provider`
/// world: `$ty` implements [`bitcoin::provider::Lifecycle`] and
/// [`bitcoin::provider::Address`].
#[macro_export]
macro_rules! export_address_provider {
    ($ty:ident) => {
        $crate::export_extension!($ty);
        anya_sdk::bindings::address_export::export_address!($ty);
    };
}

/// Exports `$ty` as a component of the `anya:bitcoin/address-validator`
/// world: `$ty` implements [`bitcoin::validator::Suite`] and tests the
/// imported [`bitcoin::validator::address`].
#[macro_export]
macro_rules! export_address_validator {
    ($ty:ident) => {
        $crate::export_validator!($ty);
    };
}

pub use bindings::extension::export_extension;
pub use bindings::validator::export_validator;

/// `anya:host/log`: log lines attributed by the host to this component.
pub mod log {
    pub use crate::bindings::extension::anya::host::log::{Level, log};

    /// Logs `message` at [`Level::Trace`].
    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }

    /// Logs `message` at [`Level::Debug`].
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// Logs `message` at [`Level::Info`].
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Logs `message` at [`Level::Warn`].
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// Logs `message` at [`Level::Error`].
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// `anya:host/kv`: this extension's own durable key-value data.
///
/// Only extensions have it (validators run without state). Values are bytes;
/// [`get_u64`](crate::kv::get_u64) and [`set_u64`](crate::kv::set_u64) store counters as 8 little-endian bytes.
pub mod kv {
    pub use crate::bindings::extension::anya::host::kv::{Error, delete, get, list_keys, set};

    /// Why a typed read failed: the host refused, or the stored value does
    /// not have the expected shape.
    #[derive(Debug, Clone)]
    pub enum ReadError {
        /// The host's error.
        Host(Error),
        /// The value under `key` is `len` bytes long, not the 8 of a `u64`.
        NotU64 { key: String, len: usize },
    }

    impl core::fmt::Display for ReadError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Self::Host(e) => write!(f, "{e:?}"),
                Self::NotU64 { key, len } => {
                    write!(
                        f,
                        "kv value under {key:?} is {len} bytes, not an 8-byte u64"
                    )
                }
            }
        }
    }

    impl std::error::Error for ReadError {}

    /// The `u64` stored under `key` by [`set_u64`], or `None`.
    pub fn get_u64(key: &str) -> Result<Option<u64>, ReadError> {
        match get(key).map_err(ReadError::Host)? {
            None => Ok(None),
            Some(bytes) => {
                let len = bytes.len();
                let bytes: [u8; 8] = bytes.try_into().map_err(|_| ReadError::NotU64 {
                    key: key.to_owned(),
                    len,
                })?;
                Ok(Some(u64::from_le_bytes(bytes)))
            }
        }
    }

    /// Stores `value` under `key` as 8 little-endian bytes.
    pub fn set_u64(key: &str, value: u64) -> Result<(), Error> {
        set(key, &value.to_le_bytes())
    }
}

/// Implements `From` constructors for a generated `case-result` record.
macro_rules! case_result_helpers {
    ($ty:ty) => {
        impl $ty {
            /// A passed case.
            pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
                Self {
                    name: name.into(),
                    passed: true,
                    detail: detail.into(),
                }
            }

            /// A failed case; `detail` says what was expected and what happened.
            pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Self {
                Self {
                    name: name.into(),
                    passed: false,
                    detail: detail.into(),
                }
            }

            /// [`Self::pass`] when `outcome` is `Ok(detail)`, else
            /// [`Self::fail`] with the error as the detail.
            pub fn from_outcome(name: impl Into<String>, outcome: Result<String, String>) -> Self {
                match outcome {
                    Ok(detail) => Self::pass(name, detail),
                    Err(detail) => Self::fail(name, detail),
                }
            }
        }
    };
}

/// The `anya:extension/extension` world.
pub mod extension {
    /// What every extension implements: `activate` and `health`.
    pub use crate::bindings::extension::exports::anya::extension::lifecycle::Guest as Lifecycle;
    pub use crate::export_extension;
}

/// The `anya:validator/validator` world.
pub mod validator {
    pub use crate::bindings::validator::exports::anya::validator::suite::CaseResult;
    /// What every validator implements: `run`.
    pub use crate::bindings::validator::exports::anya::validator::suite::Guest as Suite;
    pub use crate::export_validator;

    case_result_helpers!(CaseResult);
}

/// The example domain package `anya:bitcoin`.
pub mod bitcoin {
    /// The `anya:bitcoin/address-provider` world: an extension that
    /// implements segwit addresses.
    pub mod provider {
        /// Segwit address encoding, as the host and validators call it.
        pub use crate::bindings::address_export::exports::anya::bitcoin::address::Guest as Address;
        pub use crate::bindings::address_export::exports::anya::bitcoin::address::SegwitAddress;
        pub use crate::export_address_provider;
        pub use crate::extension::Lifecycle;
    }

    /// The `anya:bitcoin/address-validator` world: a validator that tests an
    /// implementation of `anya:bitcoin/address`.
    pub mod validator {
        /// The implementation under test: `address::decode`, `address::encode`.
        pub use crate::bindings::address_import::anya::bitcoin::address;
        pub use crate::bindings::address_import::anya::bitcoin::address::SegwitAddress;
        pub use crate::export_address_validator;
        pub use crate::validator::{CaseResult, Suite};
    }

    /// The `anya:bitcoin/bitcoin-module@1.1.0` world: an extension that
    /// implements the whole package (addresses, transactions, signature
    /// hashes, taproot, Schnorr signatures, PSBTs).
    pub mod module {
        pub use crate::bindings::module_export::exports::anya::bitcoin::address::{
            Guest as Address, SegwitAddress,
        };
        pub use crate::bindings::module_export::exports::anya::bitcoin::psbt::Guest as Psbt;
        pub use crate::bindings::module_export::exports::anya::bitcoin::schnorr::Guest as Schnorr;
        pub use crate::bindings::module_export::exports::anya::bitcoin::sighash::Guest as Sighash;
        pub use crate::bindings::module_export::exports::anya::bitcoin::taproot::Guest as Taproot;
        pub use crate::bindings::module_export::exports::anya::bitcoin::transaction::Guest as Transaction;
        /// The types of each interface (`types::transaction::Tx`, ...).
        pub mod types {
            pub use crate::bindings::module_export::exports::anya::bitcoin::{
                psbt, schnorr, sighash, taproot, transaction,
            };
        }
        pub use crate::export_bitcoin_module;
        pub use crate::extension::Lifecycle;
    }

    /// The `anya:bitcoin/bitcoin-validator@1.1.0` world: a validator that
    /// tests a Bitcoin module through its imports (`transaction`,
    /// `sighash`, `taproot`, `schnorr`, `psbt`).
    pub mod module_validator {
        pub use crate::bindings::module_import::anya::bitcoin::{
            psbt, schnorr, sighash, taproot, transaction,
        };
        pub use crate::export_bitcoin_validator;
        pub use crate::validator::{CaseResult, Suite};
    }
}
