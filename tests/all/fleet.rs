//! A fleet on one machine, against real parts: 20 `anya serve` hosts with their own state
//! folders, one OCI registry (distribution) holding the packages and the signed index,
//! and one Prometheus scraping every host's `/metrics`. The rollout controller
//! (`anya rollout step`) judges each stage by querying that Prometheus.
//!
//! - A good version goes stage by stage to every host, with no failed call on the way.
//! - A bad version (it traps on a quarter of the inputs) is aborted at its first stage by
//!   the analysis; its cohort rolls back (the hosts' own trial would have let it through:
//!   the fleet's analysis catches it), and the other hosts never install it.
//! - An expired rollout document freezes installs fleet-wide, every host alerts, and
//!   every host serves on.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, BECH32_FLAKY, FLAKY_TRAP_SUFFIX};
use anya_host::ids::ComponentName;
use anya_host::index::in_cohort;
use serde_json::{Value, json};

use crate::common::{Node, anya_bin, free_port, text, wait_until};
use crate::index::{KeyPair, generate, pin_index_root};
use crate::oci::{Distribution, anya_at, publish_files, signed_files};

const HOSTS: usize = 20;
/// A valid P2TR address (the Extism peer's input) and, with the suffix, its twin that
/// the bad version traps on.
const P2TR: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
const PATIENCE: Duration = Duration::from_secs(60);

/// Prometheus on loopback, scraping `targets` every second, storing in a temporary folder.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(targets: &[u16]) -> Self {
        assert!(
            Command::new("prometheus")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "the fleet test needs a real Prometheus: install Debian's prometheus (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: anya\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let log = dir.path().join("prometheus.log");
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while http_get(port, "/-/ready").is_none_or(|(status, _)| status != 200) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "prometheus exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(start.elapsed() < PATIENCE, "prometheus did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The values `promql` gives now.
    fn query(&self, promql: &str) -> Vec<f64> {
        anya_host::rollout::Prometheus::new(self.url().parse().unwrap(), Duration::from_secs(5))
            .query(promql)
            .unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on a loopback port: status and body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    read_answer(&mut stream)
}

fn read_answer(stream: &mut impl Read) -> Option<(u16, String)> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    let answer = String::from_utf8_lossy(&bytes).into_owned();
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// `POST path` with a JSON body on a daemon's control socket: status and body.
fn post(socket: &Path, path: &str, body: &Value) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let body = body.to_string();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_answer(&mut stream).expect("an HTTP answer")
}

/// The port a daemon's `/metrics` listener bound, from its "serving" log line.
fn bound_metrics_port(log: &Path) -> u16 {
    let mut port = None;
    wait_until("the daemon's serving line", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        port = text
            .lines()
            .find_map(|l| l.split("\"metrics\":\"Some(127.0.0.1:").nth(1))
            .and_then(|rest| rest.split(')').next())
            .and_then(|p| p.parse().ok());
        port.is_some()
    });
    port.expect("waited for it")
}

/// One host: its own state folder, the fleet's registry and trust store, the fleet's
/// clock, its daemon and its metrics port.
struct Host {
    state: PathBuf,
    metrics: u16,
    child: Option<Child>,
}

struct Fleet {
    publisher: Node,
    registry_url: String,
    policy: PathBuf,
    hosts: Vec<Host>,
}

impl Fleet {
    /// `anya` on the host whose state folder is `state`.
    fn command(&self, state: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(anya_bin());
        cmd.arg("--state")
            .arg(state)
            .arg("--registry")
            .arg(&self.registry_url)
            .arg("--trust")
            .arg(self.publisher.trust_path())
            .args(args)
            .env("ANYA_CLOCK_FILE", self.publisher.clock_file())
            .env(
                "DOCKER_CONFIG",
                self.publisher.root().join("no-docker-config"),
            )
            .env_remove("ANYA_LOG");
        cmd
    }

    /// Signs `fixture` (and the validators it names, the first time) and publishes it.
    fn publish(&self, fixture: &anya_fixtures::Fixture) {
        let files = signed_files(self.publisher.root(), &[fixture]);
        let out = publish_files(&self.publisher, &self.registry_url, &files);
        assert!(out.status.success(), "{:?}", text(&out));
    }

    /// The publisher's `anya`, asserting success; its stdout.
    fn publisher(&self, args: &[&str]) -> String {
        let out = anya_at(&self.publisher, &self.registry_url, args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "anya {args:?}: {stdout}{stderr}");
        stdout
    }

    fn add_host(&mut self) {
        let state = self
            .publisher
            .root()
            .join(format!("hosts/{:02}", self.hosts.len()));
        std::fs::create_dir_all(&state).unwrap();
        let out = self
            .command(&state, &["install", "bech32", "1.0.0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", text(&out));
        self.hosts.push(Host {
            state,
            // Known once its daemon serves (it binds port 0: no port to race for).
            metrics: 0,
            child: None,
        });
    }

    fn serve(&mut self) {
        for i in 0..self.hosts.len() {
            let host = &self.hosts[i];
            let metrics = "127.0.0.1:0";
            let log = std::fs::File::create(host.state.with_extension("log")).unwrap();
            let child = self
                .command(
                    &host.state,
                    &[
                        "--policy",
                        self.policy.to_str().unwrap(),
                        "serve",
                        "--metrics",
                        metrics,
                    ],
                )
                .env("ANYA_SCHEDULER_TICK_MS", "200")
                .env("ANYA_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            self.hosts[i].child = Some(child);
        }
        for host in &mut self.hosts {
            let socket = host.socket();
            wait_until("every host's control socket", || {
                UnixStream::connect(&socket).is_ok()
            });
            host.metrics = bound_metrics_port(&host.state.with_extension("log"));
        }
    }

    /// Moves the fleet's clock on by `by` and runs one scheduler cycle on every host.
    fn cycle(&self, by: jiff::SignedDuration) {
        self.publisher.set_time(self.publisher.now() + by);
        for host in &self.hosts {
            host.post("/v1/scheduler/run", &json!({}));
        }
    }

    /// The rollout document as `anya rollout status --json` shows it.
    fn rollout(&self) -> Value {
        let out = self.publisher(&["--json", "rollout", "status"]);
        serde_json::from_str::<Value>(&out).unwrap()["rollout"].clone()
    }

    fn host_ids(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| {
                std::fs::read_to_string(h.state.join("host-id"))
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect()
    }

    fn versions(&self) -> Vec<String> {
        self.hosts.iter().map(Host::active).collect()
    }
}

impl Host {
    fn socket(&self) -> PathBuf {
        self.state.join("daemon/control.sock")
    }

    fn post(&self, path: &str, body: &Value) -> (u16, String) {
        post(&self.socket(), path, body)
    }

    /// The running version of bech32, from the host's own /metrics.
    fn active(&self) -> String {
        let (_, metrics) = http_get(self.metrics, "/metrics").expect("metrics");
        metrics
            .lines()
            .find(|l| l.starts_with("anya_component_info{component=\"bech32\""))
            .and_then(|l| l.split("version=\"").nth(1))
            .and_then(|v| v.split('"').next())
            .unwrap_or_else(|| panic!("no bech32 in\n{metrics}"))
            .to_owned()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.state.join("journal.jsonl")).unwrap()
    }

    fn metrics(&self) -> String {
        http_get(self.metrics, "/metrics").expect("metrics").1
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Calls bech32 `decode` on every host in turn, a quarter of the inputs with the suffix
/// the bad version traps on, until stopped; counts answers that are not 200.
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(sockets: Vec<PathBuf>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, c, f) = (Arc::clone(&stop), Arc::clone(&calls), Arc::clone(&failed));
        let thread = std::thread::spawn(move || {
            let mut round: usize = 0;
            while !s.load(Ordering::SeqCst) {
                round += 1;
                // Every host gets the trapping input every fourth round.
                for (i, socket) in sockets.iter().enumerate() {
                    let input = if (round + i).is_multiple_of(4) {
                        format!("{P2TR}{FLAKY_TRAP_SUFFIX}")
                    } else {
                        P2TR.to_owned()
                    };
                    let (status, _) = post(
                        socket,
                        "/v1/call",
                        &json!({"name": "bech32", "function": "decode", "args": input}),
                    );
                    c.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            calls,
            failed,
            thread: Some(thread),
        }
    }

    /// (calls, failed calls) so far.
    fn counts(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let joined = t.join();
            // The load must have run to the end (a panic in it would hide failed calls).
            if !std::thread::panicking() {
                assert!(joined.is_ok(), "the call load died");
            }
        }
    }
}

/// A salt under which between `min` and `max` of `hosts` are in the first `basis_points`
/// of bech32's cohort: the test knows its canaries.
fn salt_with_cohort(hosts: &[String], basis_points: u16, min: usize, max: usize) -> String {
    let bech32 = ComponentName::parse("bech32").unwrap();
    (0..10_000)
        .map(|i| format!("salt-{i}"))
        .find(|salt| {
            let n = hosts
                .iter()
                .filter(|h| in_cohort(salt, &bech32, h, basis_points))
                .count();
            (min..=max).contains(&n)
        })
        .expect("some salt gives such a cohort")
}

fn in_stage(rollout: &Value, host_id: &str) -> bool {
    let stage = &rollout["components"]["bech32"];
    let bech32 = ComponentName::parse("bech32").unwrap();
    in_cohort(
        stage["salt"].as_str().unwrap(),
        &bech32,
        host_id,
        u16::try_from(stage["basis_points"].as_u64().unwrap()).unwrap(),
    )
}

/// The controller's step with a short analysis: one measurement a second, three of them,
/// over a 10-second window.
fn step(fleet: &Fleet, online: &KeyPair, prometheus: &Prometheus) -> String {
    let fleet_size = fleet.hosts.len().to_string();
    fleet.publisher(&[
        "rollout",
        "step",
        "--key",
        online.secret.to_str().unwrap(),
        "--prometheus",
        &prometheus.url(),
        "--interval",
        "1s",
        "--count",
        "3",
        "--window",
        "10s",
        "--fleet-size",
        &fleet_size,
    ])
}

#[test]
fn a_fleet_follows_staged_rollouts_gated_on_prometheus() {
    let registry = Distribution::start();
    let publisher = Node::new();
    let registry_url = registry.url("fleet");
    let mut fleet = Fleet {
        policy: publisher.root().join("update_policy.toml"),
        publisher,
        registry_url,
        hosts: Vec::new(),
    };
    fleet.publish(&BECH32_1_0_0);
    let offline = generate(&fleet.publisher, "offline");
    let online = generate(&fleet.publisher, "online");
    pin_index_root(&fleet.publisher, &[&offline], 1);
    let offline_key = offline.secret.to_str().unwrap().to_owned();
    fleet.publisher(&[
        "index",
        "release",
        "--key",
        &offline_key,
        "--rollout-key",
        &online.public,
    ]);
    // Hosts install nothing until the online key signs a first rollout document, which
    // pins every component at its newest release.
    let online_key = online.secret.to_str().unwrap().to_owned();
    fleet.publisher(&["rollout", "step", "--key", &online_key]);
    // Every update installs by itself, trials last a minute, and a host's own trial lets
    // a quarter of failed calls through: only the fleet's analysis stops the bad version.
    std::fs::write(
        &fleet.policy,
        "[auto_update]\nenabled = true\nfeature_updates = true\ncheck_interval_minutes = 1\n\
         [rollback]\nrollback_timeout_minutes = 1\ntrial_failure_rate = 0.5\n",
    )
    .unwrap();
    for _ in 0..HOSTS {
        fleet.add_host();
    }
    fleet.serve();
    let prometheus = Prometheus::start(&fleet.hosts.iter().map(|h| h.metrics).collect::<Vec<_>>());
    let load = Load::start(fleet.hosts.iter().map(Host::socket).collect());
    let ids = fleet.host_ids();

    // A new release: the rollout document names the old one, so hosts take nothing new
    // until the controller signs the next (no window in which all would take it at once).
    fleet.publish(&BECH32_1_1_0);
    fleet.publisher(&["index", "release", "--key", &offline_key]);
    fleet.cycle(jiff::SignedDuration::from_mins(2));
    assert!(
        fleet.versions().iter().all(|v| v == "1.0.0"),
        "{:?}",
        fleet.versions()
    );

    // A good version, stage by stage: the cohort of each stage on 1.1.0, the rest on 1.0.0.
    let started = Instant::now();
    let salt = salt_with_cohort(&ids, 100, 1, 1);
    fleet.publisher(&[
        "rollout",
        "start",
        "bech32",
        "1.1.0",
        "--stages",
        "1,5,25,50,100",
        "--salt",
        &salt,
        "--key",
        &online_key,
    ]);
    let mut steps = 0;
    loop {
        fleet.cycle(jiff::SignedDuration::from_mins(2));
        let rollout = fleet.rollout();
        let versions = fleet.versions();
        if rollout["components"]["bech32"]["candidate"].is_null() {
            assert!(versions.iter().all(|v| v == "1.1.0"), "{versions:?}");
            break;
        }
        for (id, version) in ids.iter().zip(&versions) {
            let expected = if in_stage(&rollout, id) {
                "1.1.0"
            } else {
                "1.0.0"
            };
            assert_eq!(version, expected, "host {id} at {rollout}");
        }
        let out = step(&fleet, &online, &prometheus);
        assert!(!out.contains("ABORTED") && !out.contains("paused"), "{out}");
        steps += 1;
        assert!(steps < 30, "the rollout never completed: {out}");
    }
    let to_everyone = started.elapsed();
    let (calls, failed) = load.counts();
    assert_eq!(
        failed, 0,
        "{failed} of {calls} calls failed while 1.1.0 rolled out"
    );
    eprintln!(
        "figure: {HOSTS} hosts went 1.0.0 -> 1.1.0 through 5 stages (1% first) in {:.1} s ({steps} \
         controller steps of 3 one-second measurements; {calls} calls, none failed)",
        to_everyone.as_secs_f64()
    );

    // A bad version: aborted at its first stage; its cohort rolls back, the rest never
    // install it.
    fleet.publish(&BECH32_FLAKY);
    fleet.publisher(&["index", "release", "--key", &offline_key]);
    let salt = salt_with_cohort(&ids, 500, 1, 3);
    fleet.publisher(&[
        "rollout",
        "start",
        "bech32",
        "1.2.0",
        "--stages",
        "5,100",
        "--salt",
        &salt,
        "--key",
        &online_key,
    ]);
    fleet.cycle(jiff::SignedDuration::from_mins(2));
    let rollout = fleet.rollout();
    let cohort: Vec<usize> = (0..HOSTS)
        .filter(|i| in_stage(&rollout, &ids[*i]))
        .collect();
    for (i, version) in fleet.versions().iter().enumerate() {
        let expected = if cohort.contains(&i) {
            "1.2.0"
        } else {
            "1.1.0"
        };
        assert_eq!(version, expected, "host {i}");
    }
    let judged = Instant::now();
    let mut out = String::new();
    for _ in 0..5 {
        out = step(&fleet, &online, &prometheus);
        if out.contains("ABORTED") {
            break;
        }
    }
    assert!(
        out.contains("ABORTED") && out.contains("failed `result <= 0.01`"),
        "{out}"
    );
    assert_eq!(fleet.rollout()["components"]["bech32"]["state"], "aborted");
    fleet.cycle(jiff::SignedDuration::from_mins(2));
    eprintln!(
        "figure: 1.2.0 aborted at its first stage ({} of {HOSTS} hosts) and its cohort back \
         on 1.1.0 {:.1} s after the analysis began: {}",
        cohort.len(),
        judged.elapsed().as_secs_f64(),
        out.lines().next().unwrap_or_default()
    );
    assert!(
        fleet.versions().iter().all(|v| v == "1.1.0"),
        "{:?}",
        fleet.versions()
    );
    for (i, host) in fleet.hosts.iter().enumerate() {
        if cohort.contains(&i) {
            assert!(
                host.metrics().contains(
                    r#"anya_rollbacks_total{component="bech32",trigger="automatic",reason="index"} 1"#
                ),
                "host {i}:\n{}",
                host.metrics()
            );
            // Its watermark came down with it: a later rollout of 1.2.0 would reach it.
            assert!(
                host.journal().contains("watermark-lowered"),
                "{}",
                host.journal()
            );
        } else {
            assert!(
                !host.journal().contains("1.2.0"),
                "host {i} saw 1.2.0:\n{}",
                host.journal()
            );
        }
    }

    // An expired rollout document: every host refuses it, says so, installs nothing and
    // serves on.
    fleet.cycle(jiff::SignedDuration::from_hours(24 * 4));
    let expired = r#"count(anya_index_refusals_total{document="rollout",reason="expired"} > 0)"#;
    wait_until("every host's refusal in Prometheus", || {
        prometheus.query(expired) == vec![HOSTS as f64]
    });
    let (before, _) = load.counts();
    wait_until("calls served after the freeze", || {
        load.counts().0 > before + 40
    });
    let (calls, failed_after) = load.counts();
    assert!(calls > before);
    drop(load);
    // The traps of 1.2.0 are the only failures.
    let traps = prometheus.query(r#"sum(anya_traps_total{component="bech32",version!="1.2.0"})"#);
    assert_eq!(traps, vec![0.0], "failed calls: {failed_after}");
}
