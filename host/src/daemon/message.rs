//! The control API's requests and answers, as the routes see them: taken from and given
//! back to hyper by [`server`](super::server), so that routing and authorization are
//! plain functions of plain data.

use bytes::Bytes;
use http_body_util::Full;

/// The largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The largest request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest response body the CLI's client reads.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// One request, its body read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// The request of hyper's `parts` with its whole `body`. A header whose value is not
    /// visible ASCII is kept as the empty string (the routes read none such).
    pub fn from_parts(parts: &http::request::Parts, body: Bytes) -> Self {
        Self {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(parse_query).unwrap_or_default(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    pub extra_headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::json_bytes(
            status,
            serde_json::to_vec(value).expect("JSON serializes").into(),
        )
    }

    /// An answer whose JSON is already written.
    pub fn json_bytes(status: u16, body: Bytes) -> Self {
        Self {
            status,
            content_type: "application/json",
            body,
            extra_headers: Vec::new(),
        }
    }

    /// An error answer: `{error, exit_code}`.
    pub fn error(status: u16, message: &str, exit_code: u8) -> Self {
        Self::json(
            status,
            &serde_json::json!({"error": message, "exit_code": exit_code}),
        )
    }

    pub fn text(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            extra_headers: Vec::new(),
        }
    }

    /// The answer as hyper sends it.
    pub fn into_hyper(self) -> http::Response<Full<Bytes>> {
        let mut builder = http::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, self.content_type);
        for (name, value) in &self.extra_headers {
            builder = builder.header(*name, value.as_str());
        }
        builder.body(Full::new(self.body)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "an answer could not be built");
            let mut r = http::Response::new(Full::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_taken_with_its_query_headers_and_body() {
        let (parts, ()) = http::Request::post("/v1/install?name=bech32&v=1%2E1")
            .header("Host", "localhost")
            .body(())
            .unwrap()
            .into_parts();
        let r = Request::from_parts(&parts, Bytes::from_static(b"{}"));
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/install");
        assert_eq!(r.query("v"), Some("1.1"));
        assert_eq!(r.header("host"), Some("localhost"));
        assert_eq!(&r.body[..], b"{}");
    }

    #[test]
    fn an_answer_keeps_its_status_type_and_headers() {
        let mut answer = Response::error(401, "a bearer token is required", 1);
        answer
            .extra_headers
            .push(("WWW-Authenticate", "Bearer".into()));
        let r = answer.into_hyper();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
}
