//! `snapshots/<component>/<id>/`: copies of a component's key-value data, taken before a
//! new version may migrate it and restored by a rollback.
//!
//! Invariants: a snapshot folder is complete once it has its final name (it is built
//! under a `.tmp-` name, fsynced, then renamed); restoring replaces the live folder by
//! renames only, so a crash leaves either the old or the restored data plus leftovers
//! that [`Store::recover`](super::Store) clears, and the restore is simply run again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::atomic::{TMP_PREFIX, sync_dir};
use super::{Store, StoreError};
use crate::ids::ComponentName;

/// Leftovers of an interrupted restore in `kv/`: the data being put in place, and the
/// data being replaced.
const RESTORING_PREFIX: &str = ".restoring-";
const REPLACED_PREFIX: &str = ".replaced-";

impl Store {
    fn snapshots_dir(&self, component: &ComponentName) -> PathBuf {
        self.root.join("snapshots").join(component.as_str())
    }

    fn snapshot_dir(&self, component: &ComponentName, id: &str) -> Result<PathBuf, StoreError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Corrupt {
                path: self.snapshots_dir(component),
                reason: format!("{id:?} is not a snapshot id"),
            });
        }
        Ok(self.snapshots_dir(component).join(id))
    }

    fn kv_dir(&self, component: &ComponentName) -> PathBuf {
        self.root.join("kv").join(component.as_str())
    }

    /// Copies the component's key-value data into a new snapshot taken `at` (by the
    /// caller's clock; it names the snapshot) and returns its id.
    pub fn take_kv_snapshot(
        &self,
        component: &ComponentName,
        at: jiff::Timestamp,
    ) -> Result<String, StoreError> {
        self.assert_writable();
        let parent = self.snapshots_dir(component);
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let mut id = at.as_nanosecond().max(0).to_string();
        while parent.join(&id).exists() {
            id = (id.parse::<u128>().unwrap_or(0) + 1).to_string();
        }
        let tmp = parent.join(format!("{TMP_PREFIX}{id}"));
        copy_kv(&self.kv_dir(component), &tmp).map_err(io_err(&tmp))?;
        let dest = parent.join(&id);
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        sync_dir(&parent).map_err(io_err(&parent))?;
        if let Some(snapshots) = parent.parent() {
            sync_dir(snapshots).map_err(io_err(snapshots))?;
        }
        Ok(id)
    }

    /// Replaces the component's key-value data with snapshot `id`. Idempotent: running it
    /// again after a crash completes it.
    pub fn restore_kv_snapshot(
        &self,
        component: &ComponentName,
        id: &str,
    ) -> Result<(), StoreError> {
        self.assert_writable();
        let snapshot = self.snapshot_dir(component, id)?;
        let kv_root = self.root.join("kv");
        let live = self.kv_dir(component);
        let restoring = kv_root.join(format!("{RESTORING_PREFIX}{component}"));
        let replaced = kv_root.join(format!("{REPLACED_PREFIX}{component}"));
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        if !snapshot.is_dir() {
            return Err(StoreError::Corrupt {
                path: snapshot,
                reason: "the key-value snapshot is missing".into(),
            });
        }
        remove_dir_if_exists(&restoring).map_err(io_err(&restoring))?;
        copy_kv(&snapshot, &restoring).map_err(io_err(&restoring))?;
        remove_dir_if_exists(&replaced).map_err(io_err(&replaced))?;
        match fs::rename(&live, &replaced) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&live)(e)),
        }
        fs::rename(&restoring, &live).map_err(io_err(&live))?;
        sync_dir(&kv_root).map_err(io_err(&kv_root))?;
        remove_dir_if_exists(&replaced).map_err(io_err(&replaced))?;
        Ok(())
    }

    /// Deletes snapshot `id` (missing is fine).
    pub fn delete_kv_snapshot(
        &self,
        component: &ComponentName,
        id: &str,
    ) -> Result<(), StoreError> {
        self.assert_writable();
        let dir = self.snapshot_dir(component, id)?;
        remove_dir_if_exists(&dir).map_err(|source| StoreError::Io { path: dir, source })
    }

    /// The ids of the component's snapshots, including ones no state names.
    pub fn kv_snapshot_ids(&self, component: &ComponentName) -> Result<Vec<String>, StoreError> {
        let dir = self.snapshots_dir(component);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path: dir, source }),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let name = entry
                .map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    source,
                })?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Clears leftovers of interrupted snapshots and restores (not the restores
    /// themselves: the update pipeline re-runs those from `pending_kv_restore`).
    pub(super) fn recover_snapshots(&self) -> Result<(), StoreError> {
        let kv_root = self.root.join("kv");
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        if let Ok(entries) = fs::read_dir(&kv_root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(RESTORING_PREFIX) || name.starts_with(REPLACED_PREFIX) {
                    remove_dir_if_exists(&entry.path()).map_err(io_err(&entry.path()))?;
                }
            }
        }
        let snapshots = self.root.join("snapshots");
        if let Ok(components) = fs::read_dir(&snapshots) {
            for component in components.flatten() {
                let Ok(entries) = fs::read_dir(component.path()) else {
                    continue;
                };
                for entry in entries.flatten() {
                    if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                        remove_dir_if_exists(&entry.path()).map_err(io_err(&entry.path()))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Copies the regular files of `from` (absent = empty) into the new folder `to`, durably.
fn copy_kv(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir(to)?;
    match fs::read_dir(from) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                if !entry.file_type()?.is_file() || name.to_string_lossy().starts_with(TMP_PREFIX) {
                    continue;
                }
                let dest = to.join(&name);
                fs::copy(entry.path(), &dest)?;
                fs::File::open(&dest)?.sync_all()?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    sync_dir(to)
}

fn remove_dir_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Access;
    use super::*;

    #[test]
    fn a_snapshot_restores_the_data_it_copied() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Access::Write).unwrap();
        let name = ComponentName::parse("fees").unwrap();
        let kv = store.kv(&name);
        // A snapshot of nothing restores to nothing.
        let empty = store
            .take_kv_snapshot(&name, jiff::Timestamp::UNIX_EPOCH)
            .unwrap();
        kv.set("history", b"1,2,3").unwrap();
        let full = store
            .take_kv_snapshot(&name, jiff::Timestamp::UNIX_EPOCH)
            .unwrap();
        assert_ne!(empty, full);
        kv.set("history", b"migrated").unwrap();
        kv.set("schema", b"2").unwrap();
        store.restore_kv_snapshot(&name, &full).unwrap();
        assert_eq!(kv.list_keys().unwrap(), vec!["history".to_owned()]);
        assert_eq!(kv.get("history").unwrap().as_deref(), Some(&b"1,2,3"[..]));
        // Restoring again is harmless.
        store.restore_kv_snapshot(&name, &full).unwrap();
        store.restore_kv_snapshot(&name, &empty).unwrap();
        assert!(kv.list_keys().unwrap().is_empty());
        assert_eq!(
            store.kv_snapshot_ids(&name).unwrap(),
            vec![empty.clone(), full.clone()]
        );
        store.delete_kv_snapshot(&name, &full).unwrap();
        assert_eq!(store.kv_snapshot_ids(&name).unwrap(), vec![empty]);
        assert!(store.restore_kv_snapshot(&name, "../x").is_err());
    }

    #[test]
    fn leftovers_of_an_interrupted_restore_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let name = ComponentName::parse("fees").unwrap();
        {
            let store = Store::open(dir.path(), Access::Write).unwrap();
            store.kv(&name).set("k", b"v").unwrap();
        }
        fs::create_dir_all(dir.path().join("kv/.restoring-fees")).unwrap();
        fs::create_dir_all(dir.path().join("snapshots/fees/.tmp-5")).unwrap();
        let store = Store::open(dir.path(), Access::Write).unwrap();
        assert!(!dir.path().join("kv/.restoring-fees").exists());
        assert!(!dir.path().join("snapshots/fees/.tmp-5").exists());
        assert_eq!(
            store.kv(&name).get("k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
}
