//! The state folder: content-addressed objects, `state.json`, the audit journal, each
//! extension's key-value data, and the lock that allows one writer at a time.
//!
//! ```text
//! state/
//!   objects/sha256/<hex>.wasm   verified packages, read-only
//!   cache/                      compiled code (owned by the runtime)
//!   state.json                  see [`State`]
//!   kv/<component>/             see [`KvNamespace`]
//!   snapshots/<component>/<id>/ key-value snapshots of rollback points
//!   reports/<hex>.json          the validation report of each installed digest
//!   journal.jsonl               see [`JournalEntry`]
//!   schedule.json               updates the daemon's scheduler planned ([`DaemonFile`])
//!   load-history.json           calls per minute of the week ([`DaemonFile`])
//!   registry-retry.json         the scheduler retrying a registry that did not answer
//!   daemon/control.sock         the daemon's control socket (0600, folder 0700)
//!   anya.lock                   one writer at a time
//! ```
//! Every write of a small file is tmp → fsync → rename → fsync(dir) ([`atomic`]).
//! The store writes an object before the state file that names it, so a crash between
//! the two leaves an unreferenced object, never a reference to a missing one.

pub mod atomic;
pub mod host_id;
mod journal;
mod kv;
mod snapshot;
mod state_file;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use journal::JournalEntry;
pub use kv::KvNamespace;
pub use state_file::{
    Approval, Blocked, ComponentState, Lifecycle, PendingRestore, RollbackPoint, RollbackRecord,
    STATE_FORMAT, State, ValidationSummary, VersionRecord,
};

use crate::files::{self, Links};
use crate::ids::{ComponentName, Digest};
use crate::package::VerifiedPackage;

/// Why the state folder could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("state folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("state folder {path} is locked by another anya process")]
    Locked { path: PathBuf },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("object {digest} is missing from {path}")]
    MissingObject { digest: Digest, path: PathBuf },
    #[error(
        "{path} is missing, but the journal records installs on this host ({installs}): its \
         active versions and watermarks are gone, and a downgrade would no longer be \
         refused. Put state.json back from a backup, or move journal.jsonl aside to start \
         this host afresh"
    )]
    StateMissing { path: PathBuf, installs: usize },
}

/// The daemon's own files in the state folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonFile {
    /// The updates the scheduler has planned, and why then.
    Schedule,
    /// Calls per minute of the week, for choosing the quietest time.
    LoadHistory,
    /// Where the scheduler stands while the registry does not answer.
    RegistryRetry,
}

impl DaemonFile {
    pub fn name(self) -> &'static str {
        match self {
            Self::Schedule => "schedule.json",
            Self::LoadHistory => "load-history.json",
            Self::RegistryRetry => "registry-retry.json",
        }
    }
}

/// An update the daemon's scheduler will start later, and why then (`schedule.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Planned {
    pub component: ComponentName,
    pub version: semver::Version,
    pub at: jiff::Timestamp,
    pub why: String,
}

/// The daemon's scheduler retrying a registry that did not answer
/// (`registry-retry.json`): since when, how often it tried, when it tries next, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retrying {
    pub since: jiff::Timestamp,
    pub attempts: u32,
    pub next: jiff::Timestamp,
    pub reason: String,
}

/// How long [`Store::open`] waits for a conflicting lock before it refuses.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a [`Store`] may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Shared lock; nothing is created.
    Read,
    /// Exclusive lock; the folder is created if needed.
    Write,
}

/// The most Anya reads of each file it keeps; past these a file is not Anya's.
const MAX_OBJECT_BYTES: u64 = crate::update::DEFAULT_MAX_PACKAGE_BYTES;
const MAX_STATE_BYTES: u64 = 256 << 20;
const MAX_REPORT_BYTES: u64 = 64 << 20;
const MAX_DAEMON_FILE_BYTES: u64 = 16 << 20;

/// An open state folder.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    access: Access,
    /// Held for the life of the store: the lock is released when the file closes.
    _lock: Option<File>,
    /// A writer's last read or written state: while it holds the write lock nobody else
    /// changes `state.json`, so it is read from disk once and then kept in step with
    /// every save. Readers always read the file.
    state_cache: Mutex<Option<Arc<State>>>,
}

impl Store {
    /// Opens `root`, taking the lock that `access` needs. Refuses if another process
    /// still holds a conflicting lock after [`LOCK_WAIT`].
    pub fn open(root: &Path, access: Access) -> Result<Self, StoreError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        if access == Access::Write {
            for dir in [
                root.to_owned(),
                root.join("objects/sha256"),
                root.join("cache"),
                root.join("kv"),
            ] {
                if !dir.exists() {
                    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                        .map_err(io_err(&dir))?;
                }
            }
        }
        let lock_path = root.join("anya.lock");
        let lock = if access == Access::Write || lock_path.exists() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(access == Access::Write)
                .truncate(false)
                .open(&lock_path)
                .map_err(io_err(&lock_path))?;
            // A conflicting lock is waited for briefly: another command may be just
            // finishing, and a process being spawned holds a copy of every open file
            // (and so of its lock) until it executes its program.
            let deadline = std::time::Instant::now() + LOCK_WAIT;
            loop {
                let locked = match access {
                    Access::Write => file.try_lock(),
                    Access::Read => file.try_lock_shared(),
                };
                match locked {
                    Ok(()) => break,
                    Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(fs::TryLockError::WouldBlock) => {
                        return Err(StoreError::Locked {
                            path: root.to_owned(),
                        });
                    }
                    Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
                }
            }
            Some(file)
        } else {
            None
        };
        let store = Self {
            root: root.to_owned(),
            access,
            _lock: lock,
            state_cache: Mutex::new(None),
        };
        if access == Access::Write {
            store.recover()?;
        }
        Ok(store)
    }

    pub fn access(&self) -> Access {
        self.access
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the runtime keeps compiled code.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    pub fn object_path(&self, digest: Digest) -> PathBuf {
        self.root
            .join("objects/sha256")
            .join(format!("{}.wasm", digest.to_hex()))
    }

    /// Stores a verified package under its digest (read-only). Idempotent.
    pub fn put_object(&self, package: &VerifiedPackage) -> Result<PathBuf, StoreError> {
        self.assert_writable();
        let path = self.object_path(package.digest());
        if let Ok(existing) = files::read_capped(&path, MAX_OBJECT_BYTES, Links::Refuse)
            && Digest::of(&existing) == package.digest()
        {
            return Ok(path);
        }
        atomic::write_atomic_with_mode(&path, package.bytes(), 0o444).map_err(|source| {
            StoreError::Io {
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }

    /// Reads an object and checks that its bytes still hash to its digest.
    pub fn read_object(&self, digest: Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.object_path(digest);
        let bytes = match files::read_capped(&path, MAX_OBJECT_BYTES, Links::Refuse) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingObject { digest, path });
            }
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let actual = Digest::of(&bytes);
        if actual != digest {
            return Err(StoreError::Corrupt {
                path,
                reason: format!("its content hashes to {actual}"),
            });
        }
        Ok(bytes)
    }

    fn report_path(&self, digest: Digest) -> PathBuf {
        self.root
            .join("reports")
            .join(format!("{}.json", digest.to_hex()))
    }

    /// Keeps the full validation report of `digest` (JSON), replacing an older one.
    pub fn save_report(
        &self,
        digest: Digest,
        report: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.assert_writable();
        let path = self.report_path(digest);
        let dir = self.root.join("reports");
        fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })?;
        let mut text = serde_json::to_string_pretty(report).expect("a JSON value serializes");
        text.push('\n');
        atomic::write_atomic(&path, text.as_bytes())
            .map_err(|source| StoreError::Io { path, source })
    }

    /// The validation report of `digest`, if one was kept.
    pub fn read_report(&self, digest: Digest) -> Result<Option<serde_json::Value>, StoreError> {
        let path = self.report_path(digest);
        let text = match files::read_text_capped(&path, MAX_REPORT_BYTES, Links::Refuse) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    /// Writes one of the daemon's own small files (`schedule.json`, `load-history.json`)
    /// at the top of the state folder, atomically.
    pub fn write_daemon_file(&self, file: DaemonFile, bytes: &[u8]) -> Result<(), StoreError> {
        self.assert_writable();
        let path = self.root.join(file.name());
        atomic::write_atomic(&path, bytes).map_err(|source| StoreError::Io { path, source })
    }

    /// This host's id (`host-id`), made now if this store may write and finds none.
    pub fn host_id(&self) -> Result<Option<String>, StoreError> {
        host_id::read_or_make(&self.root, self.access == Access::Write)
    }

    /// The updates the scheduler planned, as it last wrote them (empty without a file).
    pub fn planned(&self) -> Result<Vec<Planned>, StoreError> {
        let Some(bytes) = self.read_daemon_file(DaemonFile::Schedule)? else {
            return Ok(Vec::new());
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: self.root.join(DaemonFile::Schedule.name()),
            reason: e.to_string(),
        })
    }

    /// Where the daemon's scheduler stands while the registry does not answer; `None`
    /// when it answered last.
    pub fn retrying(&self) -> Result<Option<Retrying>, StoreError> {
        let Some(bytes) = self.read_daemon_file(DaemonFile::RegistryRetry)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: self.root.join(DaemonFile::RegistryRetry.name()),
                reason: e.to_string(),
            })
    }

    /// Removes one of the daemon's small files (nothing if it is not there).
    pub fn remove_daemon_file(&self, file: DaemonFile) -> Result<(), StoreError> {
        self.assert_writable();
        let path = self.root.join(file.name());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Reads one of the daemon's small files; `None` when it does not exist.
    pub fn read_daemon_file(&self, file: DaemonFile) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.root.join(file.name());
        match files::read_capped(&path, MAX_DAEMON_FILE_BYTES, Links::Refuse) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The state, to change and [`save`](Self::save_state); an absent file is the empty
    /// state.
    pub fn load_state(&self) -> Result<State, StoreError> {
        Ok(State::clone(&*self.state()?))
    }

    /// The state, shared and read-only: a writer's is its cached copy (no file read, no
    /// parse, no copy), a reader's is read from the file.
    pub fn state(&self) -> Result<Arc<State>, StoreError> {
        if self.access != Access::Write {
            return self.read_state_file().map(Arc::new);
        }
        let mut cache = self.lock_state_cache();
        if let Some(state) = cache.as_ref() {
            return Ok(Arc::clone(state));
        }
        let state = Arc::new(self.read_state_file()?);
        *cache = Some(Arc::clone(&state));
        Ok(state)
    }

    fn lock_state_cache(&self) -> std::sync::MutexGuard<'_, Option<Arc<State>>> {
        self.state_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_state_file(&self) -> Result<State, StoreError> {
        let path = self.state_path();
        let text = match files::read_text_capped(&path, MAX_STATE_BYTES, Links::Refuse) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.missing_state(path),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.format != STATE_FORMAT {
            return Err(StoreError::Corrupt {
                path,
                reason: format!(
                    "format {} is not the format {STATE_FORMAT} this anya reads",
                    state.format
                ),
            });
        }
        Ok(state)
    }

    /// No `state.json`: a new host, unless the journal says this host installed
    /// something; then the file was lost, and with it the watermarks: refused, nothing
    /// changed (starting empty would let a downgrade through silently).
    fn missing_state(&self, path: PathBuf) -> Result<State, StoreError> {
        let installs = self
            .read_journal()?
            .iter()
            .filter(|e| e.action == "installed")
            .count();
        if installs == 0 {
            return Ok(State::default());
        }
        Err(StoreError::StateMissing { path, installs })
    }

    /// Replaces the state, atomically and durably.
    pub fn save_state(&self, state: &State) -> Result<(), StoreError> {
        self.assert_writable();
        let path = self.state_path();
        let mut text = serde_json::to_string_pretty(state).expect("state serializes");
        text.push('\n');
        let mut cache = self.lock_state_cache();
        match atomic::write_atomic(&path, text.as_bytes()) {
            Ok(()) => {
                *cache = Some(Arc::new(state.clone()));
                Ok(())
            }
            Err(source) => {
                // Old or new, the file says which: read it again next time.
                *cache = None;
                Err(StoreError::Io { path, source })
            }
        }
    }

    fn journal_path(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }

    /// Appends one entry to the audit journal, durably.
    pub fn journal(&self, entry: &JournalEntry) -> Result<(), StoreError> {
        self.assert_writable();
        let path = self.journal_path();
        let line = serde_json::to_string(entry).expect("journal entries serialize");
        atomic::append_line(&path, &line).map_err(|source| StoreError::Io { path, source })
    }

    /// Every journal entry, oldest first. A torn last line (a crash mid-append) is skipped.
    pub fn read_journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.read_journal_tail(u64::MAX)
    }

    /// The entries in the last `max_bytes` of the journal, oldest first: what start-up
    /// needs, without reading a journal that only ever grows.
    pub fn read_journal_tail(&self, max_bytes: u64) -> Result<Vec<JournalEntry>, StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.journal_path();
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let (mut file, len) = match files::open_regular(&path, Links::Refuse) {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(e)),
        };
        let start = len.saturating_sub(max_bytes);
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err)?;
        let text = String::from_utf8_lossy(&bytes);
        // From the middle of the file, the first line is a fragment.
        let skip = usize::from(start > 0);
        Ok(text
            .lines()
            .skip(skip)
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// The key-value data of one component.
    pub fn kv(&self, component: &ComponentName) -> KvNamespace {
        KvNamespace::new(self.root.join("kv").join(component.as_str()))
    }

    /// Clears what interrupted writes left behind: the `.tmp-*` files of the folders
    /// this host writes (the compile cache names its temporary files the same way).
    fn recover(&self) -> Result<(), StoreError> {
        for dir in [
            self.root.clone(),
            self.root.join("objects/sha256"),
            self.root.join("reports"),
            self.root.join("cache"),
            self.root.join("daemon"),
        ] {
            atomic::remove_stale_tmp(&dir)
                .map_err(|source| StoreError::Io { path: dir, source })?;
        }
        self.recover_snapshots()
    }

    fn assert_writable(&self) {
        assert_eq!(
            self.access,
            Access::Write,
            "write through a read-only store"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let _w = Store::open(dir.path(), Access::Write).unwrap();
        let err = Store::open(dir.path(), Access::Write).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        let err = Store::open(dir.path(), Access::Read).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn a_writer_reads_the_state_file_once_and_keeps_its_copy_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Access::Write).unwrap();
        let mut state = store.load_state().unwrap();
        assert_eq!(state, State::default());
        state.pending_restores.insert(
            ComponentName::parse("bech32").unwrap(),
            PendingRestore {
                snapshot: "snapshot-1".into(),
                operation: "install of bech32 1.1.0".into(),
            },
        );
        store.save_state(&state).unwrap();
        // What it saved is what it reads, shared without a copy...
        let shared = store.state().unwrap();
        assert_eq!(*shared, state);
        assert!(Arc::ptr_eq(&shared, &store.state().unwrap()));
        // ...and on disk, for the next process.
        let on_disk = fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert!(on_disk.contains("bech32"), "{on_disk}");
        drop(store);
        let again = Store::open(dir.path(), Access::Write).unwrap();
        assert_eq!(again.load_state().unwrap(), state);
    }

    #[test]
    fn a_writer_clears_what_killed_writes_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), Access::Write).unwrap());
        let leftovers = [
            "reports/.tmp-4242-0-abc.json",
            "cache/.tmp-abcdef-0011223344556677",
            "cache/.tmp-cache.key-01020304",
            "daemon/.tmp-4242-1-schedule.json",
            ".tmp-4242-2-state.json",
        ];
        for file in leftovers {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, b"half").unwrap();
        }
        fs::write(dir.path().join("reports/kept.json"), b"{}").unwrap();
        drop(Store::open(dir.path(), Access::Write).unwrap());
        for file in leftovers {
            assert!(!dir.path().join(file).exists(), "{file} is left");
        }
        assert!(dir.path().join("reports/kept.json").exists());
    }

    #[test]
    fn readers_share_and_create_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let r = Store::open(&root, Access::Read).unwrap();
        assert_eq!(r.load_state().unwrap(), State::default());
        assert!(!root.exists());
        drop(r);
        drop(Store::open(&root, Access::Write).unwrap());
        let _r1 = Store::open(&root, Access::Read).unwrap();
        let _r2 = Store::open(&root, Access::Read).unwrap();
    }

    #[test]
    fn kv_round_trips_any_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Access::Write).unwrap();
        let kv = store.kv(&ComponentName::parse("fees").unwrap());
        assert_eq!(kv.get("../x").unwrap(), None);
        kv.set("../x", b"1").unwrap();
        kv.set("b", b"2").unwrap();
        assert_eq!(kv.get("../x").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(
            kv.list_keys().unwrap(),
            vec!["../x".to_owned(), "b".to_owned()]
        );
        assert!(kv.delete("b").unwrap());
        assert!(!kv.delete("b").unwrap());
    }

    #[test]
    fn journal_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Access::Write).unwrap();
        store
            .journal(&JournalEntry::new(
                jiff::Timestamp::UNIX_EPOCH,
                "test",
                "one",
            ))
            .unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal.jsonl"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"at\":").unwrap();
        let entries = store.read_journal().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, "one");
        // A tail that starts mid-line drops the fragment, keeps the whole lines.
        store
            .journal(&JournalEntry::new(
                jiff::Timestamp::UNIX_EPOCH,
                "test",
                "two",
            ))
            .unwrap();
        let text = fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        let last_line = text.lines().last().unwrap().len() as u64 + 1;
        let tail = store.read_journal_tail(last_line + 5).unwrap();
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].action, "two");
        // The torn line did not swallow the entry appended after it.
        let all = store.read_journal().unwrap();
        assert_eq!(
            all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
    }
}
