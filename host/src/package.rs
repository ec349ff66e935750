//! The package: one signed WebAssembly component that carries its manifest.
//!
//! Only [`verify`] builds a [`VerifiedPackage`]; everything that stores, compiles or runs a
//! package takes one, so unverified bytes cannot reach those steps.
//!
//! A package is `component header ‖ signature section ‖ content`, where the content holds
//! the component's sections and one top-level `anya-manifest` custom section (see
//! [`crate::signature`] for the signature format). [`verify`] checks, in this order and
//! on the exact bytes it keeps: the size cap, the header, the signature section, the content
//! hash, every signature against the trust store (`verify_strict`), and only then parses the
//! manifest (from the signed content) and checks each signer's scope and the threshold.
//!
//! Every signature must be by a trusted key and valid: a package carries no signature the
//! operator cannot check, so one flipped bit anywhere (header, signature section, manifest,
//! code) is refused, whatever the other signatures say.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::ids::{ComponentName, Digest, KeyId};
use crate::manifest::{MANIFEST_SECTION, Manifest, ManifestError};
use crate::signature::{self, BinaryKind, SignatureError};
use crate::trust::{TrustStore, TrustedKey};

/// A package whose signatures were checked against the trust store, with the exact bytes
/// that were checked (read once, hashed once: no time-of-check/time-of-use gap).
#[derive(Debug, Clone)]
pub struct VerifiedPackage {
    bytes: Arc<[u8]>,
    digest: Digest,
    manifest: Manifest,
    signers: Vec<KeyId>,
}

impl VerifiedPackage {
    /// Only the verification code in this module builds one.
    #[allow(dead_code)]
    pub(crate) fn new(bytes: Arc<[u8]>, manifest: Manifest, signers: Vec<KeyId>) -> Self {
        let digest = Digest::of(&bytes);
        Self {
            bytes,
            digest,
            manifest,
            signers,
        }
    }

    /// The whole file, as verified.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// sha256 of [`Self::bytes`]: the package's identity in the state folder.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The distinct trusted keys whose signatures counted.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }
}

/// The 8-byte header of a WebAssembly component (binary version 0x0d, layer 1).
pub const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\0\x01\0";

/// The largest package accepted by default, in bytes.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Why a package is refused. The caller adds the file and the component around it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The file cannot be read.
    #[error("cannot read the package: {0}")]
    Io(#[source] std::io::Error),
    /// A directory, device or other non-file.
    #[error("not a regular file")]
    NotAFile,
    /// Over the size cap; nothing beyond the cap was read.
    #[error("{len} bytes, over the {max}-byte size cap")]
    TooLarge { len: u64, max: u64 },
    /// A core module where a component is required.
    #[error("is a core module, not a component (wrap it with `wasm-tools component new`)")]
    CoreModule,
    /// Not a WebAssembly component header.
    #[error("not a WebAssembly component: {found}")]
    BadHeader { found: String },
    /// No signature section, or one without signatures.
    #[error("not signed: no signature in a `signature` section first after the header")]
    NotSigned,
    /// The top-level sections or the signature section are malformed.
    #[error("{0}")]
    Malformed(SignatureError),
    /// A signed-hash set does not cover the content: it changed after signing.
    #[error(
        "content hash mismatch: the signatures do not cover this content (sha256 {content}); \
         it was changed after signing"
    )]
    ContentHashMismatch { content: String },
    /// A trusted key's signature does not verify.
    #[error("invalid signature by key {key} ({label})")]
    InvalidSignature { key: KeyId, label: String },
    /// A signature by a key that is not in the trust store.
    #[error("signature by unknown key {key_id}: no key in the trust store matches it")]
    UnknownKey {
        /// Hex of the key id in the signature, or `(none)`.
        key_id: String,
    },
    /// A trusted key signed a name outside its `may_sign` globs.
    #[error("signature by key {key} ({label}) is not trusted for \"{name}\"")]
    NotAllowed {
        key: KeyId,
        label: String,
        name: ComponentName,
    },
    /// Fewer distinct trusted keys than the threshold for the name.
    #[error(
        "\"{name}\" needs signatures by {need} distinct trusted keys, has {have} \
         (a key's repeated signature counts once)"
    )]
    TooFewSignatures {
        name: ComponentName,
        have: usize,
        need: usize,
    },
    /// No top-level `anya-manifest` section.
    #[error("missing manifest: no `{MANIFEST_SECTION}` custom section")]
    MissingManifest,
    /// The manifest does not parse.
    #[error(transparent)]
    MalformedManifest(ManifestError),
}

impl From<SignatureError> for PackageError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::NotSigned => Self::NotSigned,
            SignatureError::BadHeader { found } => Self::BadHeader { found },
            other => Self::Malformed(other),
        }
    }
}

/// Reads a package file, refusing one over `max_bytes` before reading it into memory (the
/// size is checked from the metadata, and at most `max_bytes + 1` bytes are ever read, in
/// case the file grows meanwhile).
pub fn read_package_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, PackageError> {
    let (file, len) = match crate::files::open_regular(path, crate::files::Links::Follow) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(PackageError::NotAFile);
        }
        Err(e) => return Err(PackageError::Io(e)),
    };
    if len > max_bytes {
        return Err(PackageError::TooLarge {
            len,
            max: max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(PackageError::Io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(PackageError::TooLarge {
            len: bytes.len() as u64,
            max: max_bytes,
        });
    }
    Ok(bytes)
}

/// Checks that `bytes` starts with exactly [`COMPONENT_HEADER`]. The signature format does
/// not hash the header, so this check is what protects it.
pub fn check_header(bytes: &[u8]) -> Result<(), PackageError> {
    match signature::binary_kind(bytes) {
        Ok(BinaryKind::Component) => Ok(()),
        Ok(BinaryKind::CoreModule) => Err(PackageError::CoreModule),
        Err(e) => Err(e.into()),
    }
}

/// Adds (or replaces) the `anya-manifest` section of a component. Existing signatures are
/// dropped: they would no longer verify. Refuses a core module.
pub fn embed_manifest(component: &[u8], manifest: &Manifest) -> Result<Vec<u8>, PackageError> {
    check_header(component)?;
    let split = signature::split(component)?;
    if split.section.is_some() {
        tracing::info!("dropping the existing signatures: the manifest changes the content");
    }
    let text = manifest.to_toml();
    let mut out = Vec::with_capacity(component.len() + text.len() + 32);
    out.extend_from_slice(&COMPONENT_HEADER);
    for s in &split.content_sections {
        if s.name != Some(MANIFEST_SECTION) {
            out.extend_from_slice(&component[s.offset..s.end]);
        }
    }
    let mut payload = Vec::with_capacity(text.len() + 16);
    put_slice(&mut payload, MANIFEST_SECTION.as_bytes());
    payload.extend_from_slice(text.as_bytes());
    out.push(0);
    put_slice(&mut out, &payload);
    Ok(out)
}

/// Verifies a package against `trust` with the default size cap. See the module docs for
/// the order of the checks.
pub fn verify(
    bytes: impl Into<Arc<[u8]>>,
    trust: &TrustStore,
) -> Result<VerifiedPackage, PackageError> {
    verify_with_max(bytes, trust, DEFAULT_MAX_BYTES)
}

/// [`verify`] with another size cap.
pub fn verify_with_max(
    bytes: impl Into<Arc<[u8]>>,
    trust: &TrustStore,
    max_bytes: u64,
) -> Result<VerifiedPackage, PackageError> {
    let bytes: Arc<[u8]> = bytes.into();
    if bytes.len() as u64 > max_bytes {
        return Err(PackageError::TooLarge {
            len: bytes.len() as u64,
            max: max_bytes,
        });
    }
    check_header(&bytes)?;
    let split = signature::split(&bytes)?;
    let section = split.section.as_ref().ok_or(PackageError::NotSigned)?;
    if section.signatures().next().is_none() {
        return Err(PackageError::NotSigned);
    }

    // Every signed-hash set must cover the whole content: a partial or stale one signs
    // something other than what would be installed.
    let content_hash = split.content_hash();
    if !section
        .signed_hash_sets
        .iter()
        .all(|set| set.covers(&content_hash))
    {
        return Err(PackageError::ContentHashMismatch {
            content: hex::encode(content_hash),
        });
    }

    let mut signers: Vec<&TrustedKey> = Vec::new();
    for set in &section.signed_hash_sets {
        let message = set.message();
        for sig in &set.signatures {
            signers.push(check_signature(trust, &message, sig)?);
        }
    }

    // Only now, from the signed content, the manifest.
    let manifest = read_manifest(&split.content_sections)?;
    for key in &signers {
        if !key.may_sign(&manifest.name) {
            return Err(PackageError::NotAllowed {
                key: key.key_id(),
                label: key.name.clone(),
                name: manifest.name.clone(),
            });
        }
    }
    let mut seen = BTreeSet::new();
    let distinct: Vec<KeyId> = signers
        .iter()
        .map(|k| k.key_id())
        .filter(|id| seen.insert(*id))
        .collect();
    let need = trust.threshold(&manifest.name);
    if distinct.len() < need {
        return Err(PackageError::TooFewSignatures {
            name: manifest.name.clone(),
            have: distinct.len(),
            need,
        });
    }
    tracing::debug!(package = %manifest.label(), signers = distinct.len(), "package verified");
    Ok(VerifiedPackage::new(bytes, manifest, distinct))
}

/// Finds the trusted key that made `sig` and checks it with `verify_strict`.
fn check_signature<'t>(
    trust: &'t TrustStore,
    message: &[u8],
    sig: &signature::SignatureEntry,
) -> Result<&'t TrustedKey, PackageError> {
    if sig.key_id.is_empty() {
        // `wasmsign2 sign` without `-K` writes no key id: any trusted key may have made it.
        return trust
            .keys()
            .find(|k| k.key.verify_strict(message, &sig.signature))
            .ok_or_else(|| PackageError::UnknownKey {
                key_id: "(none)".into(),
            });
    }
    let key = trust
        .by_signature_key_id(&sig.key_id)
        .ok_or_else(|| PackageError::UnknownKey {
            key_id: hex::encode(&sig.key_id),
        })?;
    if !key.key.verify_strict(message, &sig.signature) {
        return Err(PackageError::InvalidSignature {
            key: key.key_id(),
            label: key.name.clone(),
        });
    }
    Ok(key)
}

/// The manifest from the one top-level `anya-manifest` section among `sections`.
fn read_manifest(sections: &[signature::RawSection<'_>]) -> Result<Manifest, PackageError> {
    let mut found = sections.iter().filter(|s| s.name == Some(MANIFEST_SECTION));
    let first = found.next().ok_or(PackageError::MissingManifest)?;
    if found.next().is_some() {
        return Err(PackageError::MalformedManifest(ManifestError::Malformed(
            format!("more than one `{MANIFEST_SECTION}` section"),
        )));
    }
    Manifest::from_section(first.data).map_err(PackageError::MalformedManifest)
}

/// What a package says about itself, unverified: for `anya inspect` and for tools.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub size: usize,
    /// sha256 of the whole file.
    pub digest: Digest,
    /// `component` or `core module`; `None` when the header is neither.
    pub kind: Option<&'static str>,
    pub manifest: Option<Manifest>,
    /// Why the manifest is missing or unreadable.
    pub manifest_error: Option<String>,
    pub signatures: Vec<InspectedSignature>,
    /// Why the signature section is missing or unreadable.
    pub signature_error: Option<String>,
    /// The component's WIT world, as `wit-component` prints it.
    pub wit: Option<String>,
    pub wit_error: Option<String>,
}

/// One signature, as found (nothing about it is checked but the content hash).
#[derive(Debug, Clone, Serialize)]
pub struct InspectedSignature {
    /// Hex of the key id written in the signature (empty when none).
    pub key_id: String,
    /// Whether its signed hashes cover the current content.
    pub covers_content: bool,
}

/// Describes `bytes` without trusting anything in them. Never fails: every part that cannot
/// be read is reported as such.
pub fn inspect(bytes: &[u8]) -> Inspection {
    let mut out = Inspection {
        size: bytes.len(),
        digest: Digest::of(bytes),
        kind: None,
        manifest: None,
        manifest_error: None,
        signatures: Vec::new(),
        signature_error: None,
        wit: None,
        wit_error: None,
    };
    let kind = match signature::binary_kind(bytes) {
        Ok(kind) => kind,
        Err(e) => {
            out.signature_error = Some(e.to_string());
            return out;
        }
    };
    out.kind = Some(match kind {
        BinaryKind::Component => "component",
        BinaryKind::CoreModule => "core module",
    });
    match signature::split(bytes) {
        Ok(split) => {
            match &split.section {
                Some(section) => {
                    let hash = split.content_hash();
                    out.signatures = section
                        .signatures()
                        .map(|(set, sig)| InspectedSignature {
                            key_id: hex::encode(&sig.key_id),
                            covers_content: set.covers(&hash),
                        })
                        .collect();
                }
                None => out.signature_error = Some(SignatureError::NotSigned.to_string()),
            }
            match read_manifest(&split.content_sections) {
                Ok(m) => out.manifest = Some(m),
                Err(e) => out.manifest_error = Some(e.to_string()),
            }
        }
        Err(e) => out.signature_error = Some(e.to_string()),
    }
    if kind == BinaryKind::Component {
        match print_world(bytes) {
            Ok(wit) => out.wit = Some(wit),
            Err(e) => out.wit_error = Some(e),
        }
    }
    out
}

fn print_world(bytes: &[u8]) -> Result<String, String> {
    let decoded = wit_component::decode(bytes).map_err(|e| format!("{e:#}"))?;
    let wit_parser::decoding::DecodedWasm::Component(resolve, world) = decoded else {
        return Err("a WIT package, not a component".into());
    };
    let package = resolve.worlds[world]
        .package
        .ok_or_else(|| "the component's world has no package".to_string())?;
    let mut printer = wit_component::WitPrinter::default();
    printer
        .print(&resolve, package, &[])
        .map_err(|e| format!("{e:#}"))?;
    Ok(printer.output.to_string())
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kind        {}", self.kind.unwrap_or("not WebAssembly"))?;
        writeln!(f, "size        {} bytes", self.size)?;
        writeln!(f, "digest      {}", self.digest)?;
        match (&self.manifest, &self.manifest_error) {
            (Some(m), _) => {
                writeln!(f, "manifest    {}", m.label())?;
                for line in m.to_toml().lines() {
                    writeln!(f, "  {line}")?;
                }
            }
            (None, Some(e)) => writeln!(f, "manifest    none: {e}")?,
            (None, None) => writeln!(f, "manifest    none")?,
        }
        if let Some(e) = &self.signature_error {
            writeln!(f, "signatures  {e}")?;
        } else {
            writeln!(f, "signatures  {} (unverified)", self.signatures.len())?;
            for s in &self.signatures {
                let id = if s.key_id.is_empty() {
                    "(no key id)"
                } else {
                    &s.key_id
                };
                let note = if s.covers_content {
                    ""
                } else {
                    "  (does not cover this content)"
                };
                writeln!(f, "  key id {id}{note}")?;
            }
        }
        match (&self.wit, &self.wit_error) {
            (Some(wit), _) => {
                writeln!(f, "wit")?;
                for line in wit.lines() {
                    writeln!(f, "  {line}")?;
                }
            }
            (None, Some(e)) => writeln!(f, "wit         cannot decode: {e}")?,
            (None, None) => {}
        }
        Ok(())
    }
}

fn put_slice(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut v = bytes.len();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use crate::signature::sign;

    const MANIFEST: &str = r#"
name = "bech32"
version = "1.1.0"
update_type = "feature"
bip_compliance = ["173"]
"#;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        put_slice(&mut payload, name.as_bytes());
        payload.extend_from_slice(data);
        let mut out = vec![0];
        put_slice(&mut out, &payload);
        out
    }

    /// A small component standing in for code: the header and a custom section.
    fn component() -> Vec<u8> {
        let mut c = COMPONENT_HEADER.to_vec();
        c.extend_from_slice(&custom("code", b"\x01\x02\x03 pretend code"));
        c
    }

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text).unwrap()
    }

    fn package(keys: &[u8]) -> Vec<u8> {
        let mut bytes = embed_manifest(&component(), &manifest(MANIFEST)).unwrap();
        for &k in keys {
            bytes = sign(&bytes, &key(k)).unwrap();
        }
        bytes
    }

    /// Trust keys `(seed, globs)`, plus optional threshold rules.
    fn trust(keys: &[(u8, &str)], thresholds: &[(&str, u32)]) -> TrustStore {
        let mut text = String::new();
        for (seed, globs) in keys {
            text.push_str(&format!(
                "[[key]]\nname = \"k{seed}\"\npublic_key = \"{}\"\nmay_sign = [{globs}]\n",
                key(*seed).public().to_hex()
            ));
        }
        for (names, n) in thresholds {
            text.push_str(&format!(
                "[[threshold]]\nnames = \"{names}\"\nsignatures = {n}\n"
            ));
        }
        TrustStore::parse(&text).unwrap()
    }

    #[test]
    fn a_signed_package_verifies_with_its_exact_bytes() {
        let bytes = package(&[1]);
        let verified = verify(bytes.clone(), &trust(&[(1, "\"bech*\"")], &[])).unwrap();
        assert_eq!(&verified.bytes()[..], &bytes[..]);
        assert_eq!(verified.digest(), Digest::of(&bytes));
        assert_eq!(verified.manifest().name.as_str(), "bech32");
        assert_eq!(verified.signers(), &[key(1).key_id()]);
    }

    #[test]
    fn one_flipped_bit_anywhere_is_refused() {
        let bytes = package(&[1]);
        let store = trust(&[(1, "\"*\"")], &[]);
        verify(bytes.clone(), &store).unwrap();
        let mut reasons = std::collections::BTreeMap::<String, usize>::new();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[i] ^= 1 << bit;
                match verify(flipped, &store) {
                    Ok(_) => panic!("flipping bit {bit} of byte {i} was accepted"),
                    Err(e) => {
                        let kind = format!("{e:?}");
                        let kind = kind.split([' ', '(', '{']).next().unwrap_or("").to_owned();
                        *reasons.entry(kind).or_default() += 1;
                    }
                }
            }
        }
        // The flips hit every part: header, signature section (framing, key id, signature
        // bytes, hashes) and the content.
        for kind in [
            "BadHeader",
            "Malformed",
            "ContentHashMismatch",
            "UnknownKey",
            "InvalidSignature",
            "NotSigned",
        ] {
            assert!(
                reasons.contains_key(kind),
                "no flip gave {kind}: {reasons:?}"
            );
        }
    }

    #[test]
    fn trust_scope_and_thresholds_are_enforced() {
        let one = package(&[1]);
        // Unknown key.
        let err = verify(one.clone(), &trust(&[(2, "\"*\"")], &[])).unwrap_err();
        assert!(matches!(err, PackageError::UnknownKey { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&hex::encode(key(1).public().signature_key_id())),
            "{err}"
        );
        // A trusted key signing a name outside its globs.
        let err = verify(one.clone(), &trust(&[(1, "\"bitcoin-*\", \"bip*\"")], &[])).unwrap_err();
        assert!(
            matches!(&err, PackageError::NotAllowed { key: k, .. } if *k == key(1).key_id()),
            "{err}"
        );
        assert!(err.to_string().contains("\"bech32\""), "{err}");
        // A second signature by a key trusted for other names still refuses the package.
        let two = package(&[1, 2]);
        let err = verify(two.clone(), &trust(&[(1, "\"*\""), (2, "\"x\"")], &[])).unwrap_err();
        assert!(matches!(err, PackageError::NotAllowed { .. }), "{err}");
        // Thresholds.
        let store = trust(&[(1, "\"*\""), (2, "\"*\"")], &[("bech32", 2)]);
        let err = verify(one.clone(), &store).unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::TooFewSignatures {
                    have: 1,
                    need: 2,
                    ..
                }
            ),
            "{err}"
        );
        let verified = verify(two, &store).unwrap();
        assert_eq!(verified.signers(), &[key(1).key_id(), key(2).key_id()]);
    }

    #[test]
    fn the_same_key_repeated_counts_once() {
        let one = package(&[1]);
        // Duplicate the signature entry by hand (our signer refuses to).
        let mut section = signature::read(&one).unwrap();
        let sig = section.signed_hash_sets[0].signatures[0].clone();
        section.signed_hash_sets[0].signatures.push(sig.clone());
        section.signed_hash_sets[0].signatures.push(sig);
        let stripped = signature::strip(&one).unwrap();
        let mut repeated = COMPONENT_HEADER.to_vec();
        let mut payload = Vec::new();
        put_slice(&mut payload, b"signature");
        payload.extend_from_slice(&section.encode());
        repeated.push(0);
        put_slice(&mut repeated, &payload);
        repeated.extend_from_slice(&stripped[8..]);

        let store = trust(&[(1, "\"*\""), (2, "\"*\"")], &[("bech32", 2)]);
        let err = verify(repeated.clone(), &store).unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::TooFewSignatures {
                    have: 1,
                    need: 2,
                    ..
                }
            ),
            "{err}"
        );
        let verified = verify(repeated, &trust(&[(1, "\"*\"")], &[])).unwrap();
        assert_eq!(verified.signers(), &[key(1).key_id()]);
    }

    #[test]
    fn a_signature_without_a_key_id_is_matched_to_a_trusted_key() {
        let one = package(&[1]);
        let mut section = signature::read(&one).unwrap();
        section.signed_hash_sets[0].signatures[0].key_id.clear();
        let stripped = signature::strip(&one).unwrap();
        let mut bytes = COMPONENT_HEADER.to_vec();
        let mut payload = Vec::new();
        put_slice(&mut payload, b"signature");
        payload.extend_from_slice(&section.encode());
        bytes.push(0);
        put_slice(&mut bytes, &payload);
        bytes.extend_from_slice(&stripped[8..]);
        let verified = verify(bytes.clone(), &trust(&[(2, "\"*\""), (1, "\"*\"")], &[])).unwrap();
        assert_eq!(verified.signers(), &[key(1).key_id()]);
        let err = verify(bytes, &trust(&[(2, "\"*\"")], &[])).unwrap_err();
        assert!(matches!(err, PackageError::UnknownKey { .. }), "{err}");
    }

    #[test]
    fn core_modules_bad_headers_and_unsigned_packages_are_refused() {
        let store = trust(&[(1, "\"*\"")], &[]);
        let mut core = b"\0asm\x01\0\0\0".to_vec();
        core.extend_from_slice(&custom("anya-manifest", MANIFEST.as_bytes()));
        let signed_core = sign(&core, &key(1)).unwrap();
        let err = verify(signed_core, &store).unwrap_err();
        assert!(matches!(err, PackageError::CoreModule), "{err}");
        assert!(
            err.to_string()
                .contains("is a core module, not a component")
        );
        assert!(matches!(
            embed_manifest(&core, &manifest(MANIFEST)),
            Err(PackageError::CoreModule)
        ));
        assert!(matches!(
            verify(b"PK\x03\x04zipfile".to_vec(), &store),
            Err(PackageError::BadHeader { .. })
        ));
        let unsigned = embed_manifest(&component(), &manifest(MANIFEST)).unwrap();
        assert!(matches!(
            verify(unsigned, &store),
            Err(PackageError::NotSigned)
        ));
    }

    #[test]
    fn missing_and_malformed_manifests_are_refused_after_the_signature_check() {
        let store = trust(&[(1, "\"*\"")], &[]);
        let no_manifest = sign(&component(), &key(1)).unwrap();
        assert!(matches!(
            verify(no_manifest, &store),
            Err(PackageError::MissingManifest)
        ));
        let mut bad = component();
        bad.extend_from_slice(&custom(
            "anya-manifest",
            b"name = \"bech32\"\nsurprise = 1\n",
        ));
        let err = verify(sign(&bad, &key(1)).unwrap(), &store).unwrap_err();
        assert!(matches!(err, PackageError::MalformedManifest(_)), "{err}");
        let mut two = embed_manifest(&component(), &manifest(MANIFEST)).unwrap();
        two.extend_from_slice(&custom("anya-manifest", MANIFEST.as_bytes()));
        let err = verify(sign(&two, &key(1)).unwrap(), &store).unwrap_err();
        assert!(err.to_string().contains("more than one"), "{err}");
        // A malformed manifest signed by an unknown key is refused for the key: nothing
        // unsigned is parsed.
        let err = verify(sign(&bad, &key(9)).unwrap(), &store).unwrap_err();
        assert!(matches!(err, PackageError::UnknownKey { .. }), "{err}");
    }

    #[test]
    fn embedding_replaces_the_manifest_and_drops_signatures() {
        let signed = package(&[1]);
        let other =
            manifest("name = \"bech32\"\nversion = \"2.0.0\"\nupdate_type = \"protocol\"\n");
        let re = embed_manifest(&signed, &other).unwrap();
        assert!(matches!(
            signature::read(&re),
            Err(SignatureError::NotSigned)
        ));
        let inspection = inspect(&re);
        assert_eq!(inspection.manifest.unwrap(), other);
        // The code section is kept, byte for byte.
        let code = custom("code", b"\x01\x02\x03 pretend code");
        assert!(re.windows(code.len()).any(|w| w == code));
    }

    #[test]
    fn oversize_packages_are_refused_before_reading() {
        let store = trust(&[(1, "\"*\"")], &[]);
        let bytes = package(&[1]);
        let err = verify_with_max(bytes.clone(), &store, bytes.len() as u64 - 1).unwrap_err();
        assert!(matches!(err, PackageError::TooLarge { .. }), "{err}");
        verify_with_max(bytes.clone(), &store, bytes.len() as u64).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.wasm");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_package_file(&path, bytes.len() as u64).unwrap(), bytes);
        let err = read_package_file(&path, 10).unwrap_err();
        assert!(
            matches!(err, PackageError::TooLarge { max: 10, .. }),
            "{err}"
        );
        // A sparse file far over the cap is refused from its metadata alone.
        let big = dir.path().join("big.wasm");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(DEFAULT_MAX_BYTES + 1).unwrap();
        assert!(matches!(
            read_package_file(&big, DEFAULT_MAX_BYTES),
            Err(PackageError::TooLarge { .. })
        ));
        assert!(matches!(
            read_package_file(dir.path(), DEFAULT_MAX_BYTES),
            Err(PackageError::NotAFile) | Err(PackageError::Io(_))
        ));
    }

    #[test]
    fn inspect_reports_without_trusting() {
        let bytes = package(&[1, 2]);
        let i = inspect(&bytes);
        assert_eq!(i.kind, Some("component"));
        assert_eq!(i.manifest.as_ref().unwrap().name.as_str(), "bech32");
        assert_eq!(i.signatures.len(), 2);
        assert!(i.signatures.iter().all(|s| s.covers_content));
        assert_eq!(
            i.signatures[0].key_id,
            hex::encode(key(1).public().signature_key_id())
        );
        let text = i.to_string();
        assert!(
            text.contains("bech32 1.1.0") && text.contains("signatures  2"),
            "{text}"
        );
        let junk = inspect(b"junk");
        assert_eq!(junk.kind, None);
        assert!(junk.signature_error.is_some());
    }

    /// Known answers from `wasmsign2` 0.2.8 for the key of seed `[1; 32]`:
    /// `wasmsign2 sign -k k1.key -K k1.pub -i small.wasm -o small-w2.wasm` and the same
    /// without `-K` (no key id). Ed25519 is deterministic, so Anya's output must be the
    /// same bytes, and Anya must verify both.
    const SMALL_UNSIGNED: &str = concat!(
        "0061736d0d000100000504636f646500e7010d616e79612d6d616e69666573746e616d65203d2022626563683332220a",
        "76657273696f6e203d2022312e312e30220a6b696e64203d2022657874656e73696f6e220a7570646174655f74797065",
        "203d202266656174757265220a73656375726974795f637269746963616c203d2066616c73650a627265616b696e675f",
        "6368616e676573203d2066616c73650a6269705f636f6d706c69616e6365203d205b5d0a76616c696461746f7273203d",
        "205b5d0a63616c6c5f6d6f6465203d20226672657368220a6465736372697074696f6e203d2022220a0a5b646570656e",
        "64656e636965735d0a",
    );
    const SMALL_WASMSIGN2: &str = concat!(
        "0061736d0d000100008101097369676e6174757265010101017201ca7b09108e907f5fbf1c8cb277c665305646a7ebf1",
        "519d09af70d7a710c7ff73014f0c236c79a936837526e7b8746a01407f7399f828eea706c30439465854f9a10486e9df",
        "ab33fd35fdf7995517f99b4ca2b80f110f19e2255ef7ddf1269a53628f8110be4ae7a1cb99042a994649ab0600050463",
        "6f646500e7010d616e79612d6d616e69666573746e616d65203d2022626563683332220a76657273696f6e203d202231",
        "2e312e30220a6b696e64203d2022657874656e73696f6e220a7570646174655f74797065203d20226665617475726522",
        "0a73656375726974795f637269746963616c203d2066616c73650a627265616b696e675f6368616e676573203d206661",
        "6c73650a6269705f636f6d706c69616e6365203d205b5d0a76616c696461746f7273203d205b5d0a63616c6c5f6d6f64",
        "65203d20226672657368220a6465736372697074696f6e203d2022220a0a5b646570656e64656e636965735d0a",
    );
    const SMALL_WASMSIGN2_NO_KEY_ID: &str = concat!(
        "0061736d0d0001000075097369676e6174757265010101016601ca7b09108e907f5fbf1c8cb277c665305646a7ebf151",
        "9d09af70d7a710c7ff7301430001407f7399f828eea706c30439465854f9a10486e9dfab33fd35fdf7995517f99b4ca2",
        "b80f110f19e2255ef7ddf1269a53628f8110be4ae7a1cb99042a994649ab06000504636f646500e7010d616e79612d6d",
        "616e69666573746e616d65203d2022626563683332220a76657273696f6e203d2022312e312e30220a6b696e64203d20",
        "22657874656e73696f6e220a7570646174655f74797065203d202266656174757265220a73656375726974795f637269",
        "746963616c203d2066616c73650a627265616b696e675f6368616e676573203d2066616c73650a6269705f636f6d706c",
        "69616e6365203d205b5d0a76616c696461746f7273203d205b5d0a63616c6c5f6d6f6465203d20226672657368220a64",
        "65736372697074696f6e203d2022220a0a5b646570656e64656e636965735d0a",
    );

    #[test]
    fn signs_byte_for_byte_like_wasmsign2_and_verifies_its_output() {
        let unsigned = hex::decode(SMALL_UNSIGNED).unwrap();
        let theirs = hex::decode(SMALL_WASMSIGN2).unwrap();
        assert_eq!(
            hex::encode(sign(&unsigned, &key(1)).unwrap()),
            SMALL_WASMSIGN2
        );
        let store = trust(&[(1, "\"bech32\"")], &[]);
        for bytes in [theirs, hex::decode(SMALL_WASMSIGN2_NO_KEY_ID).unwrap()] {
            let verified = verify(bytes, &store).unwrap();
            assert_eq!(verified.signers(), &[key(1).key_id()]);
        }
    }
}
