//! The compatibility gate: a breaking change without a major bump and an unapproved
//! capability escalation are refused with their reason and change nothing; `approve`
//! and `--force` let them through, audited; `check` shows declared and computed side by
//! side.
//!
//! Most checks go through the library (`check --json` prints the same report with
//! serde); a few go through the `anya` binary for exit codes and the table. Each test
//! keeps one manager open at a time and reads the state and the journal as files.

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, TEST_WASI_FS, TEST_WASI_FS_0_9_0};
use anya_host::ids::ComponentName;
use anya_host::manifest::Manifest;
use anya_host::store::{JournalEntry, State};
use anya_host::update::{UpdateError, UpdateManager};
use anya_host::{package, signature};
use semver::Version;
use serde_json::Value;
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::ManglingAndAbi;
use wit_parser::decoding::DecodedWasm;

use crate::common::{Node, key, manifest_of, text};

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// A component with the world of `wasm` minus `interface`'s `function` (a dummy core
/// module: it is refused before it could run).
fn without_function(wasm: &[u8], interface: &str, function: &str) -> Vec<u8> {
    let DecodedWasm::Component(mut resolve, world) = wit_component::decode(wasm).unwrap() else {
        panic!("not a component");
    };
    let (id, _) = resolve
        .interfaces
        .iter()
        .find(|(_, i)| i.name.as_deref() == Some(interface))
        .unwrap();
    resolve.interfaces[id]
        .functions
        .shift_remove(function)
        .unwrap();
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap()
}

/// `wasm` with `manifest` embedded, signed by the node's trusted key.
fn signed(wasm: &[u8], manifest: &Manifest) -> Vec<u8> {
    signature::sign(&package::embed_manifest(wasm, manifest).unwrap(), &key(1)).unwrap()
}

/// bech32 1.1.0's manifest at another version.
fn bech32_manifest(version: &str, breaking: bool) -> Manifest {
    let mut m = manifest_of(&BECH32_1_1_0);
    m.version = v(version);
    m.breaking_changes = breaking;
    m
}

/// A node with bech32 1.1.0 installed and, in the registry, a bech32 `version` without
/// `address.decode`; and its manager.
fn node_with_a_breaking_candidate(version: &str, breaking: bool) -> (Node, UpdateManager) {
    let node = Node::new();
    node.publish(&BECH32_1_1_0);
    let manager = node.manager();
    manager
        .install(&name("bech32"), Some(&v("1.1.0")), false)
        .unwrap();
    let broken = without_function(&BECH32_1_1_0.wasm_bytes(), "address", "decode");
    node.put_in_registry(
        "bech32",
        version,
        &signed(&broken, &bech32_manifest(version, breaking)),
    );
    (node, manager)
}

/// A node with test-wasi-fs 0.9.0 installed and 1.0.0 (which reaches for the file
/// system) in the registry; and its manager.
fn node_with_an_escalation() -> (Node, UpdateManager) {
    let node = Node::new();
    node.publish(&TEST_WASI_FS_0_9_0);
    node.publish(&TEST_WASI_FS);
    let manager = node.manager();
    manager
        .install(&name("test-wasi-fs"), Some(&v("0.9.0")), false)
        .unwrap();
    (node, manager)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(out)))
}

/// `state.json`, read as a file (no lock).
fn state(node: &Node) -> State {
    serde_json::from_slice(&std::fs::read(node.state().join("state.json")).unwrap()).unwrap()
}

/// The journal, read as a file (no lock).
fn journal(node: &Node) -> Vec<JournalEntry> {
    std::fs::read_to_string(node.state().join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn journal_actions(node: &Node) -> Vec<String> {
    journal(node).into_iter().map(|e| e.action).collect()
}

#[test]
fn a_breaking_change_without_a_major_bump_is_refused_naming_the_function() {
    let (node, manager) = node_with_a_breaking_candidate("1.2.0", false);
    let before = node.snapshot();
    let err = manager
        .install(&name("bech32"), Some(&v("1.2.0")), false)
        .unwrap_err();
    let message = err.to_string();
    match &err {
        UpdateError::BreakingWithoutMajor {
            name,
            version,
            running,
            breaking,
        } => {
            assert_eq!(
                (name.as_str(), version, running),
                ("bech32", &v("1.2.0"), &v("1.1.0"))
            );
            let functions: Vec<&str> = breaking.iter().map(|b| b.item.as_str()).collect();
            assert_eq!(functions, ["anya:bitcoin/address.decode"]);
        }
        other => panic!("wrong refusal: {other}"),
    }
    assert!(
        message.contains("anya:bitcoin/address.decode: function removed")
            && message.contains("--force"),
        "{message}"
    );
    assert_eq!(err.exit_code(), 5);
    assert_eq!(
        before,
        node.snapshot(),
        "the state folder changed: {message}"
    );
    drop(manager);

    // The same through the CLI: exit code 5, the reason on stderr, nothing changed.
    let out = node.anya(&["install", "bech32", "1.2.0"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("anya:bitcoin/address.decode: function removed"),
        "{stderr}"
    );
    crate::common::assert_refusal_journaled(&node, &before);
}

#[test]
fn a_breaking_change_passes_with_a_major_bump_or_force() {
    // 2.0.0 declares the break: it passes the gate (and then fails to run, being a
    // dummy; what matters is that the refusal is not the compatibility gate's).
    let (_node, manager) = node_with_a_breaking_candidate("2.0.0", true);
    let err = manager
        .install(&name("bech32"), Some(&v("2.0.0")), false)
        .unwrap_err();
    assert!(
        !matches!(
            err,
            UpdateError::BreakingWithoutMajor { .. } | UpdateError::NeedsApproval { .. }
        ),
        "{err}"
    );
    // --force lets 1.2.0 past the gate, and the override is in the journal.
    let (node, manager) = node_with_a_breaking_candidate("1.2.0", false);
    let err = manager
        .install(&name("bech32"), Some(&v("1.2.0")), true)
        .unwrap_err();
    assert!(
        !matches!(err, UpdateError::BreakingWithoutMajor { .. }),
        "{err}"
    );
    let entries = journal(&node);
    let forced = entries
        .iter()
        .find(|e| e.action == "compat-forced")
        .expect("no compat-forced entry");
    assert!(
        forced.detail.contains("anya:bitcoin/address.decode"),
        "{}",
        forced.detail
    );
}

#[test]
fn check_json_shows_declared_and_computed_side_by_side() {
    // A real update: 1.0.0 → 1.1.0 declares a feature; the WIT is identical.
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    node.manager()
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
    let out = node.anya(&["--json", "check"]);
    assert_eq!(out.status.code(), Some(100), "{:?}", text(&out));
    let u = &json(&out)["updates"][0];
    assert_eq!(u["available_version"], "1.1.0");
    assert_eq!(u["update_type"], "feature");
    assert_eq!(u["computed_type"], "patch");
    assert_eq!(u["breaking_reasons"], serde_json::json!([]));
    assert_eq!(u["capability_changes"], serde_json::json!([]));
    assert_eq!(u["held_for_approval"], false);
    assert_eq!(u["mismatches"], serde_json::json!([]));

    // A breaking candidate that says it is not.
    let (node, manager) = node_with_a_breaking_candidate("1.2.0", false);
    let report = serde_json::to_value(manager.check().unwrap()).unwrap();
    drop(manager);
    let u = &report["updates"][0];
    assert_eq!(u["available_version"], "1.2.0");
    assert_eq!(u["update_type"], "feature");
    assert_eq!(u["breaking_changes"], false);
    assert_eq!(u["computed_type"], "breaking");
    assert_eq!(
        u["breaking_reasons"],
        serde_json::json!(["anya:bitcoin/address.decode: function removed"])
    );
    assert_eq!(u["breaking_without_major"], true);
    let mismatch = u["mismatches"][0].as_str().unwrap();
    assert!(mismatch.contains("breaking_changes = false"), "{mismatch}");
    let (table, _) = text(&node.anya(&["check"]));
    assert!(
        table.contains("breaking") && table.contains("--force") && table.contains("mismatch"),
        "{table}"
    );

    // A capability escalation.
    let (node, manager) = node_with_an_escalation();
    let report = serde_json::to_value(manager.check().unwrap()).unwrap();
    drop(manager);
    let u = &report["updates"][0];
    assert_eq!(u["available_version"], "1.0.0");
    assert_eq!(u["computed_type"], "patch");
    assert_eq!(u["held_for_approval"], true);
    let caps: Vec<&str> = u["capability_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(caps.contains(&"wasi:filesystem/types"), "{caps:?}");
    assert!(caps.contains(&"wasi:filesystem/preopens"), "{caps:?}");
    let (table, _) = text(&node.anya(&["check"]));
    assert!(
        table.contains("approval") && table.contains("anya approve test-wasi-fs 1.0.0"),
        "{table}"
    );
}

#[test]
fn a_capability_escalation_is_held_until_approved() {
    let (node, manager) = node_with_an_escalation();
    let fs = name("test-wasi-fs");
    let before = node.snapshot();
    let err = manager.install(&fs, Some(&v("1.0.0")), false).unwrap_err();
    match &err {
        UpdateError::NeedsApproval { imports, .. } => {
            assert!(
                imports.iter().any(|i| i == "wasi:filesystem/types"),
                "{imports:?}"
            );
        }
        other => panic!("wrong refusal: {other}"),
    }
    assert!(
        err.to_string().contains("anya approve test-wasi-fs 1.0.0"),
        "{err}"
    );
    assert_eq!(before, node.snapshot(), "the state folder changed: {err}");
    drop(manager);
    let out = node.anya(&["install", "test-wasi-fs"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("wasi:filesystem/types"), "{stderr}");
    crate::common::assert_refusal_journaled(&node, &before);

    // Approve through the CLI: recorded with who, when and what, and audited.
    let out = node.anya(&["--json", "approve", "test-wasi-fs", "1.0.0"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(json(&out)["already_approved"], false);
    let approval = &state(&node).approvals[&fs][0];
    assert_eq!(approval.version, v("1.0.0"));
    assert!(
        approval.approved_by.starts_with("cli"),
        "{}",
        approval.approved_by
    );
    assert!(
        approval
            .imports
            .iter()
            .any(|i| i == "wasi:filesystem/types")
    );
    assert!(journal_actions(&node).contains(&"approved".to_owned()));

    let manager = node.manager();
    let report = manager.check().unwrap();
    assert!(!report.updates[0].held_for_approval, "{report:?}");
    // Approving again changes nothing.
    let before = node.snapshot();
    let again = manager.approve(&fs, &v("1.0.0")).unwrap();
    assert!(again.already_approved);
    assert_eq!(before, node.snapshot());

    let outcome = manager.install(&fs, Some(&v("1.0.0")), false).unwrap();
    assert_eq!(outcome.version, v("1.0.0"));
    assert!(!outcome.forced);
}

#[test]
fn an_approval_covers_one_digest_only() {
    let (node, manager) = node_with_an_escalation();
    let fs = name("test-wasi-fs");
    manager.approve(&fs, &v("1.0.0")).unwrap();
    // Another build of 1.0.0 (another description, so another digest).
    let mut m = manifest_of(&TEST_WASI_FS);
    m.description.push_str(" (rebuilt)");
    node.put_in_registry(
        "test-wasi-fs",
        "1.0.0",
        &signed(&TEST_WASI_FS.wasm_bytes(), &m),
    );
    let before = node.snapshot();
    let err = manager.install(&fs, Some(&v("1.0.0")), false).unwrap_err();
    assert!(matches!(err, UpdateError::NeedsApproval { .. }), "{err}");
    assert_eq!(before, node.snapshot());
}

#[test]
fn force_installs_an_escalation_and_says_so() {
    let (node, manager) = node_with_an_escalation();
    let outcome = manager.install(&name("test-wasi-fs"), None, true).unwrap();
    assert!(outcome.forced);
    let active = &state(&node).components[&name("test-wasi-fs")].active;
    assert_eq!(active.version, v("1.0.0"));
    assert!(active.forced);
    let actions = journal_actions(&node);
    assert!(actions.contains(&"compat-forced".to_owned()), "{actions:?}");
    assert!(
        actions.contains(&"installed-forced".to_owned()),
        "{actions:?}"
    );
}

#[test]
fn approving_what_asks_for_nothing_new_is_an_error() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    node.publish(&TEST_WASI_FS);
    let manager = node.manager();
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
    let before = node.snapshot();
    let err = manager.approve(&name("bech32"), &v("1.1.0")).unwrap_err();
    assert!(matches!(err, UpdateError::NothingToApprove { .. }), "{err}");
    assert_eq!(before, node.snapshot());
    // Not installed: nothing to compare with.
    let err = manager
        .approve(&name("test-wasi-fs"), &v("1.0.0"))
        .unwrap_err();
    assert!(matches!(err, UpdateError::NotInstalled { .. }), "{err}");
    assert_eq!(err.exit_code(), 4);
}
