//! Real receivers for the delivery tests: a small HTTP/1.1 server on loopback and an SMTP
//! server (Python's aiosmtpd) writing to a maildir.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anya_notify::RetryPolicy;

/// How long any wait in these tests may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Short backoffs so retries take milliseconds.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        per_attempt_timeout: Duration::from_secs(5),
    }
}

/// Polls `condition` until it holds; fails the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// 302 with this `Location`.
    Redirect(String),
    /// Waits until [`HttpReceiver::release`], then answers 200.
    Hold,
    /// Never answers; keeps the connection open until the receiver is dropped.
    Silent,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

struct Inner {
    requests: Mutex<Vec<Request>>,
    plan: Mutex<VecDeque<Reply>>,
    default: Reply,
    released: Mutex<bool>,
    stopped: AtomicBool,
    changed: Condvar,
}

/// An HTTP/1.1 server on 127.0.0.1 that records every request and answers from a plan
/// (then with a default reply). One request per connection.
pub struct HttpReceiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl HttpReceiver {
    /// Answers `plan` in order, then `default` for ever.
    pub fn start(plan: impl IntoIterator<Item = Reply>, default: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            requests: Mutex::new(Vec::new()),
            plan: Mutex::new(plan.into_iter().collect()),
            default,
            released: Mutex::new(false),
            stopped: AtomicBool::new(false),
            changed: Condvar::new(),
        });
        let shared = Arc::clone(&inner);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &shared));
            }
        });
        Self { addr, inner }
    }

    pub fn ok() -> Self {
        Self::start([], Reply::Status(200))
    }

    pub fn url(&self, path: &str) -> url::Url {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Request> {
        wait_until(&format!("{n} request(s) at {}", self.addr), || {
            self.inner.requests.lock().unwrap().len() >= n
        });
        self.requests()
    }

    /// Lets every held (and future [`Reply::Hold`]) request be answered.
    pub fn release(&self) {
        *self.inner.released.lock().unwrap() = true;
        self.inner.changed.notify_all();
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.release();
        // Unblock the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, inner: &Inner) {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let Some(request) = read_request(&stream) else {
        return;
    };
    inner.requests.lock().unwrap().push(request);
    let reply = inner
        .plan
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| inner.default.clone());
    let (status, extra) = match reply {
        Reply::Status(code) => (code, String::new()),
        Reply::Redirect(location) => (302, format!("Location: {location}\r\n")),
        Reply::Hold => {
            let mut released = inner.released.lock().unwrap();
            while !*released {
                released = inner.changed.wait(released).unwrap();
            }
            (200, String::new())
        }
        Reply::Silent => {
            let mut released = inner.released.lock().unwrap();
            while !inner.stopped.load(Ordering::SeqCst) {
                released = inner.changed.wait(released).unwrap();
            }
            return;
        }
    };
    let body = format!("status {status}");
    let response = format!(
        "HTTP/1.1 {status} Whatever\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().expect("numeric Content-Length"))
        .unwrap_or(0);
    assert!(
        !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding")),
        "the test receiver expects Content-Length bodies"
    );
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// A loopback port nothing listens on (bound, then closed).
pub fn dead_port_url() -> url::Url {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook").parse().unwrap()
}

/// aiosmtpd writing every message it accepts to a maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

const PYTHON: &str = "/usr/bin/python3";

impl SmtpServer {
    /// Starts aiosmtpd on a free loopback port and waits until it accepts connections.
    /// Fails the test when aiosmtpd is missing: CI installs `python3-aiosmtpd`.
    pub fn start() -> Self {
        let check = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            check.is_ok_and(|s| s.success()),
            "the e-mail tests need a real SMTP server: `{PYTHON} -c 'import aiosmtpd'` failed; \
             install it with `apt-get install -y python3-aiosmtpd`"
        );
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut server = Self {
            child,
            port,
            maildir,
            _dir: dir,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aiosmtpd exited with {status} before accepting connections");
            }
            assert!(
                start.elapsed() < PATIENCE,
                "aiosmtpd did not listen on port {port}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The messages delivered so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                found.push(std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        found
    }

    /// Waits until at least `n` messages have arrived.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        wait_until(
            &format!("{n} message(s) in {}", self.maildir.display()),
            || self.messages().len() >= n,
        );
        self.messages()
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw message's unfolded headers and its body.
pub fn parse_message(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").expect("headers and body");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
