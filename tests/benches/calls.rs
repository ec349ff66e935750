//! Call cost, both modes, beside its floors in one run
//! (`cargo bench -p anya-tests --bench calls`).
//!
//! The function is `bech32` 1.1.0's `address.decode`, on the Extism peer's inputs (a
//! valid P2TR address, and its invalid twin with a bech32 checksum on a v1 program: the
//! whole decoder runs, then an error comes back), so the figures read beside
//! `bench/extism-peer` (see `tests/benches/README.md`). Sides:
//! - `manager`: [`UpdateManager::call`], what an embedder and the daemon call: the slot,
//!   the call context, the runtime, the trial counters;
//! - `values`: [`UpdateManager::call_values`], the same with component values in and out
//!   (no JSON);
//! - `runtime`: [`Runtime::call`] on a loaded component, JSON in and out;
//! - `bare-same`: bare wasmtime on Anya's own engine configuration
//!   ([`anya_host::runtime::engine_config`]: the same pool, fuel and epoch interruption)
//!   with the same limits (fuel and deadline refilled per call, the same memory cap), a
//!   `TypedFunc`: the floor Anya's call path is measured against;
//! - `bare-epoch`, `bare-fuel`: the same with only the epoch deadline, or only fuel: what
//!   each of the two costs;
//! - `bare-default`: bare wasmtime with wasmtime's default pooling settings, no fuel, no
//!   epoch: what a host that names wasmtime itself would write first.
//!
//! Fresh mode instantiates per call on every side; warm mode calls a live instance.
//! `throughput` runs fresh calls on 2 threads for 2 s and counts them. The table at the
//! end prints each median and its ratio to `bare-same`.

mod support;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anya_fixtures::BECH32_1_1_0;
use anya_host::manifest::CallMode;
use anya_host::runtime::{CallContext, ComponentValue, Limits, LoadedComponent, Runtime};
use anya_host::update::{Options, UpdateManager};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use serde_json::{Value, json};
use wasmtime::component::{
    ComponentExportIndex, ComponentType, InstancePre, Lift, Linker, ResourceTable, TypedFunc,
};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use support::{INPUTS, INVALID, VALID, bech32};

const ADDRESS_IFACE: &str = "anya:bitcoin/address@1.0.0";
/// Every side, in the order of the table.
const SIDES: [&str; 7] = [
    "manager",
    "values",
    "runtime",
    "bare-same",
    "bare-epoch",
    "bare-fuel",
    "bare-default",
];

/// `anya:bitcoin/address.segwit-address`, typed for the bare sides.
#[derive(ComponentType, Lift, Debug)]
#[component(record)]
struct SegwitAddress {
    hrp: String,
    #[component(name = "witness-version")]
    witness_version: u8,
    program: Vec<u8>,
}

type Decode = TypedFunc<(String,), (Result<SegwitAddress, String>,)>;

// ---------------------------------------------------------------------------------------
// Anya's sides.

struct Anya {
    _dir: tempfile::TempDir,
    manager: UpdateManager,
    loaded: Arc<LoadedComponent>,
}

impl Anya {
    /// A host with `bech32` 1.1.0 installed (see [`support::host`]).
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manager = support::host(dir.path(), Options::default());
        let loaded = Arc::clone(&manager.slot(&bech32()).unwrap().current().loaded);
        Self {
            _dir: dir,
            manager,
            loaded,
        }
    }

    /// The manager's calls to `bech32` run in `mode` from now on.
    fn set_mode(&self, mode: CallMode) {
        let mut options = (*self.manager.options()).clone();
        options.call_modes.insert(bech32(), mode);
        self.manager.set_options(options);
    }

    fn manager_call(&self, address: &str) -> Value {
        self.manager
            .call(&bech32(), "decode", json!(address))
            .unwrap()
    }

    fn values_call(&self, address: &str) -> Vec<ComponentValue> {
        self.manager
            .call_values(
                &bech32(),
                "decode",
                &[ComponentValue::String(address.to_owned())],
            )
            .unwrap()
    }

    fn runtime(&self) -> &Runtime {
        self.manager.runtime().unwrap()
    }

    fn runtime_call(&self, ctx: &CallContext, address: &str) -> Value {
        self.runtime()
            .call(&self.loaded, ctx, "address.decode", json!(address))
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Bare wasmtime.

struct BareData {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for BareData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// How a bare engine bounds a call: fuel (counted per instruction: deterministic) and an
/// epoch deadline (a ticker thread: cheap, wall-clock).
#[derive(Clone, Copy)]
struct Metering {
    fuel: bool,
    epoch: bool,
}

/// A bare host: an engine, a pre-instantiated `bech32`, the export's index.
struct Bare {
    /// What is refilled per call.
    metering: Metering,
    limits: Limits,
    engine: Engine,
    pre: InstancePre<BareData>,
    decode: ComponentExportIndex,
}

impl Bare {
    /// On Anya's own engine configuration, with Anya's default limits.
    fn same_as_anya() -> Self {
        Self::anya_with(Metering {
            fuel: true,
            epoch: true,
        })
    }

    /// On Anya's engine configuration with only some of its metering: what fuel and the
    /// epoch deadline each cost.
    fn anya_with(metering: Metering) -> Self {
        let limits = Limits::default();
        let mut config = anya_host::runtime::engine_config(&limits);
        config
            .consume_fuel(metering.fuel)
            .epoch_interruption(metering.epoch);
        Self::new(config, metering, limits)
    }

    /// wasmtime's default pooling settings, unmetered.
    fn wasmtime_default() -> Self {
        let mut pool = PoolingAllocationConfig::new();
        // wasmtime's default of 1000 slots reserves terabytes at 4 GiB per memory.
        pool.total_component_instances(16)
            .total_core_instances(128)
            .total_memories(32)
            .total_tables(64);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let unmetered = Metering {
            fuel: false,
            epoch: false,
        };
        Self::new(config, unmetered, Limits::default())
    }

    fn new(config: Config, metering: Metering, limits: Limits) -> Self {
        let engine = Engine::new(&config).unwrap();
        let component =
            wasmtime::component::Component::new(&engine, BECH32_1_1_0.wasm_bytes()).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        linker.define_unknown_imports_as_traps(&component).unwrap();
        let pre = linker.instantiate_pre(&component).unwrap();
        let iface = component.get_export_index(None, ADDRESS_IFACE).unwrap();
        let decode = component.get_export_index(Some(&iface), "decode").unwrap();
        if metering.epoch {
            let weak = engine.weak();
            std::thread::spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        Self {
            metering,
            limits,
            engine,
            pre,
            decode,
        }
    }

    fn store(&self) -> Store<BareData> {
        let mut store = Store::new(
            &self.engine,
            BareData {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.memory_bytes)
                    .build(),
            },
        );
        if self.metering.fuel || self.metering.epoch {
            store.limiter(|d| &mut d.limits);
        }
        if self.metering.epoch {
            store.epoch_deadline_trap();
        }
        self.refill(&mut store);
        store
    }

    /// A metered store's budget for one more call (no-op otherwise).
    fn refill(&self, store: &mut Store<BareData>) {
        if self.metering.fuel {
            store.set_fuel(self.limits.fuel).unwrap();
        }
        if self.metering.epoch {
            store.set_epoch_deadline(1 + self.limits.deadline.as_millis() as u64 / 10);
        }
    }

    fn decode(&self, store: &mut Store<BareData>) -> Decode {
        let instance = self.pre.instantiate(&mut *store).unwrap();
        instance.get_typed_func(store, self.decode).unwrap()
    }

    /// One fresh call: a store, an instance, the call; whether it decoded a P2TR address.
    fn fresh_call(&self, address: &str) -> bool {
        let mut store = self.store();
        let decode = self.decode(&mut store);
        decode
            .call(&mut store, (address.to_owned(),))
            .unwrap()
            .0
            .is_ok_and(|a| a.hrp == "bc" && a.witness_version == 1 && a.program.len() == 32)
    }
}

// ---------------------------------------------------------------------------------------
// Timing: criterion measures and reports; the samples are also kept here so the ratios of
// one run can be printed at the end.

#[derive(Default)]
struct Samples(Mutex<BTreeMap<String, Vec<f64>>>);

impl Samples {
    /// Times `iters` runs of `f`, records nanoseconds per run under `id`.
    fn time(&self, id: &str, iters: u64, mut f: impl FnMut()) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        let took = start.elapsed();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default()
            .push(took.as_nanos() as f64 / iters.max(1) as f64);
        took
    }

    /// The median nanoseconds per run recorded under `id`.
    fn median(&self, id: &str) -> Option<f64> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v = map.get(id)?.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

/// Every side answers the same thing before anything is timed.
fn sanity(anya: &Anya, bares: &[(&str, Bare)]) {
    let ctx = CallContext::in_memory(bech32());
    for mode in [CallMode::Fresh, CallMode::Warm] {
        anya.set_mode(mode);
        let ok = anya.manager_call(VALID);
        assert_eq!(ok["ok"]["witness-version"], json!(1), "{ok}");
        let err = anya.manager_call(INVALID);
        assert!(
            err["err"].as_str().is_some_and(|e| e.contains("checksum")),
            "{err}"
        );
        let values = anya.values_call(VALID);
        assert!(
            matches!(values.as_slice(), [ComponentValue::Result(Ok(Some(_)))]),
            "{values:?}"
        );
        let ctx = ctx.clone().with_mode(mode);
        assert_eq!(anya.runtime_call(&ctx, VALID), ok);
    }
    for (_, bare) in bares {
        assert!(bare.fresh_call(VALID));
        assert!(!bare.fresh_call(INVALID));
    }
}

/// One criterion function `side/label` in `group`; its samples are also kept under
/// `mode/side/label` for the table.
fn timed(
    group: &mut BenchmarkGroup<'_, WallTime>,
    samples: &Samples,
    (mode, side, label): (&str, &str, &str),
    mut call: impl FnMut(),
) {
    group.bench_function(format!("{side}/{label}"), |b| {
        b.iter_custom(|n| samples.time(&format!("{mode}/{side}/{label}"), n, &mut call))
    });
}

/// Anya's three sides on one input, in the mode `anya` and `ctx` are set to.
fn anya_sides(
    group: &mut BenchmarkGroup<'_, WallTime>,
    samples: &Samples,
    (mode, label, address): (&str, &str, &str),
    anya: &Anya,
    ctx: &CallContext,
) {
    timed(group, samples, (mode, "manager", label), || {
        black_box(anya.manager_call(address));
    });
    timed(group, samples, (mode, "values", label), || {
        black_box(anya.values_call(address));
    });
    timed(group, samples, (mode, "runtime", label), || {
        black_box(anya.runtime_call(ctx, address));
    });
}

fn fresh(c: &mut Criterion, samples: &Samples, anya: &Anya, bares: &[(&str, Bare)]) {
    anya.set_mode(CallMode::Fresh);
    let ctx = CallContext::in_memory(bech32());
    let mut group = c.benchmark_group("fresh");
    for (label, address) in INPUTS {
        anya_sides(&mut group, samples, ("fresh", label, address), anya, &ctx);
        for (side, bare) in bares {
            timed(&mut group, samples, ("fresh", side, label), || {
                black_box(bare.fresh_call(address));
            });
        }
    }
    group.finish();
}

fn warm(c: &mut Criterion, samples: &Samples, anya: &Anya, bares: &[(&str, Bare)]) {
    anya.set_mode(CallMode::Warm);
    let ctx = CallContext::in_memory(bech32()).with_mode(CallMode::Warm);
    let mut group = c.benchmark_group("warm");
    for (label, address) in INPUTS {
        anya_sides(&mut group, samples, ("warm", label, address), anya, &ctx);
        for (side, bare) in bares {
            let mut store = bare.store();
            let decode = bare.decode(&mut store);
            timed(&mut group, samples, ("warm", side, label), || {
                bare.refill(&mut store);
                let answer = decode.call(&mut store, (address.to_owned(),)).unwrap();
                black_box(answer.0.is_ok());
            });
        }
    }
    group.finish();
}

/// Fresh calls of the valid input on 2 threads for 2 s: calls per second.
fn throughput(what: &str, call: impl Fn() + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    call();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
    });
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("throughput {what}: {rate:.0} calls/s on 2 threads");
    rate
}

/// The table of the run: each median per call, and its ratio to `bare-same`.
fn report(samples: &Samples, rates: &[(&str, f64)]) {
    println!("\ncall cost, median per call, ratio to bare wasmtime on the same engine settings:");
    println!(
        "  {:<6} {:<8} {:<13} {:>10} {:>7}",
        "mode", "input", "side", "median", "ratio"
    );
    for mode in ["fresh", "warm"] {
        for (input, _) in INPUTS {
            let floor = samples.median(&format!("{mode}/bare-same/{input}"));
            for side in SIDES {
                let Some(median) = samples.median(&format!("{mode}/{side}/{input}")) else {
                    continue;
                };
                let ratio = floor.map_or_else(String::new, |f| format!("{:.2}x", median / f));
                println!(
                    "  {mode:<6} {input:<8} {side:<13} {:>10} {ratio:>7}",
                    human(median)
                );
            }
        }
    }
    for (what, rate) in rates {
        println!("  throughput, fresh, 2 threads, {what}: {rate:.0} calls/s");
    }
}

fn human(ns: f64) -> String {
    if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let samples = Samples::default();
    let anya = Anya::new();
    let bares = [
        ("bare-same", Bare::same_as_anya()),
        (
            "bare-epoch",
            Bare::anya_with(Metering {
                fuel: false,
                epoch: true,
            }),
        ),
        (
            "bare-fuel",
            Bare::anya_with(Metering {
                fuel: true,
                epoch: false,
            }),
        ),
        ("bare-default", Bare::wasmtime_default()),
    ];
    sanity(&anya, &bares);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    fresh(&mut c, &samples, &anya, &bares);
    warm(&mut c, &samples, &anya, &bares);
    c.final_summary();
    anya.set_mode(CallMode::Fresh);
    let rates = [
        (
            "manager",
            throughput("manager", || {
                black_box(anya.manager_call(VALID));
            }),
        ),
        (
            "bare-same",
            throughput("bare-same", || {
                black_box(bares[0].1.fresh_call(VALID));
            }),
        ),
    ];
    report(&samples, &rates);
}
