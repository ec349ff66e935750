//! The daemon's server against clients that misbehave or simply stay: idle connections
//! on every listener do not keep the control API or the metrics from answering, a
//! listener over its connection cap says so and closes, idle connections are closed
//! after the head timeout, and oversized or slow requests get their own status and a
//! reason. Also that one connection serves many requests (keep-alive).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anya_host::daemon::client::Client;

use super::{Daemon, empty_policy, free_port, ok};
use crate::common::Node;

/// The daemon's limits, as `host/src/daemon/server.rs` and `message.rs` set them.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_TCP_CONNECTIONS: usize = 64;
const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_HEAD_BYTES: usize = 16 * 1024;

const TOKEN: &str = "s3cret-token";

/// A daemon with a token-guarded TCP control listener and a metrics listener.
struct Served {
    node: Node,
    daemon: Daemon,
    tcp: u16,
    metrics: u16,
}

impl Served {
    fn start() -> Self {
        let node = Node::new();
        node.publish(&anya_fixtures::BECH32_1_0_0);
        ok(&node, &["install", "bech32"]);
        let policy = empty_policy(&node);
        let token_file = node.root().join("token");
        std::fs::write(&token_file, TOKEN).unwrap();
        let (tcp, metrics) = (free_port(), free_port());
        let daemon = Daemon::start(
            &node,
            &policy,
            &[
                "--tcp",
                &format!("127.0.0.1:{tcp}"),
                "--token-file",
                token_file.to_str().unwrap(),
                "--metrics",
                &format!("127.0.0.1:{metrics}"),
            ],
        );
        Self {
            node,
            daemon,
            tcp,
            metrics,
        }
    }

    fn socket(&self) -> std::path::PathBuf {
        self.node.state().join("daemon/control.sock")
    }

    fn unix(&self) -> UnixStream {
        connect_unix(&self.socket())
    }

    fn tcp_get(&self, port: u16, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        read_response(&mut stream).expect("an answer")
    }
}

fn connect_unix(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads one HTTP response (status and body, by its Content-Length); `None` when the
/// connection closes before a status line.
fn read_response(stream: &mut impl Read) -> Option<(u16, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a response: {e}"),
        }
    }
    let head = String::from_utf8(head).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// How long until the server closes `stream`, which sends nothing (`None`: not within
/// `limit`). A 408 written before closing is read past.
fn closed_within(stream: &mut impl Read, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 512];
    while started.elapsed() < limit {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(started.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading: {e}"),
        }
    }
    None
}

#[test]
fn idle_connections_do_not_keep_the_api_or_the_metrics_from_answering() {
    let served = Served::start();
    // 200 idle connections on the control socket, 40 on each TCP listener: fewer than
    // their caps, more than any thread-per-connection server with a small pool survives.
    let idle_unix: Vec<UnixStream> = (0..200).map(|_| served.unix()).collect();
    let idle_tcp: Vec<TcpStream> = [served.tcp, served.metrics]
        .iter()
        .flat_map(|&port| (0..40).map(move |_| TcpStream::connect(("127.0.0.1", port)).unwrap()))
        .collect();

    // A client that keeps its connection, as the CLI does for a command.
    let client = Client::connect(&served.socket(), Duration::from_secs(5)).unwrap();
    let (status, _) = client
        .request("GET", "/v1/ping", None, Duration::from_secs(5))
        .unwrap();
    assert_eq!(status, 200);

    let started = Instant::now();
    assert!(ok(&served.node, &["status"]).contains("bech32"));
    let (status, body) = served.tcp_get(served.tcp, "/v1/status");
    assert_eq!(status, 200, "{body}");
    let (status, page) = served.tcp_get(served.metrics, "/metrics");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("anya_"), "{page}");
    let took = started.elapsed();
    assert!(
        took < HEAD_TIMEOUT,
        "the answers waited for the idle connections to be closed: {took:?}"
    );

    // The idle connections are closed once the head timeout has passed.
    let mut idle = idle_unix.into_iter().next().unwrap();
    let closed = closed_within(&mut idle, Duration::from_secs(15));
    let closed = closed.expect("an idle connection was never closed");
    assert!(
        closed <= HEAD_TIMEOUT + Duration::from_secs(2),
        "{closed:?}"
    );
    // The client's kept connection went the same way; its next request is answered on
    // a new one.
    let (status, _) = client
        .request("GET", "/v1/ping", None, Duration::from_secs(5))
        .unwrap();
    assert_eq!(status, 200);
    drop(idle_tcp);
    assert!(served.daemon.stop().success());
}

#[test]
fn a_listener_over_its_connection_cap_answers_503_and_the_socket_still_serves() {
    let served = Served::start();
    let held: Vec<TcpStream> = (0..MAX_TCP_CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", served.metrics)).unwrap())
        .collect();
    // Accepting is asynchronous: give the daemon a moment to admit the held ones.
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) = served.tcp_get(served.metrics, "/metrics");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too many connections"), "{body}");
    // Other listeners have their own room.
    assert!(ok(&served.node, &["status"]).contains("bech32"));
    let (status, body) = served.tcp_get(served.tcp, "/v1/status");
    assert_eq!(status, 200, "{body}");
    // Once the held ones go, the listener serves again.
    drop(held);
    let started = Instant::now();
    loop {
        let (status, _) = served.tcp_get(served.metrics, "/metrics");
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(served.daemon.stop().success());
}

#[test]
fn one_connection_serves_many_requests() {
    let served = Served::start();
    let mut stream = served.unix();
    for _ in 0..3 {
        stream
            .write_all(b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(&mut stream).expect("an answer");
        assert_eq!(status, 200, "{body}");
    }
    let call = br#"{"name":"bech32","function":"decode","args":["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]}"#;
    for _ in 0..3 {
        let head = format!(
            "POST /v1/call HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            call.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(call).unwrap();
        let (status, body) = read_response(&mut stream).expect("an answer");
        assert_eq!(status, 200, "{body}");
        // The witness program 751e76e8...: its first bytes as JSON numbers.
        assert!(body.contains("117,30,118"), "{body}");
    }
    assert!(served.daemon.stop().success());
}

#[test]
fn oversized_and_slow_requests_get_their_status_and_a_reason() {
    let served = Served::start();

    // A body over the limit: 413.
    let mut stream = served.unix();
    let length = MAX_BODY_BYTES + 1;
    let head =
        format!("POST /v1/call HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The daemon may answer and close before it has read everything.
    let _ = stream.write_all(&vec![b' '; length]);
    let (status, body) = read_response(&mut stream).expect("an answer");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request too large"), "{body}");

    // A head over the limit: 431 (hyper's own answer).
    let mut stream = served.unix();
    let head = format!(
        "GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(MAX_HEAD_BYTES * 2)
    );
    let _ = stream.write_all(head.as_bytes());
    let (status, _) = read_response(&mut stream).expect("an answer");
    assert_eq!(status, 431);

    // A body that stops coming: 408, with the reason.
    let mut stream = served.unix();
    stream
        .write_all(b"POST /v1/call HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"na")
        .unwrap();
    let started = Instant::now();
    let (status, body) = read_response(&mut stream).expect("an answer");
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("took too long"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );

    // A head that stops coming: the connection is closed after the head timeout.
    let mut stream = served.unix();
    stream.write_all(b"GET /v1/ping HTTP/1.1\r\nHo").unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(15));
    let closed = closed.expect("a half-sent head kept its connection open");
    assert!(
        closed <= HEAD_TIMEOUT + Duration::from_secs(2),
        "{closed:?}"
    );

    // And the daemon still serves.
    assert!(ok(&served.node, &["status"]).contains("bech32"));
    assert!(served.daemon.stop().success());
}

/// Calls run on the connections' workers, one per core at most; one worker more is left
/// for everything else: with as many calls running as there are cores, a ping is still
/// answered, and answered while they run (the daemon counts them in its answer).
#[test]
fn calls_on_every_core_do_not_hold_up_a_ping() {
    let node = Node::new();
    node.publish(&anya_fixtures::TEST_LOOP);
    ok(&node, &["install", "test-loop"]);
    let policy = empty_policy(&node);
    let daemon = Daemon::start(&node, &policy, &[]);
    let socket = node.state().join("daemon/control.sock");
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    // Rounds of `cores` calls, each spinning until its fuel is spent (a few hundred
    // milliseconds) on the worker it runs on, pinged all along: a daemon that served
    // nothing while its workers ran calls could never answer a ping while every call
    // runs. More than one round, because on a machine this busy the ping's own thread may
    // get no CPU for a whole round.
    let mut most = 0;
    for _round in 0..5 {
        most = most.max(ping_during_calls(&node, &socket, cores));
        if most > cores {
            break;
        }
    }
    assert!(
        most > cores,
        "no ping was answered while the {cores} calls ran (at most {most} requests in flight)"
    );
    assert!(daemon.stop().success());
}

/// Starts `cores` spinning calls and pings until they end; the most requests the
/// daemon said it had in flight.
fn ping_during_calls(node: &Node, socket: &Path, cores: usize) -> usize {
    let calls: Vec<_> = (0..cores)
        .map(|_| {
            let root = node.root().to_owned();
            std::thread::spawn(move || Node::attach(&root).anya(&["call", "test-loop", "spin"]))
        })
        .collect();
    let mut stream = connect_unix(socket);
    let mut most = 0;
    while calls.iter().any(|c| !c.is_finished()) {
        stream
            .write_all(b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(&mut stream).expect("an answer");
        assert_eq!(status, 200, "{body}");
        let ping: serde_json::Value = serde_json::from_str(&body).unwrap();
        most = most.max(ping["in_flight"].as_u64().unwrap() as usize);
    }
    for call in calls {
        let out = call.join().unwrap();
        let (_, stderr) = crate::common::text(&out);
        assert!(stderr.contains("ran out of fuel"), "{stderr}");
    }
    most
}
