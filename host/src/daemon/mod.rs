//! `anya serve`: the long-running host. It loads every installed component (compiled
//! code from the cache), then serves the control and call API ([`api`]) on a Unix socket
//! ([`socket`]) and optionally on loopback TCP with a bearer token, `/metrics` on an
//! optional loopback port, and runs the [`scheduler`](crate::scheduler) on the manager's clock.
//!
//! Signals: SIGTERM or SIGINT stop accepting, let requests in flight finish (up to
//! [`DRAIN`]), flush notifications, save the call history and remove the socket. SIGHUP
//! reloads the policy file: a valid one replaces the policy at once; an invalid one is
//! logged with its reason and the old policy stays.
//!
//! Each connection carries one request, which must arrive whole within [`READ_TIMEOUT`];
//! each is served on its own thread, at most [`MAX_CONNECTIONS`] at once and at most
//! [`MAX_TCP_CONNECTIONS`] of them from TCP, so the control socket always has room (more
//! get a 503).

pub mod api;
pub mod http;
pub mod observe;
pub mod socket;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::policy::Policy;
use crate::scheduler::{CycleReport, LoadHistory, Scheduler};
use crate::store::DaemonFile;
use crate::update::{Options, UpdateError, UpdateManager};
use api::Peer;
use http::Response;
use observe::Observer;

/// How long a stopping daemon waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Most requests served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a connection may take to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most requests served at once on the TCP listeners (control and metrics together), so
/// that they can never take the control socket's share.
pub const MAX_TCP_CONNECTIONS: usize = 16;

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Unsafe { path: PathBuf, reason: String },
    #[error("a daemon already serves {}", socket.display())]
    AlreadyRunning { socket: PathBuf },
    #[error("TCP listener {addr}: {reason}")]
    Tcp { addr: SocketAddr, reason: String },
    #[error("notifications: {0}")]
    Notifications(String),
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How to run the daemon.
pub struct DaemonConfig {
    pub state: PathBuf,
    /// Reloaded on SIGHUP.
    pub policy_path: Option<PathBuf>,
    /// A loopback address for the control API over TCP (needs `token`).
    pub tcp: Option<SocketAddr>,
    pub token: Option<String>,
    /// A loopback address serving only `GET /metrics`, without a token.
    pub metrics: Option<SocketAddr>,
    /// How often the scheduler reads the clock to see whether a cycle is due.
    pub tick: Duration,
    /// Seeds this host's jitter on the check interval.
    pub host_seed: String,
}

/// A running daemon's shared state.
pub struct Daemon {
    manager: Arc<UpdateManager>,
    policy: ArcSwap<Policy>,
    policy_path: Option<PathBuf>,
    observer: Observer,
    scheduler: Mutex<Scheduler>,
    history: Arc<LoadHistory>,
    token: Option<String>,
    stopping: AtomicBool,
    in_flight: AtomicUsize,
    /// Requests in flight on the TCP listeners.
    tcp_in_flight: AtomicUsize,
}

/// A daemon that is loaded and bound, ready to [`serve`](Started::serve).
pub struct Started {
    pub daemon: Arc<Daemon>,
    listeners: Listeners,
    signals: signal_hook::iterator::Signals,
    state: PathBuf,
    tick: Duration,
    host_seed: String,
}

impl Started {
    /// Serves until SIGTERM or SIGINT.
    pub fn serve(self) -> Result<(), DaemonError> {
        let Self {
            daemon,
            listeners,
            signals,
            state,
            tick,
            host_seed,
        } = self;
        daemon.run(listeners, signals, &state, tick, &host_seed)
    }
}

/// The listeners a daemon serves.
struct Listeners {
    unix: UnixListener,
    tcp: Option<TcpListener>,
    metrics: Option<TcpListener>,
}

impl Daemon {
    /// Builds the daemon over `manager` (made with [`Options::from_policy`] of `policy`),
    /// loads every installed component, and binds its listeners.
    pub fn start(
        manager: UpdateManager,
        policy: Policy,
        config: &DaemonConfig,
    ) -> Result<Started, DaemonError> {
        for warning in policy.warnings() {
            tracing::warn!("policy: {warning}");
        }
        let history = match manager.store().read_daemon_file(DaemonFile::LoadHistory)? {
            Some(bytes) => LoadHistory::from_json(&String::from_utf8_lossy(&bytes))
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the call history is unreadable; starting a new one");
                    LoadHistory::new()
                }),
            None => LoadHistory::new(),
        };
        let history = Arc::new(history);
        let metrics = Arc::new(anya_metrics::Metrics::new());
        let notifier = start_notifier(&policy)?;
        let state = manager.store().load_state()?;
        for (name, c) in &state.components {
            // From the compile cache: no compile at start unless the cache is gone.
            match manager.slot(name) {
                Ok(_) => {
                    metrics.set_active(
                        name.as_str(),
                        &c.active.version.to_string(),
                        &c.active.digest.to_hex(),
                    );
                    metrics.set_trial(
                        name.as_str(),
                        matches!(c.status, crate::store::Lifecycle::Trial { .. }),
                    );
                }
                Err(e) => tracing::error!(component = %name, error = %e, "could not load"),
            }
        }
        // Handlers first: a signal that comes once the socket exists is always handled.
        let signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGHUP,
        ])
        .map_err(|source| DaemonError::Io {
            path: PathBuf::from("signals"),
            source,
        })?;
        let listeners = Listeners {
            unix: socket::bind(&config.state)?,
            tcp: config.tcp.map(bind_loopback).transpose()?,
            metrics: config.metrics.map(bind_loopback).transpose()?,
        };
        if listeners.tcp.is_some() && config.token.as_deref().is_none_or(str::is_empty) {
            return Err(DaemonError::Tcp {
                addr: config.tcp.expect("set"),
                reason: "the TCP control API needs a token (--token-file)".into(),
            });
        }
        let clock = Arc::clone(manager.clock());
        let daemon = Arc::new(Self {
            manager: Arc::new(manager),
            policy: ArcSwap::from_pointee(policy),
            policy_path: config.policy_path.clone(),
            observer: Observer {
                metrics,
                notifier: Mutex::new(notifier),
                clock,
            },
            scheduler: Mutex::new(Scheduler::new(Arc::clone(&history))),
            history,
            token: config.token.clone(),
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            tcp_in_flight: AtomicUsize::new(0),
        });
        Ok(Started {
            daemon,
            listeners,
            signals,
            state: config.state.clone(),
            tick: config.tick,
            host_seed: config.host_seed.clone(),
        })
    }

    /// One scheduler cycle now, observed.
    pub fn run_cycle(&self) -> Result<CycleReport, UpdateError> {
        let policy = self.policy.load_full();
        let report = self
            .scheduler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cycle(&self.manager, &policy)?;
        self.observer
            .cycle(&report, policy.notifications.security_alert_immediate);
        self.observer.automatic_rollbacks(&self.manager);
        self.save_history();
        Ok(report)
    }

    /// Reloads the policy file: validate, then swap; an invalid file keeps the old one.
    pub fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.policy_path else {
            return Err("no policy file to reload".into());
        };
        let policy = Policy::load(path).map_err(|e| e.to_string())?;
        for warning in policy.warnings() {
            tracing::warn!("policy: {warning}");
        }
        let notifier = start_notifier(&policy).map_err(|e| e.to_string())?;
        let options = Options {
            actor: "daemon".into(),
            ..Options::from_policy(&policy)
        };
        self.manager.set_options(options);
        let old = std::mem::replace(
            &mut *self
                .observer
                .notifier
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            notifier,
        );
        if let Some(old) = old {
            // Flush the old targets off this thread: a reload never waits on a receiver.
            std::thread::spawn(move || old.shutdown(Duration::from_secs(5)));
        }
        self.policy.store(Arc::new(policy));
        tracing::info!(path = %path.display(), "policy reloaded");
        Ok(())
    }

    fn save_history(&self) {
        if let Err(e) = self
            .manager
            .store()
            .write_daemon_file(DaemonFile::LoadHistory, self.history.to_json().as_bytes())
        {
            tracing::warn!(error = %e, "could not save the call history");
        }
    }

    /// Serves until SIGTERM or SIGINT.
    fn run(
        self: Arc<Self>,
        listeners: Listeners,
        mut signals: signal_hook::iterator::Signals,
        state: &std::path::Path,
        tick: Duration,
        host_seed: &str,
    ) -> Result<(), DaemonError> {
        let socket_path = socket::control_socket(state);
        let tcp_addr = listeners.tcp.as_ref().and_then(|l| l.local_addr().ok());
        let metrics_addr = listeners.metrics.as_ref().and_then(|l| l.local_addr().ok());
        tracing::info!(
            socket = %socket_path.display(),
            tcp = ?tcp_addr,
            metrics = ?metrics_addr,
            "serving"
        );
        let mut threads = Vec::new();
        {
            let d = Arc::clone(&self);
            let unix = listeners.unix;
            threads.push(std::thread::spawn(move || {
                for stream in unix.incoming() {
                    if d.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    match stream {
                        Ok(s) => {
                            let peer = Peer::Unix {
                                uid: socket::peer_uid(&s),
                            };
                            d.spawn_connection(s, peer, Access::Control);
                        }
                        Err(e) => tracing::warn!(error = %e, "accept failed"),
                    }
                }
            }));
        }
        for (listener, access) in [
            (listeners.tcp, Access::Token),
            (listeners.metrics, Access::MetricsOnly),
        ] {
            let Some(listener) = listener else { continue };
            let d = Arc::clone(&self);
            threads.push(std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if d.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    match stream {
                        Ok(s) => {
                            let Ok(addr) = s.peer_addr() else { continue };
                            d.spawn_connection(s, Peer::Tcp { addr }, access);
                        }
                        Err(e) => tracing::warn!(error = %e, "accept failed"),
                    }
                }
            }));
        }
        let scheduler = {
            let d = Arc::clone(&self);
            let seed = host_seed.to_owned();
            std::thread::spawn(move || d.schedule(tick, &seed))
        };

        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                if let Err(reason) = self.reload() {
                    tracing::error!("policy not reloaded, the old one stays: {reason}");
                }
                continue;
            }
            tracing::info!(signal, "stopping");
            break;
        }
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loops.
        let _ = UnixStream::connect(&socket_path);
        for addr in [tcp_addr, metrics_addr].into_iter().flatten() {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        }
        let deadline = Instant::now() + DRAIN;
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = self.in_flight.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(left, "stopping with requests still in flight");
        }
        // A cycle in progress (an install) finishes before notifications are flushed.
        while !scheduler.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if scheduler.is_finished() {
            let _ = scheduler.join();
        } else {
            tracing::warn!("stopping while a scheduler cycle is still running");
        }
        self.save_history();
        self.observer.shutdown(Duration::from_secs(5));
        let _ = std::fs::remove_file(&socket_path);
        // An accept loop the wake-up could not reach (its socket file was removed, so
        // nothing can connect to it) stays blocked in `accept`: it is left to end with the
        // process rather than waited for.
        for t in threads {
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::debug!("an accept loop was not woken; leaving it");
            }
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// The scheduler loop: a cycle whenever one is due by the clock.
    fn schedule(&self, tick: Duration, host_seed: &str) {
        let mut next = self.manager.now();
        while !self.stopping.load(Ordering::SeqCst) {
            let now = self.manager.now();
            if now >= next {
                if let Err(e) = self.run_cycle() {
                    tracing::error!(error = %e, "scheduler cycle failed");
                }
                next = Scheduler::next_check(&self.policy.load(), now, host_seed);
                // A deferred update waits for its planned minute, not for the next check.
                if let Some(planned) = self
                    .scheduler
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .next_planned(now)
                {
                    next = next.min(planned);
                }
                tracing::debug!(%next, "next check");
            }
            let mut slept = Duration::ZERO;
            while slept < tick && !self.stopping.load(Ordering::SeqCst) {
                let step = Duration::from_millis(50).min(tick - slept);
                std::thread::sleep(step);
                slept += step;
            }
        }
    }

    fn spawn_connection<S>(self: &Arc<Self>, stream: S, peer: Peer, access: Access)
    where
        S: io::Read + Write + Send + Timeouts + 'static,
    {
        let tcp = !matches!(access, Access::Control);
        let count = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let tcp_count = if tcp {
            self.tcp_in_flight.fetch_add(1, Ordering::SeqCst)
        } else {
            0
        };
        let d = Arc::clone(self);
        let guard = InFlight {
            daemon: Arc::clone(self),
            tcp,
        };
        if count >= MAX_CONNECTIONS || tcp_count >= MAX_TCP_CONNECTIONS {
            let mut stream = stream;
            let _ = Response::json(
                503,
                &serde_json::json!({"error": "too many requests at once", "exit_code": 6}),
            )
            .write_to(&mut stream);
            drop(guard);
            return;
        }
        std::thread::spawn(move || {
            let _guard = guard;
            let mut stream = stream;
            stream.set_timeouts(READ_TIMEOUT);
            let mut timed = Deadline {
                stream: &mut stream,
                until: Instant::now() + READ_TIMEOUT,
            };
            let request = match http::read_request(&mut timed) {
                Ok(request) => request,
                Err(e) => {
                    let refusal = Response::json(
                        400,
                        &serde_json::json!({"error": e.to_string(), "exit_code": 2}),
                    );
                    if let Err(e) = refusal.write_to(&mut stream) {
                        tracing::debug!(error = %e, "could not answer");
                    }
                    return;
                }
            };
            tracing::debug!(method = request.method, path = request.path, peer = ?peer, "request");
            let response = d.authorize(&request, &peer, access).unwrap_or_else(|| {
                if d.stopping.load(Ordering::SeqCst) {
                    Response::json(
                        503,
                        &serde_json::json!({"error": "the daemon is stopping", "exit_code": 6}),
                    )
                } else {
                    d.route(&request, &peer)
                }
            });
            if let Err(e) = response.write_to(&mut stream) {
                tracing::debug!(error = %e, "could not answer");
            }
        });
    }

    /// `Some(refusal)` when the request may not go through this listener.
    fn authorize(&self, request: &http::Request, peer: &Peer, access: Access) -> Option<Response> {
        let refuse = |status, message: &str| {
            Some(Response::json(
                status,
                &serde_json::json!({"error": message, "exit_code": 1}),
            ))
        };
        if matches!(peer, Peer::Tcp { .. }) {
            // A browser page on another origin can reach loopback; it cannot make its
            // Host header say localhost (DNS rebinding).
            let host = request.header("host").unwrap_or("");
            if !is_loopback_host(host) {
                return refuse(
                    403,
                    &format!("Host {host:?} is not this machine's loopback name"),
                );
            }
        }
        match access {
            Access::Control => None,
            Access::MetricsOnly => {
                if request.method == "GET" && request.path == "/metrics" {
                    None
                } else {
                    refuse(404, "this listener serves only GET /metrics")
                }
            }
            Access::Token => {
                let expected = self.token.as_deref().unwrap_or("");
                let given = request
                    .header("authorization")
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .unwrap_or("");
                if expected.is_empty() || !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                    let mut r = Response::json(
                        401,
                        &serde_json::json!({"error": "a bearer token is required", "exit_code": 1}),
                    );
                    r.extra_headers.push(("WWW-Authenticate", "Bearer".into()));
                    Some(r)
                } else {
                    None
                }
            }
        }
    }
}

/// What a listener allows.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// The control socket: everything (the socket's mode limits who connects).
    Control,
    /// Loopback TCP: everything, with the bearer token.
    Token,
    /// The metrics port: `GET /metrics` only.
    MetricsOnly,
}

/// Counts a request in flight until dropped.
struct InFlight {
    daemon: Arc<Daemon>,
    tcp: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.daemon.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.tcp {
            self.daemon.tcp_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads from a stream until a deadline for the whole request, however slowly the peer
/// sends it.
struct Deadline<'a, S: Timeouts> {
    stream: &'a mut S,
    until: Instant,
}

impl<S: io::Read + Timeouts> io::Read for Deadline<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request took too long to arrive",
            ));
        }
        self.stream.set_read_timeout_to(left);
        self.stream.read(buf)
    }
}

/// Streams that take read and write timeouts.
pub trait Timeouts {
    fn set_timeouts(&mut self, timeout: Duration);
    fn set_read_timeout_to(&mut self, timeout: Duration);
}

impl Timeouts for UnixStream {
    fn set_timeouts(&mut self, timeout: Duration) {
        let _ = self.set_read_timeout(Some(timeout));
        let _ = self.set_write_timeout(Some(timeout));
    }
    fn set_read_timeout_to(&mut self, timeout: Duration) {
        let _ = self.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
    }
}

impl Timeouts for TcpStream {
    fn set_timeouts(&mut self, timeout: Duration) {
        let _ = self.set_read_timeout(Some(timeout));
        let _ = self.set_write_timeout(Some(timeout));
    }
    fn set_read_timeout_to(&mut self, timeout: Duration) {
        let _ = self.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
    }
}

fn bind_loopback(addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    if !addr.ip().is_loopback() {
        return Err(DaemonError::Tcp {
            addr,
            reason: "only loopback addresses are served".into(),
        });
    }
    TcpListener::bind(addr).map_err(|e| DaemonError::Tcp {
        addr,
        reason: e.to_string(),
    })
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, port)) if port.is_empty() || port.starts_with(':') => inner,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The notifier the policy's `[notifications]` asks for; `None` without a target.
fn start_notifier(policy: &Policy) -> Result<Option<anya_notify::Notifier>, DaemonError> {
    let n = &policy.notifications;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|source| DaemonError::Io {
            path: path.to_owned(),
            source,
        })
    };
    // Slack's incoming webhooks take Slack's format, whichever list names them.
    let is_slack = |u: &url::Url| u.host_str() == Some("hooks.slack.com");
    let mut config = anya_notify::NotifierConfig {
        webhooks: n
            .webhook_urls
            .iter()
            .filter(|u| !is_slack(u))
            .cloned()
            .collect(),
        slack: n
            .slack_webhook_urls
            .iter()
            .chain(n.webhook_urls.iter().filter(|u| is_slack(u)))
            .cloned()
            .collect(),
        security_alert_immediate: n.security_alert_immediate,
        ..anya_notify::NotifierConfig::default()
    };
    if let Some(path) = &n.webhook_secret_file {
        config.webhook_secret = Some(
            anya_notify::parse_webhook_secret(&read(path)?)
                .map_err(|e| DaemonError::Notifications(format!("{}: {e}", path.display())))?,
        );
    }
    if let Some(smtp) = &n.smtp
        && !n.email_recipients.is_empty()
    {
        config.email = Some(anya_notify::EmailConfig {
            host: smtp.host.clone(),
            port: smtp.port,
            from: smtp.from.to_string(),
            to: n.email_recipients.iter().map(ToString::to_string).collect(),
            starttls: smtp.starttls,
            username: smtp.username.clone(),
            password: smtp
                .password_file
                .as_deref()
                .map(|p| read(p).map(|t| t.trim().to_owned()))
                .transpose()?,
        });
    }
    if !config.has_targets() {
        return Ok(None);
    }
    anya_notify::Notifier::start(config)
        .map(Some)
        .map_err(|e| DaemonError::Notifications(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:9",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:80",
            "127.0.0.2",
            "[::1]x",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
