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

/// How the host must come back from a crash at one point: which version serves, and
/// what start-up recovery journals about fee-estimator (nothing, when there was nothing
/// to recover).
struct Expected {
    point: &'static str,
    serving: &'static str,
    recovery_journals: &'static [&'static str],
}

/// The number of journal entries now.
fn journal_len(node: &Node) -> usize {
    let journal = node.state().join("journal.jsonl");
    std::fs::read_to_string(journal)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// After the restart: the expected version active, verified and serving the data it had;
/// recovery journals exactly what it did (looking only at the entries written after the
/// crash); no leftovers; and the next install works.
fn assert_recovered(node: &Node, expected: &Expected) {
    let point = expected.point;
    let before_recovery = journal_len(node);
    let manager = node.manager();
    let state = manager.store().load_state().unwrap();
    assert_eq!(state.components.len(), 1, "{point}: {state:?}");
    assert!(state.pending_restores.is_empty(), "{point}: {state:?}");
    let active = state.components[&fees()].active.version.clone();
    assert_eq!(
        active,
        v(expected.serving),
        "{point}: the wrong version serves"
    );
    assert_eq!(
        state.components[&fees()].status,
        anya_host::store::Lifecycle::Committed,
        "{point}"
    );
    // Serving means: read back from the objects, verified again, loaded.
    assert_eq!(
        history(&manager),
        json!([5, 12, 7]),
        "{point}: data lost on {active}"
    );
    let journal = manager.store().read_journal().unwrap();
    let recovery: Vec<&str> = journal[before_recovery..]
        .iter()
        .filter(|e| e.component.as_ref() == Some(&fees()))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        recovery, expected.recovery_journals,
        "{point}: what recovery journaled"
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

/// The expectation of every point in `points`, in order (a point missing from `table`
/// fails the test).
fn expectations<'a>(points: &[&str], table: &'a [Expected]) -> &'a [Expected] {
    let listed: Vec<&str> = table.iter().map(|e| e.point).collect();
    assert_eq!(listed, points, "every crash point needs its expectation");
    table
}

/// An install of 2.0.0 over 1.0.0 (no trial; the post-install check runs after the
/// swap, so 2.0.0 is on trial in the state until the check passes and commits it): a
/// crash anywhere before that commit leaves 1.0.0 serving.
const INSTALL: &[Expected] = &[
    Expected {
        // Only an object and its report are written, which nothing names yet.
        point: "install:after-object",
        serving: "1.0.0",
        recovery_journals: &[],
    },
    Expected {
        // The snapshot no state names is deleted.
        point: "install:after-snapshot",
        serving: "1.0.0",
        recovery_journals: &[],
    },
    Expected {
        point: "install:after-pending-state",
        serving: "1.0.0",
        recovery_journals: &["recovered"],
    },
    Expected {
        // 2.0.0's activate migrated the data: the snapshot is restored.
        point: "install:after-activate",
        serving: "1.0.0",
        recovery_journals: &["recovered"],
    },
    Expected {
        // 2.0.0 is named, on trial: not trusted after a restart, rolled back.
        point: "install:after-state",
        serving: "1.0.0",
        recovery_journals: &["rollback-started", "rolled-back"],
    },
    Expected {
        point: "install:after-journal",
        serving: "1.0.0",
        recovery_journals: &["rollback-started", "rolled-back"],
    },
];

/// A rollback from 2.0.0 to 1.0.0: once the state is written, it completes, and
/// recovery journals the rollback when the crash came before its entry.
const ROLLBACK: &[Expected] = &[
    Expected {
        // Said, not done: the state still names 2.0.0, and its start entry stays alone.
        point: "rollback:after-start-entry",
        serving: "2.0.0",
        recovery_journals: &[],
    },
    Expected {
        point: "rollback:after-state",
        serving: "1.0.0",
        recovery_journals: &["recovered", "rolled-back"],
    },
    Expected {
        point: "rollback:after-kv-restore",
        serving: "1.0.0",
        recovery_journals: &["recovered", "rolled-back"],
    },
    Expected {
        point: "rollback:after-cleanup",
        serving: "1.0.0",
        recovery_journals: &["rolled-back"],
    },
    Expected {
        // Done and journaled: nothing left to recover.
        point: "rollback:after-journal",
        serving: "1.0.0",
        recovery_journals: &[],
    },
];

/// The end of 2.0.0's trial: before the commit is written it is still on trial (rolled
/// back at the restart), after it 2.0.0 stays.
const COMMIT: &[Expected] = &[
    Expected {
        point: "commit:before-state",
        serving: "1.0.0",
        recovery_journals: &["rollback-started", "rolled-back"],
    },
    Expected {
        point: "commit:after-state",
        serving: "2.0.0",
        recovery_journals: &[],
    },
];

#[test]
fn every_install_crash_point_recovers() {
    for expected in expectations(INSTALL_POINTS, INSTALL) {
        let node = node_with_data(false);
        crash_at(&node, "install", expected.point);
        assert_recovered(&node, expected);
    }
}

#[test]
fn every_rollback_crash_point_recovers() {
    for expected in expectations(ROLLBACK_POINTS, ROLLBACK) {
        let node = node_with_data(true);
        crash_at(&node, "rollback", expected.point);
        assert_recovered(&node, expected);
    }
}

#[test]
fn every_commit_crash_point_recovers() {
    for expected in expectations(COMMIT_POINTS, COMMIT) {
        let node = node_with_data(false);
        crash_at(&node, "commit", expected.point);
        assert_recovered(&node, expected);
    }
}

/// The crash points named in the Rust sources under `dir`.
fn crash_points_in(dir: &Path) -> std::collections::BTreeSet<String> {
    const CALL: &str = "crash::point(\"";
    let mut found = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(crash_points_in(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices(CALL) {
                let rest = &text[at + CALL.len()..];
                found.insert(rest[..rest.find('"').unwrap()].to_owned());
            }
        }
    }
    found
}

/// Every `crash::point("…")` in the sources is one the tests above walk, and every point
/// they walk is in the sources.
#[test]
fn the_crash_tests_walk_every_crash_point_in_the_sources() {
    let found = crash_points_in(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")));
    let walked: std::collections::BTreeSet<String> =
        [INSTALL_POINTS, ROLLBACK_POINTS, COMMIT_POINTS]
            .concat()
            .into_iter()
            .map(str::to_owned)
            .collect();
    assert!(found.len() >= 12, "{found:?}");
    assert_eq!(
        found, walked,
        "crash points in host/src against the lists the tests walk"
    );
}
