//! The components this process has loaded to serve calls: one [`Slot`] per component,
//! with the call contexts its serving calls use, built once.
//!
//! Invariants: the serving path takes no lock and allocates nothing here: the table is
//! read through an [`ArcSwap`] (copy on write; components are added rarely, read on
//! every call), and each entry carries the contexts of its fresh and warm calls (the
//! component's gated key-value data) ready to lend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::ids::ComponentName;
use crate::manifest::CallMode;
use crate::runtime::{CallContext, KeyValue};
use crate::slot::Slot;

/// One loaded component: its hot-swap cell and its serving contexts.
pub(super) struct Entry {
    pub(super) slot: Arc<Slot>,
    fresh: CallContext,
    warm: CallContext,
}

impl Entry {
    pub(super) fn new(name: &ComponentName, slot: Arc<Slot>, kv: Arc<dyn KeyValue>) -> Self {
        let fresh = CallContext {
            component: name.clone(),
            kv,
            mode: CallMode::Fresh,
        };
        let warm = fresh.clone().with_mode(CallMode::Warm);
        Self { slot, fresh, warm }
    }

    /// The context of a serving call in `mode`.
    pub(super) fn context(&self, mode: CallMode) -> &CallContext {
        match mode {
            CallMode::Fresh => &self.fresh,
            CallMode::Warm => &self.warm,
        }
    }
}

/// Every loaded component, by name.
#[derive(Default)]
pub(super) struct ServingTable {
    entries: ArcSwap<HashMap<ComponentName, Arc<Entry>>>,
    /// Writers (a new entry, a removal) one at a time.
    writers: Mutex<()>,
}

impl ServingTable {
    /// The entry of `name`, if it is loaded.
    pub(super) fn get(&self, name: &ComponentName) -> Option<Arc<Entry>> {
        self.entries.load().get(name).cloned()
    }

    /// The entry of `name`: the one already there, or `make()`'s.
    pub(super) fn get_or_insert(
        &self,
        name: &ComponentName,
        make: impl FnOnce() -> Entry,
    ) -> Arc<Entry> {
        let _one_writer = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = self.get(name) {
            return entry;
        }
        let entry = Arc::new(make());
        let mut entries = HashMap::clone(&self.entries.load());
        entries.insert(name.clone(), Arc::clone(&entry));
        self.entries.store(Arc::new(entries));
        entry
    }

    /// Forgets `name` (a first install undone).
    pub(super) fn remove(&self, name: &ComponentName) {
        let _one_writer = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        if self.get(name).is_none() {
            return;
        }
        let mut entries = HashMap::clone(&self.entries.load());
        entries.remove(name);
        self.entries.store(Arc::new(entries));
    }
}
