//! The exposition passes `promtool check metrics` (parse and lint) with no output at all.
//!
//! Needs `promtool` on `PATH` (Debian package `prometheus`) or its path in `PROMTOOL`; the
//! test fails, rather than skips, without it.

use std::io::{ErrorKind, Write};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anya_metrics::{
    Actor, CallOutcome, Decision, FailureReason, Metrics, RollbackReason, UpdateOutcome,
    VerificationReason,
};

fn promtool() -> String {
    std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned())
}

/// Runs `promtool check metrics < text`.
fn check_metrics(text: &str) -> Output {
    let tool = promtool();
    let mut child = match Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{tool}` not found: this test needs Prometheus' promtool. Install the Debian \
             package `prometheus` (`apt-get install prometheus`, which provides \
             /usr/bin/promtool) or set PROMTOOL to its path."
        ),
        Err(e) => panic!("cannot run `{tool}`: {e}"),
    };
    // Write from another thread so a large input cannot deadlock against a full pipe.
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_owned();
    let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("wait for promtool");
    writer.join().unwrap().expect("write to promtool");
    output
}

/// Success and nothing printed: promtool reports lint problems on stdout/stderr, and for
/// some of them still exits 0, so any output counts as a failure.
fn assert_clean(text: &str) {
    let out = check_metrics(text);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics: {}\nstdout:\n{stdout}\nstderr:\n{stderr}\ninput:\n{text}",
        out.status
    );
}

/// What a daemon with a few components looks like after a while.
fn realistic() -> Metrics {
    let m = Metrics::new();
    let components = ["wallet", "fee-estimator", "bip-0340 \"schnorr\"\\sig\nv2"];
    for (i, c) in components.iter().enumerate() {
        m.set_active(c, &format!("1.{i}.0"), &format!("sha256:{:064x}", i + 1));
        m.set_trial(c, i == 0);
        m.update_finished(
            c,
            "security",
            UpdateOutcome::Installed,
            Actor::Scheduler,
            Duration::from_millis(250 * (i as u64 + 1)),
        );
        m.swap(c, Duration::from_micros(80 + 40 * i as u64));
        for n in 0..100 {
            m.call(c, "1.0.0", CallOutcome::ALL[n % CallOutcome::ALL.len()]);
        }
        for d in Decision::ALL {
            m.decision(c, *d);
        }
    }
    m.set_active("wallet", "1.1.0", "sha256:ffff");
    m.update_finished(
        "wallet",
        "feature",
        UpdateOutcome::Refused(FailureReason::Compatibility),
        Actor::Operator,
        Duration::from_millis(12),
    );
    m.update_finished(
        "wallet",
        "bugfix",
        UpdateOutcome::RolledBack(FailureReason::PostInstallCheck),
        Actor::Scheduler,
        Duration::from_secs(900),
    );
    m.update_finished(
        "fee-estimator",
        "made-up",
        UpdateOutcome::Failed(FailureReason::DrainTimeout),
        Actor::Operator,
        Duration::ZERO,
    );
    m.rollback("wallet", true, RollbackReason::PostInstallCheck);
    m.rollback("wallet", false, RollbackReason::Operator);
    m.rollback("fee-estimator", true, RollbackReason::Recovery);
    m.swap("wallet", Duration::from_secs(3));
    m.verification_failure(VerificationReason::Signature);
    m.verification_failure(VerificationReason::TooLarge);
    m.notifications(41, 3, 1);
    m.set_active("gone", "0.1.0", "sha256:00");
    m.remove_component("gone");
    m
}

#[test]
fn promtool_accepts_empty_metrics() {
    assert_clean(&Metrics::new().render());
}

#[test]
fn promtool_accepts_realistic_metrics() {
    let m = Arc::new(realistic());
    let text = m.render();
    // The mix covers every family.
    for family in [
        "anya_build_info{",
        "anya_calls_total{",
        "anya_component_info{",
        "anya_component_trial{",
        "anya_notifications_total{",
        "anya_rollbacks_total{",
        "anya_scheduler_decisions_total{",
        "anya_swap_latency_seconds_bucket{",
        "anya_traps_total{",
        "anya_update_duration_seconds_bucket{",
        "anya_update_failures_total{",
        "anya_updates_total{",
        "anya_verification_failures_total{",
    ] {
        assert!(text.contains(family), "no samples of {family}");
    }
    assert_clean(&text);
}

/// The check is not vacuous: promtool does object to a lint problem and to a syntax error.
#[test]
fn promtool_rejects_bad_exposition() {
    let lint = "# HELP anya_things Things.\n# TYPE anya_things counter\nanya_things 1\n";
    let out = check_metrics(lint);
    let printed = [out.stdout, out.stderr].concat();
    assert!(
        !out.status.success() || !printed.is_empty(),
        "promtool accepted a counter without _total silently"
    );

    let syntax = "# TYPE anya_x_total counter\nanya_x_total{a=\"unterminated} 1\n";
    let out = check_metrics(syntax);
    assert!(!out.status.success(), "promtool accepted a syntax error");
}
