//! `install`: fetch, verify, compile and link, activate, then commit in one state write.

use std::sync::Arc;

use jiff::Timestamp;
use semver::Version;
use serde::Serialize;

use super::{UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::manifest::Kind;
use crate::package::VerifiedPackage;
use crate::runtime::{CallContext, LoadedComponent};
use crate::store::{ComponentState, JournalEntry, VersionRecord};

/// `lifecycle.activate`, called before a version takes traffic.
pub(crate) const ACTIVATE: &str = "anya:extension/lifecycle#activate";
/// `lifecycle.health`, called after activation.
pub(crate) const HEALTH: &str = "anya:extension/lifecycle#health";

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallOutcome {
    pub name: ComponentName,
    pub version: Version,
    pub digest: Digest,
    /// The version that was active before, if any.
    pub previous: Option<Version>,
    /// The same package was already active: nothing changed.
    pub unchanged: bool,
    /// Installed below the watermark or the active version by `--force`.
    pub forced: bool,
}

impl UpdateManager {
    /// Installs `name` at `version` (the newest in the registry when `None`).
    ///
    /// Refuses a version below the watermark or not newer than the active one unless
    /// `force`; a forced downgrade is recorded as such in the state and the journal.
    pub fn install(
        &self,
        name: &ComponentName,
        version: Option<&Version>,
        force: bool,
    ) -> Result<InstallOutcome, UpdateError> {
        let version =
            match version {
                Some(v) => v.clone(),
                None => self.registry.versions(name)?.pop().ok_or_else(|| {
                    UpdateError::NotInRegistry {
                        registry: self.registry.describe(),
                        name: name.clone(),
                    }
                })?,
            };
        let package = self.fetch_verified(name, &version)?;
        if package.manifest().kind != Kind::Extension {
            return Err(UpdateError::WrongKind {
                name: name.clone(),
                version,
                kind: "validator",
            });
        }

        let mut state = self.store.load_state()?;
        let current = state.components.get(name);
        if let Some(c) = current
            && c.active.digest == package.digest()
        {
            return Ok(InstallOutcome {
                name: name.clone(),
                version,
                digest: package.digest(),
                previous: Some(c.active.version.clone()),
                unchanged: true,
                forced: false,
            });
        }
        let mut forced = false;
        if let Some(c) = current {
            if version < c.watermark {
                if !force {
                    return Err(UpdateError::BelowWatermark {
                        name: name.clone(),
                        version,
                        watermark: c.watermark.clone(),
                    });
                }
                forced = true;
            } else if version <= c.active.version {
                if !force {
                    return Err(UpdateError::NotNewer {
                        name: name.clone(),
                        version,
                        installed: c.active.version.clone(),
                    });
                }
                forced = true;
            }
        }
        let previous_version = current.map(|c| c.active.version.clone());

        // Compile and link before anything is written: a package that cannot run on this
        // host changes nothing.
        let loaded = self.runtime()?.load(&package)?;
        self.activate(&package, &loaded, previous_version.as_ref())?;

        let label = package.manifest().label();
        self.store.put_object(&package)?;
        self.store.journal(
            &JournalEntry::new(&self.options.actor, "install-started")
                .component(name)
                .version(&version)
                .digest(package.digest())
                .detail(match &previous_version {
                    Some(p) => format!("replacing {name} {p}"),
                    None => format!("first install of {label}"),
                }),
        )?;
        let record = VersionRecord {
            version: version.clone(),
            digest: package.digest(),
            since: Timestamp::now(),
            forced,
        };
        match state.components.get_mut(name) {
            Some(c) => {
                let old = std::mem::replace(&mut c.active, record);
                c.previous.retain(|r| r.digest != package.digest());
                c.previous.insert(0, old);
                if version > c.watermark {
                    c.watermark = version.clone();
                }
            }
            None => {
                state.components.insert(
                    name.clone(),
                    ComponentState {
                        active: record,
                        previous: Vec::new(),
                        watermark: version.clone(),
                    },
                );
            }
        }
        self.store.save_state(&state)?;
        self.store.journal(
            &JournalEntry::new(
                &self.options.actor,
                if forced {
                    "installed-forced"
                } else {
                    "installed"
                },
            )
            .component(name)
            .version(&version)
            .digest(package.digest()),
        )?;
        tracing::info!(component = %name, %version, digest = %package.digest().short(), forced, "installed");
        Ok(InstallOutcome {
            name: name.clone(),
            version,
            digest: package.digest(),
            previous: previous_version,
            unchanged: false,
            forced,
        })
    }

    /// Runs `lifecycle.activate(previous)` then `lifecycle.health()` on the candidate.
    fn activate(
        &self,
        package: &VerifiedPackage,
        loaded: &Arc<LoadedComponent>,
        previous: Option<&Version>,
    ) -> Result<(), UpdateError> {
        let name = &package.manifest().name;
        let ctx = CallContext {
            component: name.clone(),
            kv: Arc::new(self.store.kv(name)),
        };
        let rt = self.runtime()?;
        let label = package.manifest().label();
        let steps: [(&'static str, &str, serde_json::Value); 2] = [
            (
                "activate",
                ACTIVATE,
                serde_json::json!([previous.map(|v| v.to_string())]),
            ),
            ("health", HEALTH, serde_json::Value::Array(Vec::new())),
        ];
        for (step, function, args) in steps {
            let answer =
                rt.call(loaded, &ctx, function, args)
                    .map_err(|e| UpdateError::Lifecycle {
                        component: label.clone(),
                        step,
                        reason: e.to_string(),
                    })?;
            if let Some(err) = answer.get("err") {
                return Err(UpdateError::Lifecycle {
                    component: label.clone(),
                    step,
                    reason: err.as_str().map_or_else(|| err.to_string(), str::to_owned),
                });
            }
        }
        Ok(())
    }
}
