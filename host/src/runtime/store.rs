//! One call's `Store`: its data (a WASI context with every capability denied, the host
//! API context, the limiter) and its budget.
//!
//! Invariant: fuel, the epoch deadline and the limiter are set when the store is made,
//! before anything is instantiated in it (fuel and deadline both start at zero and would
//! trap at once).

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::engine::deadline_ticks;
use super::host_api::{HostCtx, KeyValue};
use super::limits::{Limits, Sandbox};
use crate::ids::ComponentName;

/// The data of one call's store.
pub(super) struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) host: HostCtx,
    pub(super) sandbox: Sandbox,
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

/// A fresh store for one call into `component`, with its limits and budget in place.
pub(super) fn new_store(
    engine: &Engine,
    component: ComponentName,
    kv: Arc<dyn KeyValue>,
    limits: &Arc<Limits>,
) -> wasmtime::Result<Store<StoreData>> {
    let data = StoreData {
        wasi: denied_wasi(),
        table: ResourceTable::new(),
        host: HostCtx {
            component,
            kv,
            limits: Arc::clone(limits),
        },
        sandbox: Sandbox::new(limits),
    };
    let mut store = Store::new(engine, data);
    store.limiter(|data| &mut data.sandbox);
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(deadline_ticks(limits.deadline));
    store.epoch_deadline_trap();
    Ok(store)
}
