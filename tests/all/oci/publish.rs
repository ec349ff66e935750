//! Publishing to a real registry, reading it back with skopeo, and installing from it.

use std::os::unix::fs::PermissionsExt;

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, BECH32_BROKEN};
use anya_host::ids::Digest;

use super::{Distribution, PASSWORD, USER, anya_at, signed_files, skopeo_manifest};
use crate::common::{Node, key, manifest_of, package_with, snapshot, text};

#[test]
fn a_host_installs_and_upgrades_from_a_real_oci_registry() {
    let registry = Distribution::start();
    let url = registry.url("anya/plugins");
    let node = Node::new();
    let files = signed_files(node.root(), &[&BECH32_1_0_0, &BECH32_1_1_0]);

    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let out = super::publish_files(&node, &url, &files);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "published bech32 1.1.0 -> {url}/bech32:1.1.0@sha256:"
        )),
        "{stdout}"
    );

    // What an independent client reads is the CNCF Wasm artifact of exactly these bytes.
    let bytes = std::fs::read(node.root().join("bech32-1.1.0.wasm")).unwrap();
    let manifest = skopeo_manifest(&registry, "anya/plugins/bech32:1.1.0");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", Digest::of(&bytes).to_hex())
    );
    assert_eq!(layers[0]["size"], bytes.len());

    // The host lists, installs, calls, checks and upgrades from it.
    let list = anya_at(&node, &url, &["list"]);
    assert!(text(&list).0.contains("1.1.0"), "{:?}", text(&list));
    let install = anya_at(&node, &url, &["install", "bech32", "1.0.0"]);
    assert!(install.status.success(), "{:?}", text(&install));
    let call = anya_at(
        &node,
        &url,
        &[
            "call",
            "bech32",
            "decode",
            "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
        ],
    );
    assert!(
        text(&call).0.contains("\"hrp\":\"bc\""),
        "{:?}",
        text(&call)
    );
    let check = anya_at(&node, &url, &["check"]);
    assert_eq!(check.status.code(), Some(100), "{:?}", text(&check));
    let upgrade = anya_at(&node, &url, &["install", "bech32"]);
    assert!(
        text(&upgrade)
            .0
            .contains("installed bech32 1.1.0 (was 1.0.0)"),
        "{:?}",
        text(&upgrade)
    );
    // The same bytes again change nothing; other bytes under a published version are
    // refused, and the registry keeps the original.
    let again = node.anya(&["publish", "--to", &url, &names[names.len() - 1]]);
    assert!(again.status.success(), "{:?}", text(&again));
    let mut impostor = manifest_of(&BECH32_BROKEN);
    impostor.version = "1.1.0".parse().unwrap();
    let impostor_path = node.root().join("impostor.wasm");
    std::fs::write(
        &impostor_path,
        package_with(&BECH32_BROKEN, &impostor, &[&key(1)]),
    )
    .unwrap();
    let refused = node.anya(&["publish", "--to", &url, impostor_path.to_str().unwrap()]);
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("already published with different content"),
        "{stderr}"
    );
    assert_eq!(
        skopeo_manifest(&registry, "anya/plugins/bech32:1.1.0"),
        manifest
    );
}

#[test]
fn credentials_open_a_password_protected_registry() {
    let registry = Distribution::start_with_password();
    let url = registry.url("anya");
    let node = Node::new();
    let files = signed_files(node.root(), &[&BECH32_1_0_0]);
    let mut publish: Vec<&str> = vec!["publish", "--to", &url];
    publish.extend(files.iter().map(|p| p.to_str().unwrap()));

    let anonymous = node.anya(&publish);
    let (_, stderr) = text(&anonymous);
    assert!(!anonymous.status.success());
    assert!(stderr.contains("refused the credentials"), "{stderr}");

    let credentials = node.root().join("registry-credentials.toml");
    std::fs::write(
        &credentials,
        format!(
            "[\"127.0.0.1:{}\"]\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n",
            registry.port
        ),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o644)).unwrap();
    let with = |args: &[&str]| {
        let mut all = vec!["--registry-credentials", credentials.to_str().unwrap()];
        all.extend_from_slice(args);
        node.anya(&all)
    };
    let too_open = with(&publish);
    let (_, stderr) = text(&too_open);
    assert!(!too_open.status.success());
    assert!(
        stderr.contains("readable by others") && stderr.contains("chmod 600"),
        "{stderr}"
    );

    // A malformed file is refused without quoting what it holds (it may be a secret).
    let port = registry.port;
    std::fs::write(
        &credentials,
        format!("[\"127.0.0.1:{port}\"]\npassword = {PASSWORD}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    let malformed = with(&publish);
    let (_, stderr) = text(&malformed);
    assert!(!malformed.status.success());
    assert!(stderr.contains("near line 2"), "{stderr}");
    assert!(
        !stderr.contains(PASSWORD),
        "a secret is never printed: {stderr}"
    );
    std::fs::write(
        &credentials,
        format!("[\"127.0.0.1:{port}\"]\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n"),
    )
    .unwrap();

    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    let published = with(&publish);
    assert!(published.status.success(), "{:?}", text(&published));

    // Another host signs in with Docker's config.json instead.
    let other = Node::new();
    let docker = other.root().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64_of(&format!("{USER}:{PASSWORD}"));
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"127.0.0.1:{}": {{"auth": "{auth}"}}}}}}"#,
            registry.port
        ),
    )
    .unwrap();
    let before = snapshot(&other.state());
    let install = other
        .command_at(
            &crate::common::anya_bin(),
            url.as_ref(),
            &["install", "bech32", "1.0.0"],
        )
        .env("DOCKER_CONFIG", &docker)
        .output()
        .unwrap();
    assert!(install.status.success(), "{:?}", text(&install));
    assert_ne!(before, snapshot(&other.state()));
    // Without credentials the registry refuses; `status` still shows what is installed.
    let status = anya_at(&other, &url, &["status"]);
    let (stdout, stderr) = text(&status);
    assert!(status.status.success(), "{stderr}");
    assert!(
        stdout.contains("bech32") && stdout.contains("1.0.0"),
        "{stdout}"
    );
    assert!(
        stderr.contains("refused the credentials")
            && stderr.contains("without what the registry offers"),
        "{stderr}"
    );
    let published = std::fs::read(node.root().join("bech32-1.0.0.wasm")).unwrap();
    let installed = other.manager().status().unwrap().components;
    assert_eq!(installed[0].digest, Digest::of(&published));
}

/// Standard base64, for Docker's `auth` field.
fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
