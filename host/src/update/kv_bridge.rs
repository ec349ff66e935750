//! The state folder's key-value data, as the runtime's `anya:host/kv` backend.

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
