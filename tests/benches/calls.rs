//! Call overhead, both modes (`cargo bench -p anya-tests --bench calls`): Anya's call path
//! (`Runtime::call`, JSON in and out, fuel, epoch deadline, store limits) against bare
//! wasmtime calling the same component with a `TypedFunc`:
//! - fresh mode: a pooling instantiate-and-call per call, on both sides;
//! - warm mode: a call on a live instance, on both sides.
//!
//! Two functions of `bech32` 1.1.0: `address.decode` (a string in, a record out: the JSON
//! conversion shows) and `lifecycle.health` (nothing in, `ok` out: almost pure call and
//! instance cost). The bare side is what a host that names wasmtime itself would write: a
//! pooling engine with wasmtime's defaults (no fuel, no epoch deadline, 4 GiB memory
//! reservations that elide bounds checks), WASI p2 with a default context, and the
//! `anya:host` imports stubbed (these two functions never call them). In warm mode a third
//! side, bare wasmtime with fuel and epoch interruption on (the checks Anya's sandbox
//! compiles into the guest), separates the sandbox's cost from the call path's.
//!
//! Each ratio compares two benchmarks of one run; the table at the end prints the median
//! time per call of each and the ratios.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anya_fixtures::BECH32_1_1_0;
use anya_host::ids::ComponentName;
use anya_host::keys::SecretKey;
use anya_host::manifest::{CallMode, Manifest};
use anya_host::runtime::{CallContext, LoadedComponent, Runtime, RuntimeConfig};
use anya_host::trust::TrustStore;
use anya_host::{package, signature};
use criterion::Criterion;
use serde_json::{Value, json};
use wasmtime::component::{
    ComponentExportIndex, ComponentType, Instance, InstancePre, Lift, Linker, ResourceTable,
    TypedFunc,
};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// BIP-173's first valid P2WPKH vector.
const ADDRESS: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const ADDRESS_IFACE: &str = "anya:bitcoin/address@1.0.0";
const LIFECYCLE_IFACE: &str = "anya:extension/lifecycle@1.0.0";

/// `anya:bitcoin/address.segwit-address`, typed for the bare side.
#[derive(ComponentType, Lift, Debug)]
#[component(record)]
struct SegwitAddress {
    hrp: String,
    #[component(name = "witness-version")]
    witness_version: u8,
    program: Vec<u8>,
}

type Decode = TypedFunc<(String,), (Result<SegwitAddress, String>,)>;
type Health = TypedFunc<(), (Result<(), String>,)>;

// ---------------------------------------------------------------------------------------
// Anya's side.

struct Anya {
    _dir: tempfile::TempDir,
    runtime: Runtime,
    loaded: Arc<LoadedComponent>,
}

impl Anya {
    /// `bech32` 1.1.0 signed by a seeded key, verified against a trust store, loaded.
    fn new() -> Self {
        let key = SecretKey::from_seed([1; 32]);
        let trust = TrustStore::parse(&format!(
            "[[key]]\nname = \"bench\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
            key.public().to_hex()
        ))
        .unwrap();
        let f = &BECH32_1_1_0;
        let manifest = Manifest::parse(&f.manifest_text()).unwrap();
        let bytes = package::embed_manifest(&f.wasm_bytes(), &manifest).unwrap();
        let signed = signature::sign(&bytes, &key).unwrap();
        let verified = package::verify(signed, &trust).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(RuntimeConfig::new(dir.path().join("cache"))).unwrap();
        let loaded = runtime.load(&verified).unwrap();
        Self {
            _dir: dir,
            runtime,
            loaded,
        }
    }

    fn ctx(mode: CallMode) -> CallContext {
        CallContext::in_memory(ComponentName::parse("bech32").unwrap()).with_mode(mode)
    }

    fn call(&self, ctx: &CallContext, function: &str, args: Value) -> Value {
        self.runtime
            .call(&self.loaded, ctx, function, args)
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Bare wasmtime.

struct BareData {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for BareData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Bare {
    /// Fuel and epoch interruption on, like Anya's engine: the budget is reset per call.
    metered: bool,
    engine: Engine,
    pre: InstancePre<BareData>,
    decode: ComponentExportIndex,
    health: ComponentExportIndex,
}

impl Bare {
    /// `metered`: fuel and epoch interruption, as Anya's engine has them (the guest's
    /// code pays for both checks); the cost of the sandbox rather than of the call path.
    fn new(metered: bool) -> Self {
        let mut pool = PoolingAllocationConfig::new();
        // Enough for a few live instances; wasmtime's default of 1000 reserves terabytes
        // of address space at its default 4 GiB per memory.
        pool.total_component_instances(16)
            .total_core_instances(128)
            .total_memories(32)
            .total_tables(64);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(metered)
            .epoch_interruption(metered)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        let component =
            wasmtime::component::Component::new(&engine, BECH32_1_1_0.wasm_bytes()).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        linker.define_unknown_imports_as_traps(&component).unwrap();
        let pre = linker.instantiate_pre(&component).unwrap();
        let export = |iface: &str, name: &str| {
            let iface = component.get_export_index(None, iface).unwrap();
            component.get_export_index(Some(&iface), name).unwrap()
        };
        Self {
            metered,
            decode: export(ADDRESS_IFACE, "decode"),
            health: export(LIFECYCLE_IFACE, "health"),
            engine,
            pre,
        }
    }

    fn store(&self) -> Store<BareData> {
        let mut store = Store::new(
            &self.engine,
            BareData {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        self.refill(&mut store);
        store
    }

    /// A metered store's budget for one more call (no-op otherwise).
    fn refill(&self, store: &mut Store<BareData>) {
        if self.metered {
            store.set_fuel(1_000_000_000).unwrap();
            store.set_epoch_deadline(1_000);
        }
    }

    fn instance(&self, store: &mut Store<BareData>) -> Instance {
        self.pre.instantiate(store).unwrap()
    }

    fn decode(&self, store: &mut Store<BareData>, instance: &Instance) -> Decode {
        instance.get_typed_func(store, self.decode).unwrap()
    }

    fn health(&self, store: &mut Store<BareData>, instance: &Instance) -> Health {
        instance.get_typed_func(store, self.health).unwrap()
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

fn bench(c: &mut Criterion, samples: &Samples, anya: &Anya, bare: &Bare, metered: &Bare) {
    let fresh = Anya::ctx(CallMode::Fresh);
    let warm = Anya::ctx(CallMode::Warm);

    // Sanity: both sides answer the same thing before anything is timed.
    let decoded = anya.call(&fresh, "address.decode", json!(ADDRESS));
    assert_eq!(decoded["ok"]["hrp"], json!("bc"), "{decoded}");
    assert_eq!(
        anya.call(&warm, "lifecycle.health", Value::Null),
        json!({"ok": null})
    );
    {
        let mut store = bare.store();
        let instance = bare.instance(&mut store);
        let (answer,) = bare
            .decode(&mut store, &instance)
            .call(&mut store, (ADDRESS.to_owned(),))
            .unwrap();
        let answer = answer.unwrap();
        assert_eq!((answer.hrp.as_str(), answer.witness_version), ("bc", 0));
        assert_eq!(answer.program.len(), 20);
    }

    let mut group = c.benchmark_group("fresh");
    group.bench_function("anya/decode", |b| {
        b.iter_custom(|n| {
            samples.time("fresh/anya/decode", n, || {
                black_box(anya.call(&fresh, "address.decode", json!(ADDRESS)));
            })
        })
    });
    group.bench_function("bare/decode", |b| {
        b.iter_custom(|n| {
            samples.time("fresh/bare/decode", n, || {
                let mut store = bare.store();
                let instance = bare.instance(&mut store);
                let decode = bare.decode(&mut store, &instance);
                black_box(
                    decode
                        .call(&mut store, (ADDRESS.to_owned(),))
                        .unwrap()
                        .0
                        .unwrap(),
                );
            })
        })
    });
    group.bench_function("anya/health", |b| {
        b.iter_custom(|n| {
            samples.time("fresh/anya/health", n, || {
                black_box(anya.call(&fresh, "lifecycle.health", Value::Null));
            })
        })
    });
    group.bench_function("bare/health", |b| {
        b.iter_custom(|n| {
            samples.time("fresh/bare/health", n, || {
                let mut store = bare.store();
                let instance = bare.instance(&mut store);
                let health = bare.health(&mut store, &instance);
                health.call(&mut store, ()).unwrap().0.unwrap();
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("warm");
    group.bench_function("anya/decode", |b| {
        b.iter_custom(|n| {
            samples.time("warm/anya/decode", n, || {
                black_box(anya.call(&warm, "address.decode", json!(ADDRESS)));
            })
        })
    });
    let mut store = bare.store();
    let instance = bare.instance(&mut store);
    let decode = bare.decode(&mut store, &instance);
    let health = bare.health(&mut store, &instance);
    group.bench_function("bare/decode", |b| {
        b.iter_custom(|n| {
            samples.time("warm/bare/decode", n, || {
                black_box(
                    decode
                        .call(&mut store, (ADDRESS.to_owned(),))
                        .unwrap()
                        .0
                        .unwrap(),
                );
            })
        })
    });
    let mut m_store = metered.store();
    let m_instance = metered.instance(&mut m_store);
    let m_decode = metered.decode(&mut m_store, &m_instance);
    let m_health = metered.health(&mut m_store, &m_instance);
    group.bench_function("bare-metered/decode", |b| {
        b.iter_custom(|n| {
            samples.time("warm/bare-metered/decode", n, || {
                metered.refill(&mut m_store);
                black_box(
                    m_decode
                        .call(&mut m_store, (ADDRESS.to_owned(),))
                        .unwrap()
                        .0
                        .unwrap(),
                );
            })
        })
    });
    group.bench_function("anya/health", |b| {
        b.iter_custom(|n| {
            samples.time("warm/anya/health", n, || {
                black_box(anya.call(&warm, "lifecycle.health", Value::Null));
            })
        })
    });
    group.bench_function("bare/health", |b| {
        b.iter_custom(|n| {
            samples.time("warm/bare/health", n, || {
                health.call(&mut store, ()).unwrap().0.unwrap();
            })
        })
    });
    group.bench_function("bare-metered/health", |b| {
        b.iter_custom(|n| {
            samples.time("warm/bare-metered/health", n, || {
                metered.refill(&mut m_store);
                m_health.call(&mut m_store, ()).unwrap().0.unwrap();
            })
        })
    });
    group.finish();
}

/// The table of the run: Anya and bare medians per call, and their ratio (and, in warm
/// mode, against bare wasmtime with fuel and epoch interruption on, which leaves the cost
/// of Anya's call path alone).
fn report(samples: &Samples) {
    println!("\ncall overhead, median time per call (Anya / bare wasmtime):");
    println!(
        "  {:<6} {:<8} {:>10} {:>10} {:>7} {:>13} {:>7}",
        "mode", "function", "anya", "bare", "ratio", "bare-metered", "ratio"
    );
    for mode in ["fresh", "warm"] {
        for function in ["decode", "health"] {
            let anya = samples.median(&format!("{mode}/anya/{function}"));
            let bare = samples.median(&format!("{mode}/bare/{function}"));
            let metered = samples.median(&format!("{mode}/bare-metered/{function}"));
            let (Some(anya), Some(bare)) = (anya, bare) else {
                continue;
            };
            let metered = metered.map_or_else(String::new, |m| {
                format!("{:>13} {:>6.2}x", human(m), anya / m)
            });
            println!(
                "  {mode:<6} {function:<8} {:>10} {:>10} {:>6.2}x {metered}",
                human(anya),
                human(bare),
                anya / bare
            );
        }
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
    let bare = Bare::new(false);
    let metered = Bare::new(true);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    bench(&mut c, &samples, &anya, &bare, &metered);
    c.final_summary();
    report(&samples);
}
