//! The CNCF "Wasm OCI Artifact" layout Anya pushes and pulls: an OCI image manifest whose
//! config has the media type `application/vnd.wasm.config.v0+json` and whose one layer is
//! the component (`application/wasm`). On pull, Spin's layer type is accepted too.
//!
//! Nothing here is trusted: the layer's bytes are checked against the manifest's digest and
//! size, then verified as a signed package like any other.

use std::collections::BTreeMap;

use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use serde::Serialize;

use crate::ids::Digest;
use crate::index::DocumentKind;
use crate::manifest::Manifest;

/// The manifest's own media type.
pub const MANIFEST_MEDIA_TYPE: &str = OCI_IMAGE_MEDIA_TYPE;
/// The CNCF Wasm artifact's config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The CNCF Wasm artifact's layer: the component's bytes.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Spin's layer type for a component, accepted on pull.
pub const SPIN_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// An index document's artifact: OCI 1.1's empty config, the document's payload type as
/// the artifact type, one layer holding the signed envelope.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// A manifest is a small JSON document (the distribution spec suggests 4 MiB at most).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// The `sha256:HEX` form OCI names content by.
pub fn oci_digest(digest: &Digest) -> String {
    format!("sha256:{}", digest.to_hex())
}

/// A manifest and config ready to push for one package.
pub struct Artifact {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
}

/// The CNCF config: what the artifact is (`architecture` "wasm", `os` "wasip2") and its
/// layer's digest. No creation time, so the same package always makes the same artifact
/// and publishing it again changes nothing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    architecture: &'static str,
    os: &'static str,
    layer_digests: [&'a str; 1],
}

impl Artifact {
    /// The artifact of `bytes`, a package whose (verified) manifest is `manifest`.
    pub fn of(bytes: &[u8], digest: &Digest, manifest: &Manifest) -> Self {
        let layer_digest = oci_digest(digest);
        let config = serde_json::to_vec(&WasmConfig {
            architecture: "wasm",
            os: "wasip2",
            layer_digests: [&layer_digest],
        })
        .expect("a config serializes");
        let annotations = BTreeMap::from([
            (
                "org.opencontainers.image.title".to_owned(),
                format!("{}-{}.wasm", manifest.name, manifest.version),
            ),
            (
                "org.opencontainers.image.version".to_owned(),
                manifest.version.to_string(),
            ),
        ]);
        Self::image(
            (CONFIG_MEDIA_TYPE, config),
            (LAYER_MEDIA_TYPE, bytes, layer_digest),
            None,
            annotations,
        )
    }

    /// The artifact of a signed index document of `kind`.
    pub fn of_index_document(kind: DocumentKind, envelope: &[u8]) -> Self {
        Self::image(
            (EMPTY_CONFIG_MEDIA_TYPE, b"{}".to_vec()),
            (
                ENVELOPE_MEDIA_TYPE,
                envelope,
                oci_digest(&Digest::of(envelope)),
            ),
            Some(kind.payload_type()),
            BTreeMap::from([(
                "org.opencontainers.image.title".to_owned(),
                format!("{}.json", kind.stem()),
            )]),
        )
    }

    /// An image manifest of one config and one layer.
    fn image(
        (config_media_type, config): (&str, Vec<u8>),
        (layer_media_type, layer, layer_digest): (&str, &[u8], String),
        artifact_type: Option<&str>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        let config_digest = oci_digest(&Digest::of(&config));
        let oci_manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
            config: OciDescriptor {
                media_type: config_media_type.to_owned(),
                digest: config_digest.clone(),
                size: config.len() as i64,
                ..Default::default()
            },
            layers: vec![OciDescriptor {
                media_type: layer_media_type.to_owned(),
                digest: layer_digest,
                size: layer.len() as i64,
                ..Default::default()
            }],
            subject: None,
            artifact_type: artifact_type.map(str::to_owned),
            annotations: Some(annotations),
        };
        let manifest = serde_json::to_vec(&oci_manifest).expect("a manifest serializes");
        let manifest_digest = oci_digest(&Digest::of(&manifest));
        Self {
            config,
            config_digest,
            manifest,
            manifest_digest,
        }
    }
}

/// Why a pulled manifest is not a component artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the manifest is not JSON of an OCI image manifest: {0}")]
    NotAManifest(String),
    #[error("the manifest has {0} layers; a component artifact has exactly one")]
    LayerCount(usize),
    #[error("its layer is {found:?}, not {expected}")]
    LayerType {
        found: String,
        expected: &'static str,
    },
    #[error("its layer's digest {0:?} is not sha256:<64 hex digits>")]
    LayerDigest(String),
    #[error("its layer's size {0} is negative")]
    LayerSize(i64),
}

/// What a layer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// A WebAssembly component (ours or Spin's layer type).
    Component,
    /// A signed index document.
    IndexDocument,
}

impl LayerKind {
    fn accepts(self, media_type: &str) -> bool {
        match self {
            Self::Component => {
                media_type == LAYER_MEDIA_TYPE || media_type == SPIN_LAYER_MEDIA_TYPE
            }
            Self::IndexDocument => media_type == ENVELOPE_MEDIA_TYPE,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::Component => {
                "a WebAssembly component (application/wasm or \
                                application/vnd.wasm.content.layer.v1+wasm)"
            }
            Self::IndexDocument => {
                "a signed index document (application/vnd.dsse.envelope.v1+json)"
            }
        }
    }
}

/// The one component layer of a pulled manifest: its digest and size.
pub fn component_layer(manifest: &[u8]) -> Result<(OciDescriptor, Digest, u64), LayoutError> {
    single_layer(manifest, LayerKind::Component)
}

/// The one layer of `kind` of a pulled manifest: its descriptor, digest and size.
pub fn single_layer(
    manifest: &[u8],
    kind: LayerKind,
) -> Result<(OciDescriptor, Digest, u64), LayoutError> {
    let manifest: OciImageManifest =
        serde_json::from_slice(manifest).map_err(|e| LayoutError::NotAManifest(e.to_string()))?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(LayoutError::LayerCount(manifest.layers.len()));
    };
    if !kind.accepts(&layer.media_type) {
        return Err(LayoutError::LayerType {
            found: layer.media_type.chars().take(100).collect(),
            expected: kind.expected(),
        });
    }
    let digest = layer
        .digest
        .strip_prefix("sha256:")
        .and_then(|hex| Digest::from_hex(hex).ok())
        .ok_or_else(|| LayoutError::LayerDigest(layer.digest.chars().take(100).collect()))?;
    let size = u64::try_from(layer.size).map_err(|_| LayoutError::LayerSize(layer.size))?;
    // Only what the digest binds: a descriptor's `urls` would let the registry send the
    // client to any address when the blob is not served.
    let descriptor = OciDescriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        ..Default::default()
    };
    Ok((descriptor, digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse("name = \"bech32\"\nversion = \"1.1.0\"\nupdate_type = \"feature\"\n")
            .unwrap()
    }

    #[test]
    fn the_same_package_makes_the_same_artifact() {
        let bytes = b"\0asm component bytes";
        let digest = Digest::of(bytes);
        let a = Artifact::of(bytes, &digest, &manifest());
        let b = Artifact::of(bytes, &digest, &manifest());
        assert_eq!(a.manifest, b.manifest);
        assert_eq!(a.manifest_digest, oci_digest(&Digest::of(&a.manifest)));

        let parsed: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(parsed["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(parsed["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        let config: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["layerDigests"][0], oci_digest(&digest));

        let (_, layer_digest, size) = component_layer(&a.manifest).unwrap();
        assert_eq!(layer_digest, digest);
        assert_eq!(size, bytes.len() as u64);
    }

    #[test]
    fn other_artifacts_are_refused_saying_why() {
        let with_layers = |layers: &str| {
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"sha256:{z}","size":1}},
                    "layers":[{layers}]}}"#,
                z = "0".repeat(64)
            )
        };
        let layer = |media: &str, digest: &str, size: i64| {
            format!(r#"{{"mediaType":"{media}","digest":"{digest}","size":{size}}}"#)
        };
        let good = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("{".to_owned(), "not JSON"),
            (with_layers(""), "0 layers"),
            (
                with_layers(&format!(
                    "{},{}",
                    layer(LAYER_MEDIA_TYPE, &good, 1),
                    layer(LAYER_MEDIA_TYPE, &good, 1)
                )),
                "2 layers",
            ),
            (
                with_layers(&layer("application/vnd.oci.image.layer.v1.tar", &good, 1)),
                "not a WebAssembly component",
            ),
            (
                with_layers(&layer(LAYER_MEDIA_TYPE, "sha512:abc", 1)),
                "sha256:<64 hex",
            ),
            (with_layers(&layer(LAYER_MEDIA_TYPE, &good, -1)), "negative"),
        ];
        for (manifest, fragment) in cases {
            let err = component_layer(manifest.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(fragment), "{manifest}: {err}");
        }
        let spin = with_layers(&layer(SPIN_LAYER_MEDIA_TYPE, &good, 7));
        assert_eq!(component_layer(spin.as_bytes()).unwrap().2, 7);
    }
}
