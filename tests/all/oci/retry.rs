//! A registry that does not answer: the daemon serves on, asks again sooner than its check
//! interval (30 s, then twice as long each time), `status` says so, and the first answer
//! puts it back on its interval.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0};
use jiff::SignedDuration;
use serde_json::Value;

use super::{Distribution, anya_at, publish_files, signed_files};
use crate::common::{Node, anya_bin, free_port, text};

const PATIENCE: Duration = Duration::from_secs(60);

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `anya --json status` through the daemon.
fn status(node: &Node, url: &str) -> Value {
    let out = anya_at(node, url, &["--json", "status"]);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until the daemon's retry record satisfies `done`.
fn wait_for_retry(node: &Node, url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let report = status(node, url);
        if done(&report["registry_retry"]) {
            return report;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}: {report}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seconds_between(a: &Value, b: &Value) -> i64 {
    let a: jiff::Timestamp = a.as_str().unwrap().parse().unwrap();
    let b: jiff::Timestamp = b.as_str().unwrap().parse().unwrap();
    (b - a).get_seconds()
}

#[test]
fn a_host_whose_registry_does_not_answer_serves_on_and_retries_with_backoff() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let out = node.anya(&["install", "bech32", "1.0.0"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // From now on the host follows an OCI registry on a port where nothing answers yet.
    let port = free_port();
    let url = format!("oci://127.0.0.1:{port}/late");
    let policy = node.root().join("update_policy.toml");
    std::fs::write(&policy, "").unwrap();
    let log = std::fs::File::create(node.root().join("daemon.log")).unwrap();
    let _daemon = Serving(
        node.command_at(
            &anya_bin(),
            url.as_ref(),
            &["--policy", policy.to_str().unwrap(), "serve"],
        )
        .env("ANYA_SCHEDULER_TICK_MS", "100")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap(),
    );
    let socket = node.state().join("daemon/control.sock");
    let waited = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(waited.elapsed() < PATIENCE, "the daemon never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = node.now();

    // The first cycle finds nobody: a retry in 30 s, not in an hour.
    let report = wait_for_retry(&node, &url, "the first failure", |r| r["attempts"] == 1);
    let retry = &report["registry_retry"];
    assert_eq!(
        seconds_between(&retry["since"], &retry["next"]),
        30,
        "{retry}"
    );
    assert!(
        retry["reason"]
            .as_str()
            .unwrap()
            .contains(&port.to_string()),
        "{retry}"
    );
    let out = anya_at(&node, &url, &["status"]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("could not reach the registry since"),
        "{stderr}"
    );
    // What is installed serves on.
    let out = anya_at(
        &node,
        &url,
        &[
            "call",
            "bech32",
            "decode",
            "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
        ],
    );
    assert!(out.status.success(), "{:?}", text(&out));

    // 30 s later it tries again, and waits twice as long.
    node.set_time(start + SignedDuration::from_secs(31));
    let report = wait_for_retry(&node, &url, "the second failure", |r| r["attempts"] == 2);
    let retry = &report["registry_retry"];
    assert_eq!(
        seconds_between(&retry["since"], &retry["next"]),
        31 + 60,
        "{retry}"
    );

    // The registry comes up with an update: the next try finds it, and the retries end.
    let registry = Distribution::start_on(port);
    let files = signed_files(node.root(), &[&BECH32_1_0_0, &BECH32_1_1_0]);
    let out = publish_files(&node, &url, &files);
    assert!(out.status.success(), "{:?}", text(&out));
    node.set_time(start + SignedDuration::from_secs(31 + 61));
    wait_for_retry(&node, &url, "the retries to end", Value::is_null);
    assert!(!node.state().join("registry-retry.json").exists());
    let out = anya_at(&node, &url, &["check"]);
    assert_eq!(out.status.code(), Some(100), "{:?}", text(&out));
    drop(registry);
}
