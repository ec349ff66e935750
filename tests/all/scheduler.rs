//! The scheduler on a fake clock, with the guide's policy (security updates on, feature
//! updates and breaking changes off, a window 02:00–04:00 UTC on Sunday, Tuesday and
//! Thursday): what it installs, when, what it leaves alone, and why.

use std::sync::Arc;

use anya_fixtures::{
    BECH32_1_0_0, BECH32_1_1_0, FEE_ESTIMATOR_1_0_0, FEE_ESTIMATOR_2_0_0, TEST_WASI_FS,
    TEST_WASI_FS_0_9_0,
};
use anya_host::ids::ComponentName;
use anya_host::manifest::UpdateType;
use anya_host::policy::Policy;
use anya_host::scheduler::{DecisionKind, LoadHistory, Scheduler};
use anya_host::update::{Options, UpdateManager};
use jiff::Timestamp;
use semver::Version;

use crate::common::Node;

const GUIDE_POLICY: &str = anya_fixtures::GUIDE_POLICY;

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn manager(node: &Node, policy: &Policy) -> UpdateManager {
    node.manager_with(Options {
        trial: None,
        ..Options::from_policy(policy)
    })
}

/// One cycle with the node's clock set to `when` first.
fn cycle(
    scheduler: &mut Scheduler,
    node: &Node,
    manager: &UpdateManager,
    policy: &Policy,
    when: Timestamp,
) -> anya_host::scheduler::CycleReport {
    node.set_time(when);
    scheduler.cycle(manager, policy).unwrap()
}

fn decision(report: &anya_host::scheduler::CycleReport, component: &str) -> (DecisionKind, String) {
    let d = report
        .decisions
        .iter()
        .find(|d| d.component.as_str() == component)
        .unwrap_or_else(|| panic!("no decision about {component}: {report:?}"));
    (d.decision, d.reason.clone())
}

fn active(manager: &UpdateManager, component: &str) -> Version {
    manager
        .status()
        .unwrap()
        .components
        .into_iter()
        .find(|c| c.name.as_str() == component)
        .unwrap()
        .version
}

#[test]
fn a_security_update_is_installed_inside_the_window_and_not_outside() {
    let policy = Policy::parse(GUIDE_POLICY).unwrap();
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let manager = manager(&node, &policy);
    manager.install(&name("bech32"), None, false).unwrap();
    node.publish_as(&BECH32_1_1_0, "1.1.0", UpdateType::Security, false);
    let mut scheduler = Scheduler::new(Arc::new(LoadHistory::new()));

    // Saturday: no window. Deferred to Sunday 02:00, and planned for then.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-28T10:00:00Z"),
    );
    let (kind, reason) = decision(&report, "bech32");
    assert_eq!(kind, DecisionKind::Deferred, "{reason}");
    assert!(
        reason.contains("planned for 2026-11-29T02:00:00Z"),
        "{reason}"
    );
    assert_eq!(report.new_updates.len(), 1);
    assert_eq!(report.planned[0].at, at("2026-11-29T02:00:00Z"));
    assert!(
        report.planned[0].why.contains("no calls recorded"),
        "{:?}",
        report.planned
    );
    assert_eq!(active(&manager, "bech32"), v("1.0.0"));
    // The plan is what `status` shows, with or without a daemon.
    let status = manager.status().unwrap();
    assert_eq!(status.planned.len(), 1);
    assert_eq!(status.planned[0].version, v("1.1.0"));

    // A minute before the window: still deferred, announced only once.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-29T01:59:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Deferred);
    assert!(report.new_updates.is_empty());

    // In the window: installed.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-29T02:00:00Z"),
    );
    let (kind, reason) = decision(&report, "bech32");
    assert_eq!(kind, DecisionKind::Installed, "{reason}");
    assert_eq!(active(&manager, "bech32"), v("1.1.0"));
    assert!(report.planned.is_empty());

    // Journaled once each, by the scheduler.
    let journal = manager.store().read_journal().unwrap();
    let deferred: Vec<_> = journal
        .iter()
        .filter(|e| e.action == "scheduler-deferred")
        .collect();
    assert_eq!(deferred.len(), 1, "{deferred:?}");
    assert_eq!(deferred[0].actor, "scheduler");
    let installed = journal
        .iter()
        .rev()
        .find(|e| e.action == "installed")
        .map(|e| &e.actor);
    assert_eq!(installed.map(String::as_str), Some("scheduler"));
}

#[test]
fn feature_breaking_held_and_opted_out_updates_are_left_alone() {
    let mut policy = Policy::parse(GUIDE_POLICY).unwrap();
    let inside = at("2026-12-01T03:00:00Z"); // a Tuesday
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&FEE_ESTIMATOR_1_0_0);
    node.publish(&TEST_WASI_FS_0_9_0);
    let m = manager(&node, &policy);
    for c in ["bech32", "fee-estimator", "test-wasi-fs"] {
        m.install(&name(c), None, false).unwrap();
    }
    drop(m);
    // A feature update, a breaking security update, a capability escalation.
    node.publish(&BECH32_1_1_0);
    node.publish_as(&FEE_ESTIMATOR_2_0_0, "2.0.0", UpdateType::Security, true);
    node.publish(&TEST_WASI_FS);
    let manager = manager(&node, &policy);
    let mut scheduler = Scheduler::new(Arc::new(LoadHistory::new()));
    let report = cycle(&mut scheduler, &node, &manager, &policy, inside);
    let (kind, reason) = decision(&report, "bech32");
    assert_eq!(kind, DecisionKind::Skipped);
    assert_eq!(reason, "automatic feature updates are off");
    let (kind, reason) = decision(&report, "fee-estimator");
    assert_eq!(kind, DecisionKind::Skipped);
    assert_eq!(reason, "breaking changes are never installed automatically");
    let (kind, reason) = decision(&report, "test-wasi-fs");
    assert_eq!(kind, DecisionKind::HeldForApproval);
    assert!(
        reason.contains("anya approve test-wasi-fs 1.0.0"),
        "{reason}"
    );
    for (c, version) in [
        ("bech32", "1.0.0"),
        ("fee-estimator", "1.0.0"),
        ("test-wasi-fs", "0.9.0"),
    ] {
        assert_eq!(active(&manager, c), v(version));
    }

    // A component whose auto_update is false: never, even a security update.
    node.publish_as(&BECH32_1_1_0, "1.1.1", UpdateType::Security, false);
    policy = Policy::parse(&format!(
        "{GUIDE_POLICY}\n[components.bech32]\nauto_update = false\n"
    ))
    .unwrap();
    let report = cycle(&mut scheduler, &node, &manager, &policy, inside);
    let (kind, reason) = decision(&report, "bech32");
    assert_eq!(kind, DecisionKind::Skipped);
    assert_eq!(reason, "automatic updates are off for this component");
    assert_eq!(active(&manager, "bech32"), v("1.0.0"));
}

#[test]
fn windows_across_midnight_follow_the_time_zone_and_the_days() {
    // Saturday 23:00 to Sunday 01:00, Berlin time (UTC+1 in winter).
    let policy = Policy::parse(
        "[auto_update]\nenabled = true\nsecurity_updates = true\n\
         [maintenance_window]\nstart_time = \"23:00:00\"\nend_time = \"01:00:00\"\n\
         timezone = \"Europe/Berlin\"\ndays = [\"Saturday\"]\n",
    )
    .unwrap();
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let manager = manager(&node, &policy);
    manager.install(&name("bech32"), None, false).unwrap();
    node.publish_as(&BECH32_1_1_0, "1.1.0", UpdateType::Security, false);
    let mut scheduler = Scheduler::new(Arc::new(LoadHistory::new()));

    // Saturday 23:30 UTC is Sunday 00:30 in Berlin: inside Saturday's window. But
    // first, Saturday 21:59 UTC (22:59 Berlin): outside, planned for 22:00 UTC.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-28T21:59:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Deferred);
    assert_eq!(report.planned[0].at, at("2026-11-28T22:00:00Z"));
    // Sunday 00:30 Berlin: still Saturday's window.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-28T23:30:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Installed);
}

#[test]
fn at_most_max_concurrent_updates_per_cycle() {
    let policy = Policy::parse(&GUIDE_POLICY.replace(
        "breaking_changes = false\n",
        "breaking_changes = false\nmax_concurrent_updates = 1\n",
    ))
    .unwrap();
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&FEE_ESTIMATOR_1_0_0);
    let manager = manager(&node, &policy);
    manager.install(&name("bech32"), None, false).unwrap();
    manager
        .install(&name("fee-estimator"), None, false)
        .unwrap();
    node.publish_as(&BECH32_1_1_0, "1.1.0", UpdateType::Security, false);
    node.publish_as(&FEE_ESTIMATOR_2_0_0, "2.0.0", UpdateType::Security, false);
    let mut scheduler = Scheduler::new(Arc::new(LoadHistory::new()));
    let inside = at("2026-12-03T02:30:00Z"); // a Thursday
    let report = cycle(&mut scheduler, &node, &manager, &policy, inside);
    let kinds: Vec<DecisionKind> = report.decisions.iter().map(|d| d.decision).collect();
    assert_eq!(kinds, [DecisionKind::Installed, DecisionKind::Deferred]);
    assert!(
        report.decisions[1]
            .reason
            .contains("max_concurrent_updates (1)")
    );
    let report = cycle(&mut scheduler, &node, &manager, &policy, inside);
    assert_eq!(report.decisions.len(), 1);
    assert_eq!(report.decisions[0].decision, DecisionKind::Installed);
    assert_eq!(active(&manager, "bech32"), v("1.1.0"));
    assert_eq!(active(&manager, "fee-estimator"), v("2.0.0"));
}

#[test]
fn a_deferred_update_starts_in_the_quietest_part_of_the_window() {
    let policy = Policy::parse(GUIDE_POLICY).unwrap();
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let manager = manager(&node, &policy);
    manager.install(&name("bech32"), None, false).unwrap();
    node.publish_as(&BECH32_1_1_0, "1.1.0", UpdateType::Security, false);

    // Last week's Sunday: busy from 02:00 to 03:15, quiet after.
    let history = Arc::new(LoadHistory::new());
    for minute in 0..120 {
        let when = at("2026-11-22T02:00:00Z")
            .checked_add(jiff::SignedDuration::from_secs(minute * 60))
            .unwrap();
        history.record(when, if minute < 75 { 50 } else { 1 });
    }
    let mut scheduler = Scheduler::new(history);
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-28T12:00:00Z"),
    );
    let plan = &report.planned[0];
    assert_eq!(plan.at, at("2026-11-29T03:15:00Z"), "{plan:?}");
    assert!(plan.why.contains("quietest 10 minutes"), "{plan:?}");

    // At the window's opening it waits for the planned minute.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-29T02:00:00Z"),
    );
    let (kind, reason) = decision(&report, "bech32");
    assert_eq!(kind, DecisionKind::Deferred);
    assert!(reason.contains("waiting for the quietest part"), "{reason}");
    assert_eq!(active(&manager, "bech32"), v("1.0.0"));
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-11-29T03:15:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Installed);
}

#[test]
fn the_check_interval_has_a_fixed_per_host_jitter() {
    let policy = Policy::parse("[auto_update]\ncheck_interval_minutes = 60\n").unwrap();
    let last = at("2026-11-27T00:00:00Z");
    let a = Scheduler::next_check(&policy, last, "host-a");
    let b = Scheduler::next_check(&policy, last, "host-b");
    assert_eq!(a, Scheduler::next_check(&policy, last, "host-a"));
    assert_ne!(a, b);
    for next in [a, b] {
        assert!(
            next >= at("2026-11-27T01:00:00Z") && next <= at("2026-11-27T01:06:00Z"),
            "{next}"
        );
    }
}

#[test]
fn a_window_opening_in_a_dst_gap_opens_when_the_gap_ends() {
    // Berlin springs forward on Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST, so
    // 02:30 does not exist that day; the window opens at 03:00 CEST (01:00 UTC).
    let policy = Policy::parse(
        "[auto_update]\nenabled = true\nsecurity_updates = true\n\
         [maintenance_window]\nstart_time = \"02:30:00\"\nend_time = \"04:00:00\"\n\
         timezone = \"Europe/Berlin\"\ndays = [\"Sunday\"]\n",
    )
    .unwrap();
    let node = Node::new();
    node.set_time(at("2026-03-28T11:00:00Z"));
    node.publish(&BECH32_1_0_0);
    let manager = manager(&node, &policy);
    manager.install(&name("bech32"), None, false).unwrap();
    node.publish_as(&BECH32_1_1_0, "1.1.0", UpdateType::Security, false);
    let mut scheduler = Scheduler::new(Arc::new(LoadHistory::new()));

    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-03-28T12:00:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Deferred);
    assert_eq!(report.planned[0].at, at("2026-03-29T01:00:00Z"));
    // 00:59 UTC is 01:59 CET, before the gap: still closed.
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-03-29T00:59:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Deferred);
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-03-29T01:00:00Z"),
    );
    assert_eq!(decision(&report, "bech32").0, DecisionKind::Installed);
}

#[test]
fn a_trial_that_cannot_be_supervised_does_not_stop_the_scheduler() {
    // bech32 on trial, its stored package damaged so that it cannot be loaded to probe
    // its health: that is logged, and the cycle goes on to install another update.
    let policy = Policy::parse(GUIDE_POLICY).unwrap();
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&FEE_ESTIMATOR_1_0_0);
    let manager = node.manager_with(Options::from_policy(&policy));
    let outcome = manager.install(&name("bech32"), None, false).unwrap();
    assert!(matches!(
        outcome.status,
        anya_host::store::Lifecycle::Trial { .. }
    ));
    manager
        .install(&name("fee-estimator"), None, false)
        .unwrap();
    let object = manager.store().object_path(outcome.digest);
    std::fs::set_permissions(&object, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&object, b"damaged").unwrap();
    node.publish_as(&FEE_ESTIMATOR_2_0_0, "2.0.0", UpdateType::Security, false);
    let mut scheduler = Scheduler::new(Arc::new(LoadHistory::new()));
    let report = cycle(
        &mut scheduler,
        &node,
        &manager,
        &policy,
        at("2026-12-01T03:00:00Z"),
    );
    // fee-estimator's trial is over by the fake clock: committed; bech32's is skipped.
    assert_eq!(
        report.trial_events,
        [anya_host::update::TrialEvent::Committed {
            name: name("fee-estimator")
        }]
    );
    assert_eq!(
        decision(&report, "fee-estimator").0,
        DecisionKind::Installed
    );
}
