//! A registry seen through its signed index: what a host whose trust store pins an index
//! root (`[index]`) installs from.
//!
//! [`IndexedRegistry`] wraps a source (a folder or an OCI registry). Each
//! [`refresh`](Registry::refresh) reads the release index and the rollout document from
//! it and accepts them by TUF's rules ([`crate::index`]) against what this host accepted
//! before (`STATE/index.json`). Then:
//! - only released, unrevoked versions exist, and a component the rollout names goes no
//!   higher than the version this host's cohort is given (`STATE/host-id` decides it);
//! - a package is fetched exactly as listed (by OCI digest, under the listed length) and
//!   its sha256 and length checked, before its signature is verified as always.
//!
//! A refused document (rollback, equivocation, expiry, mix and match, endless data, bad
//! signatures) empties the view: every question fails with the reason until a good index
//! is published, so nothing new is installed while what runs keeps running.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use semver::Version;
use serde::{Deserialize, Serialize};

use super::{Fetched, Registry, RegistryError};
use crate::clock::Clock;
use crate::ids::{ComponentName, Digest};
use crate::index::{
    self, Accepted, DocumentKind, IndexError, Release, ReleasedPackage, RoleKeys, RoleSpec,
    Rollout, Seen,
};
use crate::package::VerifiedPackage;
use crate::store::{atomic, host_id};

/// What a host remembers of the index, in its state folder.
pub const MEMORY_FILE: &str = "index.json";

/// The most read of it.
const MAX_MEMORY_BYTES: u64 = 64 << 10;

/// What this host accepted before, so that an older or a forked document is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Remembered {
    /// The pinned root this memory grew from; a trust store pinning another root (the
    /// operator re-pinned after a compromise) starts it afresh.
    pinned: Option<Digest>,
    release: Option<Seen>,
    rollout: Option<Seen>,
    /// Who signs the next release, since a release rotated the offline keys.
    release_signers: Option<RoleSpec>,
}

/// `STATE/index.json`, read by everyone, written only by a writer of the state folder.
#[derive(Debug, Clone)]
struct IndexMemory {
    path: PathBuf,
    writable: bool,
}

impl IndexMemory {
    fn new(state_dir: &std::path::Path, writable: bool) -> Self {
        Self {
            path: state_dir.join(MEMORY_FILE),
            writable,
        }
    }

    fn corrupt(&self, reason: String) -> RegistryError {
        RegistryError::Refused {
            path: self.path.clone(),
            reason,
        }
    }

    /// What was remembered under `pinned`; nothing if under another root or never.
    fn load(&self, pinned: Digest) -> Result<Remembered, RegistryError> {
        let bytes = match crate::files::read_capped(
            &self.path,
            MAX_MEMORY_BYTES,
            crate::files::Links::Refuse,
        ) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Remembered::default()),
            Err(e) => return Err(self.corrupt(e.to_string())),
        };
        let remembered: Remembered = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(format!("not what Anya writes there: {e}")))?;
        if remembered.pinned != Some(pinned) {
            tracing::warn!(
                path = %self.path.display(),
                "the trust store pins another index root: what was accepted under the old one is forgotten"
            );
            return Ok(Remembered::default());
        }
        Ok(remembered)
    }

    fn save(&self, remembered: &Remembered) -> Result<(), RegistryError> {
        if !self.writable {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(remembered).expect("the memory serializes");
        atomic::write_atomic(&self.path, &bytes).map_err(|e| self.corrupt(e.to_string()))
    }
}

/// The index as this host accepted it last.
#[derive(Debug, Clone)]
pub struct IndexView {
    pub release: Accepted<Release>,
    pub rollout: Option<Accepted<Rollout>>,
    pub host_id: Option<String>,
}

impl IndexView {
    /// The version the rollout gives this host of `name`, if the rollout names it.
    pub fn target(&self, name: &ComponentName) -> Option<&Version> {
        let stage = self.rollout.as_ref()?.document.components.get(name)?;
        Some(match &self.host_id {
            Some(id) => stage.target(name, id),
            None => &stage.stable,
        })
    }

    /// The versions of `name` this host may install, ascending: released, not revoked,
    /// none above its rollout target.
    pub fn versions(&self, name: &ComponentName) -> Vec<Version> {
        let target = self.target(name);
        let Some(listed) = self.release.document.components.get(name) else {
            return Vec::new();
        };
        listed
            .keys()
            .filter(|v| !self.release.document.is_revoked(name, v))
            .filter(|v| target.is_none_or(|t| *v <= t))
            .cloned()
            .collect()
    }

    /// How the index lists `name` `version`, or why this host may not take it.
    pub fn listed(
        &self,
        name: &ComponentName,
        version: &Version,
    ) -> Result<&ReleasedPackage, Unlisted> {
        let release = &self.release.document;
        if release.is_revoked(name, version) {
            return Err(Unlisted::Revoked);
        }
        let listed = release
            .components
            .get(name)
            .and_then(|versions| versions.get(version))
            .ok_or(Unlisted::NotListed)?;
        if self.target(name).is_some_and(|t| version > t) {
            return Err(Unlisted::HeldBack);
        }
        Ok(listed)
    }
}

/// Why a host may not take a version the registry may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlisted {
    NotListed,
    Revoked,
    /// Listed, but above what this host's rollout stage gives it.
    HeldBack,
}

impl std::fmt::Display for Unlisted {
    /// What the index does, in "the signed index … NAME VERSION".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotListed => "does not list",
            Self::Revoked => "revoked",
            Self::HeldBack => "holds back, for this host's rollout stage,",
        })
    }
}

/// A registry seen through its signed index.
pub struct IndexedRegistry {
    inner: Box<dyn Registry>,
    root: RoleKeys,
    memory: IndexMemory,
    state_dir: PathBuf,
    writable: bool,
    clock: Arc<dyn Clock>,
    view: Mutex<Option<Arc<IndexView>>>,
    /// The release accepted by the last refresh, even when its rollout document was
    /// refused: its revocations still send hosts down (the offline keys outrank the
    /// online one).
    release: Mutex<Option<Arc<Release>>>,
    /// One refresh at a time: each reads and writes the memory.
    refreshing: Mutex<()>,
}

impl IndexedRegistry {
    /// `inner` as the index signed under `root` lists it, for the host whose state folder
    /// is `state_dir`.
    pub fn new(
        inner: Box<dyn Registry>,
        root: RoleKeys,
        state_dir: &std::path::Path,
        writable: bool,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            state_dir: state_dir.to_owned(),
            writable,
            inner,
            root,
            memory: IndexMemory::new(state_dir, writable),
            clock,
            view: Mutex::new(None),
            release: Mutex::new(None),
            refreshing: Mutex::new(()),
        }
    }

    fn index_error(&self, source: IndexError) -> RegistryError {
        RegistryError::Index {
            registry: self.inner.describe(),
            source: Box::new(source),
        }
    }

    /// The view, read now if none is held.
    fn current(&self) -> Result<Arc<IndexView>, RegistryError> {
        if let Some(view) = self
            .view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(view);
        }
        self.refresh()?;
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                self.index_error(IndexError::Missing {
                    kind: DocumentKind::Release,
                })
            })
    }

    /// Reads and accepts both documents, remembering what was accepted.
    fn accept(&self) -> Result<IndexView, RegistryError> {
        // Read here, not when the source is made: a command that never asks the registry
        // (a call) reads nothing of the index, and a bad id refuses the index, never a call.
        let host_id = host_id::read_or_make(&self.state_dir, self.writable).map_err(|e| {
            RegistryError::Refused {
                path: self.state_dir.join(host_id::FILE),
                reason: e.to_string(),
            }
        })?;
        let pinned =
            Digest::of(&serde_json::to_vec(&RoleSpec::of(&self.root)).expect("serializes"));
        let remembered = self.memory.load(pinned)?;
        let now = self.clock.now();
        let trusted = match &remembered.release_signers {
            Some(spec) => spec
                .keys()
                .map_err(|reason| self.memory.corrupt(format!("release_signers: {reason}")))?,
            None => self.root.clone(),
        };
        let bytes = self
            .inner
            .index_document(DocumentKind::Release)?
            .ok_or_else(|| {
                self.index_error(IndexError::Missing {
                    kind: DocumentKind::Release,
                })
            })?;
        // Follows key hand-overs this host did not see.
        let release = index::accept_release(&bytes, &trusted, remembered.release.as_ref(), now)
            .map_err(|e| self.index_error(e))?;
        *self.release.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(release.document.clone()));
        let rollout = match &release.document.rollout_signers {
            Some(spec) => self.accept_rollout(spec, &remembered, &release, now)?,
            None => None,
        };
        let updated = Remembered {
            pinned: Some(pinned),
            release: Some(release.seen),
            rollout: rollout.as_ref().map(|r| r.seen).or(remembered.rollout),
            // Who signs the next release: whom this one hands over to, else its signers.
            release_signers: Some(
                release
                    .document
                    .release_signers
                    .clone()
                    .unwrap_or_else(|| RoleSpec::of(&release.signed_by)),
            ),
        };
        // A check that finds nothing new writes nothing.
        if updated != remembered {
            self.memory.save(&updated)?;
        }
        Ok(IndexView {
            release,
            rollout,
            host_id,
        })
    }

    fn accept_rollout(
        &self,
        signers: &RoleSpec,
        remembered: &Remembered,
        release: &Accepted<Release>,
        now: jiff::Timestamp,
    ) -> Result<Option<Accepted<Rollout>>, RegistryError> {
        // Rollouts are the online key's word: without one, no host may guess what is
        // rolled out (it would take every released version at once).
        let Some(bytes) = self.inner.index_document(DocumentKind::Rollout)? else {
            return Err(self.index_error(IndexError::NoRollout));
        };
        // Checked when the release was accepted.
        let keys = signers
            .keys()
            .expect("an accepted release names a valid role");
        index::accept_rollout(&bytes, &keys, remembered.rollout.as_ref(), release, now)
            .map(Some)
            .map_err(|e| self.index_error(e))
    }
}

impl Registry for IndexedRegistry {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn names(&self) -> Result<Vec<ComponentName>, RegistryError> {
        let view = self.current()?;
        Ok(view
            .release
            .document
            .components
            .keys()
            .filter(|name| !view.versions(name).is_empty())
            .cloned()
            .collect())
    }

    fn versions(&self, name: &ComponentName) -> Result<Vec<Version>, RegistryError> {
        Ok(self.current()?.versions(name))
    }

    fn fetch(
        &self,
        name: &ComponentName,
        version: &Version,
        max_bytes: u64,
    ) -> Result<Fetched, RegistryError> {
        let view = self.current()?;
        let listed = view
            .listed(name, version)
            .map_err(|why| RegistryError::NotListed {
                registry: self.describe(),
                name: name.clone(),
                version: version.clone(),
                why,
            })?;
        if listed.length > max_bytes {
            return Err(RegistryError::NotAsListed {
                source_path: self.describe(),
                name: name.clone(),
                version: version.clone(),
                reason: format!(
                    "the index lists {} bytes, over the {max_bytes}-byte cap on a package",
                    listed.length
                ),
            });
        }
        self.inner.fetch_listed(name, version, listed)
    }

    fn publish(&self, package: &VerifiedPackage) -> Result<String, RegistryError> {
        self.inner.publish(package)
    }

    fn index_document(&self, kind: DocumentKind) -> Result<Option<Vec<u8>>, RegistryError> {
        self.inner.index_document(kind)
    }

    fn publish_index_document(
        &self,
        kind: DocumentKind,
        envelope: &[u8],
    ) -> Result<String, RegistryError> {
        self.inner.publish_index_document(kind, envelope)
    }

    fn refresh(&self) -> Result<(), RegistryError> {
        let _one = self
            .refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *self.release.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let accepted = self.accept();
        let mut view = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        match accepted {
            Ok(accepted) => {
                *view = Some(Arc::new(accepted));
                Ok(())
            }
            Err(e) => {
                // Frozen: nothing is offered until a good index is read.
                *view = None;
                Err(e)
            }
        }
    }

    fn index_view(&self) -> Option<Arc<IndexView>> {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn accepted_release(&self) -> Option<Arc<Release>> {
        self.release
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
