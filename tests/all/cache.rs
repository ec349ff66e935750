//! The compiled-code cache: written and read only by the host; a tampered file is
//! detected and recompiled, never run.

use anya_fixtures::BECH32_1_0_0;
use anya_host::ids::ComponentName;
use anya_host::package;
use anya_host::runtime::Origin;
use serde_json::json;

use crate::common::Node;

/// The compiled files of `digest` (the validators that ran have their own).
fn cache_files(node: &Node, digest: anya_host::ids::Digest) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(node.state().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&digest.to_hex())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_tampered_compiled_file_is_recompiled_never_run() {
    let node = Node::new();
    let package_path = node.publish(&BECH32_1_0_0);
    let bech32 = ComponentName::parse("bech32").unwrap();
    node.manager().install(&bech32, None, false).unwrap();
    let trust = anya_host::trust::TrustStore::load(&node.trust_path()).unwrap();
    let verified = package::verify(std::fs::read(&package_path).unwrap(), &trust).unwrap();
    let files = cache_files(&node, verified.digest());
    assert_eq!(files.len(), 1, "{files:?}");

    // A new process (a new runtime) finds the compiled code in the cache.
    let manager = node.manager();
    let loaded = manager.runtime().unwrap().load(&verified).unwrap();
    assert_eq!(loaded.origin(), Origin::Cached);
    drop(manager);

    // Flip one bit in the middle of the compiled code.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&files[0], &bytes).unwrap();

    let manager = node.manager();
    let loaded = manager.runtime().unwrap().load(&verified).unwrap();
    assert_eq!(
        loaded.origin(),
        Origin::Compiled,
        "a tampered cache file was used"
    );
    let rewritten = std::fs::read(&files[0]).unwrap();
    assert_ne!(rewritten, bytes, "the tampered file is still there");
    let answer = manager
        .call(
            &bech32,
            "decode",
            json!("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        )
        .unwrap();
    assert_eq!(answer["ok"]["witness-version"], 0, "{answer}");
    drop(manager);

    // A truncated file too.
    std::fs::write(&files[0], &rewritten[..rewritten.len() / 3]).unwrap();
    let manager = node.manager();
    assert_eq!(
        manager.runtime().unwrap().load(&verified).unwrap().origin(),
        Origin::Compiled
    );
}

#[test]
fn an_empty_cache_key_is_replaced_and_calls_go_on() {
    // A crash or a full disk can leave the cache key empty: every call failed, and the
    // key was never written again.
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    let out = node.anya(&["install", "bech32", "1.0.0"]);
    assert!(out.status.success(), "{:?}", crate::common::text(&out));
    let key = node.state().join("cache").join("cache.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    std::fs::write(&key, b"").unwrap();
    let out = node.anya(&[
        "call",
        "bech32",
        "decode",
        "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
    ]);
    let (stdout, stderr) = crate::common::text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("\"ok\""), "{stdout}");
    assert_eq!(
        std::fs::read(&key).unwrap().len(),
        32,
        "the key was not written again"
    );
}
