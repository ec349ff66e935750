//! Registries that lie: artifacts of another kind, a blob whose bytes are not the digest
//! named, a blob that never ends, one over the cap, one that never arrives. Each is
//! refused saying why, and the host keeps serving what it had.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0};
use anya_host::ids::{ComponentName, Digest};
use anya_host::registry::oci::credentials::CredentialsSource;
use anya_host::registry::{OciError, OciRegistry, RegistryError, RegistryLocation};
use anya_host::store::{Access, Store};
use anya_host::trust::TrustStore;
use anya_host::update::{Options, UpdateError, UpdateManager};

use super::{Distribution, anya_at, signed_files};
use crate::common::{Node, key, package, snapshot, text, without_journal};

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

/// A node with bech32 1.0.0 installed (from its folder registry).
fn node_on_bech32_1_0() -> Node {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.manager()
        .install(&name("bech32"), None, false)
        .unwrap();
    node
}

/// `node`'s manager reading from the OCI registry at `url`, giving up after `timeout`.
fn manager_at(node: &Node, url: &str, timeout: Duration) -> UpdateManager {
    let RegistryLocation::Oci(location) = url.parse().unwrap() else {
        panic!("{url} is no OCI address")
    };
    let registry = OciRegistry::new(location, CredentialsSource::None)
        .unwrap()
        .with_timeout(timeout);
    UpdateManager::new(
        Store::open(&node.state(), Access::Write).unwrap(),
        TrustStore::load(&node.trust_path()).unwrap(),
        Box::new(registry),
        Options::default(),
        node.clock(),
    )
    .unwrap()
}

/// Asserts that `node` still serves bech32 1.0.0 and its state is as `before` (but for
/// the journal).
#[track_caller]
fn still_serving_1_0(
    node: &Node,
    before: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
) {
    assert_eq!(
        without_journal(before.clone()),
        without_journal(node.snapshot())
    );
    let manager = node.manager();
    let status = manager.status().unwrap();
    let bech32 = status
        .components
        .iter()
        .find(|c| c.name == name("bech32"))
        .unwrap();
    assert_eq!(bech32.version.to_string(), "1.0.0");
    let answer = manager
        .call(
            &name("bech32"),
            "decode",
            serde_json::json!(["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]),
        )
        .unwrap();
    assert!(answer.to_string().contains("\"bc\""), "{answer}");
}

/// How the hostile registry answers for the blob.
#[derive(Clone, Copy, Debug)]
enum Lie {
    /// Other bytes of the same length.
    OtherBytes,
    /// The right bytes, then more, forever.
    Endless,
    /// A manifest claiming a layer larger than any package may be.
    HugeLayer,
    /// Headers, then nothing.
    Stall,
}

/// A registry on loopback that serves bech32 1.1.0's manifest truthfully and its blob as
/// `lie` says.
struct Hostile {
    port: u16,
    stop: Arc<AtomicBool>,
    /// How many blob requests it received.
    blob_requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl Hostile {
    fn start(lie: Lie) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let package = package(&BECH32_1_1_0, &[&key(1)]);
        let digest = format!("sha256:{}", Digest::of(&package).to_hex());
        let size = match lie {
            Lie::HugeLayer => 1u64 << 40,
            _ => package.len() as u64,
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.wasm.config.v0+json",
                       "digest": format!("sha256:{}", "0".repeat(64)), "size": 2},
            "layers": [{"mediaType": "application/wasm", "digest": digest, "size": size}],
        })
        .to_string();
        let flag = Arc::clone(&stop);
        let blob_requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&blob_requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (manifest, package, flag, counter) = (
                    manifest.clone(),
                    package.clone(),
                    Arc::clone(&flag),
                    Arc::clone(&counter),
                );
                std::thread::spawn(move || {
                    serve(stream, lie, &manifest, &package, &flag, &counter)
                });
            }
        });
        Self {
            port,
            stop,
            blob_requests,
        }
    }

    fn url(&self) -> String {
        format!("oci://127.0.0.1:{}/anya", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One connection: requests until the client closes it.
fn serve(
    stream: TcpStream,
    lie: Lie,
    manifest: &str,
    package: &[u8],
    stop: &AtomicBool,
    blob_requests: &std::sync::atomic::AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
        let respond = |out: &mut TcpStream, content_type: &str, body: &[u8]| {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(body);
        };
        if path.contains("/manifests/") {
            respond(
                &mut out,
                "application/vnd.oci.image.manifest.v1+json",
                manifest.as_bytes(),
            );
        } else if path.contains("/blobs/") {
            blob_requests.fetch_add(1, Ordering::Relaxed);
            serve_blob(&mut out, lie, package, stop);
            return;
        } else if path.contains("/tags/list") {
            respond(
                &mut out,
                "application/json",
                br#"{"name":"anya/bech32","tags":["1.1.0"]}"#,
            );
        } else {
            respond(&mut out, "application/json", b"{}");
        }
    }
}

fn serve_blob(out: &mut TcpStream, lie: Lie, package: &[u8], stop: &AtomicBool) {
    match lie {
        Lie::OtherBytes => {
            let mut other = package.to_vec();
            let last = other.len() - 1;
            other[last] ^= 1;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", other.len());
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(&other);
        }
        Lie::Endless | Lie::HugeLayer => {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let _ = out.write_all(package);
            let chunk = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) && out.write_all(&chunk).is_ok() {}
        }
        Lie::Stall => {
            let _ = out.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    package.len()
                )
                .as_bytes(),
            );
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The refusal `lie` earns, after the node tried to install bech32 1.1.0 through it, and
/// how many blob requests the registry received.
fn refusal(lie: Lie) -> (OciError, usize) {
    let node = node_on_bech32_1_0();
    let before = node.snapshot();
    let hostile = Hostile::start(lie);
    let manager = manager_at(&node, &hostile.url(), Duration::from_secs(3));
    let err = manager
        .install(&name("bech32"), Some(&"1.1.0".parse().unwrap()), false)
        .unwrap_err();
    drop(manager);
    still_serving_1_0(&node, &before);
    let blob_requests = hostile.blob_requests.load(Ordering::Relaxed);
    match err {
        UpdateError::Registry(RegistryError::Remote { reason, .. }) => (reason, blob_requests),
        other => panic!("{lie:?}: {other}"),
    }
}

#[test]
fn a_blob_that_is_not_its_digest_is_refused() {
    let (err, _) = refusal(Lie::OtherBytes);
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("digest"), "{err}");
}

#[test]
fn a_blob_that_never_ends_is_cut_at_its_length() {
    let (err, _) = refusal(Lie::Endless);
    assert!(matches!(err, OciError::LengthMismatch { .. }), "{err}");
}

#[test]
fn a_layer_over_the_cap_is_refused_before_it_is_read() {
    let (err, blob_requests) = refusal(Lie::HugeLayer);
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");
    assert_eq!(
        blob_requests, 0,
        "refused from the manifest, before any byte"
    );
    assert!(err.to_string().contains("cap"), "{err}");
}

#[test]
fn a_blob_that_never_arrives_times_out() {
    let started = std::time::Instant::now();
    let (err, _) = refusal(Lie::Stall);
    assert!(matches!(err, OciError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Pushes an artifact with `layer_media_type` holding `layer` as `repo:tag`, the way
/// another tool would (oci-client directly, not Anya's publish).
fn push_foreign(
    registry: &Distribution,
    repo: &str,
    tag: &str,
    layer_media_type: &str,
    layer: Vec<u8>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            use_monolithic_push: true,
            ..Default::default()
        });
        let reference = oci_client::Reference::with_tag(
            format!("127.0.0.1:{}", registry.port),
            repo.into(),
            tag.into(),
        );
        let config = br#"{"architecture":"wasm","os":"wasip2"}"#.to_vec();
        let digest = |b: &[u8]| format!("sha256:{}", Digest::of(b).to_hex());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.fermyon.spin.application.v1+config",
                       "digest": digest(&config), "size": config.len()},
            "layers": [{"mediaType": layer_media_type, "digest": digest(&layer), "size": layer.len()}],
        });
        client
            .push_blob(&reference, layer.clone(), &digest(&layer))
            .await
            .unwrap();
        client
            .push_blob(&reference, config.clone(), &digest(&config))
            .await
            .unwrap();
        client
            .push_manifest_raw(
                &reference,
                serde_json::to_vec(&manifest).unwrap(),
                http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
            )
            .await
            .unwrap();
    });
}

#[test]
fn a_spin_layer_is_installed_and_a_container_image_refused() {
    let registry = Distribution::start();
    let url = registry.url("anya");
    let node = Node::new();
    // The validators the normal way; bech32 as Spin would push it.
    let files = signed_files(node.root(), &[&BECH32_1_0_0]);
    let validators: Vec<&str> = files
        .iter()
        .filter(|p| !p.ends_with("bech32-1.0.0.wasm"))
        .map(|p| p.to_str().unwrap())
        .collect();
    let mut publish = vec!["publish", "--to", &url];
    publish.extend(validators);
    assert!(node.anya(&publish).status.success());
    push_foreign(
        &registry,
        "anya/bech32",
        "1.0.0",
        "application/vnd.wasm.content.layer.v1+wasm",
        package(&BECH32_1_0_0, &[&key(1)]),
    );
    let install = anya_at(&node, &url, &["install", "bech32", "1.0.0"]);
    assert!(install.status.success(), "{:?}", text(&install));

    // A container image's tar layer under a version tag is not a component.
    push_foreign(
        &registry,
        "anya/bech32",
        "1.1.0",
        "application/vnd.oci.image.layer.v1.tar",
        package(&BECH32_1_1_0, &[&key(1)]),
    );
    let before = snapshot(&node.state());
    let refused = anya_at(&node, &url, &["install", "bech32", "1.1.0"]);
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("not a WebAssembly component"), "{stderr}");
    still_serving_1_0(&node, &before);
}
