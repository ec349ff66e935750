//! The SDK stands on its own: the WIT it carries is the repository's, and the crate that
//! `cargo package` makes builds an extension, which a host then installs and calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anya_host::ids::ComponentName;
use anya_host::manifest::Manifest;
use anya_host::{package, signature};
use serde_json::json;

use crate::common::{Node, key, snapshot};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_sdk_carries_the_same_wit_as_the_host() {
    let canonical = snapshot(&repo().join("wit"));
    let carried = snapshot(&repo().join("sdk/wit"));
    assert!(
        canonical.keys().any(|p| p.ends_with("host/host.wit")),
        "{:?}",
        canonical.keys()
    );
    let differ = |a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>| -> Vec<PathBuf> {
        a.iter()
            .filter(|(path, bytes)| b.get(*path) != Some(*bytes))
            .map(|(path, _)| path.clone())
            .collect()
    };
    let (missing, extra) = (differ(&canonical, &carried), differ(&carried, &canonical));
    assert!(
        missing.is_empty() && extra.is_empty(),
        "sdk/wit differs from wit/ (copy wit/ over sdk/wit/): changed or missing in sdk/wit: \
         {missing:?}; only in sdk/wit: {extra:?}"
    );
}

/// A nested cargo: without the variables of the outer `cargo test` that the fixtures'
/// build script removes too ([`anya_fixtures::is_leaked`]), and on the real clock
/// (libfaketime, which `.ci/run` puts under the tests, makes rustc hang: the build is
/// the tests' tooling, the host that installs what it builds runs on the shifted clock).
fn nested_cargo(args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(args).current_dir(dir).env_remove("LD_PRELOAD");
    for (key, _) in std::env::vars() {
        if anya_fixtures::is_leaked(&key) || key.starts_with("FAKETIME") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run cargo: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cargo package -p anya-sdk`, unpacked into `into`: the SDK as a user of crates.io
/// would get it.
fn packaged_sdk(into: &Path) -> PathBuf {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sdk-package");
    let target = work.join("package-target");
    run(
        nested_cargo(
            &[
                "package",
                "-p",
                "anya-sdk",
                "--no-verify",
                "--allow-dirty",
                "--target-dir",
                target.to_str().unwrap(),
            ],
            &repo(),
        ),
        "cargo package -p anya-sdk",
    );
    let version = env!("CARGO_PKG_VERSION");
    let crate_file = target.join(format!("package/anya-sdk-{version}.crate"));
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf {}", crate_file.display());
    let sdk = into.join(format!("anya-sdk-{version}"));
    assert!(
        sdk.join("wit/extension/extension.wit").is_file(),
        "the packaged SDK lacks its WIT"
    );
    sdk
}

const GREETER_WIT: &str = r#"package acme:greeter@0.1.0;

interface greet {
    hello: func(name: string) -> result<string, string>;
    count: func() -> u64;
}

world greeter {
    include anya:extension/extension@1.0.0;
    export greet;
}
"#;

const GREETER_RS: &str = r#"anya_sdk::generate!(extension "acme:greeter/greeter");

use anya_sdk::kv;
use exports::acme::greeter::greet::Guest as Greet;
use exports::anya::extension::lifecycle::Guest as Lifecycle;

struct Greeter;

impl Lifecycle for Greeter {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl Greet for Greeter {
    fn hello(name: String) -> Result<String, String> {
        if name.is_empty() {
            return Err("name is empty".into());
        }
        let n = kv::get_u64("greeted").map_err(|e| e.to_string())?.unwrap_or(0);
        kv::set_u64("greeted", n + 1).map_err(|e| e.to_string())?;
        Ok(format!("Hello, {name}!"))
    }

    fn count() -> u64 {
        kv::get_u64("greeted").ok().flatten().unwrap_or(0)
    }
}

export!(Greeter);
"#;

/// A greeter extension crate depending on the SDK at `sdk`, built for wasm32-wasip2; the
/// component's bytes.
fn build_greeter(sdk: &Path) -> Vec<u8> {
    // Under the repository, so that rustup picks its toolchain (rust-toolchain.toml);
    // a workspace of its own, with the plugins' lock file for the same crate versions.
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sdk-package");
    let crate_dir = work.join("greeter");
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::create_dir_all(crate_dir.join("wit")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"greeter\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nanya-sdk = {{ path = {:?} }}\n\n\
             [workspace]\n\n\
             [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\n\
             strip = \"debuginfo\"\npanic = \"abort\"\n",
            sdk.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(crate_dir.join("wit/greeter.wit"), GREETER_WIT).unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), GREETER_RS).unwrap();
    std::fs::copy(
        repo().join("plugins/Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();
    let target = work.join("greeter-target");
    run(
        nested_cargo(
            &[
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
                target.to_str().unwrap(),
            ],
            &crate_dir,
        ),
        "cargo build of the greeter against the packaged SDK",
    );
    std::fs::read(target.join("wasm32-wasip2/release/greeter.wasm")).unwrap()
}

#[test]
fn the_packaged_sdk_builds_an_extension_that_a_host_installs_and_calls() {
    let unpacked = tempfile::tempdir().unwrap();
    let sdk = packaged_sdk(unpacked.path());
    let wasm = build_greeter(&sdk);

    let manifest = Manifest::parse(
        "name = \"greeter\"\nversion = \"0.1.0\"\nkind = \"extension\"\n\
         update_type = \"feature\"\nsecurity_critical = false\nbreaking_changes = false\n\
         description = \"Greets, built against the packaged SDK\"\n",
    )
    .unwrap();
    let signed =
        signature::sign(&package::embed_manifest(&wasm, &manifest).unwrap(), &key(1)).unwrap();
    let node = Node::new();
    node.put_in_registry("greeter", "0.1.0", &signed);
    let manager = node.manager();
    let greeter = ComponentName::parse("greeter").unwrap();
    manager.install(&greeter, None, false).unwrap();
    assert_eq!(
        manager.call(&greeter, "hello", json!("Anya")).unwrap(),
        json!({"ok": "Hello, Anya!"})
    );
    assert_eq!(
        manager.call(&greeter, "count", json!([])).unwrap(),
        json!(1)
    );
}
