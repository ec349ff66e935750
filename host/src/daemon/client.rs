//! The client side of the control socket, for the CLI, tests and benchmarks: hyper 1's
//! HTTP/1.1 client on a single-threaded tokio runtime of its own, one connection kept
//! for the client's lifetime (a command's requests reuse it). The daemon closes a
//! connection idle for [`HEAD_TIMEOUT`]; the client opens a new one before sending on a
//! connection idle for [`IDLE_REUSE`] (a second less), so a request is never written to a
//! connection the daemon is closing. A request the connection refused unsent is sent
//! once more on a new one.
//!
//! Every request is bounded by the timeout its caller gives, from connecting to the last
//! byte of the answer, and the answer by [`MAX_RESPONSE_BYTES`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

use super::message::MAX_RESPONSE_BYTES;
use super::server::HEAD_TIMEOUT;

/// How long a kept connection may have been idle and still be used.
pub const IDLE_REUSE: Duration = HEAD_TIMEOUT.saturating_sub(Duration::from_secs(1));

/// A kept connection, and when it last carried an answer.
struct Kept {
    sender: SendRequest<Full<Bytes>>,
    used: Instant,
}

impl Kept {
    fn new(sender: SendRequest<Full<Bytes>>) -> Self {
        Self {
            sender,
            used: Instant::now(),
        }
    }
}

/// Why a request to the daemon got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cannot start the client's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot connect to {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from {} within {} s", socket.display(), timeout.as_secs_f64())]
    Timeout { socket: PathBuf, timeout: Duration },
    #[error("the exchange with {} failed: {reason}", socket.display())]
    Exchange { socket: PathBuf, reason: String },
    #[error("the answer from {} is over {MAX_RESPONSE_BYTES} bytes", socket.display())]
    TooLarge { socket: PathBuf },
}

/// A connection to the daemon's control socket.
pub struct Client {
    socket: PathBuf,
    runtime: Runtime,
    kept: Mutex<Option<Kept>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `socket` within `timeout`.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(ClientError::Runtime)?;
        let client = Self {
            socket: socket.to_owned(),
            runtime,
            kept: Mutex::new(None),
        };
        let sender = client.within(timeout, client.open())?;
        *client.lock() = Some(Kept::new(sender));
        Ok(client)
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request; the answer's status and body, within `timeout`.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), ClientError> {
        let mut kept = self.lock();
        let body = body.map(Bytes::from);
        self.within(timeout, async {
            let mut resent = false;
            let answer = loop {
                let usable = match kept.as_mut() {
                    Some(k) if k.used.elapsed() < IDLE_REUSE => k.sender.ready().await.is_ok(),
                    _ => false,
                };
                if !usable {
                    *kept = Some(Kept::new(self.open().await?));
                }
                let k = kept.as_mut().expect("just opened");
                let request = build_request(method, target, body.clone())
                    .map_err(|e| self.exchange_error(&e.to_string()))?;
                match k.sender.send_request(request).await {
                    Ok(answer) => break answer,
                    Err(e) if e.is_canceled() && !resent => {
                        resent = true;
                        *kept = None;
                    }
                    Err(e) => return Err(self.exchange_error(&e.to_string())),
                }
            };
            let status = answer.status().as_u16();
            let body = Limited::new(answer.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ClientError::TooLarge {
                            socket: self.socket.clone(),
                        }
                    } else {
                        self.exchange_error(&e.to_string())
                    }
                })?;
            if let Some(k) = kept.as_mut() {
                k.used = Instant::now();
            }
            Ok((status, body.to_bytes()))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, its driver running on this client's runtime.
    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.exchange_error(&e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "the connection to the daemon ended");
            }
        });
        Ok(sender)
    }

    /// Runs `work` on this client's runtime, for at most `timeout`.
    fn within<T>(
        &self,
        timeout: Duration,
        work: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, work).await })
            .unwrap_or_else(|_| {
                Err(ClientError::Timeout {
                    socket: self.socket.clone(),
                    timeout,
                })
            })
    }

    fn exchange_error(&self, reason: &str) -> ClientError {
        ClientError::Exchange {
            socket: self.socket.clone(),
            reason: reason.to_owned(),
        }
    }
}

fn build_request(
    method: &str,
    target: &str,
    body: Option<Bytes>,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(target)
        .header(http::header::HOST, "localhost");
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    builder.body(Full::new(body.unwrap_or_default()))
}
