//! `kv/<component>/`: each extension's durable key-value data, one file per key.
//!
//! File names are the hex of the key, so no key can name a path; every write is atomic.

use std::fs;
use std::io;
use std::path::PathBuf;

use super::atomic::{TMP_PREFIX, remove_stale_tmp, sync_dir, write_atomic};
use crate::files::Links;

/// The key-value namespace of one component.
#[derive(Debug, Clone)]
pub struct KvNamespace {
    dir: PathBuf,
}

/// The most read of one stored value (the runtime's own cap, `Limits::kv_value_bytes`,
/// is far lower).
const MAX_VALUE_FILE_BYTES: u64 = 64 << 20;

impl KvNamespace {
    pub(super) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        // Anya wrote every value; a link, a FIFO or a device there is refused.
        match crate::files::read_capped(&self.path(key), MAX_VALUE_FILE_BYTES, Links::Refuse) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn set(&self, key: &str, value: &[u8]) -> io::Result<()> {
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir)?;
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
        }
        write_atomic(&self.path(key), value)
    }

    pub fn delete(&self, key: &str) -> io::Result<bool> {
        match fs::remove_file(self.path(key)) {
            Ok(()) => {
                sync_dir(&self.dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The keys, sorted.
    pub fn list_keys(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            if let Some(key) = hex::decode(name.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Clears what an interrupted write left behind.
    pub fn recover(&self) -> io::Result<()> {
        remove_stale_tmp(&self.dir)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(hex::encode(key.as_bytes()))
    }
}
