//! Where a command's operation runs: in the daemon when one serves the state folder
//! (over its control socket), in this process on the state folder otherwise. Both give
//! the same answers: the daemon returns the library's own reports, which this side prints
//! with the same code.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use semver::Version;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use anya_host::daemon::{http, socket};
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

/// A connection to the daemon serving a state folder.
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// The daemon serving `state`, if one answers on its control socket.
    pub fn connect(state: &Path) -> Option<Self> {
        let socket = socket::control_socket(state);
        if !socket.exists() {
            return None;
        }
        let client = Self { socket };
        client.request::<Value>("GET", "/v1/ping", None).ok()?;
        Some(client)
    }

    fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> Result<T> {
        let stream = UnixStream::connect(&self.socket)
            .with_context(|| format!("cannot reach the daemon at {}", self.socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(15 * 60)))?;
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON serializes"));
        let (status, answer) = http::exchange(&stream, method, target, None, body.as_deref())
            .with_context(|| format!("the daemon at {}", self.socket.display()))?;
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
            Self::Local(m) => Ok(m.install_many(targets, force)?),
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
