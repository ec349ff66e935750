//! The signed index, end to end through the `anya` binary on a folder registry: the
//! publisher releases, signs to a threshold, revokes and rotates keys; a host whose trust
//! store pins the index root installs only what the index lists, exactly as listed, and
//! refuses (and keeps serving) a rolled-back, forked, expired, mismatched or under-signed
//! index.

use std::path::{Path, PathBuf};

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, BECH32_BROKEN};
use anya_host::ids::ComponentName;
use anya_host::index::{ROLLOUT_TYPE, ReleaseRef, Rollout, RolloutState, Stage, envelope};
use jiff::ToSpan;
use semver::Version;

use crate::common::{Node, key, manifest_of, package_with, text, trust_entry};

/// A publisher's key pair made by `anya key generate`: its files and public key.
pub struct KeyPair {
    pub secret: PathBuf,
    pub public: String,
}

pub fn generate(node: &Node, name: &str) -> KeyPair {
    let stem = node.root().join("keys").join(name);
    let out = node.anya(&["--json", "key", "generate", "--out", stem.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    KeyPair {
        secret: stem.with_extension("key"),
        public: json["public_key"].as_str().unwrap().to_owned(),
    }
}

/// Trusts `key(1)` for packages and pins `keys` (a threshold of them) as the index root.
pub fn pin_index_root(node: &Node, keys: &[&KeyPair], threshold: u32) {
    let hex: Vec<String> = keys.iter().map(|k| format!("{:?}", k.public)).collect();
    node.write_trust(&format!(
        "{}[index]\nrelease_keys = [{}]\nrelease_threshold = {threshold}\n",
        trust_entry("test", &key(1), &["*"]),
        hex.join(", ")
    ));
}

/// Runs `anya` and asserts it succeeded; its stdout.
fn ok(node: &Node, args: &[&str]) -> String {
    let out = node.anya(args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "anya {args:?}: {stdout}{stderr}");
    stdout
}

/// Runs `anya` and asserts it failed with `code`; its stderr.
fn refused(node: &Node, args: &[&str], code: i32) -> String {
    let out = node.anya(args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "anya {args:?}: {stdout}{stderr}"
    );
    stderr
}

/// `anya index release`, signed by `keys`, with `extra` arguments; its stdout.
fn release(node: &Node, keys: &[&KeyPair], extra: &[&str]) -> String {
    let mut args = vec!["index", "release"];
    for key in keys {
        args.extend(["--key", secret(key)]);
    }
    args.extend(extra);
    ok(node, &args)
}

fn secret(k: &KeyPair) -> &str {
    k.secret.to_str().unwrap()
}

fn release_path(node: &Node) -> PathBuf {
    node.registry().join("anya.index").join("release.json")
}

fn active_version(node: &Node) -> String {
    let out = ok(node, &["--json", "status"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    json["components"][0]["version"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_host_installs_only_what_a_threshold_signed_index_lists() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let (a, b) = (generate(&node, "offline-a"), generate(&node, "offline-b"));
    pin_index_root(&node, &[&a, &b], 2);

    // No index yet: the host installs nothing, and says why.
    let err = refused(&node, &["install", "bech32"], 3);
    assert!(err.contains("holds no release index"), "{err}");

    // One offline key of two: refused.
    let draft = node.root().join("release.json");
    let out = release(&node, &[&a], &["--out", draft.to_str().unwrap()]);
    assert!(out.contains("release index version 1"), "{out}");
    ok(&node, &["index", "push", draft.to_str().unwrap()]);
    let err = refused(&node, &["install", "bech32"], 3);
    assert!(
        err.contains("1 valid signature(s) by distinct trusted keys, 2 required"),
        "{err}"
    );

    // The second key signs the same document on its own machine: accepted.
    ok(
        &node,
        &[
            "index",
            "sign",
            draft.to_str().unwrap(),
            "--key",
            secret(&b),
        ],
    );
    ok(&node, &["index", "push", draft.to_str().unwrap()]);
    let out = ok(&node, &["install", "bech32", "1.0.0"]);
    assert!(out.contains("1.0.0"), "{out}");
    let status = ok(&node, &["status"]);
    assert!(status.contains("signed index: release 1"), "{status}");

    // A version published after the release is not offered; a listed one is.
    node.publish_edited(&BECH32_1_1_0, "1.3.0", |_| {});
    let out = node.anya(&["--json", "check"]);
    assert_eq!(out.status.code(), Some(100), "{:?}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["updates"][0]["available_version"], "1.1.0",
        "{report}"
    );
    let err = refused(&node, &["install", "bech32", "1.3.0"], 4);
    assert!(
        err.contains("the signed index does not list bech32 1.3.0"),
        "{err}"
    );
    std::fs::remove_file(node.registry().join("bech32/bech32-1.3.0.wasm")).unwrap();

    // Other bytes under a listed version, validly signed: not the package listed.
    let impostor = {
        let mut m = manifest_of(&BECH32_BROKEN);
        m.version = Version::new(1, 1, 0);
        package_with(&BECH32_BROKEN, &m, &[&key(1)])
    };
    let genuine = std::fs::read(node.registry().join("bech32/bech32-1.1.0.wasm")).unwrap();
    node.put_in_registry("bech32", "1.1.0", &impostor);
    let before = node.snapshot();
    let err = refused(&node, &["install", "bech32", "1.1.0"], 3);
    assert!(
        err.contains("is not the package the signed index lists"),
        "{err}"
    );
    assert_eq!(
        crate::common::without_journal(before),
        crate::common::without_journal(node.snapshot())
    );
    node.put_in_registry("bech32", "1.1.0", &genuine);

    // Revoked: no longer offered, nor installable.
    release(&node, &[&a, &b], &["--revoke", "bech32@1.1.0"]);
    let out = node.anya(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let err = refused(&node, &["install", "bech32", "1.1.0"], 4);
    assert!(
        err.contains("the signed index revoked bech32 1.1.0"),
        "{err}"
    );
    assert_eq!(active_version(&node), "1.0.0");
}

#[test]
fn a_rolled_back_forked_or_expired_index_freezes_the_host_which_keeps_serving() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let a = generate(&node, "offline");
    pin_index_root(&node, &[&a], 1);
    release(&node, &[&a], &[]);
    let version_1 = std::fs::read(release_path(&node)).unwrap();
    ok(&node, &["install", "bech32", "1.0.0"]);
    release(&node, &[&a], &[]);
    let version_2 = std::fs::read(release_path(&node)).unwrap();
    // The host accepts version 2 as it installs (a writer of the state folder remembers
    // what it accepted; `check` and `status` only read).
    ok(&node, &["install", "bech32", "1.1.0"]);

    // Rollback: the older release, validly signed, put back.
    std::fs::write(release_path(&node), &version_1).unwrap();
    let err = refused(&node, &["check"], 3);
    assert!(
        err.contains(
            "version 1, older than version 2 accepted before: refused as a rollback attack"
        ),
        "{err}"
    );
    let err = refused(&node, &["install", "bech32", "1.0.0", "--force"], 3);
    assert!(err.contains("rollback attack"), "{err}");
    let out = node.anya(&["status"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("rollback attack") && stdout.contains("bech32"),
        "{stdout}{stderr}"
    );
    assert_serves(&node);

    // Equivocation: another document under version 2, made from a copy of the registry.
    let fork = node.root().join("fork");
    copy_packages(&node.registry(), &fork);
    let forked = node.root().join("forked.json");
    release(
        &node,
        &[&a],
        &[
            "--version",
            "2",
            "--expires-in",
            "9",
            "--to",
            fork.to_str().unwrap(),
            "--out",
            forked.to_str().unwrap(),
        ],
    );
    ok(&node, &["index", "push", forked.to_str().unwrap()]);
    let err = refused(&node, &["check"], 3);
    assert!(err.contains("refused as equivocation"), "{err}");

    // The genuine version 2 again: the host follows it.
    std::fs::write(release_path(&node), &version_2).unwrap();
    assert_eq!(node.anya(&["check"]).status.code(), Some(0));

    // Past its expiry: frozen, serving on.
    node.publish_edited(&BECH32_1_1_0, "1.3.0", |_| {});
    release(&node, &[&a], &["--expires-in", "2"]);
    node.set_time(node.now() + (3 * 24).hours());
    let err = refused(&node, &["install", "bech32"], 3);
    assert!(
        err.contains("expired at") && err.contains("the host keeps serving"),
        "{err}"
    );
    assert_eq!(active_version(&node), "1.1.0");
    assert_serves(&node);
}

/// The installed bech32 answers a call.
fn assert_serves(node: &Node) {
    let out = ok(
        node,
        &[
            "--json",
            "call",
            "bech32",
            "decode",
            "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json.get("ok").is_some(), "{json}");
}

fn copy_packages(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        if rel.starts_with("anya.index") {
            continue;
        }
        std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&entry, to.join(rel)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn offline_keys_rotate_through_the_index_without_touching_hosts() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let (a, b, c) = (
        generate(&node, "old-a"),
        generate(&node, "old-b"),
        generate(&node, "new-c"),
    );
    pin_index_root(&node, &[&a, &b], 2);
    release(&node, &[&a, &b], &[]);
    ok(&node, &["install", "bech32", "1.0.0"]);

    // The old threshold hands over to key c, which signs too; the host does not look.
    release(&node, &[&a, &b, &c], &["--next-release-key", &c.public]);
    // c alone signs the next release, which carries the hand-over: the host, which never
    // saw the hand-over, follows it and installs.
    release(&node, &[&c], &[]);
    ok(&node, &["install", "bech32"]);
    assert_eq!(active_version(&node), "1.1.0");

    // The old keys no longer sign for this host.
    release(&node, &[&a, &b], &[]);
    let err = refused(&node, &["check"], 3);
    assert!(err.contains("0 valid signature(s)"), "{err}");

    // A hand-over the new keys did not sign is refused as a whole.
    release(&node, &[&c], &["--next-release-key", &a.public]);
    let err = refused(&node, &["check"], 3);
    assert!(
        err.contains("hands the signing of later releases to new keys, but is not signed by them"),
        "{err}"
    );
}

#[test]
fn a_rollout_gives_the_candidate_to_its_cohort_only() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let (offline, online) = (generate(&node, "offline"), generate(&node, "online"));
    pin_index_root(&node, &[&offline], 1);
    release(&node, &[&offline], &["--rollout-key", &online.public]);
    // The release names rollout keys: until the online key signs a rollout, nothing new.
    let err = refused(&node, &["install", "bech32", "1.0.0"], 3);
    assert!(err.contains("holds no rollout document"), "{err}");
    let release = std::fs::read(release_path(&node)).unwrap();
    let (_, payload) = envelope::unverified_payload(&release).unwrap();
    let release_ref = ReleaseRef {
        version: 1,
        sha256: anya_host::ids::Digest::of(&payload),
    };
    let online_key = anya_host::keys::read_secret_key(&online.secret).unwrap();
    let push_rollout = |version: u64, basis_points: u16, release: ReleaseRef| {
        let rollout = Rollout {
            version,
            expires: node.now() + 72.hours(),
            release,
            components: [(
                ComponentName::parse("bech32").unwrap(),
                Stage {
                    stable: Version::new(1, 0, 0),
                    candidate: Some(Version::new(1, 1, 0)),
                    basis_points,
                    stages: Vec::new(),
                    salt: "r1".into(),
                    state: RolloutState::Progressing,
                },
            )]
            .into(),
        };
        let sealed = envelope::seal(
            ROLLOUT_TYPE,
            &serde_json::to_vec(&rollout).unwrap(),
            &[&online_key],
        );
        let file = node.root().join("rollout.json");
        std::fs::write(&file, sealed).unwrap();
        ok(&node, &["index", "push", file.to_str().unwrap()]);
    };

    // At 0 basis points no host is in the cohort: 1.1.0 is not this host's to take.
    push_rollout(1, 0, release_ref);
    ok(&node, &["install", "bech32", "1.0.0"]);
    assert_eq!(node.anya(&["check"]).status.code(), Some(0));
    let status = ok(&node, &["status"]);
    assert!(
        status.contains("bech32: this host's stage gives 1.0.0"),
        "{status}"
    );
    let err = refused(&node, &["install", "bech32", "1.1.0"], 4);
    assert!(
        err.contains("holds back, for this host's rollout stage, bech32 1.1.0"),
        "{err}"
    );

    // At 100% every host is.
    push_rollout(2, 10_000, release_ref);
    assert_eq!(node.anya(&["check"]).status.code(), Some(100));
    ok(&node, &["install", "bech32"]);
    assert_eq!(active_version(&node), "1.1.0");
    let host_id = std::fs::read_to_string(node.state().join("host-id")).unwrap();
    assert_eq!(host_id.trim().len(), 32, "{host_id}");

    // A rollout over another release: mix and match, refused.
    let other = ReleaseRef {
        version: 7,
        ..release_ref
    };
    push_rollout(3, 10_000, other);
    let err = refused(&node, &["check"], 3);
    assert!(err.contains("refused (mix and match)"), "{err}");
}

#[test]
fn the_controller_signs_only_over_what_it_verified_and_never_over_a_push_it_missed() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let (offline, online, other) = (
        generate(&node, "offline"),
        generate(&node, "online"),
        generate(&node, "other"),
    );
    pin_index_root(&node, &[&offline], 1);
    release(&node, &[&offline], &["--rollout-key", &online.public]);
    let start = [
        "rollout", "start", "bech32", "1.1.0", "--stable", "1.0.0", "--stages", "50,100",
    ];

    // A key the release does not name signs nothing hosts would take.
    let err = refused(&node, &[&start[..], &["--key", secret(&other)]].concat(), 3);
    assert!(
        err.contains("is not one of the release's rollout keys"),
        "{err}"
    );
    // A release that does not verify against the pinned root is not built on.
    let trust = std::fs::read_to_string(node.trust_path()).unwrap();
    pin_index_root(&node, &[&other], 1);
    let err = refused(&node, &["rollout", "status"], 3);
    assert!(
        err.contains("the release index in") && err.contains("refused"),
        "{err}"
    );
    node.write_trust(&trust);

    ok(&node, &[&start[..], &["--key", secret(&online)]].concat());
    let status = ok(&node, &["rollout", "status"]);
    assert!(
        status.contains("bech32: 1.1.0 on 50% of hosts (progressing), 1.0.0 elsewhere"),
        "{status}"
    );

    // A rollout document the release's keys did not sign (version 7): nothing builds on
    // it, until --reset signs a fresh one after it.
    let forged = Rollout {
        version: 7,
        expires: node.now() + 72.hours(),
        release: ReleaseRef {
            version: 1,
            sha256: anya_host::ids::Digest::of(b"x"),
        },
        components: Default::default(),
    };
    let other_key = anya_host::keys::read_secret_key(&other.secret).unwrap();
    let file = node.root().join("forged.json");
    std::fs::write(
        &file,
        envelope::seal(
            ROLLOUT_TYPE,
            &serde_json::to_vec(&forged).unwrap(),
            &[&other_key],
        ),
    )
    .unwrap();
    ok(&node, &["index", "push", file.to_str().unwrap()]);
    let err = refused(
        &node,
        &["rollout", "pause", "bech32", "--key", secret(&online)],
        3,
    );
    assert!(
        err.contains("(version 7) does not verify") && err.contains("--reset"),
        "{err}"
    );
    ok(
        &node,
        &["rollout", "step", "--key", secret(&online), "--reset"],
    );
    let out = ok(&node, &["--json", "rollout", "status"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["rollout"]["version"], 8, "{json}");
    assert_eq!(
        json["rollout"]["components"]["bech32"]["stable"], "1.1.0",
        "{json}"
    );

    // A push by another command while this one ran is never overwritten: a step held up
    // by a Prometheus that does not answer finds the registry changed and pushes nothing.
    ok(
        &node,
        &[
            "rollout",
            "start",
            "bech32",
            "1.1.0",
            "--stable",
            "1.0.0",
            "--stages",
            "50,100",
            "--key",
            secret(&online),
            "--reset",
        ],
    );
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let _connection = silent.accept();
        std::thread::sleep(std::time::Duration::from_secs(4));
    });
    let mut step = node.command(
        &crate::common::anya_bin(),
        &[
            "rollout",
            "step",
            "--key",
            secret(&online),
            "--prometheus",
            &url,
            "--query-timeout",
            "3s",
        ],
    );
    let step = step
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ok(
        &node,
        &["rollout", "pause", "bech32", "--key", secret(&online)],
    );
    let out = step.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stderr.contains("changed while this command ran"),
        "{stderr}"
    );
    held.join().unwrap();
    let status = ok(&node, &["rollout", "status"]);
    assert!(status.contains("(paused)"), "{status}");
}
