//! The OCI registry source against real parts on loopback: Debian's `docker-registry`
//! (distribution 2.8) started per test on a free port, `skopeo` as an independent client
//! reading what Anya pushes, and a hostile registry for the attacks.

mod hostile;
mod index;
mod publish;
mod retry;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anya_fixtures::Fixture;

use crate::common::{Node, free_port, key, manifest_of, package, text};

/// A bcrypt hash (cost 4) of [`PASSWORD`], for the registry's htpasswd file.
const HTPASSWD: &str = "anya:$2b$04$SyMyy9iIo5H8dERR6JGzWe0GAiJMdkomKo27qkq1jnsclyZnt7UBm";
const USER: &str = "anya";
const PASSWORD: &str = "anya-test-password";

/// A distribution registry on loopback, storing in a temporary folder.
pub struct Distribution {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// One request as the registry's access log tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Bytes of the response body.
    pub bytes: u64,
}

impl Distribution {
    /// An open registry.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A registry that wants [`USER`] and [`PASSWORD`] (HTTP basic, htpasswd).
    pub fn start_with_password() -> Self {
        Self::start_with(true)
    }

    /// An open registry on `port` (one a test kept free, to bring a registry up late).
    pub fn start_on(port: u16) -> Self {
        Self::start_on_port(false, port)
    }

    fn start_with(password: bool) -> Self {
        Self::start_on_port(password, free_port())
    }

    fn start_on_port(password: bool, port: u16) -> Self {
        assert!(
            Command::new("docker-registry")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "these tests need a real OCI registry: install Debian's docker-registry (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let auth = if password {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{HTPASSWD}\n")).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: anya-tests\n    path: {}\n",
                htpasswd.display()
            )
        } else {
            String::new()
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 {auth}http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::fs::File::create(dir.path().join("access.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        // Ready when *this* registry answers the distribution API on the port (another
        // test's server could have taken a free port in between: the child then exits).
        let start = Instant::now();
        while !answers_distribution_api(port) {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.path().join("registry.log"));
                panic!("docker-registry exited ({status}) before serving port {port}: {log:?}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "docker-registry did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, dir }
    }

    /// Every request served so far, from the access log (combined format), in order.
    pub fn served(&self) -> Vec<Served> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap();
        log.lines()
            .filter_map(|line| {
                let (_, rest) = line.split_once('"')?;
                let (request, rest) = rest.split_once('"')?;
                let mut request = request.split(' ');
                let mut answer = rest.split_whitespace();
                Some(Served {
                    method: request.next()?.to_owned(),
                    path: request.next()?.to_owned(),
                    status: answer.next()?.parse().ok()?,
                    bytes: answer.next()?.parse().unwrap_or(0),
                })
            })
            .collect()
    }

    /// `oci://127.0.0.1:PORT/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        format!("oci://127.0.0.1:{}/{prefix}", self.port)
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a distribution registry answers `GET /v2/` on `port`.
fn answers_distribution_api(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .to_ascii_lowercase()
        .contains("docker-distribution-api-version")
}

/// Writes each fixture signed by `key(1)` into `dir` as `NAME-VERSION.wasm`, with the
/// validators its manifest names; the paths.
pub fn signed_files(dir: &Path, fixtures: &[&Fixture]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut add = |f: &Fixture| {
        let path = dir.join(format!("{}-{}.wasm", f.name, f.version));
        if !path.exists() {
            std::fs::write(&path, package(f, &[&key(1)])).unwrap();
            paths.push(path);
        }
    };
    for fixture in fixtures {
        for validator in manifest_of(fixture).validators {
            if let Some(v) = anya_fixtures::all().iter().find(|v| {
                v.name == validator.as_str()
                    && manifest_of(v).kind == anya_host::manifest::Kind::Validator
            }) {
                add(v);
            }
        }
        add(fixture);
    }
    paths
}

/// `anya --registry URL ARGS…` against `node`.
pub fn anya_at(node: &Node, registry: &str, args: &[&str]) -> std::process::Output {
    node.command_at(&crate::common::anya_bin(), registry.as_ref(), args)
        .output()
        .unwrap()
}

/// `anya publish FILE… --to URL` against `node`.
pub fn publish_files(node: &Node, url: &str, files: &[PathBuf]) -> std::process::Output {
    let mut args = vec!["publish".to_owned(), "--to".to_owned(), url.to_owned()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    anya_at(node, url, &args)
}

/// `skopeo inspect --raw` of `repo:tag`: the manifest as an independent client reads it.
pub fn skopeo_manifest(registry: &Distribution, repo_tag: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://127.0.0.1:{}/{repo_tag}", registry.port))
        .output()
        .expect("these tests need skopeo (.ci/run installs it)");
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}
