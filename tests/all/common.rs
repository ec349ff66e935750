//! What the integration tests share: seeded keys, signed fixtures, a temporary node
//! (state folder, registry folder, trust store), the `anya` binary, and state snapshots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use anya_fixtures::Fixture;
use anya_host::clock::FakeClock;
use anya_host::keys::SecretKey;
use anya_host::manifest::Manifest;
use anya_host::registry::DirRegistry;
use anya_host::store::{Access, Store};
use anya_host::trust::TrustStore;
use anya_host::update::{Options, UpdateManager};
use anya_host::{package, signature};

/// A key derived from a fixed seed: no private key is committed.
pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

/// The manifest shipped beside a fixture.
pub fn manifest_of(fixture: &Fixture) -> Manifest {
    let text = std::fs::read_to_string(fixture.manifest).unwrap();
    Manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", fixture.manifest))
}

/// The fixture's component with its manifest embedded, signed by each key in turn.
pub fn package(fixture: &Fixture, keys: &[&SecretKey]) -> Vec<u8> {
    package_with(fixture, &manifest_of(fixture), keys)
}

/// Like [`package`], with another manifest.
pub fn package_with(fixture: &Fixture, manifest: &Manifest, keys: &[&SecretKey]) -> Vec<u8> {
    let wasm = std::fs::read(fixture.wasm).unwrap();
    let mut bytes = package::embed_manifest(&wasm, manifest).unwrap();
    for k in keys {
        bytes = signature::sign(&bytes, k).unwrap();
    }
    bytes
}

/// A custom section, encoded.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = leb128(name.len() as u64);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = vec![0u8];
    out.extend(leb128(body.len() as u64));
    out.extend(body);
    out
}

pub fn leb128(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The byte range of a named custom section's data (after its name) in `wasm`.
pub fn section_data(wasm: &[u8], name: &str) -> std::ops::Range<usize> {
    let section = signature::sections(wasm)
        .unwrap()
        .into_iter()
        .find(|s| s.name == Some(name))
        .unwrap_or_else(|| panic!("no section {name}"));
    let start = section.data.as_ptr() as usize - wasm.as_ptr() as usize;
    start..start + section.data.len()
}

/// The file in a node's folder that holds its time, for the processes it starts.
const CLOCK_FILE: &str = "clock";

/// The time a new node's clock starts at.
pub const NODE_START: &str = "2026-11-25T12:00:00Z";

/// A temporary node: a state folder, a registry folder and a trust store trusting
/// `key(1)` for every name. It has a clock of its own that stands still until the test
/// moves it ([`Node::set_time`]): its managers and the `anya` processes it runs read
/// that clock (the latter through the file `ANYA_CLOCK_FILE` names), never the wall
/// clock.
pub struct Node {
    root: PathBuf,
    clock: Arc<FakeClock>,
    /// Deletes the folder when the node is dropped (absent for [`Node::attach`]).
    _dir: Option<tempfile::TempDir>,
}

impl Node {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let start: jiff::Timestamp = NODE_START.parse().unwrap();
        let node = Self {
            root: dir.path().to_owned(),
            clock: Arc::new(FakeClock::new(start)),
            _dir: Some(dir),
        };
        node.set_time(start);
        node.write_trust(&trust_entry("test", &key(1), &["*"]));
        node
    }

    /// The node another process made in `root` (which it keeps), on that node's clock.
    pub fn attach(root: &Path) -> Self {
        let now = std::fs::read_to_string(root.join(CLOCK_FILE)).unwrap();
        Self {
            root: root.to_owned(),
            clock: Arc::new(FakeClock::new(now.trim().parse().unwrap())),
            _dir: None,
        }
    }

    /// The node's clock.
    pub fn clock(&self) -> Arc<FakeClock> {
        Arc::clone(&self.clock)
    }

    /// The time now, on the node's clock.
    pub fn now(&self) -> jiff::Timestamp {
        anya_host::clock::Clock::now(self.clock.as_ref())
    }

    /// Sets the node's clock (for its managers, and the `anya` processes it starts).
    pub fn set_time(&self, at: jiff::Timestamp) {
        self.clock.set(at);
        let tmp = self.root.join("clock.tmp");
        std::fs::write(&tmp, at.to_string()).unwrap();
        std::fs::rename(&tmp, self.clock_file()).unwrap();
    }

    /// The file holding the node's time, for the processes it starts (`ANYA_CLOCK_FILE`).
    pub fn clock_file(&self) -> PathBuf {
        self.root.join(CLOCK_FILE)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn registry(&self) -> PathBuf {
        self.root.join("registry")
    }

    pub fn trust_path(&self) -> PathBuf {
        self.root.join("trust.toml")
    }

    pub fn write_trust(&self, text: &str) {
        std::fs::write(self.trust_path(), text).unwrap();
    }

    /// Puts bytes where the registry looks for `name` `version`, without any check.
    pub fn put_in_registry(&self, name: &str, version: &str, bytes: &[u8]) -> PathBuf {
        let dir = self.registry().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}-{version}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Signs the fixture with `key(1)` and puts it in the registry, with the validators
    /// its manifest names (as a publisher would ship them); use
    /// [`put_in_registry`](Self::put_in_registry) for a registry without them.
    pub fn publish(&self, fixture: &Fixture) -> PathBuf {
        self.publish_validators(&manifest_of(fixture));
        self.put_in_registry(fixture.name, fixture.version, &package(fixture, &[&key(1)]))
    }

    /// `fixture` published at `version` as `update_type`, optionally declaring breaking
    /// changes.
    pub fn publish_as(
        &self,
        fixture: &Fixture,
        version: &str,
        update_type: anya_host::manifest::UpdateType,
        breaking: bool,
    ) {
        self.publish_edited(fixture, version, |m| {
            m.update_type = update_type;
            m.breaking_changes = breaking;
        });
    }

    /// Like [`publish`](Self::publish), as `version` and with its manifest changed by
    /// `edit` (the validators published are those the changed manifest names).
    pub fn publish_edited(
        &self,
        fixture: &Fixture,
        version: &str,
        edit: impl FnOnce(&mut Manifest),
    ) -> PathBuf {
        let mut manifest = manifest_of(fixture);
        manifest.version = semver::Version::parse(version).unwrap();
        edit(&mut manifest);
        self.publish_validators(&manifest);
        self.put_in_registry(
            fixture.name,
            version,
            &package_with(fixture, &manifest, &[&key(1)]),
        )
    }

    /// The validator fixtures `manifest` names, each published once (a name that is no
    /// validator fixture is left for the test to publish, or not).
    fn publish_validators(&self, manifest: &Manifest) {
        for validator in &manifest.validators {
            let Some(v) = anya_fixtures::all().iter().find(|f| {
                f.name == validator.as_str()
                    && manifest_of(f).kind == anya_host::manifest::Kind::Validator
            }) else {
                continue;
            };
            let path = self
                .registry()
                .join(v.name)
                .join(format!("{}-{}.wasm", v.name, v.version));
            if !path.exists() {
                self.publish(v);
            }
        }
    }

    pub fn manager(&self) -> UpdateManager {
        self.manager_with(Options::default())
    }

    pub fn manager_with(&self, options: Options) -> UpdateManager {
        let trust = TrustStore::load(&self.trust_path()).unwrap();
        let store = Store::open(&self.state(), Access::Write).unwrap();
        UpdateManager::new(
            store,
            trust,
            Box::new(DirRegistry::new(self.registry())),
            options,
            self.clock(),
        )
        .unwrap()
    }

    /// Runs the `anya` binary against this node.
    pub fn anya(&self, args: &[&str]) -> Output {
        self.command(&anya_bin(), args).output().unwrap()
    }

    /// The command that runs `bin` (an `anya` binary) against this node, on its clock.
    pub fn command(&self, bin: &Path, args: &[&str]) -> Command {
        self.command_at(bin, self.registry().as_os_str(), args)
    }

    /// [`command`](Self::command) with another registry: a folder or an `oci://` URL.
    pub fn command_at(&self, bin: &Path, registry: &std::ffi::OsStr, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.arg("--state")
            .arg(self.state())
            .arg("--registry")
            .arg(registry)
            .arg("--trust")
            .arg(self.trust_path())
            .args(args)
            .env("ANYA_CLOCK_FILE", self.clock_file())
            // Never the credentials of whoever runs the tests.
            .env("DOCKER_CONFIG", self.root.join("no-docker-config"))
            .env_remove("ANYA_LOG");
        cmd
    }

    /// Every file under the state folder with its bytes.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        snapshot(&self.state())
    }
}

/// A `[[key]]` entry of a trust store.
pub fn trust_entry(name: &str, key: &SecretKey, may_sign: &[&str]) -> String {
    let globs: Vec<String> = may_sign.iter().map(|g| format!("{g:?}")).collect();
    format!(
        "[[key]]\nname = {name:?}\npublic_key = \"{}\"\nmay_sign = [{}]\n\n",
        key.public().to_hex(),
        globs.join(", ")
    )
}

/// `snapshot` without the journal: what a refused command must leave unchanged (the
/// refusal itself is journaled).
pub fn without_journal(mut snapshot: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot.remove(Path::new("journal.jsonl"));
    snapshot
}

/// Asserts that a refused command left `node`'s state folder as `before` but for one
/// more journal entry, `install-refused`.
#[track_caller]
pub fn assert_refusal_journaled(node: &Node, before: &BTreeMap<PathBuf, Vec<u8>>) {
    let after = node.snapshot();
    assert_eq!(without_journal(before.clone()), without_journal(after));
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "install-refused", "{last}");
    let before_lines = before
        .get(Path::new("journal.jsonl"))
        .map_or(0, |j| String::from_utf8_lossy(j).lines().count());
    assert_eq!(journal.lines().count(), before_lines + 1, "{journal}");
}

/// Every file under `root`, with its bytes.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    b"<dir>".to_vec(),
                );
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

/// The `anya` binary cargo built for these tests.
pub fn anya_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_anya"))
}

/// stdout and stderr as text, for assertion messages.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback TCP port free a moment ago (a server started on it checks it got it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits, up to a minute, until `done`; fails the test naming `what` otherwise.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
