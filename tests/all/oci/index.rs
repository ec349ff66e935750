//! The signed index in a real OCI registry: pushed as an OCI 1.1 artifact an independent
//! client reads, followed by a host that pulls packages by the digest it lists, and what a
//! check that finds nothing new costs.

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0};

use super::{Distribution, anya_at, publish_files, signed_files, skopeo_manifest};
use crate::common::{Node, text};
use crate::index::{generate, pin_index_root};

/// Runs `anya` against `url` and asserts it exited with `code`; its stdout.
fn exits(node: &Node, url: &str, args: &[&str], code: i32) -> String {
    let out = anya_at(node, url, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "anya {args:?}: {stdout}{stderr}"
    );
    stdout
}

#[test]
fn a_host_follows_an_index_in_an_oci_registry_pulling_what_it_lists_by_digest() {
    let registry = Distribution::start();
    let url = registry.url("anya/plugins");
    let node = Node::new();
    let files = signed_files(node.root(), &[&BECH32_1_0_0, &BECH32_1_1_0]);
    let out = publish_files(&node, &url, &files);
    assert!(out.status.success(), "{:?}", text(&out));
    let offline = generate(&node, "offline");
    pin_index_root(&node, &[&offline], 1);
    let secret = offline.secret.to_str().unwrap();
    let out = exits(&node, &url, &["index", "release", "--key", secret], 0);
    assert!(out.contains("anya.index:release@sha256:"), "{out}");

    // What an independent client reads: an OCI 1.1 artifact holding the envelope.
    let manifest = skopeo_manifest(&registry, "anya/plugins/anya.index:release");
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.anya.release.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.dsse.envelope.v1+json"
    );

    // The host pulls each package by the manifest digest the index lists, never a tag.
    let before = registry.served().len();
    exits(&node, &url, &["install", "bech32", "1.0.0"], 0);
    let pulls: Vec<_> = registry.served()[before..]
        .iter()
        .filter(|r| r.path.contains("/bech32/manifests/"))
        .cloned()
        .collect();
    assert!(
        !pulls.is_empty() && pulls.iter().all(|r| r.path.contains("/manifests/sha256:")),
        "{pulls:?}"
    );
    exits(&node, &url, &["install", "bech32"], 0);

    // A check that finds nothing new reads the index and nothing else.
    let before = registry.served().len();
    exits(&node, &url, &["check"], 0);
    let check = registry.served()[before..].to_vec();
    assert!(
        check
            .iter()
            .all(|r| r.path == "/v2/" || r.path.starts_with("/v2/anya/plugins/anya.index/")),
        "{check:?}"
    );
    let bytes: u64 = check.iter().map(|r| r.bytes).sum();
    eprintln!(
        "an unchanged check with the index: {} requests, {bytes} bytes",
        check.len()
    );
    assert!(bytes < 16 << 10, "{bytes} bytes: {check:?}");
}
