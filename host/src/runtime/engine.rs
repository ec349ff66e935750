//! The one wasmtime `Engine` of a runtime: its configuration, the epoch ticker that
//! enforces wall-clock deadlines, and the hash that names its compiled code.
//!
//! Invariants: fuel and epoch interruption are always on, so no call runs unbounded; the
//! ticker holds only a weak reference and stops within one tick of the engine's drop.

use std::hash::{Hash, Hasher};
use std::thread;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wasmtime::{
    Config, Enabled, Engine, EngineWeak, InstanceAllocationStrategy, OptLevel,
    PoolingAllocationConfig, Strategy,
};

use super::limits::Limits;

/// How often the epoch advances: the granularity of call deadlines.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Component instances that may be live at once across the whole engine (one per call in
/// flight, a few more per validation run, plus the idle warm instances, at most
/// [`WARM_IDLE_MAX`]). Every slot reserves address space up front, so
/// this is sized for a small host, not for the default of 1000.
const POOL_COMPONENT_INSTANCES: u32 = 128;
/// Idle warm-mode instances the whole runtime keeps, across every loaded version: half
/// of the component-instance slots. Idle instances hold their slots (and their memories
/// and tables) until they are used or dropped, so without this cap enough warm
/// components could take every slot and fresh calls would fail to instantiate; with it,
/// the other half always serves fresh calls, validation runs and warm calls in flight.
pub(super) const WARM_IDLE_MAX: usize = POOL_COMPONENT_INSTANCES as usize / 2;
/// Core instances: a component built by `wit-component` holds several.
const POOL_CORE_INSTANCES: u32 = 1024;
/// Linear memories: most components have one; the adapters of some toolchains a second.
const POOL_MEMORIES: u32 = 256;
const POOL_TABLES: u32 = 512;
/// Fiber stacks are only used by async calls, which this runtime does not make.
const POOL_STACKS: u32 = 8;
/// Address space reserved for each linear memory slot: all of a 32-bit memory, so that
/// Cranelift elides the bounds check of every load and store whose offset fits in the
/// guard. Measured on `bech32` decode (benches/calls.rs, bare wasmtime), explicit checks
/// against a 64 MiB reservation took a warm call from 1.9 to 3.9 µs. It is address space
/// only (`PROT_NONE`, never committed): 256 slots take about 1 TiB of the 128 TiB a
/// 64-bit process has, as wasmtime's own default does. The memory *limit* is still
/// `Limits::memory_bytes`, enforced by the pool and the limiter.
const MEMORY_RESERVATION_BYTES: u64 = 4 << 30;
/// Guard pages after each linear memory: accesses at an offset past it are checked.
const MEMORY_GUARD_BYTES: u64 = 64 << 10;
const WASM_PAGE: usize = 64 << 10;
/// Bytes of each linear memory the pool resets by writing zeros (or, with `PAGEMAP_SCAN`,
/// only the pages that were touched) instead of handing them back to the kernel. A fresh
/// call then reuses a slot without page faults on the memory its guest touches. Measured
/// with bare wasmtime on `bech32` decode, fresh instance per call: 37 µs with wasmtime's
/// defaults, 18 µs with both keep-resident sizes and `PAGEMAP_SCAN`. 8 MiB covers the
/// memory of a typical Rust guest (1 MiB of stack, its heap), so none of it is handed
/// back with `madvise`, whose TLB shootdown interrupts every core running one of the
/// daemon's threads; with `PAGEMAP_SCAN` only the pages a call wrote are reset. The
/// contents are still reset to the module's initial image: a fresh call sees nothing of
/// the last.
const MEMORY_KEEP_RESIDENT_BYTES: usize = 8 << 20;
/// The same for each table.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Builds the engine for `limits`.
pub(super) fn build(limits: &Limits) -> wasmtime::Result<Engine> {
    Engine::new(&config(limits))
}

/// The engine configuration for `limits`: pooling allocator, Cranelift, fuel and epoch
/// interruption. Public (through [`super::engine_config`]) so that benchmarks can compare
/// Anya's call path with bare wasmtime on the very same engine settings.
pub(super) fn config(limits: &Limits) -> Config {
    let memory_bytes = limits
        .memory_bytes
        .max(WASM_PAGE)
        .next_multiple_of(WASM_PAGE);

    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_COMPONENT_INSTANCES)
        .total_core_instances(POOL_CORE_INSTANCES)
        .total_memories(POOL_MEMORIES)
        .total_tables(POOL_TABLES)
        .total_stacks(POOL_STACKS)
        .max_memory_size(memory_bytes)
        .table_elements(limits.table_elements)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_BYTES.min(memory_bytes))
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
        // Linux 6.7 and later; elsewhere the keep-resident prefix is reset with memset.
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_component_model(true)
        // Component-model async costs a few hundred nanoseconds on every call; the
        // anya WIT packages are synchronous.
        .concurrency_support(false)
        .consume_fuel(true)
        .epoch_interruption(true)
        .memory_reservation((memory_bytes as u64).max(MEMORY_RESERVATION_BYTES))
        .memory_guard_size(MEMORY_GUARD_BYTES)
        .memory_reservation_for_growth(0)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Starts the thread that advances the epoch of `engine` every [`EPOCH_TICK`]. It holds
/// only a weak reference, so it ends by itself once the engine is dropped.
pub(super) fn start_epoch_ticker(engine: EngineWeak) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("anya-epoch".into())
        .spawn(move || {
            loop {
                thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
}

/// Epoch ticks that cover at least `deadline` (the first tick may come at once).
pub(super) fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    let ticks = deadline.as_nanos().div_ceil(tick);
    u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
}

/// A stable hash of everything that decides whether code compiled by one engine can be
/// loaded by another: compiled code is cached under it.
pub(super) fn engine_hash(engine: &Engine) -> [u8; 32] {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// Feeds a [`Hash`] into sha256: unlike `DefaultHasher`, the result is the same across
/// processes and Rust versions.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks_plus_one() {
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 2);
        assert_eq!(deadline_ticks(EPOCH_TICK * 3), 4);
        assert_eq!(deadline_ticks(Duration::MAX), u64::MAX);
    }

    #[test]
    fn engines_with_one_config_share_a_hash_and_others_do_not() {
        let a = build(&Limits::default()).unwrap();
        let b = build(&Limits::default()).unwrap();
        assert_eq!(engine_hash(&a), engine_hash(&b));
        let other = Engine::new(&Config::new()).unwrap();
        assert_ne!(engine_hash(&a), engine_hash(&other));
    }

    #[test]
    fn the_ticker_stops_when_the_engine_is_dropped() {
        let engine = build(&Limits::default()).unwrap();
        let ticker = start_epoch_ticker(engine.weak()).unwrap();
        thread::sleep(EPOCH_TICK * 3);
        assert!(
            !ticker.is_finished(),
            "the ticker stopped while the engine lives"
        );
        drop(engine);
        let (done, ended) = std::sync::mpsc::channel();
        thread::spawn(move || done.send(ticker.join().is_ok()));
        assert_eq!(ended.recv_timeout(Duration::from_secs(2)), Ok(true));
    }
}
