//! The update pipeline, the hub that calls the modules beneath it:
//! fetch → verify → (classify) → compile + link → activate → commit.
//!
//! [`UpdateManager`] owns an open state folder, the trust store, a registry and, made on
//! first use, the runtime. Its operations live one per file: [`check`](UpdateManager::check),
//! [`install`](UpdateManager::install), [`status`](UpdateManager::status),
//! [`call`](UpdateManager::call).
//!
//! Invariant: a failure at any step before the state file is written leaves the state
//! folder as it was.

mod call;
mod check;
mod error;
mod install;
mod kv_bridge;
mod publish;
mod status;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub use check::{CheckProblem, CheckReport, UpdateInfo};
pub use error::UpdateError;
pub use install::InstallOutcome;
pub use publish::publish;
pub use status::{ComponentStatus, StatusReport};

use crate::ids::ComponentName;
use crate::package::{self, VerifiedPackage};
use crate::registry::{Fetched, Registry};
use crate::runtime::{Limits, Runtime, RuntimeConfig};
use crate::store::Store;
use crate::trust::TrustStore;

/// The default cap on a package's size.
pub const DEFAULT_MAX_PACKAGE_BYTES: u64 = 16 * 1024 * 1024;

/// Settings of an [`UpdateManager`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Packages larger than this are refused before they are read.
    pub max_package_bytes: u64,
    /// Sandbox limits for calls.
    pub limits: Limits,
    /// Who is asking, for the journal: `cli uid=1000`, `scheduler`.
    pub actor: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_package_bytes: DEFAULT_MAX_PACKAGE_BYTES,
            limits: Limits::default(),
            actor: "library".into(),
        }
    }
}

/// The update pipeline over one state folder.
pub struct UpdateManager {
    store: Store,
    trust: TrustStore,
    registry: Box<dyn Registry>,
    runtime: OnceLock<Arc<Runtime>>,
    options: Options,
}

impl UpdateManager {
    pub fn new(
        store: Store,
        trust: TrustStore,
        registry: Box<dyn Registry>,
        options: Options,
    ) -> Self {
        Self {
            store,
            trust,
            registry,
            runtime: OnceLock::new(),
            options,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &dyn Registry {
        self.registry.as_ref()
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// The runtime, made on first use (building the engine is not free, and `check`,
    /// `list` and `status` never need it).
    pub fn runtime(&self) -> Result<&Arc<Runtime>, UpdateError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = Runtime::new(RuntimeConfig {
            cache_dir: self.store.cache_dir(),
            limits: self.options.limits.clone(),
        })?;
        Ok(self.runtime.get_or_init(|| Arc::new(rt)))
    }

    /// Fetches `name` `version` from the registry and verifies it: the signature, the
    /// trust scope, and that the package is the one its file name says.
    fn fetch_verified(
        &self,
        name: &ComponentName,
        version: &semver::Version,
    ) -> Result<VerifiedPackage, UpdateError> {
        let Fetched { bytes, source } =
            self.registry
                .fetch(name, version, self.options.max_package_bytes)?;
        let package = package::verify_with_max(bytes, &self.trust, self.options.max_package_bytes)
            .map_err(|reason| UpdateError::Refused {
                source_path: source.clone(),
                component: format!("{name} {version}"),
                reason,
            })?;
        let manifest = package.manifest();
        if manifest.name != *name || manifest.version != *version {
            return Err(UpdateError::Mismatch {
                source_path: source,
                expected: format!("{name} {version}"),
                found: manifest.label(),
            });
        }
        Ok(package)
    }

    /// Reads an installed object back from the state folder and verifies it again, so a
    /// package altered on disk never runs.
    fn load_installed(
        &self,
        name: &ComponentName,
        digest: crate::ids::Digest,
    ) -> Result<VerifiedPackage, UpdateError> {
        let path: PathBuf = self.store.object_path(digest);
        let bytes = self.store.read_object(digest)?;
        let package = package::verify_with_max(bytes, &self.trust, self.options.max_package_bytes)
            .map_err(|reason| UpdateError::Refused {
                source_path: path.display().to_string(),
                component: name.to_string(),
                reason,
            })?;
        if package.manifest().name != *name {
            return Err(UpdateError::Mismatch {
                source_path: path.display().to_string(),
                expected: name.to_string(),
                found: package.manifest().label(),
            });
        }
        Ok(package)
    }
}
