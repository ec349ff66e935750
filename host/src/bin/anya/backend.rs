//! Where a command's operation runs: in the daemon when one serves the state folder
//! (over its control socket), in this process on the state folder otherwise. Both give
//! the same answers: the daemon returns the library's own reports, which this side prints
//! with the same code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use semver::Version;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use anya_host::daemon::{client, socket};
use anya_host::ids::{ComponentName, Digest};
use anya_host::update::{
    ApproveOutcome, CheckReport, InstallOutcome, RollbackOutcome, StatusReport, UpdateManager,
};

/// An error the daemon answered, with the exit code the CLI uses for it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    pub message: String,
    pub exit_code: u8,
}

/// How long a daemon has to answer a ping: at once, unless it is stopped or stuck.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an operation may take in the daemon (an install runs its validators, which
/// the policy bounds at 15 minutes by default).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A daemon that accepted the connection but did not answer its ping in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "the daemon on {} accepted the connection but did not answer within {} s: it is \
     stopped, stuck or overloaded, and it holds the state folder until it exits \
     (kill -CONT or restart it)",
    socket.display(),
    PING_TIMEOUT.as_secs()
)]
pub struct Unresponsive {
    pub socket: PathBuf,
}

/// A flag the daemon serving the state folder would not honour: it uses what it was
/// started with.
#[derive(Debug, thiserror::Error)]
#[error(
    "the daemon serving {} uses the {what} {daemon_uses}, not {given}: {flag} would be \
     ignored through it; leave {flag} out, or stop the daemon to use it",
    socket.display()
)]
pub struct NotHonoured {
    pub socket: PathBuf,
    pub flag: &'static str,
    pub what: &'static str,
    pub given: String,
    pub daemon_uses: String,
}

/// A connection to the daemon serving a state folder, kept for the command's duration.
pub struct Client {
    connection: client::Client,
    /// The daemon's ping answer: what it was started with.
    pub ping: Value,
}

impl Client {
    /// The daemon serving `state`: `None` when no socket is there or nothing listens on
    /// it (a daemon that died), an [`Unresponsive`] error when one listens but does not
    /// answer its ping within [`PING_TIMEOUT`].
    pub fn connect(state: &Path) -> Result<Option<Self>> {
        let socket = socket::control_socket(state);
        if !socket.exists() {
            return Ok(None);
        }
        let Ok(connection) = client::Client::connect(&socket, PING_TIMEOUT) else {
            return Ok(None);
        };
        let mut client = Self {
            connection,
            ping: Value::Null,
        };
        match client.exchange::<Value>(PING_TIMEOUT, "GET", "/v1/ping", None) {
            Ok(ping) => {
                client.ping = ping;
                Ok(Some(client))
            }
            Err(e) if is_timeout(&e) => Err(Unresponsive { socket }.into()),
            Err(_) => Ok(None),
        }
    }

    fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> Result<T> {
        self.exchange(OPERATION_TIMEOUT, method, target, body)
    }

    /// One request on the kept connection, bounded by `timeout`.
    fn exchange<T: DeserializeOwned>(
        &self,
        timeout: Duration,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> Result<T> {
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON serializes"));
        let (status, answer) = self
            .connection
            .request(method, target, body, timeout)
            .with_context(|| format!("the daemon at {}", self.connection.socket().display()))?;
        if status == 200 {
            return serde_json::from_slice(&answer)
                .with_context(|| format!("the daemon's answer to {method} {target}"));
        }
        let error: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        Err(RemoteError {
            message: error["error"]
                .as_str()
                .map_or_else(|| format!("the daemon answered {status}"), str::to_owned),
            exit_code: error["exit_code"]
                .as_u64()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        }
        .into())
    }
}

/// Whether a request failed by running out of time.
fn is_timeout(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref(),
            Some(client::ClientError::Timeout { .. })
        )
    })
}

/// The daemon, or the state folder.
pub enum Backend {
    Local(Box<UpdateManager>),
    Daemon(Client),
}

impl Backend {
    pub fn check(&self) -> Result<CheckReport> {
        match self {
            Self::Local(m) => Ok(m.check()?),
            Self::Daemon(c) => c.request("GET", "/v1/check", None),
        }
    }

    pub fn status(&self) -> Result<StatusReport> {
        match self {
            Self::Local(m) => Ok(m.status()?),
            Self::Daemon(c) => c.request("GET", "/v1/status", None),
        }
    }

    pub fn validation_report(&self, digest: Digest) -> Result<Option<Value>> {
        match self {
            Self::Local(m) => Ok(m.validation_report(digest)?),
            Self::Daemon(c) => c.request(
                "GET",
                &format!("/v1/report?digest={}", digest.to_hex()),
                None,
            ),
        }
    }

    pub fn registry_description(&self) -> Result<String> {
        match self {
            Self::Local(m) => Ok(m.registry().describe()),
            Self::Daemon(c) => {
                let v: Value = c.request("GET", "/v1/registry", None)?;
                Ok(v["describe"].as_str().unwrap_or("?").to_owned())
            }
        }
    }

    pub fn install_many(
        &self,
        targets: &[(ComponentName, Option<Version>)],
        force: bool,
    ) -> Result<Vec<InstallOutcome>> {
        match self {
            // Refusals are journaled as the daemon journals them (the daemon's own
            // answer already did it).
            Self::Local(m) => m.install_many(targets, force).map_err(|e| {
                m.journal_refusal(targets, &e);
                e.into()
            }),
            Self::Daemon(c) => c.request(
                "POST",
                "/v1/install",
                Some(json!({"targets": targets, "force": force})),
            ),
        }
    }

    pub fn rollback(&self, name: &ComponentName, reason: &str) -> Result<RollbackOutcome> {
        match self {
            Self::Local(m) => Ok(m.rollback(name, reason, false)?),
            Self::Daemon(c) => c.request(
                "POST",
                "/v1/rollback",
                Some(json!({"name": name, "reason": reason})),
            ),
        }
    }

    pub fn approve(&self, name: &ComponentName, version: &Version) -> Result<ApproveOutcome> {
        match self {
            Self::Local(m) => Ok(m.approve(name, version)?),
            Self::Daemon(c) => c.request(
                "POST",
                "/v1/approve",
                Some(json!({"name": name, "version": version})),
            ),
        }
    }

    pub fn call(&self, name: &ComponentName, function: &str, args: Value) -> Result<Value> {
        match self {
            Self::Local(m) => Ok(m.call(name, function, args)?),
            Self::Daemon(c) => c.request(
                "POST",
                "/v1/call",
                Some(json!({"name": name, "function": function, "args": args})),
            ),
        }
    }
}
