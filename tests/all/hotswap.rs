//! Hot swap under load, instant rollback, trials, migration and anti-rollback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anya_fixtures::{
    BECH32_1_0_0, BECH32_1_1_0, BECH32_BAD_ACTIVATE, BECH32_FLAKY, BECH32_UNHEALTHY,
    FEE_ESTIMATOR_1_0_0, FEE_ESTIMATOR_2_0_0, FEE_ESTIMATOR_BAD_MIGRATION,
};
use anya_host::ids::ComponentName;
use anya_host::package;
use anya_host::runtime::Origin;
use anya_host::slot::Serving;
use anya_host::store::Lifecycle;
use anya_host::update::{Options, TrialPolicy, UpdateError, UpdateManager};
use semver::Version;
use serde_json::{Value, json};

use crate::common::Node;

const TAPROOT: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
const SEGWIT_V0: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// The answers of 1.0.0 and of 1.1.0 to `decode(TAPROOT)`: each version answers its own.
fn answers(
    manager: &UpdateManager,
    slot_versions: (&Arc<Serving>, &Arc<Serving>),
) -> (Value, Value) {
    let slot = manager.slot(&name("bech32")).unwrap();
    slot.swap(Arc::clone(slot_versions.0));
    let old = manager
        .call(&name("bech32"), "decode", json!(TAPROOT))
        .unwrap();
    slot.swap(Arc::clone(slot_versions.1));
    let new = manager
        .call(&name("bech32"), "decode", json!(TAPROOT))
        .unwrap();
    assert_ne!(old, new);
    (old, new)
}

fn serving_of(
    node: &Node,
    manager: &UpdateManager,
    fixture: &anya_fixtures::Fixture,
) -> Arc<Serving> {
    let path = node.publish(fixture);
    let package = package::verify(std::fs::read(path).unwrap(), manager.trust()).unwrap();
    Serving::new(manager.runtime().unwrap().load(&package).unwrap())
}

#[test]
fn a_thousand_swaps_under_load_fail_no_call() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let manager = Arc::new(node.manager());
    manager.install(&name("bech32"), None, false).unwrap();
    let slot = manager.slot(&name("bech32")).unwrap();
    let old = slot.current();
    let new = serving_of(&node, &manager, &BECH32_1_1_0);
    let (old_answer, new_answer) = answers(&manager, (&old, &new));

    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (manager, stop) = (Arc::clone(&manager), Arc::clone(&stop));
            let (old_answer, new_answer) = (old_answer.clone(), new_answer.clone());
            std::thread::spawn(move || {
                let (mut on_old, mut on_new) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let answer = manager
                        .call(&name("bech32"), "decode", json!(TAPROOT))
                        .expect("a call failed during a swap");
                    if answer == old_answer {
                        on_old += 1;
                    } else if answer == new_answer {
                        on_new += 1;
                    } else {
                        panic!("an answer from neither version: {answer}");
                    }
                }
                (on_old, on_new)
            })
        })
        .collect();
    for i in 0..1000 {
        slot.swap(Arc::clone(if i % 2 == 0 { &old } else { &new }));
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut on_old, mut on_new) = (0, 0);
    for c in callers {
        let (o, n) = c.join().unwrap();
        on_old += o;
        on_new += n;
    }
    assert!(
        on_old > 0 && on_new > 0,
        "both versions served: {on_old} / {on_new}"
    );
}

#[test]
fn installs_and_rollbacks_under_load_fail_no_call() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let manager = Arc::new(node.manager());
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (manager, stop, served) =
                (Arc::clone(&manager), Arc::clone(&stop), Arc::clone(&served));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let answer = manager
                        .call(&name("bech32"), "decode", json!(SEGWIT_V0))
                        .unwrap();
                    assert_eq!(answer["ok"]["witness-version"], 0, "{answer}");
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for _ in 0..10 {
        manager
            .install(&name("bech32"), Some(&v("1.1.0")), false)
            .unwrap();
        manager.rollback(&name("bech32"), "test", false).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 0);
}

#[test]
fn rollback_is_instant_in_process_and_needs_no_compile_after_a_restart() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let bech32 = name("bech32");
    {
        let manager = node.manager();
        manager.install(&bech32, Some(&v("1.0.0")), false).unwrap();
        let before = manager.call(&bech32, "decode", json!(TAPROOT)).unwrap();
        manager.install(&bech32, None, false).unwrap();
        assert!(
            manager
                .call(&bech32, "decode", json!(TAPROOT))
                .unwrap()
                .get("ok")
                .is_some()
        );
        let slot = manager.slot(&bech32).unwrap();
        let previous = slot.previous().expect("the previous version stays loaded");
        let outcome = manager.rollback(&bech32, "operator test", false).unwrap();
        assert_eq!((outcome.from, outcome.to), (v("1.1.0"), v("1.0.0")));
        // The very same loaded version serves again: no compile, no load.
        assert!(Arc::ptr_eq(&slot.current(), &previous));
        assert_eq!(
            manager.call(&bech32, "decode", json!(TAPROOT)).unwrap(),
            before
        );
        // Nothing left to roll back to.
        assert!(matches!(
            manager.rollback(&bech32, "again", false),
            Err(UpdateError::NoRollbackPoint { .. })
        ));
        // The watermark stays: the registry cannot move it below 1.1.0, but 1.1.0 itself
        // (rolled back by an operator, not blocklisted) installs again.
        let status = manager.status().unwrap();
        assert_eq!(status.components[0].watermark, v("1.1.0"));
        assert_eq!(
            status.components[0].last_rollback.as_ref().unwrap().reason,
            "operator test"
        );
        manager.install(&bech32, None, false).unwrap();
    }
    // After a restart: back to 1.0.0 from the compile cache.
    let manager = node.manager();
    manager.rollback(&bech32, "after restart", false).unwrap();
    let serving = manager.slot(&bech32).unwrap().current();
    assert_eq!(serving.loaded.manifest().version, v("1.0.0"));
    assert_eq!(
        serving.loaded.origin(),
        Origin::Cached,
        "rollback recompiled"
    );
    let journal = manager.store().read_journal().unwrap();
    assert!(
        journal
            .iter()
            .any(|e| e.action == "rolled-back" && e.detail.contains("after restart"))
    );
}

fn on_trial(node: &Node) -> UpdateManager {
    node.manager_with(Options {
        trial: Some(TrialPolicy {
            duration: Duration::from_secs(3600),
            max_failure_rate: 0.2,
            min_calls: 10,
            auto_rollback: true,
        }),
        ..Options::default()
    })
}

#[test]
fn a_version_that_traps_too_often_on_trial_is_rolled_back_and_blocklisted() {
    let node = Node::new();
    node.publish(&BECH32_1_1_0);
    node.publish(&BECH32_FLAKY);
    let bech32 = name("bech32");
    let manager = on_trial(&node);
    manager.install(&bech32, Some(&v("1.1.0")), false).unwrap();
    manager.commit(&bech32).unwrap();
    manager.call(&bech32, "decode", json!(SEGWIT_V0)).unwrap();
    let outcome = manager.install(&bech32, Some(&v("1.2.0")), false).unwrap();
    assert!(matches!(outcome.status, Lifecycle::Trial { .. }));
    // Half the calls trap (inputs ending in '!'): far over the 20% threshold.
    let mut trapped = 0;
    for i in 0..20 {
        let input = if i % 2 == 0 {
            SEGWIT_V0.to_owned()
        } else {
            format!("{SEGWIT_V0}{}", anya_fixtures::FLAKY_TRAP_SUFFIX)
        };
        if manager.call(&bech32, "decode", json!(input)).is_err() {
            trapped += 1;
        }
    }
    assert!(trapped >= 5, "{trapped}");
    let status = &manager.status().unwrap().components[0];
    assert_eq!(status.version, v("1.1.0"), "not rolled back");
    let last = status.last_rollback.as_ref().unwrap();
    assert!(
        last.automatic && last.reason.contains("trial failed"),
        "{last:?}"
    );
    assert!(last.reason.contains("over the 20% threshold"), "{last:?}");
    assert_eq!(status.blocklist[0].version, v("1.2.0"));
    // 1.1.0 answers the calls that trapped.
    let answer = manager
        .call(&bech32, "decode", json!(format!("{SEGWIT_V0}!")))
        .unwrap();
    assert!(answer.get("err").is_some());
    // And 1.2.0 is refused from now on.
    let err = manager
        .install(&bech32, Some(&v("1.2.0")), false)
        .unwrap_err();
    assert!(matches!(err, UpdateError::Blocklisted { .. }), "{err}");
    // `anya status` says why.
    drop(manager);
    let out = node.anya(&["status", "bech32"]);
    let (stdout, _) = crate::common::text(&out);
    assert!(
        stdout.contains("trial failed") && stdout.contains("automatic"),
        "{stdout}"
    );
}

#[test]
fn a_trial_ends_in_a_commit_and_an_unhealthy_or_unready_version_never_serves() {
    let node = Node::new();
    for f in [&BECH32_1_1_0, &BECH32_UNHEALTHY, &BECH32_BAD_ACTIVATE] {
        node.publish(f);
    }
    let bech32 = name("bech32");
    let manager = on_trial(&node);
    manager.install(&bech32, Some(&v("1.1.0")), false).unwrap();
    assert!(
        manager.tick(node.now()).unwrap().is_empty(),
        "committed too early"
    );
    node.clock().advance(jiff::SignedDuration::from_hours(2));
    let events = manager.tick(node.now()).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        manager.status().unwrap().components[0].status,
        Lifecycle::Committed
    );
    for (version, step) in [
        ("1.2.1", "lifecycle.health"),
        ("1.2.2", "lifecycle.activate"),
    ] {
        let err = manager
            .install(&bech32, Some(&v(version)), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(step), "{err}");
        assert_eq!(manager.status().unwrap().components[0].version, v("1.1.0"));
    }
}

#[test]
fn a_version_still_on_trial_when_the_host_stops_comes_back_as_the_previous_one() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let bech32 = name("bech32");
    {
        let manager = on_trial(&node);
        manager.install(&bech32, Some(&v("1.0.0")), false).unwrap();
        manager.commit(&bech32).unwrap();
        manager.install(&bech32, Some(&v("1.1.0")), false).unwrap();
    }
    let manager = on_trial(&node);
    let status = &manager.status().unwrap().components[0];
    assert_eq!(status.version, v("1.0.0"));
    assert!(
        status
            .last_rollback
            .as_ref()
            .unwrap()
            .reason
            .contains("still on trial"),
        "{status:?}"
    );
    assert!(
        status.blocklist.is_empty(),
        "an interrupted trial is not a failure"
    );
}

fn history(manager: &UpdateManager) -> Value {
    manager
        .call(&name("fee-estimator"), "history", Value::Null)
        .unwrap()
}

#[test]
fn a_migration_runs_before_traffic_and_a_rollback_restores_the_data() {
    let node = Node::new();
    for f in [
        &FEE_ESTIMATOR_1_0_0,
        &FEE_ESTIMATOR_2_0_0,
        &FEE_ESTIMATOR_BAD_MIGRATION,
    ] {
        node.publish(f);
    }
    let fees = name("fee-estimator");
    let manager = node.manager();
    manager.install(&fees, Some(&v("1.0.0")), false).unwrap();
    for rate in [5, 12, 7] {
        manager.call(&fees, "record", json!(rate)).unwrap();
    }
    assert_eq!(history(&manager), json!([5, 12, 7]));
    let kv_v1 = crate::common::snapshot(&node.state().join("kv/fee-estimator"));

    // A migration that fails leaves the data byte for byte as it was.
    let err = manager
        .install(&fees, Some(&v("2.0.1")), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lifecycle.activate") && err.contains("migration failed"),
        "{err}"
    );
    assert_eq!(
        crate::common::snapshot(&node.state().join("kv/fee-estimator")),
        kv_v1
    );
    assert_eq!(history(&manager), json!([5, 12, 7]));

    // 2.0.0 migrates before it takes traffic.
    manager.install(&fees, Some(&v("2.0.0")), false).unwrap();
    let kv = manager.store().kv(&fees);
    assert!(kv.get(anya_fixtures::FEE_V1_HISTORY_KEY).unwrap().is_none());
    assert!(kv.get(anya_fixtures::FEE_V2_HISTORY_KEY).unwrap().is_some());
    assert_eq!(history(&manager), json!([5, 12, 7]));
    manager.call(&fees, "record", json!(9)).unwrap();

    // Rolling back puts 1.0.0's data back as it was when 2.0.0 replaced it.
    manager.rollback(&fees, "test", false).unwrap();
    assert_eq!(
        crate::common::snapshot(&node.state().join("kv/fee-estimator")),
        kv_v1
    );
    assert_eq!(history(&manager), json!([5, 12, 7]));
    assert!(
        node.state()
            .join("snapshots/fee-estimator")
            .read_dir()
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn the_watermark_only_moves_down_by_an_audited_force() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let bech32 = name("bech32");
    let manager = node.manager();
    manager.install(&bech32, Some(&v("1.1.0")), false).unwrap();
    // 1.0.0 never ran here: there is no rollback point to it, and the registry cannot
    // take the component below its watermark.
    assert!(matches!(
        manager.rollback(&bech32, "x", false),
        Err(UpdateError::NoRollbackPoint { .. })
    ));
    assert!(matches!(
        manager.install(&bech32, Some(&v("1.0.0")), false),
        Err(UpdateError::BelowWatermark { .. })
    ));
    let outcome = manager.install(&bech32, Some(&v("1.0.0")), true).unwrap();
    assert!(outcome.forced);
    let status = &manager.status().unwrap().components[0];
    assert_eq!(
        (status.version.clone(), status.watermark.clone()),
        (v("1.0.0"), v("1.1.0"))
    );
    let journal = manager.store().read_journal().unwrap();
    assert!(
        journal
            .iter()
            .any(|e| e.action == "installed-forced" && e.version == Some(v("1.0.0")))
    );
}

#[test]
fn a_drained_install_loses_no_write_made_during_the_migration() {
    let node = Node::new();
    node.publish(&FEE_ESTIMATOR_1_0_0);
    node.publish(&FEE_ESTIMATOR_2_0_0);
    let fees = name("fee-estimator");
    let manager = Arc::new(node.manager_with(Options {
        drain: Some(anya_host::update::DrainPolicy {
            timeout: Duration::from_secs(5),
            abort_on_timeout: true,
        }),
        ..Options::default()
    }));
    manager.install(&fees, Some(&v("1.0.0")), false).unwrap();
    // Compile 2.0.0 ahead (held loaded), so the install below is all drain and migration.
    let _compiled = serving_of(&node, &manager, &FEE_ESTIMATOR_2_0_0);
    // One writer: `record` reads and rewrites the whole history, so two concurrent
    // writers would race each other whatever the host does.
    let installed = Arc::new(AtomicBool::new(false));
    let writer = {
        let (manager, installed) = (Arc::clone(&manager), Arc::clone(&installed));
        std::thread::spawn(move || {
            let serving = |m: &UpdateManager| {
                m.slot(&name("fee-estimator"))
                    .unwrap()
                    .current()
                    .loaded
                    .manifest()
                    .version
                    .clone()
            };
            // Each write records its own sequence number, so a lost one leaves a gap,
            // however many the history (the newest 144) still holds.
            let mut written: u64 = 0;
            let mut straddling = 0;
            let mut after = 0;
            while after < 10 {
                let before = serving(&manager);
                let answer = manager
                    .call(&name("fee-estimator"), "record", json!(written + 1))
                    .unwrap();
                assert_eq!(answer, json!({"ok": null}));
                // A write asked of 1.0.0 that returns with 2.0.0 serving was in flight
                // across the drain, the migration and the swap: the case this test is
                // about.
                if before == v("1.0.0") && serving(&manager) == v("2.0.0") {
                    straddling += 1;
                }
                written += 1;
                assert!(written < 100_000, "the install never finished");
                if installed.load(Ordering::SeqCst) {
                    after += 1;
                }
            }
            (written, straddling)
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    manager.install(&fees, Some(&v("2.0.0")), false).unwrap();
    installed.store(true, Ordering::SeqCst);
    let (written, straddling) = writer.join().unwrap();
    assert_eq!(
        straddling, 1,
        "one write must have been in flight across the swap ({written} in all)"
    );
    // Every write landed in the migrated data, in order, none lost, none in the old
    // format.
    let kept: Vec<u64> = history(&manager)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let first = written.saturating_sub(143).max(1);
    assert_eq!(kept, (first..=written).collect::<Vec<u64>>());
    assert!(
        manager
            .store()
            .kv(&fees)
            .get(anya_fixtures::FEE_V1_HISTORY_KEY)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_failed_trial_never_rolls_back_to_a_version_the_signed_index_revoked() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    node.publish(&BECH32_FLAKY);
    let offline = crate::index::generate(&node, "offline");
    crate::index::pin_index_root(&node, &[&offline], 1);
    let release = |extra: &[&str]| {
        let mut args = vec![
            "index",
            "release",
            "--key",
            offline.secret.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = node.anya(&args);
        assert!(out.status.success(), "{:?}", crate::common::text(&out));
    };
    release(&[]);
    let bech32 = name("bech32");
    let manager = on_trial(&node);
    for version in ["1.0.0", "1.1.0"] {
        manager.install(&bech32, Some(&v(version)), false).unwrap();
        manager.commit(&bech32).unwrap();
    }
    manager.install(&bech32, Some(&v("1.2.0")), false).unwrap();
    // The publisher revokes 1.1.0, the newest rollback point; the host reads it.
    release(&["--revoke", "bech32@1.1.0"]);
    manager.check().unwrap();
    for i in 0..20 {
        let input = if i % 2 == 0 {
            SEGWIT_V0.to_owned()
        } else {
            format!("{SEGWIT_V0}{}", anya_fixtures::FLAKY_TRAP_SUFFIX)
        };
        let _ = manager.call(&bech32, "decode", json!(input));
    }
    let status = &manager.status().unwrap().components[0];
    assert_eq!(status.version, v("1.0.0"), "went back to the revoked 1.1.0");
    let last = status.last_rollback.as_ref().unwrap();
    assert!(
        last.automatic && last.reason.contains("trial failed"),
        "{last:?}"
    );
}
