//! Options every subcommand shares, and how they become an open [`UpdateManager`].

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use anya_host::clock::{Clock, SystemClock};
use anya_host::policy::Policy;
use anya_host::registry::oci::credentials::CredentialsSource;
use anya_host::registry::{self, Registry, RegistryLocation};
use anya_host::store::{Access, Store};
use anya_host::trust::TrustStore;
use anya_host::update::{Options, UpdateManager};

#[derive(Debug, Args)]
pub struct Global {
    /// The state folder [default: $XDG_STATE_HOME/anya, or ~/.local/state/anya].
    #[arg(long, global = true, env = "ANYA_STATE")]
    pub state: Option<PathBuf>,
    /// The registry: a folder, or an OCI registry `oci://HOST[:PORT]/PREFIX`
    /// (`oci+http://` for plain HTTP; loopback hosts use it anyway) [default:
    /// $XDG_DATA_HOME/anya/registry, or ~/.local/share/anya/registry].
    #[arg(
        long,
        global = true,
        env = "ANYA_REGISTRY",
        value_name = "DIR|oci://HOST/PREFIX"
    )]
    pub registry: Option<RegistryLocation>,
    /// Credentials for OCI registries (TOML, mode 0600) [default:
    /// STATE/registry-credentials.toml when it exists, else Docker's config.json].
    #[arg(long, global = true, env = "ANYA_REGISTRY_CREDENTIALS")]
    pub registry_credentials: Option<PathBuf>,
    /// The trust store [default: STATE/trust.toml].
    #[arg(long, global = true, env = "ANYA_TRUST")]
    pub trust: Option<PathBuf>,
    /// The update policy (update_policy.toml) [default: STATE/update_policy.toml, when
    /// it exists].
    #[arg(long, global = true, env = "ANYA_POLICY")]
    pub policy: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Global {
    pub fn state_dir(&self) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| xdg_dir("XDG_STATE_HOME", ".local/state").join("anya"))
    }

    pub fn registry_location(&self) -> RegistryLocation {
        self.registry.clone().unwrap_or_else(|| {
            RegistryLocation::Dir(xdg_dir("XDG_DATA_HOME", ".local/share").join("anya/registry"))
        })
    }

    pub fn trust_path(&self) -> PathBuf {
        self.trust
            .clone()
            .unwrap_or_else(|| self.state_dir().join("trust.toml"))
    }

    /// The registry `--registry` names (or the default folder).
    pub fn registry(&self) -> Result<Box<dyn Registry>> {
        self.open_registry(&self.registry_location())
    }

    /// The registry at `location`, signing in to an OCI one with the credentials found.
    pub fn open_registry(&self, location: &RegistryLocation) -> Result<Box<dyn Registry>> {
        let credentials = CredentialsSource::find(
            self.registry_credentials.as_deref(),
            &self.state_dir().join("registry-credentials.toml"),
        );
        Ok(registry::open(location, credentials)?)
    }

    pub fn trust_store(&self) -> Result<TrustStore> {
        let path = self.trust_path();
        TrustStore::load(&path).with_context(|| {
            format!(
                "cannot load the trust store {} (add a key with `anya trust add`)",
                path.display()
            )
        })
    }

    /// The policy file: the one given, else `STATE/update_policy.toml` (which may not
    /// exist).
    pub fn policy_path(&self) -> Option<PathBuf> {
        Some(
            self.policy
                .clone()
                .unwrap_or_else(|| self.state_dir().join("update_policy.toml")),
        )
    }

    /// The policy, if one is given or the state folder has one.
    pub fn policy(&self) -> Result<Option<Policy>> {
        let path = match &self.policy {
            Some(p) => p.clone(),
            None => {
                let default = self.state_dir().join("update_policy.toml");
                if !default.exists() {
                    return Ok(None);
                }
                default
            }
        };
        Ok(Some(Policy::load(&path)?))
    }

    /// The daemon serving the state folder when one runs, else the state folder opened
    /// with `access`.
    pub fn backend(&self, access: Access) -> Result<crate::backend::Backend> {
        use crate::backend::{Backend, Client};
        match Client::connect(&self.state_dir())? {
            Some(client) => {
                self.refuse_unhonoured(&client)?;
                let backend = Backend::Daemon(client);
                // A registry named here that is not the daemon's would be silently unused.
                if self.registry.is_some()
                    && let Ok(theirs) = backend.registry_description()
                    && theirs != self.registry_location().to_string()
                {
                    eprintln!(
                        "warning: the daemon serving {} uses the registry {theirs}, not {}",
                        self.state_dir().display(),
                        self.registry_location()
                    );
                }
                Ok(backend)
            }
            None => Ok(Backend::Local(Box::new(self.manager(access)?))),
        }
    }

    /// Refuses `--policy` and `--trust` naming files other than the ones the daemon
    /// serving the state folder was started with: through it they would be ignored.
    fn refuse_unhonoured(&self, client: &crate::backend::Client) -> Result<()> {
        let socket = anya_host::daemon::socket::control_socket(&self.state_dir());
        let checks = [
            (
                "--policy",
                "policy",
                self.policy.as_ref(),
                &client.ping["policy"],
            ),
            (
                "--trust",
                "trust store",
                self.trust.as_ref(),
                &client.ping["trust"],
            ),
        ];
        for (flag, what, given, theirs) in checks {
            let Some(given) = given else { continue };
            let daemon_uses = theirs.as_str().map(PathBuf::from);
            let same = daemon_uses.as_ref().is_some_and(|d| same_file(d, given));
            if !same {
                return Err(crate::backend::NotHonoured {
                    socket,
                    flag,
                    what,
                    given: given.display().to_string(),
                    daemon_uses: daemon_uses
                        .map_or_else(|| "none".into(), |d| d.display().to_string()),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Opens the state folder with `access` and builds the update pipeline over it.
    ///
    /// A one-shot command commits an install right after its post-install check: no
    /// traffic flows through it to judge a trial by (the policy's trial settings apply
    /// in a long-running host), and a trial left open would be rolled back by the next
    /// command's start-up recovery.
    pub fn manager(&self, access: Access) -> Result<UpdateManager> {
        let trust = self.trust_store()?;
        let options = match self.policy()? {
            Some(policy) => Options::from_policy(&policy),
            None => Options::default(),
        };
        let store = Store::open(&self.state_dir(), access)?;
        Ok(UpdateManager::new(
            store,
            trust,
            self.registry()?,
            Options {
                actor: actor(),
                trial: None,
                ..options
            },
            clock()?,
        )?)
    }
}

/// The clock: the system's. A binary built with the `test-hooks` feature (the tests')
/// reads the time from the file `ANYA_CLOCK_FILE` names, when set.
pub fn clock() -> Result<Arc<dyn Clock>> {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = std::env::var_os("ANYA_CLOCK_FILE") {
        let clock = anya_host::clock::FileClock::new(path.into()).map_err(anyhow::Error::msg)?;
        return Ok(Arc::new(clock));
    }
    Ok(Arc::new(SystemClock))
}

/// Who runs this command, for the journal: the same form the daemon gives a peer on its
/// socket.
fn actor() -> String {
    format!("cli uid={}", anya_host::daemon::socket::current_uid())
}

fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(fallback),
    }
}

/// Logs go to stderr; `ANYA_LOG` sets the filter (default `warn`, `info` for the
/// daemon, which logs JSON lines).
pub fn init_tracing(daemon: bool, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ANYA_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if daemon { "info" } else { "warn" })
    });
    use std::io::IsTerminal;
    // Colours only for a person at a terminal: a log file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Whether two paths name the same file (compared once resolved; as given when either
/// cannot be resolved).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
