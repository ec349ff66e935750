//! The control API: the same operations as the CLI, as JSON over HTTP, on the Unix socket
//! (the peer's uid is who asks) and, with a bearer token, on loopback TCP.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /v1/ping` | | `{pid, version}` |
//! | `GET /v1/check` | | `CheckReport` |
//! | `GET /v1/status` | | `StatusReport` |
//! | `GET /v1/report?digest=HEX` | | the kept validation report, or `null` |
//! | `GET /v1/registry` | | `{describe}` |
//! | `POST /v1/install` | `{targets: [[name, version or null]], force}` | `[InstallOutcome]` |
//! | `POST /v1/rollback` | `{name, reason}` | `RollbackOutcome` |
//! | `POST /v1/approve` | `{name, version}` | `ApproveOutcome` |
//! | `POST /v1/call` | `{name, function, args}` | the result |
//! | `POST /v1/scheduler/run` | | `CycleReport`: one scheduler cycle now |
//! | `GET /metrics` | | Prometheus text |
//!
//! Errors are `{error, exit_code}` with the exit code the CLI would use, and an HTTP
//! status to match (404 not found, 409 refused by policy, 422 refused package or
//! validation, 503 busy, 500 otherwise).

use std::time::Instant;

use anya_metrics::{Actor, RollbackReason};
use semver::Version;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Daemon;
use super::message::{Request, Response};
use crate::ids::{ComponentName, Digest};
use crate::update::{self, UpdateError};

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// On the control socket: the peer process's user id.
    Unix { uid: Option<u32> },
    /// On loopback TCP, authenticated by the token.
    Tcp { addr: std::net::SocketAddr },
}

impl Peer {
    /// Who asks, for the journal.
    pub fn actor(&self) -> String {
        match self {
            Self::Unix { uid: Some(uid) } => format!("cli uid={uid}"),
            Self::Unix { uid: None } => "cli uid=?".into(),
            Self::Tcp { addr } => format!("api tcp {addr}"),
        }
    }
}

/// An error answer with the CLI's exit code.
pub fn error_response(error: &UpdateError) -> Response {
    let code = error.exit_code();
    let status = match code {
        4 => 404,
        5 => 409,
        3 | 7 => 422,
        6 => 503,
        2 => 400,
        _ => 500,
    };
    Response::json(
        status,
        &json!({"error": error.to_string(), "exit_code": code}),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    Response::json(400, &json!({"error": message.into(), "exit_code": 2}))
}

/// A 200 with `value`, written straight to its JSON bytes (no intermediate tree).
fn ok(value: impl serde::Serialize) -> Response {
    Response::json_bytes(
        200,
        serde_json::to_vec(&value)
            .expect("answers serialize")
            .into(),
    )
}

fn answer<T: serde::Serialize>(result: Result<T, UpdateError>) -> Response {
    match result {
        Ok(v) => ok(v),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    targets: Vec<(ComponentName, Option<Version>)>,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    name: ComponentName,
    #[serde(default = "operator_reason")]
    reason: String,
}

fn operator_reason() -> String {
    "requested by an operator".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    name: ComponentName,
    version: Version,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    name: ComponentName,
    function: String,
    #[serde(default)]
    args: Value,
}

fn body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Response> {
    serde_json::from_slice(&request.body).map_err(|e| {
        bad_request(format!(
            "{} {}: invalid body: {e}",
            request.method, request.path
        ))
    })
}

impl Daemon {
    /// Answers one authenticated request.
    pub(super) fn route(&self, request: &Request, peer: &Peer) -> Response {
        let actor = peer.actor();
        update::with_actor(&actor, || self.route_as(request))
    }

    fn route_as(&self, request: &Request) -> Response {
        let manager = &self.manager;
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/ping") => ok(json!({
                "pid": std::process::id(),
                "version": env!("CARGO_PKG_VERSION"),
                // Requests being answered, this one included.
                "in_flight": self.in_flight.load(std::sync::atomic::Ordering::SeqCst),
                // What it was started with: a CLI given others refuses.
                "policy": self.policy_path.as_ref().map(|p| p.display().to_string()),
                "trust": self.trust_path.as_ref().map(|p| p.display().to_string()),
            })),
            ("GET", "/v1/check") => answer(manager.check()),
            ("GET", "/v1/status") => answer(manager.status()),
            ("GET", "/v1/registry") => ok(json!({"describe": manager.registry().describe()})),
            ("GET", "/v1/report") => {
                let Some(digest) = request
                    .query("digest")
                    .and_then(|d| d.parse::<Digest>().ok())
                else {
                    return bad_request("GET /v1/report needs ?digest=<sha256 hex>");
                };
                answer(manager.validation_report(digest))
            }
            ("GET", "/metrics") => Response::text(
                200,
                anya_metrics::CONTENT_TYPE,
                self.observer.metrics.render(),
            ),
            ("POST", "/v1/install") => match body::<InstallBody>(request) {
                Ok(b) => self.install(&b),
                Err(r) => r,
            },
            ("POST", "/v1/rollback") => match body::<RollbackBody>(request) {
                Ok(b) => {
                    let result = manager.rollback(&b.name, &b.reason, false);
                    if let Ok(outcome) = &result {
                        self.observer
                            .rolled_back(outcome, false, RollbackReason::Operator);
                    }
                    answer(result)
                }
                Err(r) => r,
            },
            ("POST", "/v1/approve") => match body::<ApproveBody>(request) {
                Ok(b) => answer(manager.approve(&b.name, &b.version)),
                Err(r) => r,
            },
            ("POST", "/v1/call") => match body::<CallBody>(request) {
                Ok(b) => {
                    self.history.record(self.manager.now(), 1);
                    let served = manager.call_served(&b.name, &b.function, b.args);
                    self.observer.call(b.name.as_str(), &served);
                    self.observer.automatic_rollbacks(manager);
                    answer(served.result)
                }
                Err(r) => r,
            },
            ("POST", "/v1/scheduler/run") => answer(self.run_cycle()),
            (
                _,
                "/v1/ping" | "/v1/check" | "/v1/status" | "/v1/registry" | "/v1/report"
                | "/metrics" | "/v1/install" | "/v1/rollback" | "/v1/approve" | "/v1/call"
                | "/v1/scheduler/run",
            ) => Response::json(
                405,
                &json!({"error": format!("{} is not allowed on {}", request.method, request.path), "exit_code": 2}),
            ),
            _ => Response::json(
                404,
                &json!({"error": format!("no such endpoint: {}", request.path), "exit_code": 2}),
            ),
        }
    }

    /// An operator's install, observed.
    fn install(&self, b: &InstallBody) -> Response {
        let started = Instant::now();
        let result = self.manager.install_many(&b.targets, b.force);
        let took = started.elapsed();
        match &result {
            Ok(outcomes) => {
                for o in outcomes {
                    self.observer.installed(o, Actor::Operator, took, None);
                }
            }
            Err(e) => {
                // One target: its name and version; several: all the names (the error
                // says which failed).
                let (name, version) = match b.targets.as_slice() {
                    [(n, v)] => (n.to_string(), v.as_ref().map(ToString::to_string)),
                    many => (
                        many.iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join("+"),
                        None,
                    ),
                };
                self.observer.refused(
                    &name,
                    version.as_deref(),
                    "unknown",
                    e,
                    Actor::Operator,
                    took,
                );
                self.manager.journal_refusal(&b.targets, e);
            }
        }
        self.observer.automatic_rollbacks(&self.manager);
        answer(result)
    }
}
