//! Costs against the host's size (`cargo bench -p anya-tests --bench scale`): the same
//! operations on a host with one component and on one with 500, in one run. The 500 are
//! `bech32` 1.1.0 signed under 500 names (`bech32-000` ... `bech32-499`, no validators:
//! the validation gate's own cost is `--bench validate`'s). Measured, per host size:
//! - `install`: an upgrade of `bech32-000` to 1.1.1, in process (a rollback between two,
//!   not timed);
//! - `rollback`: the command, and the command to the previous version serving;
//! - `one-shot call`: what `anya call` does once its process has started: open the state
//!   folder, build the manager, load the component (compile cache) and call it (process
//!   start-up itself: `farm-bench` on the binary);
//! - `daemon ready`: from opening the state folder to the first answered ping on the
//!   control socket.
//!
//! The targets (issue 14): with 500 installed, install within 1.25x of the same install
//! on a host with one, a one-shot call ≤ 12 ms, the daemon ready in ≤ 100 ms.

// Only the inputs are used here; the hosts are built below, at two sizes.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anya_fixtures::BECH32_1_1_0;
use anya_host::daemon::client::Client;
use anya_host::daemon::{Daemon, DaemonConfig, socket};
use anya_host::ids::ComponentName;
use anya_host::keys::SecretKey;
use anya_host::manifest::Manifest;
use anya_host::policy::Policy;
use anya_host::registry::DirRegistry;
use anya_host::store::{Access, Store};
use anya_host::trust::TrustStore;
use anya_host::update::{Options, UpdateManager};
use anya_host::{package, signature};
use serde_json::json;
use support::VALID;

const SIZES: [usize; 2] = [1, 500];

fn name(i: usize) -> ComponentName {
    ComponentName::parse(&format!("bech32-{i:03}")).unwrap()
}

fn v(text: &str) -> semver::Version {
    semver::Version::parse(text).unwrap()
}

/// A host in a folder of its own with `size` components installed.
struct Host {
    dir: tempfile::TempDir,
    trust: String,
}

impl Host {
    fn new(size: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed([1; 32]);
        let trust = format!(
            "[[key]]\nname = \"bench\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
            key.public().to_hex()
        );
        let host = Self { dir, trust };
        for i in 0..size {
            host.publish(&key, &name(i), "1.1.0");
        }
        host.publish(&key, &name(0), "1.1.1");
        let manager = host.manager();
        for i in 0..size {
            manager.install(&name(i), Some(&v("1.1.0")), false).unwrap();
        }
        host
    }

    /// `bech32` 1.1.0's code as `name` `version`, without validators or BIP claims.
    fn publish(&self, key: &SecretKey, name: &ComponentName, version: &str) {
        let mut manifest = Manifest::parse(&BECH32_1_1_0.manifest_text()).unwrap();
        manifest.name = name.clone();
        manifest.version = v(version);
        manifest.validators.clear();
        manifest.bip_compliance.clear();
        let bytes = package::embed_manifest(&BECH32_1_1_0.wasm_bytes(), &manifest).unwrap();
        let folder = self.dir.path().join("registry").join(name.as_str());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("{name}-{version}.wasm")),
            signature::sign(&bytes, key).unwrap(),
        )
        .unwrap();
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// What every command starts with: the state folder opened for writing, a manager.
    fn manager_with(&self, options: Options) -> UpdateManager {
        UpdateManager::new(
            Store::open(&self.state(), Access::Write).unwrap(),
            TrustStore::parse(&self.trust).unwrap(),
            Box::new(DirRegistry::new(self.dir.path().join("registry"))),
            options,
            Arc::new(anya_host::clock::SystemClock),
        )
        .unwrap()
    }

    fn manager(&self) -> UpdateManager {
        self.manager_with(Options::default())
    }
}

/// Median and p90 of `samples`.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    format!(
        "median {:>9.3} ms   p90 {:>9.3} ms   (n={})",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        samples.len()
    )
}

fn install_and_rollback(host: &Host, rounds: usize) -> [Vec<Duration>; 3] {
    let manager = host.manager();
    let (mut install, mut rollback, mut serving) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        manager.install(&name(0), Some(&v("1.1.1")), false).unwrap();
        install.push(started.elapsed());
        let started = Instant::now();
        let outcome = manager.rollback(&name(0), "bench", false).unwrap();
        rollback.push(started.elapsed());
        serving.push(outcome.serving_after);
    }
    [install, rollback, serving]
}

fn one_shot_call(host: &Host, rounds: usize) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let manager = host.manager();
            let answer = manager.call(&name(0), "decode", json!(VALID)).unwrap();
            let took = started.elapsed();
            assert_eq!(answer["ok"]["witness-version"], json!(1), "{answer}");
            took
        })
        .collect()
}

/// Stops every daemon this process serves: they handle SIGTERM.
fn stop_daemons() {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn daemon_ready(host: &Host, rounds: usize) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let manager = host.manager_with(Options {
                actor: "daemon".into(),
                ..Options::default()
            });
            let config = DaemonConfig {
                state: host.state(),
                policy_path: None,
                trust_path: None,
                tcp: None,
                token: None,
                metrics: None,
                tick: Duration::from_secs(3600),
                host_seed: "bench".into(),
            };
            let daemon = Daemon::start(manager, Policy::parse("").unwrap(), &config).unwrap();
            let serving = std::thread::spawn(move || daemon.serve().unwrap());
            let took = ping(&socket::control_socket(&host.state()), started);
            stop_daemons();
            serving.join().unwrap();
            took
        })
        .collect()
}

/// Pings `socket` until it answers; the time since `started`.
fn ping(socket: &Path, started: Instant) -> Duration {
    loop {
        if let Ok(client) = Client::connect(socket, Duration::from_secs(5))
            && let Ok((200, _)) = client.request("GET", "/v1/ping", None, Duration::from_secs(5))
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 15 };
    println!("costs against the host's size ({rounds} rounds each):");
    for size in SIZES {
        let started = Instant::now();
        let host = Host::new(size);
        println!(
            "\n{size} installed (set up in {:.1} s):",
            started.elapsed().as_secs_f64()
        );
        let [install, rollback, serving] = install_and_rollback(&host, rounds);
        println!("  install (upgrade, no validators)   {}", summary(install));
        println!("  rollback, whole command            {}", summary(rollback));
        println!("  rollback, command to serving       {}", summary(serving));
        println!(
            "  one-shot call (open, load, call)   {}",
            summary(one_shot_call(&host, rounds))
        );
        println!(
            "  daemon ready (open to first ping)  {}",
            summary(daemon_ready(&host, rounds.min(5)))
        );
    }
}
