//! The daemon's HTTP server: hyper 1 (HTTP/1.1, keep-alive) on a tokio runtime of its
//! own. This is where tokio lives in the daemon; everything it serves is the library's
//! synchronous code, run on the runtime's blocking pool.
//!
//! - One task per connection. Each listener admits at most so many connections at once
//!   ([`MAX_UNIX_CONNECTIONS`], [`MAX_TCP_CONNECTIONS`] for each TCP listener): the
//!   control socket always has room whatever the TCP listeners get, and a connection
//!   that sends nothing is closed after [`HEAD_TIMEOUT`], so idle connections cannot
//!   hold the API. Over the limit, a connection gets one 503 and is closed.
//! - Limits per request: the head within [`HEAD_TIMEOUT`] and [`MAX_HEAD_BYTES`], the body
//!   within [`BODY_TIMEOUT`] more and [`MAX_BODY_BYTES`] (so a whole request arrives within
//!   `HEAD_TIMEOUT + BODY_TIMEOUT`, however slowly a peer sends it).
//! - Work: `ping` and `/metrics` answer on the connection's task; a call runs on the
//!   connection's worker when one of the cores' inline places is free, else on the
//!   blocking pool, at most `CALLS_PER_CORE` per core admitted at once; the other
//!   operations (install, rollback, check...) at most [`MAX_CONTROL_OPERATIONS`].
//!   Past either bound the answer is 503 at once (back-pressure, never an unbounded
//!   queue).
//! - Stopping: the accept loops end, every connection finishes the request it is serving
//!   and closes ([`Shutdown`]); the daemon waits for the requests in flight.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::runtime::Runtime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use super::Daemon;
use super::api::Peer;
use super::authorize::{Access, authorize};
use super::message::{MAX_BODY_BYTES, MAX_HEAD_BYTES, Request, Response};

/// How long a connection may take to send a request's head; also how long a kept-alive
/// connection may stay idle.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the body may take once the head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections on the control socket at once.
pub const MAX_UNIX_CONNECTIONS: usize = 1024;
/// Connections on each TCP listener (control, metrics) at once.
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// Operations other than calls queued or running at once.
pub const MAX_CONTROL_OPERATIONS: usize = 8;
/// Calls queued or running at once, per core.
const CALLS_PER_CORE: usize = 8;

/// The cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

/// The daemon's runtime: a worker per core for the connections and the calls run on
/// them, one more that no call may hold, and a blocking pool with room for every call the
/// budget admits and every control operation.
pub fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores() + 1)
        .max_blocking_threads(cores() * CALLS_PER_CORE + MAX_CONTROL_OPERATIONS)
        .thread_name("anya-serve")
        .enable_io()
        .enable_time()
        .build()
}

/// How much work may wait or run at once.
pub struct Budget {
    /// Calls admitted (running inline or on the pool, or queued for the pool).
    calls: Arc<Semaphore>,
    /// Calls a connection's worker waits for on a call thread: one per core.
    inline: Semaphore,
    /// Other operations admitted.
    control: Arc<Semaphore>,
    /// Where those calls run.
    call_threads: CallThreads,
}

impl Budget {
    pub fn new() -> Self {
        Self {
            calls: Arc::new(Semaphore::new(cores() * CALLS_PER_CORE)),
            inline: Semaphore::new(cores()),
            control: Arc::new(Semaphore::new(MAX_CONTROL_OPERATIONS)),
            call_threads: CallThreads::start(cores()),
        }
    }
}

/// A job for a call thread.
type Job = Box<dyn FnOnce() + Send>;

/// Threads of their own, outside the runtime, for the calls a connection's worker waits
/// for: a guest's WASI blocking calls (Rust's std writing a panic message to stderr, a
/// `println!`) block on a runtime of their own, which panics on a runtime's worker, and
/// handing a call to a waiting thread costs a wake-up, not the blocking pool's round trip
/// or `block_in_place`'s hand-over of the worker (measured: 2-5× the whole call).
struct CallThreads {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl CallThreads {
    fn start(threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("anya-call-{i}"))
                .spawn(move || {
                    loop {
                        let job = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(job) = job else { return };
                        // A panicking call answers 500 (its reply is dropped); the thread
                        // lives on.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a call thread");
            }
        }
        Self { jobs }
    }

    /// Runs `work` on a call thread while this thread waits; `None` if it could not run
    /// or panicked.
    fn run<R: Send + 'static>(&self, work: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        self.jobs.send(job).ok()?;
        answer.recv().ok()
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

/// Tells connections and accept loops that the daemon is stopping.
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self {
            tx: watch::Sender::new(false),
        }
    }

    /// Stops accepting; connections close once their request is answered.
    pub fn begin(&self) {
        self.tx.send_replace(true);
    }

    fn watch(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits until `shutdown` begins.
async fn stopping(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone: the daemon is going away too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The listeners of a running daemon, on its runtime.
pub struct Listeners {
    pub unix: UnixListener,
    pub tcp: Option<TcpListener>,
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Starts an accept loop per listener on `runtime`.
    pub fn serve(
        self,
        runtime: &Runtime,
        daemon: &Arc<Daemon>,
        shutdown: &Shutdown,
    ) -> Vec<JoinHandle<()>> {
        let mut loops =
            vec![runtime.spawn(accept_unix(self.unix, Arc::clone(daemon), shutdown.watch()))];
        for (listener, access) in [
            (self.tcp, Access::Token),
            (self.metrics, Access::MetricsOnly),
        ] {
            if let Some(listener) = listener {
                loops.push(runtime.spawn(accept_tcp(
                    listener,
                    access,
                    Arc::clone(daemon),
                    shutdown.watch(),
                )));
            }
        }
        loops
    }
}

async fn accept_unix(listener: UnixListener, daemon: Arc<Daemon>, shutdown: watch::Receiver<bool>) {
    let room = Arc::new(Semaphore::new(MAX_UNIX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopping(shutdown.clone()) => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let peer = Peer::Unix {
                    uid: stream.peer_cred().ok().map(|c| c.uid()),
                };
                let connection = Connection {
                    daemon: Arc::clone(&daemon),
                    peer,
                    access: Access::Control,
                };
                tokio::spawn(connection.serve(stream, Arc::clone(&room), shutdown.clone()));
            }
            Err(e) => accept_failed(&e).await,
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    access: Access,
    daemon: Arc<Daemon>,
    shutdown: watch::Receiver<bool>,
) {
    let room = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopping(shutdown.clone()) => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    daemon: Arc::clone(&daemon),
                    peer: Peer::Tcp { addr },
                    access,
                };
                tokio::spawn(connection.serve(stream, Arc::clone(&room), shutdown.clone()));
            }
            Err(e) => accept_failed(&e).await,
        }
    }
}

/// An accept that failed (out of file descriptors, most often): logged, and a short
/// pause so that a persistent failure does not spin.
async fn accept_failed(error: &io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One accepted connection: who is at the other end, through which listener.
#[derive(Clone)]
struct Connection {
    daemon: Arc<Daemon>,
    peer: Peer,
    access: Access,
}

impl Connection {
    /// Serves requests on `io` until the peer closes, a limit closes it, or the daemon
    /// stops (after the request being served is answered).
    async fn serve<I>(self, io: I, room: Arc<Semaphore>, shutdown: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(_admitted) = room.try_acquire_owned() else {
            refuse_connection(io).await;
            return;
        };
        let builder = http1_builder(true);
        let service = service_fn(move |request| {
            let connection = self.clone();
            async move { Ok::<_, Infallible>(connection.answer(request).await.into_hyper()) }
        });
        let served = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(served);
        let outcome = tokio::select! {
            outcome = served.as_mut() => outcome,
            () = stopping(shutdown) => {
                served.as_mut().graceful_shutdown();
                served.await
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(error = %e, "connection ended");
        }
    }

    /// The answer to one request.
    async fn answer(&self, request: hyper::Request<Incoming>) -> Response {
        let _in_flight = InFlight::start(&self.daemon);
        let (parts, body) = request.into_parts();
        let body = match read_body(body).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        let request = Request::from_parts(&parts, body);
        tracing::debug!(method = request.method, path = request.path, peer = ?self.peer, "request");
        if let Some(refusal) = authorize(
            &request,
            &self.peer,
            self.access,
            self.daemon.token.as_deref(),
        ) {
            return refusal;
        }
        if self.daemon.stopping.load(Ordering::SeqCst) {
            return Response::error(503, "the daemon is stopping", 6);
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/ping" | "/metrics") => self.daemon.route(&request, &self.peer),
            ("POST", "/v1/call") => self.run_call(request).await,
            _ => self.run_blocking(request).await,
        }
    }

    /// A call, within the call budget: on this connection's worker when one of the
    /// [`Budget::inline`] places is free (no hop to another thread and back: on a virtual
    /// machine each wake-up of a parked thread costs more than a fresh call), else on
    /// the blocking pool. One worker more than there are inline places stays free for
    /// the other connections, whatever the calls do.
    async fn run_call(&self, request: Request) -> Response {
        let Ok(permit) = Arc::clone(&self.daemon.budget.calls).try_acquire_owned() else {
            return Response::error(503, "too many calls at once; try again", 6);
        };
        if let Ok(_inline) = self.daemon.budget.inline.try_acquire() {
            let _permit = permit;
            let daemon = Arc::clone(&self.daemon);
            let peer = self.peer.clone();
            return self
                .daemon
                .budget
                .call_threads
                .run(move || daemon.route(&request, &peer))
                .unwrap_or_else(|| {
                    tracing::error!("a call failed inside the daemon");
                    Response::error(500, "the request failed inside the daemon (see its log)", 1)
                });
        }
        self.on_pool(permit, request).await
    }

    /// Routes `request` on the blocking pool, within the budget of control operations.
    async fn run_blocking(&self, request: Request) -> Response {
        let Ok(permit) = Arc::clone(&self.daemon.budget.control).try_acquire_owned() else {
            return Response::error(503, "too many requests at once; try again", 6);
        };
        self.on_pool(permit, request).await
    }

    /// Routes `request` on the blocking pool, holding `permit` until it is answered.
    async fn on_pool(&self, permit: OwnedSemaphorePermit, request: Request) -> Response {
        let daemon = Arc::clone(&self.daemon);
        let peer = self.peer.clone();
        let routed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            daemon.route(&request, &peer)
        })
        .await;
        routed.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a request failed inside the daemon");
            Response::error(500, "the request failed inside the daemon (see its log)", 1)
        })
    }
}

/// The whole body, within its size and time limits.
async fn read_body(body: Incoming) -> Result<Bytes, Response> {
    let limited = Limited::new(body, MAX_BODY_BYTES);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Response::error(
            413,
            &format!("request too large: the body is over {MAX_BODY_BYTES} bytes"),
            2,
        )),
        Ok(Err(e)) => Err(Response::error(400, &format!("malformed request: {e}"), 2)),
        Err(_) => Err(Response::error(
            408,
            &format!(
                "the request took too long to arrive: its body must follow its head within {} s",
                BODY_TIMEOUT.as_secs()
            ),
            2,
        )),
    }
}

/// hyper's HTTP/1.1 server with the daemon's limits on every connection: the head within
/// [`HEAD_TIMEOUT`] (also the idle time between kept-alive requests) and
/// [`MAX_HEAD_BYTES`].
fn http1_builder(keep_alive: bool) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(keep_alive);
    builder
}

/// A connection over its listener's limit: one 503, then closed.
async fn refuse_connection<I>(io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let builder = http1_builder(false);
    let service = service_fn(|_request| async {
        Ok::<_, Infallible>(
            Response::error(503, "too many connections at once; try again", 6).into_hyper(),
        )
    });
    let refused = builder.serve_connection(TokioIo::new(io), service);
    let _ = tokio::time::timeout(HEAD_TIMEOUT + BODY_TIMEOUT, refused).await;
}

/// Counts a request in flight until dropped (the daemon waits for them when stopping).
struct InFlight {
    daemon: Arc<Daemon>,
}

impl InFlight {
    fn start(daemon: &Arc<Daemon>) -> Self {
        daemon.in_flight.fetch_add(1, Ordering::SeqCst);
        Self {
            daemon: Arc::clone(daemon),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.daemon.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
