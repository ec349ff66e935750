//! Who may ask what on which listener: everything on the control socket (its mode limits
//! who connects), everything with the bearer token on loopback TCP, only `GET /metrics`
//! on the metrics port; and on TCP, a `Host` that names this machine's loopback (a page in
//! a browser can reach loopback, but not make its `Host` say localhost: DNS rebinding).

use super::api::Peer;
use super::message::{Request, Response};

/// What a listener allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The control socket: everything.
    Control,
    /// Loopback TCP: everything, with the bearer token.
    Token,
    /// The metrics port: `GET /metrics` only.
    MetricsOnly,
}

/// `Some(refusal)` when `request` may not go through a listener of `access`.
pub fn authorize(
    request: &Request,
    peer: &Peer,
    access: Access,
    token: Option<&str>,
) -> Option<Response> {
    if matches!(peer, Peer::Tcp { .. }) {
        let host = request.header("host").unwrap_or("");
        if !is_loopback_host(host) {
            return Some(Response::error(
                403,
                &format!("Host {host:?} is not this machine's loopback name"),
                1,
            ));
        }
    }
    match access {
        Access::Control => None,
        Access::MetricsOnly => (request.method != "GET" || request.path != "/metrics")
            .then(|| Response::error(404, "this listener serves only GET /metrics", 1)),
        Access::Token => {
            let expected = token.unwrap_or("");
            let given = request
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or("");
            if expected.is_empty() || !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                let mut refusal = Response::error(401, "a bearer token is required", 1);
                refusal
                    .extra_headers
                    .push(("WWW-Authenticate", "Bearer".into()));
                Some(refusal)
            } else {
                None
            }
        }
    }
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
