//! How a host signs in to an OCI registry: anonymously, or with a user name and password
//! (HTTP basic, which the registry may exchange for a token) or a bearer token, from
//!
//! 1. Anya's credentials file (`STATE/registry-credentials.toml`, or the file named with
//!    `--registry-credentials`), which must be readable by its owner only (mode 0600):
//!
//!    ```toml
//!    ["ghcr.io"]
//!    username = "deploy-bot"
//!    password = "…"
//!
//!    ["registry.lan:5000"]
//!    token = "…"
//!    ```
//!
//! 2. else Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//!    `~/.docker/config.json`): its `auths` entries (`auth`, `username`/`password`,
//!    `registrytoken`); credential helpers are not run.
//!
//! Credentials only open the door: what a registry returns is still verified by digest and
//! signature, so a wrong or stolen credential can withhold updates, never install one.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::files::{self, Links};

/// A credentials file is small; a larger one is not one.
const MAX_CREDENTIALS_BYTES: u64 = 1 << 20;

/// How to sign in to one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("registry credentials {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "registry credentials {path}: readable by others (mode {mode:04o}); \
         it holds secrets: chmod 600 {path}"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("registry credentials {path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// Where credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// Anya's TOML file (must be 0600).
    Anya(PathBuf),
    /// Docker's config.json.
    Docker(PathBuf),
    /// None: every registry anonymously.
    None,
}

impl CredentialsSource {
    /// The file given, else `default` (Anya's, in the state folder) when it exists, else
    /// Docker's config when it exists, else none.
    pub fn find(given: Option<&Path>, default: &Path) -> Self {
        if let Some(path) = given {
            return Self::Anya(path.to_owned());
        }
        if default.exists() {
            return Self::Anya(default.to_owned());
        }
        let docker = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .map(|dir| dir.join("config.json"));
        match docker {
            Some(path) if path.exists() => Self::Docker(path),
            _ => Self::None,
        }
    }

    /// The credential for `host` (`HOST[:PORT]`).
    pub fn credential_for(&self, host: &str) -> Result<Credential, CredentialsError> {
        match self {
            Self::None => Ok(Credential::Anonymous),
            Self::Anya(path) => {
                let text = read_secret_file(path, true)?;
                anya_credential(path, &text, host)
            }
            Self::Docker(path) => {
                let text = read_secret_file(path, false)?;
                docker_credential(path, &text, host)
            }
        }
    }
}

fn read_secret_file(path: &Path, owner_only: bool) -> Result<String, CredentialsError> {
    let read = |source| CredentialsError::Read {
        path: path.to_owned(),
        source,
    };
    let (file, _) = files::open_regular(path, Links::Follow).map_err(read)?;
    let mode = file.metadata().map_err(read)?.mode() & 0o777;
    if owner_only && mode & 0o077 != 0 {
        return Err(CredentialsError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_CREDENTIALS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_CREDENTIALS_BYTES {
        return Err(CredentialsError::Malformed {
            path: path.to_owned(),
            reason: format!("over the {MAX_CREDENTIALS_BYTES}-byte cap"),
        });
    }
    Ok(text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnyaEntry {
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

fn anya_credential(path: &Path, text: &str, host: &str) -> Result<Credential, CredentialsError> {
    let malformed = |reason: String| CredentialsError::Malformed {
        path: path.to_owned(),
        reason,
    };
    // Only where: a parser's message may quote the value, which may be a secret.
    let entries: BTreeMap<String, AnyaEntry> = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |span| span.start);
        let line = text[..at.min(text.len())].lines().count().max(1);
        malformed(format!(
            "not valid here near line {line} (a table [\"HOST\"] with username and \
             password, or token)"
        ))
    })?;
    let Some(entry) = entries.get(host) else {
        return Ok(Credential::Anonymous);
    };
    match (&entry.username, &entry.password, &entry.token) {
        (Some(username), Some(password), None) => Ok(Credential::Basic {
            username: username.clone(),
            password: password.clone(),
        }),
        (None, None, Some(token)) => Ok(Credential::Bearer(token.clone())),
        _ => Err(malformed(format!(
            "[\"{host}\"] needs either username and password, or token"
        ))),
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
}

fn docker_credential(path: &Path, text: &str, host: &str) -> Result<Credential, CredentialsError> {
    let malformed = |reason: String| CredentialsError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let config: DockerConfig = serde_json::from_str(text).map_err(|e| {
        malformed(format!(
            "not a Docker config.json near line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    // Docker keys entries by host, or by a URL naming it ("https://index.docker.io/v1/").
    let entry = config.auths.iter().find_map(|(key, auth)| {
        let bare = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let bare = bare.split('/').next().unwrap_or(bare);
        (bare == host).then_some(auth)
    });
    let Some(entry) = entry else {
        return Ok(Credential::Anonymous);
    };
    if let Some(token) = &entry.registrytoken {
        return Ok(Credential::Bearer(token.clone()));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credential::Basic {
            username: username.clone(),
            password: password.clone(),
        });
    }
    let Some(encoded) = &entry.auth else {
        return Ok(Credential::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| {
            malformed(format!(
                "auths.\"{host}\".auth is not base64 of USER:PASSWORD"
            ))
        })?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| malformed(format!("auths.\"{host}\".auth is not USER:PASSWORD")))?;
    Ok(Credential::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn anya_file_gives_basic_or_bearer_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "c.toml",
            "[\"ghcr.io\"]\nusername = \"bot\"\npassword = \"pw\"\n\
             [\"registry.lan:5000\"]\ntoken = \"t0k\"\n",
            0o600,
        );
        let source = CredentialsSource::Anya(path);
        assert_eq!(
            source.credential_for("ghcr.io").unwrap(),
            Credential::Basic {
                username: "bot".into(),
                password: "pw".into()
            }
        );
        assert_eq!(
            source.credential_for("registry.lan:5000").unwrap(),
            Credential::Bearer("t0k".into())
        );
        assert_eq!(
            source.credential_for("other.example").unwrap(),
            Credential::Anonymous
        );
        let shown = format!("{:?}", source.credential_for("ghcr.io").unwrap());
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn an_open_or_malformed_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let open = write(dir.path(), "open.toml", "", 0o644);
        let err = CredentialsSource::Anya(open.clone())
            .credential_for("x")
            .unwrap_err();
        assert!(matches!(err, CredentialsError::TooOpen { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"), "{err}");

        let half = write(
            dir.path(),
            "half.toml",
            "[\"x\"]\nusername = \"bot\"\n",
            0o600,
        );
        let err = CredentialsSource::Anya(half)
            .credential_for("x")
            .unwrap_err();
        assert!(err.to_string().contains("username and password"), "{err}");

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = CredentialsSource::Anya(fifo)
            .credential_for("x")
            .unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn docker_config_auths_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let path = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths": {{"https://registry.lan:5000/v1/": {{"auth": "{encoded}"}},
                    "tok.example": {{"registrytoken": "abc"}}}}, "credsStore": "desktop"}}"#
            ),
            0o644,
        );
        let source = CredentialsSource::Docker(path);
        assert_eq!(
            source.credential_for("registry.lan:5000").unwrap(),
            Credential::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            }
        );
        assert_eq!(
            source.credential_for("tok.example").unwrap(),
            Credential::Bearer("abc".into())
        );
        assert_eq!(
            source.credential_for("ghcr.io").unwrap(),
            Credential::Anonymous
        );
    }
}
