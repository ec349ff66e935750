//! Test guest `test-kv`: uses `anya:host/kv` through the SDK.

anya_sdk::generate!(extension "anya:test/kv-guest", "../test-wit");

use anya_sdk::kv;
use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::test::kv_user::Guest as KvUser;

const COUNTER: &str = "counter";

struct TestKv;

/// A host error as `kind: reason`.
fn describe(e: kv::Error) -> String {
    match e {
        kv::Error::InvalidKey(why) => format!("invalid-key: {why}"),
        kv::Error::QuotaExceeded(why) => format!("quota-exceeded: {why}"),
        kv::Error::Storage(why) => format!("storage: {why}"),
    }
}

impl Lifecycle for TestKv {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl KvUser for TestKv {
    fn counter_increment() -> u64 {
        let next = match kv::get_u64(COUNTER) {
            Ok(n) => n.unwrap_or(0) + 1,
            Err(e) => panic!("kv get {COUNTER:?}: {e}"),
        };
        if let Err(e) = kv::set_u64(COUNTER, next) {
            panic!("kv set {COUNTER:?}: {}", describe(e));
        }
        next
    }

    fn kv_roundtrip(key: String, value: Vec<u8>) -> Result<Vec<u8>, String> {
        kv::set(&key, &value).map_err(|e| format!("set {key:?}: {}", describe(e)))?;
        let read = kv::get(&key)
            .map_err(|e| format!("get {key:?}: {}", describe(e)))?
            .ok_or_else(|| format!("get {key:?} after set: none"))?;
        if read != value {
            return Err(format!(
                "get {key:?} after set: {} bytes, not the {} written",
                read.len(),
                value.len()
            ));
        }
        let keys = kv::list_keys().map_err(|e| format!("list-keys: {}", describe(e)))?;
        if !keys.contains(&key) {
            return Err(format!(
                "list-keys after set {key:?}: missing, got {keys:?}"
            ));
        }
        kv::delete(&key).map_err(|e| format!("delete {key:?}: {}", describe(e)))?;
        match kv::get(&key).map_err(|e| format!("get {key:?}: {}", describe(e)))? {
            None => Ok(read),
            Some(v) => Err(format!("get {key:?} after delete: still {} bytes", v.len())),
        }
    }

    fn kv_get(key: String) -> Result<Option<Vec<u8>>, String> {
        kv::get(&key).map_err(describe)
    }

    fn kv_set(key: String, value: Vec<u8>) -> Result<(), String> {
        kv::set(&key, &value).map_err(describe)
    }

    fn kv_delete(key: String) -> Result<(), String> {
        kv::delete(&key).map_err(describe)
    }

    fn kv_list_keys() -> Result<Vec<String>, String> {
        kv::list_keys().map_err(describe)
    }
}

export!(TestKv);
