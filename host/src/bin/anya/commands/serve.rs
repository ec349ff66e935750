//! `anya serve`: the daemon (see `anya_host::daemon`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use anya_host::daemon::{Daemon, DaemonConfig};
use anya_host::policy::Policy;
use anya_host::store::{Access, Store};
use anya_host::update::{Options, UpdateManager};

use crate::global::{Global, clock};

#[derive(Debug, Args)]
pub struct Serve {
    /// Also serve the control API on this loopback address (needs --token-file).
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// The bearer token TCP clients must send (`Authorization: Bearer ...`).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Serve `GET /metrics` (Prometheus text) on this loopback address, without a token.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Log as plain text instead of JSON lines.
    #[arg(long)]
    text_logs: bool,
}

impl Serve {
    /// Whether logs are JSON (read before tracing starts).
    pub fn json_logs(&self) -> bool {
        !self.text_logs
    }

    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let policy_path = global.policy_path();
        let policy = match &policy_path {
            Some(p) if p.exists() => Policy::load(p)?,
            _ => Policy::default(),
        };
        let token = self
            .token_file
            .as_deref()
            .map(|p| {
                anya_host::files::read_text_capped(p, 4096, anya_host::files::Links::Follow)
                    .map(|t| t.trim().to_owned())
                    .with_context(|| format!("cannot read the token file {}", p.display()))
            })
            .transpose()?;
        let trust = global.trust_store()?;
        let state = global.state_dir();
        // Say so plainly rather than "locked" when a daemon already runs here.
        if !matches!(crate::backend::Client::connect(&state), Ok(None)) {
            return Err(anya_host::daemon::DaemonError::AlreadyRunning {
                socket: anya_host::daemon::socket::control_socket(&state),
            }
            .into());
        }
        let store = Store::open(&state, Access::Write)?;
        let manager = UpdateManager::new(
            store,
            trust,
            global.registry()?,
            Options {
                actor: "daemon".into(),
                ..Options::from_policy(&policy)
            },
            clock()?,
        )?;
        // One identity per host: the id that decides its rollout cohorts seeds its jitter.
        let host_seed = manager.store().host_id()?.unwrap_or_default();
        let config = DaemonConfig {
            state,
            policy_path,
            trust_path: Some(global.trust_path()),
            tcp: self.tcp,
            token,
            metrics: self.metrics,
            tick: scheduler_tick(),
            host_seed,
        };
        Daemon::start(manager, policy, &config)?.serve()?;
        Ok(ExitCode::SUCCESS)
    }
}

/// How often the scheduler reads the clock: every second. A binary built with the
/// `test-hooks` feature (the tests') reads `ANYA_SCHEDULER_TICK_MS` instead, when set.
fn scheduler_tick() -> Duration {
    #[cfg(feature = "test-hooks")]
    if let Some(ms) = std::env::var("ANYA_SCHEDULER_TICK_MS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        return Duration::from_millis(ms);
    }
    Duration::from_secs(1)
}
