//! A call's `Store`: its data (a WASI context with every capability denied, the host
//! API context, the limiter) and its budget.
//!
//! Invariants: fuel, the epoch deadline and the limiter are set when the store is made,
//! before anything is instantiated in it (fuel and deadline both start at zero and would
//! trap at once). A store that outlives one call (warm mode) gets the caller's context
//! and a whole new budget from [`prepare`] before every call.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::CallContext;
use super::engine::deadline_ticks;
use super::host_api::HostCtx;
use super::limits::{Limits, Sandbox};

/// The data of a call's store (of one instance's, in warm mode).
pub(super) struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) host: HostCtx,
    pub(super) sandbox: Sandbox,
    /// Validation runs only: the candidate's functions a validator's imports forward to,
    /// by the position the validator's linker gave each import.
    pub(super) forward: Vec<wasmtime::component::Func>,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The WASI context of every call: nothing from the host leaks in.
fn denied_wasi() -> WasiCtx {
    WasiCtxBuilder::new()
        // Already the defaults, stated so a default change upstream cannot open them:
        // stdin closed, stdout/stderr discarded, no env, no args, no preopens.
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// A new store for calls in `ctx`, with its limits and budget in place.
pub(super) fn new_store(
    engine: &Engine,
    ctx: &CallContext,
    limits: &Arc<Limits>,
) -> wasmtime::Result<Store<StoreData>> {
    let data = StoreData {
        wasi: denied_wasi(),
        table: ResourceTable::new(),
        host: HostCtx {
            component: ctx.component.clone(),
            kv: Arc::clone(&ctx.kv),
            limits: Arc::clone(limits),
        },
        sandbox: Sandbox::new(limits),
        forward: Vec::new(),
    };
    let mut store = Store::new(engine, data);
    store.limiter(|data| &mut data.sandbox);
    store.epoch_deadline_trap();
    refill(&mut store, limits)?;
    Ok(store)
}

/// Readies a live store for the next call: the caller's context, and the whole budget of
/// a fresh call (fuel, deadline from now, no limit hit on record).
pub(super) fn prepare(
    store: &mut Store<StoreData>,
    ctx: &CallContext,
    limits: &Limits,
) -> wasmtime::Result<()> {
    let data = store.data_mut();
    if data.host.component != ctx.component {
        data.host.component = ctx.component.clone();
    }
    data.host.kv = Arc::clone(&ctx.kv);
    data.sandbox.hit = None;
    refill(store, limits)
}

fn refill(store: &mut Store<StoreData>, limits: &Limits) -> wasmtime::Result<()> {
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(deadline_ticks(limits.deadline));
    Ok(())
}
