//! Writes `anya_sdk::generate!`, a `macro_rules!` wrapper around
//! `wit_bindgen::generate!` that already knows where Anya's WIT packages are.
//!
//! `wit_bindgen::generate!` resolves relative paths against the *calling*
//! crate, so the absolute path of `wit/` can only reach an author's crate
//! as a literal baked in here, at the SDK's build time.

use std::path::PathBuf;
use std::{env, fs};

/// Anya's WIT packages, in the order `wit-parser` must load them (each one
/// only refers to packages before it).
const PACKAGES: [&str; 5] = ["host", "extension", "validator", "bitcoin", "bitcoin-1.1"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // The SDK's own copy of the contract (the repository's `wit/`, kept identical by a
    // test), so that a packaged SDK carries it.
    let wit = manifest_dir.join("wit");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", wit.display());
    let wit = wit
        .canonicalize()
        .unwrap_or_else(|e| panic!("anya-sdk needs the WIT packages at {}: {e}", wit.display()));
    let mut paths = String::new();
    for pkg in PACKAGES {
        let dir = wit.join(pkg);
        assert!(
            dir.is_dir(),
            "anya-sdk: missing WIT package folder {}",
            dir.display()
        );
        let dir = dir
            .to_str()
            .unwrap_or_else(|| panic!("anya-sdk: the WIT path {} is not UTF-8", dir.display()));
        paths.push_str(&format!("{dir:?}, "));
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let wit_dir = wit.to_str().expect("checked above");
    let source = format!(
        r#"
/// The folder holding Anya's WIT packages, one sub-folder per package.
pub const WIT_DIR: &str = {wit_dir:?};

/// Generates bindings for a world of your own that uses Anya's WIT packages.
///
/// `generate!(extension "acme:greeter/greeter")` reads the WIT package in
/// your crate's `wit/` folder (as `wit_bindgen::generate!` would) with Anya's
/// packages (`anya:host`, `anya:extension`, `anya:validator`, `anya:bitcoin`
/// 1.0.0 and 1.1.0) already loaded, for a world that does
/// `include anya:extension/extension@1.0.0;`. Its `anya:host` imports are
/// bound to the SDK's own ([`crate::log`], [`crate::kv`]); everything else is
/// generated in place, as by `wit_bindgen::generate!`, and exported with the
/// `export!` macro that it defines.
///
/// `generate!(validator "acme:greeter/greeter-tests")` does the same for a
/// world that does `include anya:validator/validator@1.0.0;` (which imports
/// `anya:host/log` but not `kv`). A second literal, as in
/// `generate!(extension "acme:greeter/greeter", "my-wit")`, reads your package
/// from that folder instead of `wit`.
#[macro_export]
macro_rules! generate {{
    (extension $world:literal) => {{
        $crate::generate!(extension $world, "wit");
    }};
    (extension $world:literal, $path:literal) => {{
        $crate::wit_bindgen::generate!({{
            path: [{paths}$path],
            world: $world,
            runtime_path: "anya_sdk::wit_bindgen::rt",
            with: {{
                "anya:host/log@1.0.0": anya_sdk::bindings::extension::anya::host::log,
                "anya:host/kv@1.0.0": anya_sdk::bindings::extension::anya::host::kv,
            }},
            generate_all,
        }});
    }};
    (validator $world:literal) => {{
        $crate::generate!(validator $world, "wit");
    }};
    (validator $world:literal, $path:literal) => {{
        $crate::wit_bindgen::generate!({{
            path: [{paths}$path],
            world: $world,
            runtime_path: "anya_sdk::wit_bindgen::rt",
            with: {{
                "anya:host/log@1.0.0": anya_sdk::bindings::extension::anya::host::log,
            }},
            generate_all,
        }});
    }};
}}
"#
    );
    fs::write(out.join("generate.rs"), source).expect("write OUT_DIR/generate.rs");
}
