//! Crash safety: for every crash point of install, rollback and commit, a child process
//! (this test binary, re-run on the `child` test) is killed there, as by `kill -9`; the
//! host then restarts and must have exactly one active version per component, a verified
//! one, its data intact, a journal that tells what happened, and the next install works.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anya_fixtures::{FEE_ESTIMATOR_1_0_0, FEE_ESTIMATOR_2_0_0};
use anya_host::ids::ComponentName;
use anya_host::update::crash::{COMMIT_POINTS, CRASH_ENV, INSTALL_POINTS, ROLLBACK_POINTS};
use anya_host::update::{Options, TrialPolicy, UpdateManager};
use semver::Version;
use serde_json::{Value, json};

use crate::common::Node;

const NODE_ENV: &str = "ANYA_TEST_CRASH_NODE";
const OP_ENV: &str = "ANYA_TEST_CRASH_OP";

fn fees() -> ComponentName {
    ComponentName::parse("fee-estimator").unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn on_trial(node: &Node) -> UpdateManager {
    node.manager_with(Options {
        trial: Some(TrialPolicy {
            duration: Duration::from_secs(3600),
            ..TrialPolicy::default()
        }),
        ..Options::default()
    })
}

/// The child: runs one operation on an existing node, with `ANYA_CRASH_AT` set by the
/// parent. Only the parent runs it (with `--ignored`).
#[test]
#[ignore = "run by the crash tests in a child process"]
fn child() {
    let node = Node::attach(Path::new(&std::env::var(NODE_ENV).unwrap()));
    match std::env::var(OP_ENV).unwrap().as_str() {
        "install" => {
            node.manager()
                .install(&fees(), Some(&v("2.0.0")), false)
                .unwrap();
        }
        "rollback" => {
            node.manager()
                .rollback(&fees(), "crash test", false)
                .unwrap();
        }
        "commit" => {
            let manager = on_trial(&node);
            manager.install(&fees(), Some(&v("2.0.0")), false).unwrap();
            manager.commit(&fees()).unwrap();
        }
        other => panic!("unknown operation {other}"),
    }
}

/// Runs `op` in a child process that must die at `point`.
fn crash_at(node: &Node, op: &str, point: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NODE_ENV, node.root())
        .env(OP_ENV, op)
        .env(CRASH_ENV, point)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(&format!("crashing at {point}")),
        "{op} did not crash at {point}: {:?}\n{stderr}",
        out.status
    );
}

fn history(manager: &UpdateManager) -> Value {
    manager.call(&fees(), "history", Value::Null).unwrap()
}

/// A node with fee-estimator 1.0.0 and some data (and 2.0.0 installed on top if `upgraded`).
fn node_with_data(upgraded: bool) -> Node {
    let node = Node::new();
    node.publish(&FEE_ESTIMATOR_1_0_0);
    node.publish(&FEE_ESTIMATOR_2_0_0);
    let manager = node.manager();
    manager.install(&fees(), Some(&v("1.0.0")), false).unwrap();
    for rate in [5, 12, 7] {
        manager.call(&fees(), "record", json!(rate)).unwrap();
    }
    if upgraded {
        manager.install(&fees(), Some(&v("2.0.0")), false).unwrap();
    }
    node
}

/// After the restart: one active, verified version that serves the data it had; the
/// journal speaks of the operation; no leftovers; and the next install succeeds.
fn assert_recovered(node: &Node, point: &str) {
    let manager = node.manager();
    let state = manager.store().load_state().unwrap();
    assert_eq!(state.components.len(), 1, "{point}: {state:?}");
    assert!(state.pending_restores.is_empty(), "{point}: {state:?}");
    let active = state.components[&fees()].active.version.clone();
    assert!(
        active == v("1.0.0") || active == v("2.0.0"),
        "{point}: {active}"
    );
    // Serving means: read back from the objects, verified again, loaded.
    assert_eq!(
        history(&manager),
        json!([5, 12, 7]),
        "{point}: data lost on {active}"
    );
    let journal = manager.store().read_journal().unwrap();
    assert!(
        journal
            .iter()
            .any(|e| e.component.as_ref() == Some(&fees())),
        "{point}: the journal is silent"
    );
    // Only the snapshots that rollback points name are left.
    let named: Vec<_> = state.components[&fees()]
        .rollback_points
        .iter()
        .filter_map(|p| p.kv_snapshot.clone())
        .collect();
    assert_eq!(
        manager.store().kv_snapshot_ids(&fees()).unwrap(),
        named,
        "{point}"
    );
    // The next install works (going back first when 2.0.0 is already there).
    if active == v("2.0.0") {
        manager
            .rollback(&fees(), "after crash test", false)
            .unwrap();
    }
    manager.install(&fees(), Some(&v("2.0.0")), false).unwrap();
    assert_eq!(history(&manager), json!([5, 12, 7]), "{point}");
}

#[test]
fn every_install_crash_point_recovers() {
    for point in INSTALL_POINTS {
        let node = node_with_data(false);
        crash_at(&node, "install", point);
        assert_recovered(&node, point);
    }
}

#[test]
fn every_rollback_crash_point_recovers() {
    for point in ROLLBACK_POINTS {
        let node = node_with_data(true);
        crash_at(&node, "rollback", point);
        assert_recovered(&node, point);
    }
}

#[test]
fn every_commit_crash_point_recovers() {
    for point in COMMIT_POINTS {
        let node = node_with_data(false);
        crash_at(&node, "commit", point);
        assert_recovered(&node, point);
    }
}
