//! The `anya:host@1.0.0` imports: `log` into `tracing`, and `kv` onto the calling
//! component's own [`KeyValue`] namespace, with the host's limits.
//!
//! Invariant: nothing a guest passes here can trap the host. Bad keys, quotas and storage
//! failures go back to the guest as `kv.error` values; over-long log lines are truncated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::{HasSelf, Linker};

use super::limits::Limits;
use super::store::StoreData;
use crate::ids::ComponentName;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/host",
        world: "imports",
        additional_derives: [PartialEq, Eq],
    });
}

use bindings::anya::host::kv::{self, Error as KvError};
use bindings::anya::host::log::{self, Level};

/// The durable key-value data of ONE component namespace. The store implements it; the
/// runtime enforces the limits before delegating.
pub trait KeyValue: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Whether the key existed.
    fn delete(&self, key: &str) -> Result<bool, String>;
    /// Every key, in ascending byte order.
    fn list_keys(&self) -> Result<Vec<String>, String>;
}

/// A [`KeyValue`] in memory, for tests and validators.
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic cannot leave the map half-updated: every operation is one map call.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.entries().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.entries().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool, String> {
        Ok(self.entries().remove(key).is_some())
    }

    fn list_keys(&self) -> Result<Vec<String>, String> {
        Ok(self.entries().keys().cloned().collect())
    }
}

/// What the host API needs to know about the call it serves.
pub(super) struct HostCtx {
    pub(super) component: ComponentName,
    pub(super) kv: Arc<dyn KeyValue>,
    pub(super) limits: Arc<Limits>,
}

/// Adds `anya:host/log` and `anya:host/kv` to `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    log::add_to_linker::<StoreData, HasSelf<HostCtx>>(linker, |data| &mut data.host)?;
    kv::add_to_linker::<StoreData, HasSelf<HostCtx>>(linker, |data| &mut data.host)?;
    Ok(())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl log::Host for HostCtx {
    fn log(&mut self, level: Level, message: String) {
        let limit = self.limits.log_message_bytes;
        let text = truncate(&message, limit);
        let truncated = text.len() < message.len();
        let component = self.component.as_str();
        match level {
            Level::Trace => tracing::trace!(component, truncated, "{text}"),
            Level::Debug => tracing::debug!(component, truncated, "{text}"),
            Level::Info => tracing::info!(component, truncated, "{text}"),
            Level::Warn => tracing::warn!(component, truncated, "{text}"),
            Level::Error => tracing::error!(component, truncated, "{text}"),
        }
    }
}

impl HostCtx {
    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() {
            return Err(KvError::InvalidKey("the key is empty".into()));
        }
        let limit = self.limits.kv_key_bytes;
        if key.len() > limit {
            return Err(KvError::InvalidKey(format!(
                "the key is {} bytes, over the {limit}-byte limit",
                key.len()
            )));
        }
        Ok(())
    }

    fn storage(&self, op: &str, key: &str, reason: String) -> KvError {
        tracing::warn!(component = %self.component, op, key, reason, "kv storage error");
        KvError::Storage(reason)
    }
}

impl kv::Host for HostCtx {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(&key)?;
        self.kv
            .get(&key)
            .map_err(|reason| self.storage("get", &key, reason))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.check_key(&key)?;
        let limit = self.limits.kv_value_bytes;
        if value.len() > limit {
            return Err(KvError::QuotaExceeded(format!(
                "the value is {} bytes, over the {limit}-byte limit",
                value.len()
            )));
        }
        let exists = self
            .kv
            .get(&key)
            .map_err(|reason| self.storage("set", &key, reason))?
            .is_some();
        if !exists {
            let keys = self
                .kv
                .list_keys()
                .map_err(|reason| self.storage("set", &key, reason))?
                .len();
            let limit = self.limits.kv_keys;
            if keys >= limit {
                return Err(KvError::QuotaExceeded(format!(
                    "the namespace already holds {keys} keys, the limit is {limit}"
                )));
            }
        }
        self.kv
            .set(&key, &value)
            .map_err(|reason| self.storage("set", &key, reason))
    }

    fn delete(&mut self, key: String) -> Result<(), KvError> {
        self.check_key(&key)?;
        self.kv
            .delete(&key)
            .map(drop)
            .map_err(|reason| self.storage("delete", &key, reason))
    }

    fn list_keys(&mut self) -> Result<Vec<String>, KvError> {
        self.kv
            .list_keys()
            .map_err(|reason| self.storage("list-keys", "", reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv::Host as _;

    fn ctx(limits: Limits) -> HostCtx {
        HostCtx {
            component: ComponentName::parse("test").unwrap(),
            kv: Arc::new(MemoryKv::new()),
            limits: Arc::new(limits),
        }
    }

    #[test]
    fn kv_round_trips_within_the_namespace() {
        let mut host = ctx(Limits::default());
        assert_eq!(host.get("a".into()), Ok(None));
        host.set("b".into(), vec![2]).unwrap();
        host.set("a".into(), vec![1]).unwrap();
        assert_eq!(host.get("a".into()), Ok(Some(vec![1])));
        assert_eq!(host.list_keys(), Ok(vec!["a".into(), "b".into()]));
        host.delete("a".into()).unwrap();
        host.delete("never-set".into()).unwrap();
        assert_eq!(host.list_keys(), Ok(vec!["b".into()]));
    }

    #[test]
    fn kv_limits_are_errors_for_the_guest() {
        let mut host = ctx(Limits {
            kv_value_bytes: 4,
            kv_keys: 2,
            kv_key_bytes: 8,
            ..Limits::default()
        });
        assert!(matches!(
            host.set("".into(), vec![]),
            Err(KvError::InvalidKey(_))
        ));
        assert!(matches!(
            host.get("123456789".into()),
            Err(KvError::InvalidKey(_))
        ));
        assert!(matches!(
            host.set("k".into(), vec![0; 5]),
            Err(KvError::QuotaExceeded(r)) if r.contains("5 bytes")
        ));
        host.set("k1".into(), vec![0; 4]).unwrap();
        host.set("k2".into(), vec![]).unwrap();
        assert!(matches!(
            host.set("k3".into(), vec![]),
            Err(KvError::QuotaExceeded(r)) if r.contains("2 keys")
        ));
        // Overwriting an existing key does not need a new slot.
        host.set("k2".into(), vec![1]).unwrap();
    }

    #[test]
    fn storage_failures_are_errors_for_the_guest() {
        struct Broken;
        impl KeyValue for Broken {
            fn get(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
                Err("disk on fire".into())
            }
            fn set(&self, _: &str, _: &[u8]) -> Result<(), String> {
                Err("disk on fire".into())
            }
            fn delete(&self, _: &str) -> Result<bool, String> {
                Err("disk on fire".into())
            }
            fn list_keys(&self) -> Result<Vec<String>, String> {
                Err("disk on fire".into())
            }
        }
        let mut host = HostCtx {
            kv: Arc::new(Broken),
            ..ctx(Limits::default())
        };
        let fire = KvError::Storage("disk on fire".into());
        assert_eq!(host.get("k".into()), Err(fire.clone()));
        assert_eq!(host.set("k".into(), vec![]), Err(fire.clone()));
        assert_eq!(host.delete("k".into()), Err(fire.clone()));
        assert_eq!(host.list_keys(), Err(fire));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
