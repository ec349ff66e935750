//! The state folder's key-value data, as the runtime's `anya:host/kv` backend.
//!
//! Serving calls reach the data through a [`GatedKv`]: each operation holds the
//! component's gate for reading, so while an install snapshots and migrates the data, or a
//! rollback restores it, calls that touch the data wait a moment instead of seeing it half
//! changed. The install's own `activate` call uses the data ungated (it runs while the
//! gate is held).

use std::sync::{Arc, PoisonError, RwLock};

use crate::runtime::KeyValue;
use crate::store::KvNamespace;

impl KeyValue for KvNamespace {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        KvNamespace::get(self, key).map_err(|e| format!("kv read failed: {e}"))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        KvNamespace::set(self, key, value).map_err(|e| format!("kv write failed: {e}"))
    }

    fn delete(&self, key: &str) -> Result<bool, String> {
        KvNamespace::delete(self, key).map_err(|e| format!("kv delete failed: {e}"))
    }

    fn list_keys(&self) -> Result<Vec<String>, String> {
        KvNamespace::list_keys(self).map_err(|e| format!("kv list failed: {e}"))
    }
}

/// A component's key-value data behind its gate.
pub(super) struct GatedKv {
    pub(super) namespace: KvNamespace,
    pub(super) gate: Arc<RwLock<()>>,
}

impl KeyValue for GatedKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let _open = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        KeyValue::get(&self.namespace, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let _open = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        KeyValue::set(&self.namespace, key, value)
    }

    fn delete(&self, key: &str) -> Result<bool, String> {
        let _open = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        KeyValue::delete(&self.namespace, key)
    }

    fn list_keys(&self) -> Result<Vec<String>, String> {
        let _open = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        KeyValue::list_keys(&self.namespace)
    }
}
