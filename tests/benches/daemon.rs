//! The daemon's call API from clients that keep their connections
//! (`cargo bench -p anya-tests --bench daemon`).
//!
//! A daemon serves a host with `bech32` 1.1.0 installed (fresh mode, the default), in
//! this process, on its control socket. Beside it, in the same run, the same call made in
//! process ([`UpdateManager::call`] on a second host): the difference is what the socket,
//! HTTP and JSON framing cost. Measured:
//! - `daemon/1-client/{valid,invalid}`: one client's call latency (criterion), and
//!   `daemon/1-client/ping`, a request answered without the blocking pool (the transport);
//! - `in-process/{valid,invalid}`: the same call without the daemon;
//! - load: 1 and 2 clients, each on its own kept connection, calling for 3 s: calls per
//!   second, p50 and p99 latency.
//!
//! The targets (issue 14): 2 clients ≥ 20,000 calls/s on 2 cores, p50 ≤ 100 µs.

mod support;

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anya_host::daemon::client::Client;
use anya_host::daemon::{Daemon, DaemonConfig, socket};
use anya_host::policy::Policy;
use anya_host::update::{Options, UpdateManager};
use criterion::Criterion;
use serde_json::json;

use support::{INPUTS, VALID, bech32};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The body of a `POST /v1/call` to `bech32`'s `decode`.
fn call_body(address: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"name": "bech32", "function": "decode", "args": address})).unwrap()
}

/// One call through `client`; panics unless the daemon answered 200.
fn call(client: &Client, body: &[u8]) {
    let (status, answer) = client
        .request("POST", "/v1/call", Some(body.to_vec()), TIMEOUT)
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    black_box(answer);
}

/// Starts a daemon over the host in `dir` on a thread of its own; its socket.
fn serve(dir: &Path) -> std::path::PathBuf {
    let manager = support::host(
        dir,
        Options {
            actor: "daemon".into(),
            ..Options::default()
        },
    );
    let state = dir.join("state");
    let config = DaemonConfig {
        state: state.clone(),
        policy_path: None,
        trust_path: None,
        tcp: None,
        token: None,
        metrics: None,
        tick: Duration::from_secs(1),
        host_seed: "bench".into(),
    };
    let started = Daemon::start(manager, Policy::parse("").unwrap(), &config).unwrap();
    // Serves until the process ends.
    std::thread::spawn(move || started.serve().unwrap());
    socket::control_socket(&state)
}

/// What `clients` threads, each with its own connection, do in `length`.
struct Load {
    clients: usize,
    calls: usize,
    took: Duration,
    /// Every call's latency, sorted.
    latencies: Vec<Duration>,
}

impl Load {
    fn run(socket: &Path, clients: usize, length: Duration) -> Self {
        let stop = AtomicBool::new(false);
        let body = call_body(VALID);
        let started = Instant::now();
        let mut latencies: Vec<Duration> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..clients)
                .map(|_| {
                    s.spawn(|| {
                        let client = Client::connect(socket, TIMEOUT).unwrap();
                        let mut mine = Vec::with_capacity(200_000);
                        while !stop.load(Ordering::Relaxed) {
                            let t = Instant::now();
                            call(&client, &body);
                            mine.push(t.elapsed());
                        }
                        mine
                    })
                })
                .collect();
            std::thread::sleep(length);
            stop.store(true, Ordering::Relaxed);
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let took = started.elapsed();
        latencies.sort();
        Self {
            clients,
            calls: latencies.len(),
            took,
            latencies,
        }
    }

    fn rate(&self) -> f64 {
        self.calls as f64 / self.took.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1);
        self.latencies[i]
    }

    fn print(&self) {
        println!(
            "  {} client(s): {:>8.0} calls/s   p50 {:>7.1} µs   p99 {:>7.1} µs",
            self.clients,
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1e6,
            self.percentile(0.99).as_secs_f64() * 1e6,
        );
    }
}

fn latency(c: &mut Criterion, socket: &Path, in_process: &UpdateManager) {
    let client = Client::connect(socket, TIMEOUT).unwrap();
    let mut group = c.benchmark_group("call");
    // The transport alone: a request answered on the connection's task.
    group.bench_function("daemon/1-client/ping", |b| {
        b.iter(|| {
            let (status, answer) = client.request("GET", "/v1/ping", None, TIMEOUT).unwrap();
            assert_eq!(status, 200);
            black_box(answer);
        });
    });
    for (label, address) in INPUTS {
        let body = call_body(address);
        group.bench_function(format!("daemon/1-client/{label}"), |b| {
            b.iter(|| call(&client, &body));
        });
        group.bench_function(format!("in-process/{label}"), |b| {
            b.iter(|| {
                black_box(
                    in_process
                        .call(&bech32(), "decode", json!(address))
                        .unwrap(),
                )
            });
        });
    }
    group.finish();
}

fn main() {
    let served = tempfile::tempdir().unwrap();
    let socket = serve(served.path());
    let beside = tempfile::tempdir().unwrap();
    let in_process = support::host(beside.path(), Options::default());
    // Both answer alike before anything is timed.
    let client = Client::connect(&socket, TIMEOUT).unwrap();
    let (status, answer) = client
        .request("POST", "/v1/call", Some(call_body(VALID)), TIMEOUT)
        .unwrap();
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let direct = in_process.call(&bech32(), "decode", json!(VALID)).unwrap();
    assert_eq!(answer, direct);
    drop(client);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    latency(&mut c, &socket, &in_process);
    c.final_summary();

    println!("\ndaemon load, fresh calls of the valid input, kept connections, 3 s each:");
    for clients in [1, 2] {
        Load::run(&socket, clients, Duration::from_secs(3)).print();
    }
}
