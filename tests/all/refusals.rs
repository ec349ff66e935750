//! Bad input gets a clear error that names the file, the component and the reason, and
//! leaves the state folder byte for byte unchanged.

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, BIP350_VECTORS};
use anya_host::ids::ComponentName;
use anya_host::signature;
use anya_host::update::{Options, UpdateManager};
use semver::Version;

use crate::common::{self, Node, custom_section, key, package, package_with, trust_entry};

fn bech32() -> ComponentName {
    ComponentName::parse("bech32").unwrap()
}

/// A node with bech32 1.0.0 installed.
fn installed_node() -> Node {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    // What bech32 1.1.0 names, for the tests that put a 1.1.0 in the registry by hand.
    node.publish(&BIP350_VECTORS);
    node.manager().install(&bech32(), None, false).unwrap();
    node
}

/// Puts `bytes` in the registry as bech32 1.1.0, tries to install it, and checks that
/// the error names the file, the component and every `reasons` fragment, and that the
/// state folder did not change.
#[track_caller]
fn assert_refused(node: &Node, manager: &UpdateManager, bytes: &[u8], reasons: &[&str]) -> String {
    let path = node.put_in_registry("bech32", "1.1.0", bytes);
    let before = node.snapshot();
    let err = manager
        .install(&bech32(), Some(&Version::new(1, 1, 0)), false)
        .expect_err("a bad package was installed");
    let message = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(
        message.contains(path.to_str().unwrap()),
        "no file in: {message}"
    );
    assert!(message.contains("bech32"), "no component in: {message}");
    for reason in reasons {
        assert!(message.contains(reason), "no {reason:?} in: {message}");
    }
    assert_eq!(
        before,
        node.snapshot(),
        "the state folder changed after: {message}"
    );
    assert_eq!(
        manager.status().unwrap().components[0].version,
        Version::new(1, 0, 0)
    );
    message
}

#[test]
fn one_flipped_bit_anywhere_is_refused() {
    let node = installed_node();
    let manager = node.manager();
    let good = package(&BECH32_1_1_0, &[&key(1)]);
    let sig = common::section_data(&good, signature::SIGNATURE_SECTION);
    let manifest = common::section_data(&good, "anya-manifest");
    // Header, the signature section (hashes, key id, signature), the manifest, the code,
    // and a spread of offsets across the whole file.
    let mut offsets: Vec<usize> = (0..8).collect();
    offsets.extend([
        sig.start,
        sig.start + 5,
        sig.start + 40,
        sig.end - 30,
        sig.end - 1,
    ]);
    offsets.extend([manifest.start, manifest.start + 10, manifest.end - 2]);
    offsets.extend((0..64).map(|i| good.len() * i / 64));
    offsets.extend((sig.end..manifest.start).step_by(((manifest.start - sig.end) / 97).max(1)));
    offsets.sort();
    offsets.dedup();
    for offset in offsets {
        for bit in [0u8, 3, 7] {
            let mut bad = good.clone();
            bad[offset] ^= 1 << bit;
            let path = node.put_in_registry("bech32", "1.1.0", &bad);
            let before = node.snapshot();
            let err = manager
                .install(&bech32(), Some(&Version::new(1, 1, 0)), false)
                .expect_err(&format!("flipped bit {bit} of byte {offset} was accepted"));
            let message = err.to_string();
            assert!(message.contains(path.to_str().unwrap()), "{message}");
            assert_eq!(before, node.snapshot(), "offset {offset}: {message}");
        }
    }
    // The header gets a reason of its own: the signature format does not cover it.
    let mut bad = good.clone();
    bad[4] ^= 1;
    assert_refused(&node, &manager, &bad, &["header"]);
    let mut bad = good.clone();
    bad[manifest.start + 10] ^= 1;
    assert_refused(&node, &manager, &bad, &["content hash mismatch"]);
    let mut bad = good.clone();
    bad[sig.end - 1] ^= 1;
    assert_refused(&node, &manager, &bad, &["invalid signature"]);
    // And the untouched package installs.
    node.put_in_registry("bech32", "1.1.0", &good);
    manager.install(&bech32(), None, false).unwrap();
}

#[test]
fn signatures_outside_the_trust_store_are_refused() {
    let node = installed_node();
    let manager = node.manager();
    // A key the trust store does not know.
    let unknown = package(&BECH32_1_1_0, &[&key(9)]);
    assert_refused(&node, &manager, &unknown, &["unknown key"]);
    // Not signed at all.
    let unsigned = signature::strip(&unknown).unwrap();
    assert_refused(&node, &manager, &unsigned, &["not signed"]);
}

#[test]
fn a_trusted_key_cannot_sign_outside_its_globs() {
    let node = installed_node();
    node.write_trust(&format!(
        "{}{}",
        trust_entry("test", &key(1), &["bech32"]),
        trust_entry("validators", &key(2), &["bip*-vectors"])
    ));
    let manager = node.manager();
    let bytes = package(&BECH32_1_1_0, &[&key(2)]);
    assert_refused(&node, &manager, &bytes, &["is not trusted for \"bech32\""]);
}

#[test]
fn thresholds_count_distinct_keys() {
    let node = installed_node();
    node.write_trust(&format!(
        "{}{}[[threshold]]\nnames = \"bech32\"\nsignatures = 2\n",
        trust_entry("one", &key(1), &["*"]),
        trust_entry("two", &key(2), &["*"])
    ));
    let manager = node.manager();
    let one = package(&BECH32_1_1_0, &[&key(1)]);
    assert_refused(
        &node,
        &manager,
        &one,
        &["needs signatures by 2 distinct trusted keys, has 1"],
    );

    // The same key's signature written twice still counts once.
    let mut section = signature::read(&one).unwrap();
    let set = &mut section.signed_hash_sets[0];
    set.signatures.push(set.signatures[0].clone());
    let mut doubled = one[..8].to_vec();
    doubled.extend(custom_section(
        signature::SIGNATURE_SECTION,
        &section.encode(),
    ));
    doubled.extend_from_slice(&signature::strip(&one).unwrap()[8..]);
    assert_eq!(
        signature::read(&doubled).unwrap().signed_hash_sets[0]
            .signatures
            .len(),
        2
    );
    assert_refused(&node, &manager, &doubled, &["has 1"]);

    let two = package(&BECH32_1_1_0, &[&key(1), &key(2)]);
    node.put_in_registry("bech32", "1.1.0", &two);
    manager.install(&bech32(), None, false).unwrap();
}

#[test]
fn a_weak_key_in_the_trust_store_is_refused_at_load() {
    let node = installed_node();
    let before = node.snapshot();
    // The identity point: a small-order key any signature "verifies" under.
    node.write_trust(&format!(
        "[[key]]\nname = \"weak\"\npublic_key = \"01{}\"\nmay_sign = [\"*\"]\n",
        "00".repeat(31)
    ));
    let out = node.anya(&["install", "bech32"]);
    let (_, stderr) = common::text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("trust.toml") && stderr.contains("weak"),
        "{stderr}"
    );
    assert_eq!(before, node.snapshot());
}

#[test]
fn malformed_or_missing_manifests_are_refused() {
    let node = installed_node();
    let manager = node.manager();
    let component = std::fs::read(BECH32_1_1_0.wasm).unwrap();
    // Signed, but without a manifest.
    let bare = signature::sign(&component, &key(1)).unwrap();
    assert_refused(&node, &manager, &bare, &["missing manifest"]);
    // Signed, with a manifest that is not valid TOML for a manifest.
    let mut garbled = component.clone();
    garbled.extend(custom_section(
        "anya-manifest",
        b"name = \"bech32\"\nversion = 1.1\n",
    ));
    let garbled = signature::sign(&garbled, &key(1)).unwrap();
    assert_refused(&node, &manager, &garbled, &["malformed manifest", "line 2"]);
}

#[test]
fn a_package_that_is_not_what_its_place_says_is_refused() {
    let node = installed_node();
    let manager = node.manager();
    let mut other = common::manifest_of(&BECH32_1_1_0);
    other.name = ComponentName::parse("not-bech32").unwrap();
    let bytes = package_with(&BECH32_1_1_0, &other, &[&key(1)]);
    assert_refused(
        &node,
        &manager,
        &bytes,
        &["expected bech32 1.1.0", "not-bech32 1.1.0"],
    );
    let mut other = common::manifest_of(&BECH32_1_1_0);
    other.version = Version::new(9, 0, 0);
    let bytes = package_with(&BECH32_1_1_0, &other, &[&key(1)]);
    assert_refused(&node, &manager, &bytes, &["bech32 9.0.0"]);
}

#[test]
fn a_core_module_is_not_a_component() {
    let node = installed_node();
    let manager = node.manager();
    // The header of a core module (version 1), with a signed manifest after it.
    let mut core = b"\0asm\x01\0\0\0".to_vec();
    core.extend(custom_section(
        "anya-manifest",
        common::manifest_of(&BECH32_1_1_0).to_toml().as_bytes(),
    ));
    assert_refused(&node, &manager, &core, &["core module"]);
}

#[test]
fn a_file_over_the_size_cap_is_refused_before_it_is_read() {
    let node = installed_node();
    let manager = node.manager_with(Options {
        max_package_bytes: 1024 * 1024,
        ..Options::default()
    });
    let path = node.put_in_registry("bech32", "1.1.0", b"");
    // Sparse: 17 MiB that are never read.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(17 * 1024 * 1024)
        .unwrap();
    let before = node.snapshot();
    let err = manager
        .install(&bech32(), Some(&Version::new(1, 1, 0)), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(path.to_str().unwrap()) && err.contains("size cap"),
        "{err}"
    );
    assert_eq!(before, node.snapshot());
    drop(manager);
    // The default cap is 16 MiB.
    let err = node
        .manager()
        .install(&bech32(), Some(&Version::new(1, 1, 0)), false)
        .unwrap_err();
    assert!(
        err.to_string().contains("over the 16777216-byte size cap"),
        "{err}"
    );
}

#[test]
fn the_cli_names_file_component_and_reason_with_exit_code_3() {
    let node = installed_node();
    let path = node.put_in_registry("bech32", "1.1.0", &package(&BECH32_1_1_0, &[&key(9)]));
    let before = node.snapshot();
    let out = node.anya(&["install", "bech32"]);
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(
        stderr.contains("bech32 1.1.0") && stderr.contains("unknown key"),
        "{stderr}"
    );
    common::assert_refusal_journaled(&node, &before);
}

/// Issue 11, bug 1: every file Anya is given is read only if it is a regular file, and
/// through a cap: `/dev/zero` (directly or through a link) and a FIFO are refused at once
/// by name, instead of being read until memory runs out or waiting for a writer forever.
#[test]
fn devices_and_fifos_where_files_belong_are_refused_at_once() {
    let node = installed_node();
    let started = std::time::Instant::now();
    let refused = |args: &[&str], file: &str, what: &str| {
        let out = node.anya(args);
        let (_, stderr) = common::text(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(file) && stderr.contains(&format!("is {what}, not a regular file")),
            "{args:?}: {stderr}"
        );
    };
    refused(
        &["--policy", "/dev/zero", "check"],
        "/dev/zero",
        "a character device",
    );
    let link = node.root().join("policy-link.toml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    refused(
        &["--policy", link.to_str().unwrap(), "check"],
        "policy-link.toml",
        "a character device",
    );
    let fifo = node.state().join("update_policy.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused(&["check"], "update_policy.toml", "a FIFO");
    std::fs::remove_file(&fifo).unwrap();
    let key_stem = node.root().join("k");
    assert!(
        node.anya(&["key", "generate", "--out", key_stem.to_str().unwrap()])
            .status
            .success()
    );
    let wasm = node.root().join("in.wasm");
    std::fs::write(&wasm, BECH32_1_1_0.wasm_bytes()).unwrap();
    refused(
        &[
            "sign",
            wasm.to_str().unwrap(),
            "--manifest",
            "/dev/zero",
            "--key",
            node.root().join("k.key").to_str().unwrap(),
        ],
        "/dev/zero",
        "a character device",
    );
    refused(
        &["serve", "--token-file", "/dev/zero"],
        "/dev/zero",
        "a character device",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// Issue 11, bug 10: with `state.json` deleted but the journal still there, Anya does not
/// start afresh (which would forget the watermark and let a downgrade through): every
/// command refuses, naming the file and what to do, and nothing is written.
#[test]
fn a_lost_state_file_is_not_taken_for_a_new_host() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    node.publish(&anya_fixtures::BIP173_VECTORS);
    node.publish(&BIP350_VECTORS);
    assert!(node.anya(&["install", "bech32", "1.1.0"]).status.success());
    std::fs::remove_file(node.state().join("state.json")).unwrap();
    let before = node.snapshot();
    for args in [&["install", "bech32", "1.0.0"][..], &["status"][..]] {
        let out = node.anya(args);
        let (_, stderr) = common::text(&out);
        assert!(!out.status.success(), "{args:?} went through: {stderr}");
        assert!(
            stderr.contains(
                "state.json is missing, but the journal records installs on this host (1)"
            ) && stderr.contains("Put state.json back"),
            "{args:?}: {stderr}"
        );
        assert_eq!(before, node.snapshot(), "{args:?} changed the state folder");
    }
    // Moving the journal aside is starting afresh, knowingly.
    std::fs::rename(
        node.state().join("journal.jsonl"),
        node.root().join("journal.jsonl.old"),
    )
    .unwrap();
    assert!(node.anya(&["status"]).status.success());
}

/// Issue 11, bug 13: with a newest registry file that does not verify, `check`, `status`
/// and `install NAME` agree: the newest version that verifies (the broken one is skipped,
/// and said so).
#[test]
fn the_commands_agree_on_a_broken_newest_file() {
    let node = installed_node();
    node.publish(&BECH32_1_1_0);
    node.publish(&anya_fixtures::BIP173_VECTORS);
    node.put_in_registry("bech32", "2.0.0", &package(&BECH32_1_1_0, &[&key(9)]));

    let check: serde_json::Value =
        serde_json::from_slice(&node.anya(&["--json", "check"]).stdout).unwrap();
    assert_eq!(check["updates"][0]["available_version"], "1.1.0", "{check}");
    assert_eq!(check["problems"][0]["version"], "2.0.0", "{check}");

    let status: serde_json::Value =
        serde_json::from_slice(&node.anya(&["--json", "status"]).stdout).unwrap();
    assert_eq!(
        status["components"][0]["latest_in_registry"], "1.1.0",
        "{status}"
    );

    let out = node.anya(&["install", "bech32"]);
    let (stdout, stderr) = common::text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("installed bech32 1.1.0"), "{stdout}");
    assert!(
        stderr.contains("2.0.0") && stderr.contains("does not verify"),
        "{stderr}"
    );
}
