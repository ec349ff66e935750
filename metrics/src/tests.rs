use super::*;
use std::thread;

/// The value of the sample whose name and labels are exactly `series`.
fn value(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_owned)
}

fn samples_of<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap();
            name == family
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(family))
        })
        .collect()
}

const FAMILIES: &[(&str, &str)] = &[
    ("anya_build_info", "gauge"),
    ("anya_calls_total", "counter"),
    ("anya_component_info", "gauge"),
    ("anya_component_trial", "gauge"),
    ("anya_host_info", "gauge"),
    ("anya_index_refusals_total", "counter"),
    ("anya_notifications_total", "counter"),
    ("anya_rollbacks_total", "counter"),
    ("anya_scheduler_decisions_total", "counter"),
    ("anya_swap_latency_seconds", "histogram"),
    ("anya_traps_total", "counter"),
    ("anya_update_duration_seconds", "histogram"),
    ("anya_update_failures_total", "counter"),
    ("anya_updates_total", "counter"),
    ("anya_verification_failures_total", "counter"),
];

#[test]
fn metrics_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Metrics>();
    assert_send_sync::<Arc<Metrics>>();
    assert_send_sync::<CallCounter>();
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
}

/// Every family has HELP and TYPE, in name order, even when it has no samples yet; each
/// sample follows its own family's TYPE line; counters end in `_total`.
fn assert_well_formed(text: &str) {
    assert!(text.ends_with('\n'));
    let types: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    assert_eq!(types, FAMILIES);
    let helps: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .map(|l| l.split_once(' ').unwrap().0)
        .collect();
    assert_eq!(helps, FAMILIES.iter().map(|f| f.0).collect::<Vec<_>>());
    let mut current = "";
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            current = t.split_once(' ').unwrap().0;
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                name == current
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| name.strip_suffix(s) == Some(current)),
                "{line:?} outside its family ({current})"
            );
        }
    }
    for (name, kind) in FAMILIES {
        assert_eq!(name.ends_with("_total"), *kind == "counter", "{name}");
    }
}

#[test]
fn empty_metrics_render_every_family() {
    let text = Metrics::with_build_version("1.2.3").render();
    assert_well_formed(&text);
    assert_eq!(
        value(&text, r#"anya_build_info{version="1.2.3"}"#).as_deref(),
        Some("1")
    );
    assert_eq!(
        samples_of(&text, "anya_verification_failures_total").len(),
        8
    );
    assert_eq!(samples_of(&text, "anya_notifications_total").len(), 3);
    assert!(samples_of(&text, "anya_calls_total").is_empty());
    assert!(samples_of(&text, "anya_update_duration_seconds").is_empty());
    assert_eq!(
        value(
            &text,
            r#"anya_verification_failures_total{reason="too_large"}"#
        )
        .as_deref(),
        Some("0")
    );
    let v = Metrics::new().render();
    assert!(v.contains(&format!(
        "anya_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn series_are_sorted_and_stable() {
    let m = Metrics::new();
    for c in ["zeta", "alpha", "mid"] {
        m.decision(c, Decision::Skipped);
        m.decision(c, Decision::Deferred);
        m.call(c, "1.0.0", CallOutcome::Ok);
        m.set_active(c, "1.0.0", "sha256:00");
    }
    let text = m.render();
    assert_well_formed(&text);
    assert_eq!(text, m.render());
    for family in [
        "anya_scheduler_decisions_total",
        "anya_calls_total",
        "anya_component_info",
    ] {
        let s = samples_of(&text, family);
        assert!(!s.is_empty());
        assert!(s.is_sorted(), "{family}: {s:#?}");
    }
}

#[test]
fn label_values_are_escaped_in_output() {
    let m = Metrics::new();
    m.set_active("we\"ird\\name\nx", "1.0.0-rc.1+build", "sha256:ab");
    let text = m.render();
    assert!(
        text.contains(
            r#"anya_component_info{component="we\"ird\\name\nx",version="1.0.0-rc.1+build",digest="sha256:ab"} 1"#
        ),
        "{text}"
    );
    // One sample line: the newline did not split it.
    assert_eq!(samples_of(&text, "anya_component_info").len(), 1);
}

#[test]
fn info_gauge_is_replaced_and_removed() {
    let m = Metrics::new();
    m.set_active("wallet", "1.0.0", "sha256:aa");
    m.set_trial("wallet", true);
    m.set_active("wallet", "1.1.0", "sha256:bb");
    m.set_active("other", "0.1.0", "sha256:cc");
    let text = m.render();
    assert_eq!(
        samples_of(&text, "anya_component_info"),
        [
            r#"anya_component_info{component="other",version="0.1.0",digest="sha256:cc"} 1"#,
            r#"anya_component_info{component="wallet",version="1.1.0",digest="sha256:bb"} 1"#,
        ]
    );
    assert_eq!(
        samples_of(&text, "anya_component_trial"),
        [r#"anya_component_trial{component="wallet"} 1"#]
    );

    m.set_trial("wallet", false);
    let text = m.render();
    assert_eq!(
        samples_of(&text, "anya_component_trial"),
        [r#"anya_component_trial{component="wallet"} 0"#]
    );

    m.call("wallet", "1.0.0", CallOutcome::Ok);
    m.remove_component("wallet");
    let text = m.render();
    assert_eq!(
        samples_of(&text, "anya_component_info"),
        [r#"anya_component_info{component="other",version="0.1.0",digest="sha256:cc"} 1"#]
    );
    assert!(samples_of(&text, "anya_component_trial").is_empty());
    // Counters stay.
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="wallet",version="1.0.0",outcome="ok"}"#
        )
        .as_deref(),
        Some("1")
    );
}

#[test]
fn update_finished_records_all_three_families() {
    let m = Metrics::new();
    m.update_finished(
        "wallet",
        "security",
        UpdateOutcome::Installed,
        Actor::Scheduler,
        Duration::from_millis(40),
    );
    m.update_finished(
        "wallet",
        "feature",
        UpdateOutcome::Refused(FailureReason::Verification),
        Actor::Operator,
        Duration::from_millis(3),
    );
    m.update_finished(
        "wallet",
        "Feature; DROP",
        UpdateOutcome::RolledBack(FailureReason::PostInstallCheck),
        Actor::Scheduler,
        Duration::from_secs(700),
    );
    let text = m.render();
    assert_well_formed(&text);
    assert_eq!(
        samples_of(&text, "anya_updates_total"),
        [
            r#"anya_updates_total{component="wallet",type="feature",outcome="refused",trigger="operator"} 1"#,
            r#"anya_updates_total{component="wallet",type="security",outcome="installed",trigger="scheduler"} 1"#,
            r#"anya_updates_total{component="wallet",type="unknown",outcome="rolled_back",trigger="scheduler"} 1"#,
        ]
    );
    assert_eq!(
        samples_of(&text, "anya_update_failures_total"),
        [
            r#"anya_update_failures_total{component="wallet",reason="post_install_check"} 1"#,
            r#"anya_update_failures_total{component="wallet",reason="verification"} 1"#,
        ]
    );
    let b = |le: &str| {
        value(
            &text,
            &format!(r#"anya_update_duration_seconds_bucket{{component="wallet",le="{le}"}}"#),
        )
    };
    assert_eq!(b("0.001").as_deref(), Some("0"));
    assert_eq!(b("0.005").as_deref(), Some("1"));
    assert_eq!(b("0.05").as_deref(), Some("2"));
    assert_eq!(b("600").as_deref(), Some("2"));
    assert_eq!(b("+Inf").as_deref(), Some("3"));
    assert_eq!(
        value(
            &text,
            r#"anya_update_duration_seconds_count{component="wallet"}"#
        )
        .as_deref(),
        Some("3")
    );
    assert_eq!(
        value(
            &text,
            r#"anya_update_duration_seconds_sum{component="wallet"}"#
        )
        .as_deref(),
        Some("700.043")
    );
    // 13 bounds + Inf + sum + count.
    assert_eq!(samples_of(&text, "anya_update_duration_seconds").len(), 16);
}

#[test]
fn swap_histogram_spans_10us_to_1s() {
    let m = Metrics::new();
    m.swap("wallet", Duration::from_micros(10));
    m.swap("wallet", Duration::from_micros(11));
    m.swap("wallet", Duration::from_secs(2));
    let text = m.render();
    let s = samples_of(&text, "anya_swap_latency_seconds");
    assert_eq!(
        s.first().copied(),
        Some(r#"anya_swap_latency_seconds_bucket{component="wallet",le="0.00001"} 1"#)
    );
    assert!(s.contains(&r#"anya_swap_latency_seconds_bucket{component="wallet",le="0.000025"} 2"#));
    assert!(s.contains(&r#"anya_swap_latency_seconds_bucket{component="wallet",le="1"} 2"#));
    assert!(s.contains(&r#"anya_swap_latency_seconds_bucket{component="wallet",le="+Inf"} 3"#));
    assert!(s.contains(&r#"anya_swap_latency_seconds_sum{component="wallet"} 2.000021"#));
    assert_eq!(s.len(), 16 + 3);
}

#[test]
fn rollbacks_decisions_verification_notifications() {
    let m = Metrics::new();
    m.rollback("wallet", true, RollbackReason::TrialFailureRate);
    m.rollback("wallet", true, RollbackReason::TrialFailureRate);
    m.rollback("wallet", false, RollbackReason::Operator);
    m.decision("wallet", Decision::HeldForApproval);
    m.verification_failure(VerificationReason::UntrustedKey);
    m.verification_failure(VerificationReason::UntrustedKey);
    m.notifications(7, 2, 1);
    m.notifications(9, 2, 1);
    let text = m.render();
    assert_eq!(
        samples_of(&text, "anya_rollbacks_total"),
        [
            r#"anya_rollbacks_total{component="wallet",trigger="automatic",reason="trial_failure_rate"} 2"#,
            r#"anya_rollbacks_total{component="wallet",trigger="operator",reason="operator"} 1"#,
        ]
    );
    assert_eq!(
        samples_of(&text, "anya_scheduler_decisions_total"),
        [r#"anya_scheduler_decisions_total{component="wallet",decision="held_for_approval"} 1"#]
    );
    assert_eq!(
        value(
            &text,
            r#"anya_verification_failures_total{reason="untrusted_key"}"#
        )
        .as_deref(),
        Some("2")
    );
    assert_eq!(
        samples_of(&text, "anya_notifications_total"),
        [
            r#"anya_notifications_total{outcome="delivered"} 9"#,
            r#"anya_notifications_total{outcome="dropped"} 1"#,
            r#"anya_notifications_total{outcome="failed"} 2"#,
        ]
    );
}

#[test]
fn calls_and_traps_per_component() {
    let m = Metrics::new();
    m.call("a", "1.0.0", CallOutcome::Ok);
    m.call("a", "1.0.0", CallOutcome::OutOfFuel);
    m.call("a", "1.0.0", CallOutcome::Error);
    let handle = m.call_counter("b", "1.0.0");
    handle.record(CallOutcome::Deadline);
    m.call("b", "1.0.0", CallOutcome::Deadline);
    let text = m.render();
    assert_eq!(
        samples_of(&text, "anya_traps_total"),
        [
            r#"anya_traps_total{component="a",version="1.0.0",kind="deadline"} 0"#,
            r#"anya_traps_total{component="a",version="1.0.0",kind="memory_limit"} 0"#,
            r#"anya_traps_total{component="a",version="1.0.0",kind="out_of_fuel"} 1"#,
            r#"anya_traps_total{component="a",version="1.0.0",kind="trap"} 0"#,
            r#"anya_traps_total{component="b",version="1.0.0",kind="deadline"} 2"#,
            r#"anya_traps_total{component="b",version="1.0.0",kind="memory_limit"} 0"#,
            r#"anya_traps_total{component="b",version="1.0.0",kind="out_of_fuel"} 0"#,
            r#"anya_traps_total{component="b",version="1.0.0",kind="trap"} 0"#,
        ]
    );
    assert_eq!(samples_of(&text, "anya_calls_total").len(), 12);
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="a",version="1.0.0",outcome="error"}"#
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="b",version="1.0.0",outcome="ok"}"#
        )
        .as_deref(),
        Some("0")
    );
}

#[test]
fn concurrent_calls_sum_right() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 20_000;
    let m = Arc::new(Metrics::new());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                let handle = m.call_counter("shared-handle", "1.0.0");
                for i in 0..PER_THREAD {
                    // Every thread races to create the same components for the first time.
                    let component = ["alpha", "beta", "gamma"][i % 3];
                    let outcome = CallOutcome::ALL[(i + t) % CallOutcome::ALL.len()];
                    m.call(component, "1.0.0", outcome);
                    handle.record(CallOutcome::Trap);
                    if i % 1000 == 0 {
                        // Rendering concurrently must not block or disturb the counts.
                        let _ = m.render();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let text = m.render();
    assert_well_formed(&text);
    let total: u64 = samples_of(&text, "anya_calls_total")
        .iter()
        .filter(|l| !l.contains("shared-handle"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, (THREADS * PER_THREAD) as u64);
    for c in ["alpha", "beta", "gamma"] {
        let per: u64 = samples_of(&text, "anya_calls_total")
            .iter()
            .filter(|l| l.contains(&format!("component=\"{c}\"")))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum();
        let expected = (0..PER_THREAD)
            .filter(|i| {
                i % 3
                    == ["alpha", "beta", "gamma"]
                        .iter()
                        .position(|x| x == &c)
                        .unwrap()
            })
            .count();
        assert_eq!(per, (expected * THREADS) as u64, "{c}");
    }
    assert_eq!(
        value(
            &text,
            r#"anya_traps_total{component="shared-handle",version="1.0.0",kind="trap"}"#
        ),
        Some((THREADS * PER_THREAD).to_string())
    );
    // Traps of the racing components equal the trap-kind calls.
    let traps: u64 = samples_of(&text, "anya_traps_total")
        .iter()
        .filter(|l| !l.contains("shared-handle"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    let trap_kinds = (0..THREADS)
        .flat_map(|t| {
            (0..PER_THREAD).map(move |i| CallOutcome::ALL[(i + t) % CallOutcome::ALL.len()])
        })
        .filter(|o| o.trap_kind().is_some())
        .count();
    assert_eq!(traps, trap_kinds as u64);
}

#[test]
fn recording_survives_a_poisoned_lock() {
    let m = Arc::new(Metrics::new());
    let m2 = Arc::clone(&m);
    let _ = thread::spawn(move || {
        let _guard = m2.cold.lock().unwrap();
        let _calls = m2.calls.write().unwrap();
        panic!("poison both locks");
    })
    .join();
    m.call("a", "1.0.0", CallOutcome::Ok);
    m.decision("a", Decision::Installed);
    let text = m.render();
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="a",version="1.0.0",outcome="ok"}"#
        )
        .as_deref(),
        Some("1")
    );
}

#[test]
fn calls_are_counted_per_version_so_a_rollout_can_compare_candidate_and_stable() {
    let m = Metrics::new();
    m.call("fee", "1.0.0", CallOutcome::Ok);
    m.call("fee", "1.1.0", CallOutcome::Trap);
    m.call("fee", "1.1.0", CallOutcome::Ok);
    m.call_counter("fee", "1.1.0").record(CallOutcome::Trap);
    let text = m.render();
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="fee",version="1.0.0",outcome="ok"}"#
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="fee",version="1.0.0",outcome="trap"}"#
        )
        .as_deref(),
        Some("0")
    );
    assert_eq!(
        value(
            &text,
            r#"anya_calls_total{component="fee",version="1.1.0",outcome="trap"}"#
        )
        .as_deref(),
        Some("2")
    );
    assert_eq!(
        value(
            &text,
            r#"anya_traps_total{component="fee",version="1.1.0",kind="trap"}"#
        )
        .as_deref(),
        Some("2")
    );
}

#[test]
fn the_host_id_is_exposed_once_known() {
    let m = Metrics::new();
    assert!(samples_of(&m.render(), "anya_host_info").is_empty());
    m.set_host_id("0123abcd");
    assert_eq!(
        samples_of(&m.render(), "anya_host_info"),
        vec![r#"anya_host_info{host_id="0123abcd"} 1"#.to_owned()]
    );
}
