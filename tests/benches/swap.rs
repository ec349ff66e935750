//! Hot swap and rollback, measured (`cargo bench -p anya-tests --bench swap`):
//! - swap latency: from the swap to the first call served by the new version (p50, p99);
//! - rollback latency, from the command to the previous version serving, in process and
//!   after a restart (from the compile cache, no recompile);
//! - calls during 1,000 alternating swaps with 2 calling threads: failed calls and
//!   throughput compared with no swaps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, BIP173_VECTORS, BIP350_VECTORS, Fixture};
use anya_host::ids::ComponentName;
use anya_host::keys::SecretKey;
use anya_host::manifest::Manifest;
use anya_host::registry::DirRegistry;
use anya_host::slot::Serving;
use anya_host::store::{Access, Store};
use anya_host::trust::TrustStore;
use anya_host::update::{Options, UpdateManager};
use anya_host::{package, signature};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const TAPROOT: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        let node = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let key = SecretKey::from_seed([1; 32]);
        std::fs::write(
            node.dir.path().join("trust.toml"),
            format!(
                "[[key]]\nname = \"bench\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
                key.public().to_hex()
            ),
        )
        .unwrap();
        // The validators bech32's manifests name ship beside it (the gate runs them).
        for f in [
            &BECH32_1_0_0,
            &BECH32_1_1_0,
            &BIP173_VECTORS,
            &BIP350_VECTORS,
        ] {
            let dir = node.dir.path().join("registry").join(f.name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(format!("{}-{}.wasm", f.name, f.version)),
                signed(f, &key),
            )
            .unwrap();
        }
        node
    }

    fn manager(&self) -> UpdateManager {
        let trust = TrustStore::load(&self.dir.path().join("trust.toml")).unwrap();
        let store = Store::open(&self.dir.path().join("state"), Access::Write).unwrap();
        let registry = DirRegistry::new(self.dir.path().join("registry"));
        UpdateManager::new(
            store,
            trust,
            Box::new(registry),
            Options::default(),
            std::sync::Arc::new(anya_host::clock::SystemClock),
        )
        .unwrap()
    }
}

fn signed(f: &Fixture, key: &SecretKey) -> Vec<u8> {
    let manifest = Manifest::parse(&std::fs::read_to_string(f.manifest).unwrap()).unwrap();
    let bytes = package::embed_manifest(&std::fs::read(f.wasm).unwrap(), &manifest).unwrap();
    signature::sign(&bytes, key).unwrap()
}

fn bech32() -> ComponentName {
    ComponentName::parse("bech32").unwrap()
}

fn v(s: &str) -> semver::Version {
    semver::Version::parse(s).unwrap()
}

/// Whether an answer to `decode(TAPROOT)` came from 1.1.0 (bech32m) or 1.0.0.
fn served_by_new(answer: &Value) -> bool {
    answer.get("ok").is_some()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: p50 {:?}, p99 {:?}, max {:?} over {} runs",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
        samples.len()
    );
}

/// Two versions loaded in one slot, to swap between.
fn loaded_pair(manager: &UpdateManager) -> (Arc<Serving>, Arc<Serving>) {
    manager
        .install(&bech32(), Some(&v("1.0.0")), false)
        .unwrap();
    let slot = manager.slot(&bech32()).unwrap();
    let old = slot.current();
    let trust = manager.trust();
    let bytes = std::fs::read(manager.registry().describe() + "/bech32/bech32-1.1.0.wasm").unwrap();
    let new = Serving::new(
        manager
            .runtime()
            .unwrap()
            .load(&package::verify(bytes, trust).unwrap())
            .unwrap(),
    );
    (old, new)
}

fn swap_latency(c: &mut Criterion) {
    let node = Node::new();
    let manager = node.manager();
    let (old, new) = loaded_pair(&manager);
    let slot = manager.slot(&bech32()).unwrap();
    let call = || manager.call(&bech32(), "decode", json!(TAPROOT)).unwrap();
    let mut samples = Vec::new();
    for i in 0..1000 {
        let (next, expect_new) = if i % 2 == 0 {
            (&new, true)
        } else {
            (&old, false)
        };
        let start = Instant::now();
        slot.swap(Arc::clone(next));
        let answer = call();
        samples.push(start.elapsed());
        assert_eq!(served_by_new(&answer), expect_new);
    }
    report("swap → first call served by the new version", samples);
    c.bench_function("swap: pointer store only", |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            slot.swap(Arc::clone(if flip { &new } else { &old }))
        })
    });
}

fn rollback_latency(c: &mut Criterion) {
    let node = Node::new();
    let manager = node.manager();
    manager
        .install(&bech32(), Some(&v("1.0.0")), false)
        .unwrap();
    manager.call(&bech32(), "decode", json!(TAPROOT)).unwrap();
    let mut serving = Vec::new();
    let mut whole = Vec::new();
    for _ in 0..50 {
        manager
            .install(&bech32(), Some(&v("1.1.0")), false)
            .unwrap();
        assert!(served_by_new(
            &manager.call(&bech32(), "decode", json!(TAPROOT)).unwrap()
        ));
        let start = Instant::now();
        let outcome = manager.rollback(&bech32(), "bench", false).unwrap();
        whole.push(start.elapsed());
        serving.push(outcome.serving_after);
        assert!(!served_by_new(
            &manager.call(&bech32(), "decode", json!(TAPROOT)).unwrap()
        ));
    }
    report(
        "rollback in process: command to 1.0.0 serving (the swap)",
        serving,
    );
    report(
        "rollback in process: whole command (state writes, data restore, journal)",
        whole,
    );
    drop(manager);

    let mut restart = Vec::new();
    let mut restart_whole = Vec::new();
    for _ in 0..20 {
        let manager = node.manager();
        manager
            .install(&bech32(), Some(&v("1.1.0")), false)
            .unwrap();
        drop(manager);
        let manager = node.manager();
        manager.call(&bech32(), "decode", json!(TAPROOT)).unwrap();
        let start = Instant::now();
        let outcome = manager.rollback(&bech32(), "bench", false).unwrap();
        restart_whole.push(start.elapsed());
        restart.push(outcome.serving_after);
        let current = manager.slot(&bech32()).unwrap().current();
        assert_eq!(current.loaded.origin(), anya_host::runtime::Origin::Cached);
        assert!(!served_by_new(
            &manager.call(&bech32(), "decode", json!(TAPROOT)).unwrap()
        ));
    }
    report(
        "rollback after a restart: command to 1.0.0 serving (from the compile cache)",
        restart,
    );
    report("rollback after a restart: whole command", restart_whole);

    let manager = node.manager();
    c.bench_function("rollback in process (install not timed)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                manager
                    .install(&bech32(), Some(&v("1.1.0")), false)
                    .unwrap();
                let start = Instant::now();
                manager.rollback(&bech32(), "bench", false).unwrap();
                total += start.elapsed();
            }
            total
        })
    });
}

fn calls_during_swaps(_c: &mut Criterion) {
    let node = Node::new();
    let manager = Arc::new(node.manager());
    let (old, new) = loaded_pair(&manager);
    let run = |swaps: bool| -> (u64, u64, Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (manager, stop, ok, failed) = (
                    Arc::clone(&manager),
                    Arc::clone(&stop),
                    Arc::clone(&ok),
                    Arc::clone(&failed),
                );
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match manager.call(&bech32(), "decode", json!(TAPROOT)) {
                            Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        let start = Instant::now();
        let slot = manager.slot(&bech32()).unwrap();
        for i in 0..1000 {
            if swaps {
                slot.swap(Arc::clone(if i % 2 == 0 { &new } else { &old }));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        stop.store(true, Ordering::Relaxed);
        for c in callers {
            c.join().unwrap();
        }
        (
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
            start.elapsed(),
        )
    };
    let slot = manager.slot(&bech32()).unwrap();
    let rate = |(ok, _, time): (u64, u64, Duration)| ok as f64 / time.as_secs_f64();
    // A warm-up run, then runs without swaps on each version around the run with swaps,
    // so that neither the warm-up nor one version's cost skews the ratio.
    run(false);
    slot.swap(Arc::clone(&old));
    let calm_old = run(false);
    let swapped = run(true);
    slot.swap(Arc::clone(&new));
    let calm_new = run(false);
    let calm_rate = (rate(calm_old) + rate(calm_new)) / 2.0;
    let swap_rate = rate(swapped);
    println!(
        "calls with 2 threads: {calm_rate:.0}/s without swaps ({} failed); \
         {swap_rate:.0}/s during 1000 swaps ({} failed); ratio {:.3}",
        calm_old.1 + calm_new.1,
        swapped.1,
        swap_rate / calm_rate
    );
    assert_eq!(swapped.1, 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = swap_latency, rollback_latency, calls_during_swaps
}
criterion_main!(benches);
