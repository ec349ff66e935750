//! What can go wrong talking to an OCI registry, in words an operator can act on.

use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::artifact::LayoutError;
use super::credentials::CredentialsError;

/// Why an OCI registry gave no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    #[error("no such repository or tag")]
    NotFound,
    #[error("the registry refused the credentials (see --registry-credentials)")]
    Unauthorized,
    #[error("cannot reach the registry: {0}")]
    Unreachable(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("{reference}: not a WebAssembly component artifact: {source}")]
    Layout {
        reference: String,
        #[source]
        source: LayoutError,
    },
    #[error("{reference}: {what} is over the {cap}-byte cap")]
    TooLarge {
        reference: String,
        what: &'static str,
        cap: u64,
    },
    #[error("{reference}: the content's digest is {actual}, not {expected} as named")]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("{reference}: {actual} bytes arrived, the manifest says {expected}")]
    LengthMismatch {
        reference: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{label} is already published with different content ({existing}); a published \
         version never changes: publish a new version"
    )]
    AlreadyPublished { label: String, existing: String },
    #[error("{0}: the manifest names a layer the registry does not serve")]
    MissingBlob(String),
    #[error("the transfer broke off: {0}")]
    Interrupted(String),
    #[error(
        "credentials for {0} would cross the network in clear text over oci+http://; use \
         oci:// (HTTPS), or no credentials"
    )]
    CleartextCredentials(String),
    #[error("version {0} cannot be an OCI tag (build metadata after '+'): publish it without")]
    NotATag(String),
    #[error("the registry answered: {0}")]
    Protocol(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("cannot start the registry client: {0}")]
    Start(String),
}

impl OciError {
    /// Whether the registry answered with something refused (a bad artifact, a wrong
    /// digest, over a cap, a conflicting publish), rather than not answering.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Layout { .. }
                | Self::TooLarge { .. }
                | Self::DigestMismatch { .. }
                | Self::LengthMismatch { .. }
                | Self::AlreadyPublished { .. }
                | Self::NotATag(_)
        )
    }
}

impl From<OciDistributionError> for OciError {
    fn from(e: OciDistributionError) -> Self {
        use OciDistributionError as E;
        match e {
            E::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) =>
            {
                Self::NotFound
            }
            E::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                Self::Unauthorized
            }
            E::ServerError { code: 404, .. } | E::ImageManifestNotFoundError(_) => Self::NotFound,
            E::ServerError {
                code: 401 | 403, ..
            }
            | E::UnauthorizedError { .. }
            | E::AuthenticationFailure(_) => Self::Unauthorized,
            E::RequestError(e) if e.is_connect() || e.is_timeout() => {
                Self::Unreachable(error_chain(&e))
            }
            other => Self::Protocol(one_line(&error_chain(&other))),
        }
    }
}

/// An error and its sources on one line: reqwest's top-level message alone ("error
/// sending request") says nothing.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// At most 300 characters, control characters replaced: a registry's error body is its
/// own text, not ours to print raw.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}
