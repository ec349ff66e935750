//! The test hooks (`ANYA_CRASH_AT`, `ANYA_CLOCK_FILE`, `ANYA_SCHEDULER_TICK_MS`) exist
//! only in a build with the `test-hooks` feature, which `cargo test` turns on: a product
//! build of `anya` ignores them.

use std::path::{Path, PathBuf};

use anya_fixtures::BECH32_1_0_0;

use crate::common::{Node, anya_bin, text};

/// A node with bech32 1.0.0 published, and a clock file far from any real date.
fn node() -> Node {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.set_time("1999-01-01T00:00:00Z".parse().unwrap());
    node
}

/// Installs bech32 with `bin`, asked to crash at the first crash point.
fn install_crashing(node: &Node, bin: &Path) -> std::process::Output {
    node.command(bin, &["install", "bech32", "1.0.0"])
        .env(anya_host::update::crash::CRASH_ENV, "install:after-object")
        .output()
        .unwrap()
}

#[test]
fn the_test_build_honours_its_hooks() {
    let node = node();
    let out = install_crashing(&node, &anya_bin());
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("crashing at install:after-object"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs a product build of `anya` (without the test-hooks feature): .ci/run builds one \
            and names it in ANYA_PRODUCT_BIN"]
fn a_product_build_ignores_the_test_hooks() {
    let bin = PathBuf::from(
        std::env::var_os("ANYA_PRODUCT_BIN").expect("ANYA_PRODUCT_BIN names a product build"),
    );
    let node = node();
    let out = install_crashing(&node, &bin);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let out = node.command(&bin, &["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["components"][0]["version"], "1.0.0", "{status}");
    // The time is the system's, not the clock file's.
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    assert!(!journal.is_empty());
    assert!(!journal.contains("\"at\":\"1999-"), "{journal}");
}
