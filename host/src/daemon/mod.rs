//! `anya serve`: the long-running host. It loads every installed component (compiled
//! code from the cache), then serves the control and call API ([`api`]) on a Unix socket
//! ([`socket`]) and optionally on loopback TCP with a bearer token, `/metrics` on an
//! optional loopback port, and runs the [`scheduler`](crate::scheduler) on the manager's clock.
//!
//! The files: [`server`] (hyper on tokio: connections, limits, the blocking pool),
//! [`authorize`] (who may ask what where), [`api`] (the routes), [`message`] (requests
//! and answers as the routes see them), [`socket`] (the control socket's file), `observe`
//! (notifications and metrics of what happens); this one starts, schedules and stops.
//!
//! Signals: SIGTERM or SIGINT stop accepting, let requests in flight finish (up to
//! [`DRAIN`]), flush notifications, save the call history and remove the socket. SIGHUP
//! reloads the policy file: a valid one replaces the policy at once; an invalid one is
//! logged with its reason and the old policy stays.

pub mod api;
pub mod authorize;
pub mod client;
pub mod message;
pub mod observe;
pub mod server;
pub mod socket;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::policy::Policy;
use crate::scheduler::{CycleReport, LoadHistory, Scheduler};
use crate::store::DaemonFile;
use crate::update::{Options, UpdateError, UpdateManager};
use observe::Observer;
use server::{Budget, Listeners, Shutdown};

/// How long a stopping daemon waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(10);

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
    /// The trust store the daemon was started with (said in its ping answer, so that a
    /// CLI given another one refuses rather than being silently ignored).
    pub trust_path: Option<PathBuf>,
    /// A loopback address for the control API over TCP (needs `token`).
    pub tcp: Option<SocketAddr>,
    pub token: Option<String>,
    /// A loopback address serving only `GET /metrics`, without a token.
    pub metrics: Option<SocketAddr>,
    /// How often the scheduler reads the clock to see whether a cycle is due.
    pub tick: Duration,
    /// Seeds this host's jitter on the check interval (its `STATE/host-id`).
    pub host_seed: String,
}

/// A running daemon's shared state.
pub struct Daemon {
    manager: Arc<UpdateManager>,
    policy: ArcSwap<Policy>,
    policy_path: Option<PathBuf>,
    trust_path: Option<PathBuf>,
    observer: Observer,
    scheduler: Mutex<Scheduler>,
    history: Arc<LoadHistory>,
    token: Option<String>,
    stopping: AtomicBool,
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// How much work may wait or run at once.
    budget: Budget,
}

/// A daemon that is loaded and bound, ready to [`serve`](Started::serve).
pub struct Started {
    pub daemon: Arc<Daemon>,
    runtime: tokio::runtime::Runtime,
    listeners: Listeners,
    signals: Signals,
    state: PathBuf,
    tick: Duration,
    host_seed: String,
}

impl Started {
    /// Serves until SIGTERM or SIGINT.
    pub fn serve(self) -> Result<(), DaemonError> {
        let Self {
            daemon,
            runtime,
            listeners,
            signals,
            state,
            tick,
            host_seed,
        } = self;
        daemon.run(runtime, listeners, signals, &state, tick, &host_seed)
    }
}

/// The signals the daemon handles, registered before its socket exists.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Signals {
    /// Registers the handlers (inside the runtime).
    fn register() -> io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

/// What a signal asks of the daemon.
enum Asked {
    Stop(&'static str),
    Reload,
}

impl Signals {
    async fn next(&mut self) -> Asked {
        tokio::select! {
            _ = self.terminate.recv() => Asked::Stop("SIGTERM"),
            _ = self.interrupt.recv() => Asked::Stop("SIGINT"),
            _ = self.hangup.recv() => Asked::Reload,
        }
    }
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
        if !config.host_seed.is_empty() {
            metrics.set_host_id(&config.host_seed);
        }
        let notifier = start_notifier(&policy)?;
        let state = manager.store().state()?;
        // The metrics come from the state; the components load once serving has begun
        // ([`Daemon::load_components`]), so a large host is ready at once.
        for (name, c) in &state.components {
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
        let runtime = server::runtime().map_err(|source| DaemonError::Io {
            path: PathBuf::from("the daemon's runtime"),
            source,
        })?;
        let (signals, listeners) = {
            let _inside = runtime.enter();
            // Handlers first: a signal that comes once the socket exists is always handled.
            let signals = Signals::register().map_err(|source| DaemonError::Io {
                path: PathBuf::from("signals"),
                source,
            })?;
            let listeners = Listeners {
                unix: socket::bind(&config.state)?,
                tcp: config.tcp.map(bind_loopback).transpose()?,
                metrics: config.metrics.map(bind_loopback).transpose()?,
            };
            (signals, listeners)
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
            trust_path: config.trust_path.clone(),
            observer: Observer {
                metrics,
                notifier: Mutex::new(notifier),
                clock,
                last_index_refusal: Mutex::new(None),
            },
            scheduler: Mutex::new(Scheduler::new(Arc::clone(&history))),
            history,
            token: config.token.clone(),
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            budget: Budget::new(),
        });
        Ok(Started {
            daemon,
            runtime,
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
        let (cycle, refused_descents) = {
            let mut scheduler = self
                .scheduler
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let cycle = scheduler.cycle(&self.manager, &policy);
            (cycle, scheduler.take_refused_descents())
        };
        self.observer
            .cycle_ended(&self.manager, cycle.as_ref().err());
        for d in &refused_descents {
            self.observer.descended(d);
        }
        let report = cycle?;
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

    /// Serves until SIGTERM or SIGINT, then stops in order: no new requests, the ones in
    /// flight answered (up to [`DRAIN`]), the scheduler's cycle finished, notifications
    /// flushed, the call history saved, the socket removed.
    fn run(
        self: Arc<Self>,
        runtime: tokio::runtime::Runtime,
        listeners: Listeners,
        mut signals: Signals,
        state: &std::path::Path,
        tick: Duration,
        host_seed: &str,
    ) -> Result<(), DaemonError> {
        let socket_path = socket::control_socket(state);
        tracing::info!(
            socket = %socket_path.display(),
            tcp = ?listeners.tcp.as_ref().and_then(|l| l.local_addr().ok()),
            metrics = ?listeners.metrics.as_ref().and_then(|l| l.local_addr().ok()),
            "serving"
        );
        let shutdown = Shutdown::new();
        let accept_loops = listeners.serve(&runtime, &self, &shutdown);
        let loading = {
            let d = Arc::clone(&self);
            std::thread::spawn(move || d.load_components())
        };
        let scheduler = {
            let d = Arc::clone(&self);
            let seed = host_seed.to_owned();
            std::thread::spawn(move || d.schedule(tick, &seed))
        };

        runtime.block_on(self.until_stop_signal(&mut signals));
        self.stopping.store(true, Ordering::SeqCst);
        shutdown.begin();
        let deadline = Instant::now() + DRAIN;
        runtime.block_on(async {
            for accept_loop in accept_loops {
                let _ = accept_loop.await;
            }
            while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
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
        if loading.is_finished() {
            let _ = loading.join();
        }
        self.save_history();
        self.observer.shutdown(Duration::from_secs(5));
        let _ = std::fs::remove_file(&socket_path);
        // A request still running past the drain is left to end with the process.
        runtime.shutdown_timeout(Duration::from_millis(100));
        tracing::info!("stopped");
        Ok(())
    }

    /// Loads every installed component (verified again, compiled code from the cache),
    /// on as many threads as there are cores, while the daemon already serves: a call
    /// to one not loaded yet loads it first. A component that does not load is logged
    /// and left for its first call to report.
    fn load_components(&self) {
        let started = Instant::now();
        let names: Vec<_> = match self.manager.store().state() {
            Ok(state) => state.components.keys().cloned().collect(),
            Err(e) => {
                tracing::error!(error = %e, "could not read the state to load the components");
                return;
            }
        };
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        std::thread::scope(|s| {
            for _ in 0..threads.min(names.len()) {
                s.spawn(|| {
                    while !self.stopping.load(Ordering::SeqCst) {
                        let Some(name) = names.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return;
                        };
                        if let Err(e) = self.manager.slot(name) {
                            tracing::error!(component = %name, error = %e, "could not load");
                        }
                    }
                });
            }
        });
        tracing::info!(
            components = names.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "components loaded"
        );
    }

    /// Handles SIGHUP (a reload, off the signal task) until SIGTERM or SIGINT.
    async fn until_stop_signal(self: &Arc<Self>, signals: &mut Signals) {
        loop {
            match signals.next().await {
                Asked::Stop(signal) => {
                    tracing::info!(signal, "stopping");
                    return;
                }
                Asked::Reload => {
                    let d = Arc::clone(self);
                    let reloaded = tokio::task::spawn_blocking(move || d.reload()).await;
                    match reloaded {
                        Ok(Ok(())) => {}
                        Ok(Err(reason)) => {
                            tracing::error!("policy not reloaded, the old one stays: {reason}");
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "policy not reloaded: the reload failed")
                        }
                    }
                }
            }
        }
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
                // A deferred update waits for its planned minute, and a registry that did
                // not answer is asked again sooner, not at the next check.
                next = self
                    .scheduler
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .next_due(&self.policy.load(), now, host_seed);
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
}

/// A loopback TCP listener on the runtime (call inside it).
fn bind_loopback(addr: SocketAddr) -> Result<tokio::net::TcpListener, DaemonError> {
    if !addr.ip().is_loopback() {
        return Err(DaemonError::Tcp {
            addr,
            reason: "only loopback addresses are served".into(),
        });
    }
    let tcp_error = |e: io::Error| DaemonError::Tcp {
        addr,
        reason: e.to_string(),
    };
    let listener = std::net::TcpListener::bind(addr).map_err(tcp_error)?;
    listener.set_nonblocking(true).map_err(tcp_error)?;
    tokio::net::TcpListener::from_std(listener).map_err(tcp_error)
}

/// The most a file holding a secret (a webhook secret, an SMTP password) may hold.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The notifier the policy's `[notifications]` asks for; `None` without a target.
fn start_notifier(policy: &Policy) -> Result<Option<anya_notify::Notifier>, DaemonError> {
    let n = &policy.notifications;
    let read = |path: &std::path::Path| {
        crate::files::read_text_capped(path, MAX_SECRET_FILE_BYTES, crate::files::Links::Follow)
            .map_err(|source| DaemonError::Io {
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
