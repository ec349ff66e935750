//! `anya serve` end to end: the guide's policy on a fake clock, a security update
//! installed inside the window and not outside it, a breaking feature update left alone,
//! a signed webhook and an e-mail received, the metrics showing both decisions (and
//! passing promtool); the CLI giving the same answers with and without the daemon; the
//! TCP control API's token and Host checks; the socket's safety; SIGHUP and SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

pub use crate::common::free_port;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, FEE_ESTIMATOR_1_0_0, FEE_ESTIMATOR_2_0_0};
use anya_host::manifest::UpdateType;

use serde_json::Value;

use crate::common::{Node, anya_bin, text, wait_until};

mod limits;

const GUIDE_POLICY: &str = anya_fixtures::GUIDE_POLICY;
const PATIENCE: Duration = Duration::from_secs(60);
const SECRET: &str = "a webhook secret shared with the receiver";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP receiver on loopback that records every request and answers 204.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                let mut headers = Vec::new();
                let mut length = 0;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((n, v)) = l.split_once(':') {
                        if n.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        headers.push((n.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                sink.lock().unwrap().push(Received { headers, body });
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { port, got }
    }

    fn events(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

/// aiosmtpd on loopback, writing what it accepts to a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Smtp {
    fn start(dir: &Path) -> Self {
        let ok = Command::new("/usr/bin/python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test needs a real SMTP server: install python3-aiosmtpd (.ci/run does)"
        );
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("aiosmtpd to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self {
            child,
            port,
            maildir,
        }
    }

    fn messages(&self) -> Vec<String> {
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `anya serve`.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// `anya serve` on `node`, on the node's clock.
    fn start(node: &Node, policy: &Path, args: &[&str]) -> Self {
        let log = node.root().join("daemon.log");
        let child = Command::new(anya_bin())
            .arg("--state")
            .arg(node.state())
            .arg("--registry")
            .arg(node.registry())
            .arg("--trust")
            .arg(node.trust_path())
            .arg("--policy")
            .arg(policy)
            .arg("serve")
            .args(args)
            .env("ANYA_CLOCK_FILE", node.clock_file())
            .env("ANYA_SCHEDULER_TICK_MS", "100")
            .env("ANYA_LOG", "info,anya_host::daemon=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Self { child, log };
        let socket = node.state().join("daemon/control.sock");
        wait_until("the control socket", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        daemon
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the daemon did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An empty policy file for `node` (every setting at its default).
fn empty_policy(node: &Node) -> PathBuf {
    let policy = node.root().join("update_policy.toml");
    std::fs::write(&policy, "").unwrap();
    policy
}

/// One request over TCP with the given headers; the status and body.
fn tcp_request(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    for (n, v) in headers {
        request.push_str(&format!("{n}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn ok(node: &Node, args: &[&str]) -> String {
    let out = node.anya(args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() || out.status.code() == Some(100),
        "{args:?}: {stderr}"
    );
    stdout
}

fn version_of(node: &Node, component: &str) -> String {
    let status: Value = serde_json::from_str(&ok(node, &["--json", "status"])).unwrap();
    status["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == component)
        .map(|c| c["version"].as_str().unwrap().to_owned())
        .unwrap()
}

#[test]
fn the_daemon_installs_the_security_update_in_the_window_and_tells_about_it() {
    let node = Node::new();
    let dir = node.root().to_owned();
    node.publish(&BECH32_1_0_0);
    node.publish(&FEE_ESTIMATOR_1_0_0);
    ok(&node, &["install", "bech32"]);
    ok(&node, &["install", "fee-estimator"]);

    let receiver = Receiver::start();
    let smtp = Smtp::start(&dir);
    let secret_file = dir.join("webhook.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let policy = dir.join("update_policy.toml");
    let policy_text = GUIDE_POLICY
        .replace(
            "webhook_urls = [\"https://hooks.slack.com/...\"]",
            &format!(
                "webhook_urls = [\"http://127.0.0.1:{}/hook\"]\nwebhook_secret_file = {:?}",
                receiver.port,
                secret_file.display().to_string()
            ),
        )
        .replace(
            "security_alert_immediate = true\n",
            &format!(
                "security_alert_immediate = true\n\n[notifications.smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"anya@example.com\"\nstarttls = false\n",
                smtp.port
            ),
        );
    assert!(
        policy_text.contains("[notifications.smtp]"),
        "{policy_text}"
    );
    std::fs::write(&policy, &policy_text).unwrap();
    node.set_time("2026-11-28T10:00:00Z".parse().unwrap()); // a Saturday: no window
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let (tcp, metrics) = (free_port(), free_port());
    let tcp_arg = format!("127.0.0.1:{tcp}");
    let metrics_arg = format!("127.0.0.1:{metrics}");
    let daemon = Daemon::start(
        &node,
        &policy,
        &[
            "--tcp",
            &tcp_arg,
            "--token-file",
            token_file.to_str().unwrap(),
            "--metrics",
            &metrics_arg,
        ],
    );

    // The socket: 0600 in a 0700 folder.
    let socket = node.state().join("daemon/control.sock");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&node.state().join("daemon")), 0o700);

    // A security update and a breaking feature update appear; the next check (an hour
    // later, plus this host's jitter) finds them on Saturday: deferred and skipped.
    node.publish_as(&BECH32_1_1_0, "1.1.0", UpdateType::Security, false);
    node.publish_as(&FEE_ESTIMATOR_2_0_0, "2.0.0", UpdateType::Feature, true);
    node.set_time("2026-11-28T11:30:00Z".parse().unwrap());
    wait_until("the update to be planned", || {
        ok(&node, &["status"])
            .contains("next update: bech32 1.1.0 planned for 2026-11-29T02:00:00Z")
    });
    assert_eq!(version_of(&node, "bech32"), "1.0.0");
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    assert!(journal.contains("scheduler-deferred"), "{journal}");
    assert!(journal.contains("scheduler-skipped"), "{journal}");
    assert!(
        journal.contains("automatic feature updates are off"),
        "{journal}"
    );

    // Sunday 02:00:30, inside the window: installed by the scheduler.
    node.set_time("2026-11-29T02:00:30Z".parse().unwrap());
    wait_until("the security update to be installed", || {
        version_of(&node, "bech32") == "1.1.0"
    });
    assert_eq!(version_of(&node, "fee-estimator"), "1.0.0");

    // The webhook: a security alert, then the install, signed (Standard Webhooks).
    wait_until("two webhook deliveries", || {
        let kinds: Vec<Value> = receiver
            .events()
            .iter()
            .map(|e| e["type"].clone())
            .collect();
        kinds.contains(&Value::from("security.critical"))
            && kinds.contains(&Value::from("update.installed"))
    });
    let received = receiver.got.lock().unwrap().clone();
    for r in &received {
        let (id, ts, sig) = (
            r.header("webhook-id").unwrap(),
            r.header("webhook-timestamp").unwrap(),
            r.header("webhook-signature").unwrap(),
        );
        assert!(
            anya_notify::verify_signature(SECRET.as_bytes(), id, ts, &r.body, sig),
            "bad signature on {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let events = receiver.events();
    let installed = events
        .iter()
        .find(|e| e["type"] == "update.installed")
        .unwrap();
    assert_eq!(installed["component"], "bech32");
    assert_eq!(installed["version"], "1.1.0");
    assert_eq!(installed["previous_version"], "1.0.0");
    assert_eq!(installed["actor"], "scheduler");
    // The breaking feature update: announced, never installed.
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "update.available" && e["component"] == "fee-estimator"),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "update.installed" && e["component"] == "fee-estimator")
    );

    // The e-mail.
    wait_until("the e-mails", || smtp.messages().len() >= 2);
    let mail = smtp.messages().join("\n----\n");
    assert!(mail.contains("admin@example.com"), "{mail}");
    assert!(mail.contains("bech32"), "{mail}");
    assert!(mail.contains("1.1.0"), "{mail}");

    // Metrics: both decisions, and promtool accepts the page.
    let (status, page) = tcp_request(metrics, "/metrics", &[("Host", "localhost")]);
    assert_eq!(status, 200);
    for line in [
        "anya_scheduler_decisions_total{component=\"bech32\",decision=\"installed\"} 1",
        "anya_scheduler_decisions_total{component=\"fee-estimator\",decision=\"skipped\"}",
        "anya_updates_total{component=\"bech32\",type=\"security\",outcome=\"installed\",trigger=\"scheduler\"} 1",
        "anya_component_info{component=\"bech32\",version=\"1.1.0\"",
    ] {
        assert!(page.contains(line), "no {line:?} in\n{page}");
    }
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; .ci/run installs it)");
    promtool
        .stdin
        .as_ref()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool: {:?}", text(&out));

    // The TCP control API: a token, and a loopback Host.
    let (status, _) = tcp_request(tcp, "/v1/status", &[("Host", "localhost")]);
    assert_eq!(status, 401);
    let auth = ("Authorization", "Bearer s3cret-token");
    let (status, _) = tcp_request(
        tcp,
        "/v1/status",
        &[("Host", "localhost"), ("Authorization", "Bearer wrong")],
    );
    assert_eq!(status, 401);
    let (status, body) = tcp_request(tcp, "/v1/status", &[("Host", "evil.example:80"), auth]);
    assert_eq!(status, 403, "{body}");
    let (status, body) = tcp_request(
        tcp,
        "/v1/status",
        &[("Host", &format!("127.0.0.1:{tcp}")), auth],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"bech32\""), "{body}");

    // A second daemon on the same state folder is refused.
    let second = node.anya(&["--policy", policy.to_str().unwrap(), "serve"]);
    let (_, stderr) = text(&second);
    assert!(!second.status.success());
    assert!(stderr.contains("a daemon already serves"), "{stderr}");

    // SIGHUP with a broken policy keeps the old one, and says why.
    std::fs::write(&policy, "[auto_update]\nenabled = maybe\n").unwrap();
    daemon.signal("HUP");
    wait_until("the reload to be refused", || {
        daemon.log().contains("policy not reloaded")
    });
    assert!(daemon.log().contains("line 2"), "{}", daemon.log());
    assert!(ok(&node, &["status"]).contains("bech32"));
    // A valid one replaces it: the next cycle skips fee-estimator for the new reason.
    std::fs::write(
        &policy,
        format!("{policy_text}\n[components.fee-estimator]\nauto_update = false\n"),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_until("the reload", || daemon.log().contains("policy reloaded"));
    node.set_time("2026-11-29T03:30:00Z".parse().unwrap());
    wait_until("a cycle under the new policy", || {
        std::fs::read_to_string(node.state().join("journal.jsonl"))
            .unwrap()
            .contains("automatic updates are off for this component")
    });

    let status = daemon.stop();
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "the socket is removed at exit");
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("\"stopped\"")),
        "{log}"
    );
}

#[test]
fn the_cli_gives_the_same_answers_with_and_without_the_daemon() {
    let node = Node::new();
    let dir = node.root().to_owned();
    node.publish(&BECH32_1_0_0);
    node.publish(&FEE_ESTIMATOR_1_0_0);
    ok(&node, &["install", "bech32"]);
    ok(&node, &["install", "fee-estimator"]);
    node.publish(&BECH32_1_1_0);
    let policy = dir.join("update_policy.toml");
    std::fs::write(&policy, "[auto_update]\nenabled = false\n").unwrap();

    let queries: [&[&str]; 6] = [
        &["check"],
        &["--json", "check"],
        &["list"],
        &["--json", "list"],
        &["status"],
        &["status", "bech32"],
    ];
    let local: Vec<(Option<i32>, String)> = queries
        .iter()
        .map(|q| {
            let out = node.anya(q);
            (out.status.code(), text(&out).0)
        })
        .collect();
    let daemon = Daemon::start(&node, &policy, &[]);
    for (q, expected) in queries.iter().zip(&local) {
        let out = node.anya(q);
        assert_eq!(
            (out.status.code(), text(&out).0),
            *expected,
            "`anya {}` differs with the daemon",
            q.join(" ")
        );
    }
    // Install and roll back through the daemon, then the same without it.
    let through_daemon = [
        ok(&node, &["install", "bech32"]),
        ok(&node, &["rollback", "bech32"]),
    ];
    // Errors keep their exit codes.
    let out = node.anya(&["rollback", "nothing-here"]);
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    // Who asked, in the journal: the CLI's user, through the socket.
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    let last = journal.lines().last().unwrap();
    assert!(last.contains("\"actor\":\"cli uid="), "{last}");
    // A refused install is journaled by the daemon, with who asked and why.
    let out = node.anya(&["install", "bech32", "0.9.0"]);
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    let refused = journal.lines().last().unwrap();
    assert!(
        refused.contains("install-refused")
            && refused.contains("\"actor\":\"cli uid=")
            && refused.contains("0.9.0"),
        "{refused}"
    );
    assert!(daemon.stop().success());
    let without = [
        ok(&node, &["install", "bech32"]),
        ok(&node, &["rollback", "bech32"]),
    ];
    assert_eq!(through_daemon, without);
    assert_eq!(without[0], "installed bech32 1.1.0 (was 1.0.0)\n");
}

#[test]
fn a_stale_socket_is_replaced_and_a_foreign_file_is_not() {
    let node = Node::new();
    let policy = empty_policy(&node);
    std::fs::create_dir_all(node.state().join("daemon")).unwrap();
    let socket = node.state().join("daemon/control.sock");

    // Something that is not a socket: left alone, with the reason.
    std::fs::write(&socket, "not a socket").unwrap();
    let out = node.anya(&["--policy", policy.to_str().unwrap(), "serve"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is not a socket; not replacing it"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
    std::fs::remove_file(&socket).unwrap();

    // A socket nobody listens on (a daemon that died): replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let daemon = Daemon::start(&node, &policy, &[]);
    assert!(ok(&node, &["status"]).contains("nothing installed"));
    assert!(daemon.stop().success());
}

#[test]
fn sigterm_lets_the_call_in_flight_finish() {
    let node = Node::new();
    node.publish(&anya_fixtures::TEST_LOOP);
    ok(&node, &["install", "test-loop"]);
    let policy = empty_policy(&node);
    let daemon = Daemon::start(&node, &policy, &[]);

    // A call that runs for a while (counting to 40 million), through the daemon.
    let n = 40_000_000u64;
    let root = node.root().to_owned();
    let call = std::thread::spawn(move || {
        Node::attach(&root).anya(&["call", "test-loop", "count", &n.to_string()])
    });
    // Once it is in flight, stop the daemon.
    // Polled closely: the call runs for a fraction of a second.
    let start = Instant::now();
    while !(daemon.log().contains("/v1/call") || call.is_finished()) {
        assert!(start.elapsed() < PATIENCE, "the call never arrived");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        !call.is_finished(),
        "the call ended before SIGTERM was sent: nothing would be tested"
    );
    let stopped = daemon.stop();
    let out = call.join().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "the call failed: {stderr}");
    assert_eq!(stdout.trim(), n.to_string());
    assert!(stopped.success());
}

/// A stopped daemon (SIGSTOP) still accepts connections on its socket: the CLI gives up
/// on its ping within seconds, says why and exits 6, and works again once the daemon
/// continues.
#[test]
fn the_cli_does_not_hang_on_a_stopped_daemon() {
    let node = Node::new();
    let policy = empty_policy(&node);
    let daemon = Daemon::start(&node, &policy, &[]);
    daemon.signal("STOP");
    let started = Instant::now();
    let out = node.anya(&["status"]);
    let took = started.elapsed();
    daemon.signal("CONT");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("did not answer within 2 s") && stderr.contains("control.sock"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(ok(&node, &["status"]).contains("nothing installed"));
    assert!(daemon.stop().success());
}

/// SIGTERM completes even when the control socket's file was removed (nothing can
/// connect to wake the accept loop).
#[test]
fn sigterm_completes_when_the_socket_file_is_gone() {
    let node = Node::new();
    let policy = empty_policy(&node);
    let daemon = Daemon::start(&node, &policy, &[]);
    std::fs::remove_file(node.state().join("daemon/control.sock")).unwrap();
    let started = Instant::now();
    assert!(daemon.stop().success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// Issue 11, bug 2: while a daemon serves the state folder, `--policy` and `--trust`
/// naming other files than the daemon's are refused (exit 2, saying which file the
/// daemon uses), not silently ignored; the daemon's own files are accepted.
#[test]
fn flags_the_daemon_would_not_honour_are_refused() {
    let node = Node::new();
    let policy = empty_policy(&node);
    let daemon = Daemon::start(&node, &policy, &[]);
    let strict = node.root().join("strict.toml");
    std::fs::write(
        &strict,
        "[validation]\nbip_compliance_required = [\"141\"]\n",
    )
    .unwrap();

    let out = node.anya(&["--policy", strict.to_str().unwrap(), "status"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("uses the policy")
            && stderr.contains(policy.to_str().unwrap())
            && stderr.contains("strict.toml")
            && stderr.contains("--policy would be ignored"),
        "{stderr}"
    );
    let out = Command::new(anya_bin())
        .arg("--state")
        .arg(node.state())
        .args(["--trust", "/nonexistent", "status"])
        .env("ANYA_CLOCK_FILE", node.clock_file())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent"), "{stderr}");
    // The daemon's own policy (and trust store, which every command here names) are fine.
    assert!(
        ok(&node, &["--policy", policy.to_str().unwrap(), "status"]).contains("nothing installed")
    );
    assert!(daemon.stop().success());
}

#[test]
fn an_expired_index_freezes_the_daemon_which_alerts_once_and_serves_on() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let stem = node.root().join("offline");
    let out = node.anya(&["--json", "key", "generate", "--out", stem.to_str().unwrap()]);
    let key: Value = serde_json::from_slice(&out.stdout).unwrap();
    node.write_trust(&format!(
        "{}[index]\nrelease_keys = [{:?}]\n",
        crate::common::trust_entry("test", &crate::common::key(1), &["*"]),
        key["public_key"].as_str().unwrap()
    ));
    let secret = stem.with_extension("key");
    ok(
        &node,
        &[
            "index",
            "release",
            "--key",
            secret.to_str().unwrap(),
            "--expires-in",
            "2",
        ],
    );
    ok(&node, &["install", "bech32"]);

    let receiver = Receiver::start();
    let policy = node.root().join("update_policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[notifications]\nwebhook_urls = [\"http://127.0.0.1:{}/hook\"]\n",
            receiver.port
        ),
    )
    .unwrap();
    let metrics = free_port();
    let metrics_arg = format!("127.0.0.1:{metrics}");
    let daemon = Daemon::start(&node, &policy, &["--metrics", &metrics_arg]);

    // Three days on the release has expired: the next cycles refuse it.
    let later = node.now() + jiff::SignedDuration::from_hours(72);
    node.set_time(later);
    wait_until("the index refusal to be told", || {
        receiver
            .events()
            .iter()
            .any(|e| e["type"] == "index.refused")
    });
    let events = receiver.events();
    let refusal = events
        .iter()
        .find(|e| e["type"] == "index.refused")
        .unwrap();
    let reason = refusal["reason"].as_str().unwrap();
    assert!(reason.contains("expired at"), "{refusal}");
    let (_, exposition) = tcp_request(metrics, "/metrics", &[("Host", "localhost")]);
    assert!(
        exposition.contains("anya_index_refusals_total{document=\"release\",reason=\"expired\"} 1"),
        "{exposition}"
    );
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    assert!(journal.contains("index-refused"), "{journal}");

    // More cycles, the same refusal: told once. The host serves on.
    node.set_time(later + jiff::SignedDuration::from_hours(3));
    wait_until("a later cycle", || {
        std::fs::read_to_string(&daemon.log)
            .unwrap()
            .matches("scheduler cycle failed")
            .count()
            >= 2
    });
    let told = receiver
        .events()
        .iter()
        .filter(|e| e["type"] == "index.refused")
        .count();
    assert_eq!(told, 1, "{:?}", receiver.events());
    assert_eq!(version_of(&node, "bech32"), "1.0.0");
    let out = ok(
        &node,
        &[
            "--json",
            "call",
            "bech32",
            "decode",
            "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
        ],
    );
    assert!(out.contains("\"ok\""), "{out}");
    daemon.stop();
}

#[test]
fn a_guest_that_writes_to_stderr_gets_an_answer_through_the_daemon() {
    // The flaky build panics on inputs ending in '!': Rust's std writes the panic message
    // to stderr through WASI's blocking stream calls, which must not take the daemon's
    // runtime down with them (they once closed the connection without an answer).
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_FLAKY);
    ok(&node, &["install", "bech32"]);
    let daemon = Daemon::start(&node, &empty_policy(&node), &[]);
    let trapping = format!(
        "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4{}\"",
        anya_fixtures::FLAKY_TRAP_SUFFIX
    );
    for _ in 0..3 {
        let out = node.anya(&["call", "bech32", "decode", &trapping]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stderr.contains("trap"), "{stderr}");
    }
    let out = ok(
        &node,
        &[
            "call",
            "bech32",
            "decode",
            "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
        ],
    );
    assert!(out.contains("\"ok\""), "{out}");
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
    daemon.stop();
}

#[test]
fn a_revoked_version_sends_the_daemon_down_though_its_rollout_document_is_stale() {
    // The offline keys revoke what runs; the rollout document still names the release
    // before (mix and match, refused until the controller re-signs): the host goes down
    // to its rollback point all the same.
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let offline = crate::index::generate(&node, "offline");
    let online = crate::index::generate(&node, "online");
    crate::index::pin_index_root(&node, &[&offline], 1);
    let offline_key = offline.secret.to_str().unwrap();
    let online_key = online.secret.to_str().unwrap();
    ok(
        &node,
        &[
            "index",
            "release",
            "--key",
            offline_key,
            "--rollout-key",
            &online.public,
        ],
    );
    ok(
        &node,
        &[
            "rollout", "start", "bech32", "1.1.0", "--stable", "1.0.0", "--stages", "100", "--key",
            online_key,
        ],
    );
    ok(&node, &["install", "bech32", "1.0.0"]);
    ok(&node, &["install", "bech32", "1.1.0"]);
    let daemon = Daemon::start(&node, &empty_policy(&node), &[]);
    assert_eq!(version_of(&node, "bech32"), "1.1.0");

    ok(
        &node,
        &[
            "index",
            "release",
            "--key",
            offline_key,
            "--revoke",
            "bech32@1.1.0",
        ],
    );
    node.set_time(node.now() + jiff::SignedDuration::from_hours(2));
    let journal = || std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    // The refusal is journaled when the cycle ends, after the way down.
    wait_until("the host to leave the revoked version and say why", || {
        version_of(&node, "bech32") == "1.0.0" && journal().contains("index-refused")
    });
    let journal = journal();
    assert!(
        journal.contains("the signed index revoked bech32 1.1.0"),
        "{journal}"
    );
    assert!(journal.contains("index-refused"), "{journal}");
    daemon.stop();
}
