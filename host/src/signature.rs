//! Embedded signatures in the WebAssembly tool-conventions `Signatures.md` format, byte for
//! byte as its reference implementation `wasmsign2` writes and reads them.
//!
//! Layout of a signed binary:
//!
//! ```text
//! header (8 bytes, NOT hashed)  custom section "signature"  content (every later section)
//! ```
//!
//! The `signature` section payload:
//!
//! ```text
//! spec_version 0x01 | content_type 0x01 | hash_fn 0x01 (SHA-256) | varuint32 set_count
//! set_count × (varuint32 len, signed_hashes[len])
//! signed_hashes = varuint32 hash_count, hash_count × 32 bytes,
//!                 varuint32 sig_count, sig_count × (varuint32 len, signature[len])
//! signature     = varuint32 key_id_len, key_id, alg 0x01 (Ed25519), varuint32 64, 64 bytes
//! ```
//!
//! (`wasmsign2` length-prefixes every signed-hash set and every signature; the prose of
//! `Signatures.md` leaves those prefixes out. We follow the reference implementation, which
//! is what every signed binary in the wild uses.)
//!
//! Each signed-hash set holds the rolling SHA-256 of the content up to each
//! `signature_delimiter` section, and of the whole content when the content does not end
//! with a delimiter; its last hash is always the hash of the whole content. The message an
//! Ed25519 key signs is `"wasmsig" ‖ 0x01 ‖ 0x01 ‖ 0x01 ‖ hash_1 ‖ … ‖ hash_n`.
//!
//! Invariants: parsing is strict and capped (canonical LEB128, exact lengths, no trailing
//! bytes, at most [`MAX_SIGNED_HASH_SETS`] sets, [`MAX_HASHES`] hashes per set and
//! [`MAX_SIGNATURES`] signatures in all), so a malformed section is an error, never a
//! partial result. The header is not covered by the hash: callers check it themselves.

use sha2::{Digest as _, Sha256};

use crate::keys::SecretKey;

/// The name of the custom section that holds the signatures.
pub const SIGNATURE_SECTION: &str = "signature";
/// The name of the custom section that ends a separately verifiable part.
pub const DELIMITER_SECTION: &str = "signature_delimiter";

/// Specification version, content type (WebAssembly), hash function (SHA-256) and
/// signature algorithm (Ed25519): all `0x01`.
pub const SPEC_VERSION: u8 = 0x01;
pub const CONTENT_TYPE_WASM: u8 = 0x01;
pub const HASH_SHA256: u8 = 0x01;
pub const ALG_ED25519: u8 = 0x01;

/// The domain-separation prefix of every signed message.
pub const DOMAIN: &[u8] = b"wasmsig";

/// Caps applied while parsing (the first two are `wasmsign2`'s).
pub const MAX_SIGNED_HASH_SETS: usize = 64;
pub const MAX_HASHES: usize = 64;
pub const MAX_SIGNATURES: usize = 256;
/// Longest key id accepted; `wasmsign2` and Anya write 12 bytes.
pub const MAX_KEY_ID_LEN: usize = 64;

const HEADER_LEN: usize = 8;
const SIGNATURE_LEN: usize = 64;

/// Why a binary's signature section cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Not a WebAssembly module or component header; `found` says what is there instead.
    #[error("not a WebAssembly binary: {found}")]
    BadHeader { found: String },
    /// The top-level section sequence is broken.
    #[error("malformed section at byte {offset}: {reason}")]
    MalformedSection { offset: usize, reason: String },
    /// No `signature` section first after the header.
    #[error("not signed: no `signature` section right after the header")]
    NotSigned,
    /// The `signature` section is present but malformed.
    #[error("malformed `signature` section: {0}")]
    Malformed(String),
}

/// One signature in a signed-hash set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    /// The signer's key id as written (empty when the signer gave none).
    pub key_id: Vec<u8>,
    /// Ed25519 signature of [`SignedHashes::message`].
    pub signature: [u8; SIGNATURE_LEN],
}

/// A sequence of hashes and the signatures over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHashes {
    pub hashes: Vec<[u8; 32]>,
    pub signatures: Vec<SignatureEntry>,
}

impl SignedHashes {
    /// The exact bytes each signature of this set signs.
    pub fn message(&self) -> Vec<u8> {
        message(&self.hashes)
    }

    /// Whether this set covers the whole content whose hash is `content_hash`.
    pub fn covers(&self, content_hash: &[u8; 32]) -> bool {
        self.hashes.contains(content_hash)
    }
}

/// The decoded payload of a `signature` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureSection {
    pub signed_hash_sets: Vec<SignedHashes>,
}

impl SignatureSection {
    /// Decodes a section payload, strictly and with caps.
    pub fn decode(payload: &[u8]) -> Result<Self, SignatureError> {
        Self::decode_inner(payload).map_err(SignatureError::Malformed)
    }

    fn decode_inner(payload: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(payload);
        for (what, want) in [
            ("specification version", SPEC_VERSION),
            ("content type", CONTENT_TYPE_WASM),
            ("hash function", HASH_SHA256),
        ] {
            let got = r.byte(what)?;
            if got != want {
                return Err(format!(
                    "unsupported {what} 0x{got:02x} (expected 0x{want:02x})"
                ));
            }
        }
        let set_count = r.count("signed-hash set count", MAX_SIGNED_HASH_SETS)?;
        let mut sets = Vec::with_capacity(set_count);
        let mut total_signatures = 0usize;
        for _ in 0..set_count {
            let mut s = Reader::new(r.slice("signed-hash set")?);
            let hash_count = s.count("hash count", MAX_HASHES)?;
            if hash_count == 0 {
                return Err("a signed-hash set has no hashes".into());
            }
            let mut hashes = Vec::with_capacity(hash_count);
            for _ in 0..hash_count {
                hashes.push(s.array::<32>("hash")?);
            }
            let sig_count = s.count("signature count", MAX_SIGNATURES)?;
            total_signatures += sig_count;
            if total_signatures > MAX_SIGNATURES {
                return Err(format!("more than {MAX_SIGNATURES} signatures in all"));
            }
            let mut signatures = Vec::with_capacity(sig_count);
            for _ in 0..sig_count {
                let mut e = Reader::new(s.slice("signature")?);
                let key_id = e.slice("key id")?;
                if key_id.len() > MAX_KEY_ID_LEN {
                    return Err(format!(
                        "a key id is {} bytes, over the {MAX_KEY_ID_LEN}-byte cap",
                        key_id.len()
                    ));
                }
                let key_id = key_id.to_vec();
                let alg = e.byte("signature algorithm")?;
                if alg != ALG_ED25519 {
                    return Err(format!(
                        "unsupported signature algorithm 0x{alg:02x} (only Ed25519, 0x01)"
                    ));
                }
                let sig = e.slice("signature bytes")?;
                let signature: [u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| {
                    format!(
                        "an Ed25519 signature is {} bytes, not {SIGNATURE_LEN}",
                        sig.len()
                    )
                })?;
                e.end("signature")?;
                signatures.push(SignatureEntry { key_id, signature });
            }
            s.end("signed-hash set")?;
            sets.push(SignedHashes { hashes, signatures });
        }
        r.end("signature section")?;
        Ok(Self {
            signed_hash_sets: sets,
        })
    }

    /// Encodes the section payload as `wasmsign2` does.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SPEC_VERSION, CONTENT_TYPE_WASM, HASH_SHA256];
        put_leb(&mut out, self.signed_hash_sets.len());
        for set in &self.signed_hash_sets {
            let mut s = Vec::new();
            put_leb(&mut s, set.hashes.len());
            for h in &set.hashes {
                s.extend_from_slice(h);
            }
            put_leb(&mut s, set.signatures.len());
            for sig in &set.signatures {
                let mut e = Vec::new();
                put_slice(&mut e, &sig.key_id);
                e.push(ALG_ED25519);
                put_slice(&mut e, &sig.signature);
                put_slice(&mut s, &e);
            }
            put_slice(&mut out, &s);
        }
        out
    }

    /// Every signature, with the set it belongs to.
    pub fn signatures(&self) -> impl Iterator<Item = (&SignedHashes, &SignatureEntry)> {
        self.signed_hash_sets
            .iter()
            .flat_map(|set| set.signatures.iter().map(move |sig| (set, sig)))
    }
}

/// The message signed for `hashes`: `"wasmsig" ‖ 0x01 ‖ 0x01 ‖ 0x01 ‖ hashes`.
pub fn message(hashes: &[[u8; 32]]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(DOMAIN.len() + 3 + 32 * hashes.len());
    msg.extend_from_slice(DOMAIN);
    msg.extend_from_slice(&[SPEC_VERSION, CONTENT_TYPE_WASM, HASH_SHA256]);
    for h in hashes {
        msg.extend_from_slice(h);
    }
    msg
}

/// Which kind of binary an 8-byte header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// `\0asm 01 00 00 00`
    CoreModule,
    /// `\0asm 0d 00 01 00`
    Component,
}

/// The kind of binary `wasm` is, from its header (the only header bytes this format
/// accepts, like `wasmsign2`).
pub fn binary_kind(wasm: &[u8]) -> Result<BinaryKind, SignatureError> {
    let header = wasm.get(..HEADER_LEN);
    match header {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Ok(BinaryKind::CoreModule),
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => Ok(BinaryKind::Component),
        _ => Err(SignatureError::BadHeader {
            found: describe_header(wasm),
        }),
    }
}

/// What stands where a WebAssembly header should, for a message: an empty file, one too
/// short for a header, or the 8 bytes found.
fn describe_header(wasm: &[u8]) -> String {
    match wasm.len() {
        0 => "the file is empty".to_owned(),
        len if len < HEADER_LEN => format!(
            "the file is only {len} byte(s) long ({}), shorter than the 8-byte header",
            hex::encode(wasm)
        ),
        _ => format!(
            "the header is {}, expected 0061736d0d000100",
            hex::encode(&wasm[..HEADER_LEN])
        ),
    }
}

/// One top-level section, located in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSection<'a> {
    /// Offset of the section id byte in the binary.
    pub offset: usize,
    /// Offset one past the section's last byte.
    pub end: usize,
    pub id: u8,
    /// For a custom section (id 0): its name.
    pub name: Option<&'a str>,
    /// For a custom section, the data after the name; otherwise the whole payload.
    pub data: &'a [u8],
}

/// The top-level sections of `wasm` after its 8-byte header (not descending into nested
/// modules or components). Errors on any truncated or malformed section frame.
pub fn sections(wasm: &[u8]) -> Result<Vec<RawSection<'_>>, SignatureError> {
    binary_kind(wasm)?;
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < wasm.len() {
        let offset = pos;
        let bad = |reason: String| SignatureError::MalformedSection { offset, reason };
        let mut r = Reader::new(&wasm[pos..]);
        let id = r.byte("section id").map_err(bad)?;
        let payload = r.slice("section payload").map_err(bad)?;
        let end = pos + r.pos;
        let (name, data) = if id == 0 {
            let mut c = Reader::new(payload);
            let name = c.slice("custom section name").map_err(bad)?;
            let name = std::str::from_utf8(name)
                .map_err(|_| bad("custom section name is not UTF-8".to_string()))?;
            (Some(name), &payload[c.pos..])
        } else {
            (None, payload)
        };
        out.push(RawSection {
            offset,
            end,
            id,
            name,
            data,
        });
        pos = end;
    }
    Ok(out)
}

/// A binary split around its signature section.
#[derive(Debug, Clone)]
pub struct Split<'a> {
    /// The decoded `signature` section, if the binary has one first.
    pub section: Option<SignatureSection>,
    /// Every byte after the header and the `signature` section: what the hashes cover.
    pub content: &'a [u8],
    /// Where [`Self::content`] starts in the binary.
    pub content_offset: usize,
    /// The top-level sections of `content` (offsets are into the whole binary).
    pub content_sections: Vec<RawSection<'a>>,
}

impl Split<'_> {
    /// SHA-256 of the whole content.
    pub fn content_hash(&self) -> [u8; 32] {
        Sha256::digest(self.content).into()
    }

    /// The hashes a signer writes for this content: the rolling hash at the end of each
    /// delimiter section, then the hash of the whole content unless it ends with one.
    pub fn hashes_to_sign(&self) -> Vec<[u8; 32]> {
        let mut hasher = Sha256::new();
        let mut hashes = Vec::new();
        let mut start = 0;
        let mut last_was_delimiter = false;
        for s in &self.content_sections {
            let end = s.end - self.content_offset;
            hasher.update(&self.content[start..end]);
            start = end;
            last_was_delimiter = s.name == Some(DELIMITER_SECTION);
            if last_was_delimiter {
                hashes.push(hasher.clone().finalize().into());
            }
        }
        if !last_was_delimiter {
            hashes.push(hasher.finalize().into());
        }
        hashes
    }
}

/// Splits `wasm` into its signature section (if first after the header) and the content.
///
/// Refuses a `signature` section anywhere but first: it would be hashed as content and is
/// never what a signer meant.
pub fn split(wasm: &[u8]) -> Result<Split<'_>, SignatureError> {
    let all = sections(wasm)?;
    let (section, content_start, rest) = match all.split_first() {
        Some((first, rest)) if first.name == Some(SIGNATURE_SECTION) => (
            Some(SignatureSection::decode(first.data)?),
            first.end,
            rest.to_vec(),
        ),
        _ => (None, HEADER_LEN, all),
    };
    if let Some(extra) = rest.iter().find(|s| s.name == Some(SIGNATURE_SECTION)) {
        return Err(SignatureError::MalformedSection {
            offset: extra.offset,
            reason: "a second `signature` section; it must be the first section only".into(),
        });
    }
    Ok(Split {
        section,
        content: &wasm[content_start..],
        content_offset: content_start,
        content_sections: rest,
    })
}

/// Reads the signature section of `wasm`.
pub fn read(wasm: &[u8]) -> Result<SignatureSection, SignatureError> {
    split(wasm)?.section.ok_or(SignatureError::NotSigned)
}

/// SHA-256 of everything after the header and the signature section.
pub fn content_hash(wasm: &[u8]) -> Result<[u8; 32], SignatureError> {
    Ok(split(wasm)?.content_hash())
}

/// `wasm` without its signature section (unchanged if it has none).
pub fn strip(wasm: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let split = split(wasm)?;
    let mut out = Vec::with_capacity(HEADER_LEN + split.content.len());
    out.extend_from_slice(&wasm[..HEADER_LEN]);
    out.extend_from_slice(split.content);
    Ok(out)
}

/// Adds a signature by `key` over the whole content of `wasm`.
///
/// Earlier signatures over the same content are kept and stay valid; signing again with a
/// key that already signed this content returns the binary unchanged. Signed-hash sets that
/// no longer cover the content (it was changed after they were made) are dropped: they
/// could never verify again.
pub fn sign(wasm: &[u8], key: &SecretKey) -> Result<Vec<u8>, SignatureError> {
    let split = split(wasm)?;
    let hashes = split.hashes_to_sign();
    let content_hash = split.content_hash();
    let public = key.public();
    let key_id = public.signature_key_id().to_vec();

    let mut section = split.section.clone().unwrap_or_default();
    let before = section.signed_hash_sets.len();
    section
        .signed_hash_sets
        .retain(|set| set.covers(&content_hash));
    if section.signed_hash_sets.len() != before {
        tracing::warn!(
            dropped = before - section.signed_hash_sets.len(),
            "dropping signatures over content that has since changed"
        );
    }

    let already = section.signed_hash_sets.iter().any(|set| {
        set.hashes == hashes
            && set
                .signatures
                .iter()
                .any(|s| s.key_id == key_id && public.verify_strict(&set.message(), &s.signature))
    });
    if already {
        return Ok(wasm.to_vec());
    }
    let signature = key.sign(&message(&hashes));
    let entry = SignatureEntry { key_id, signature };
    match section
        .signed_hash_sets
        .iter_mut()
        .find(|set| set.hashes == hashes)
    {
        Some(set) => {
            if set.signatures.len() >= MAX_SIGNATURES {
                return Err(SignatureError::Malformed(format!(
                    "already {MAX_SIGNATURES} signatures; no room for another"
                )));
            }
            set.signatures.push(entry)
        }
        None => section.signed_hash_sets.push(SignedHashes {
            hashes,
            signatures: vec![entry],
        }),
    }
    let total: usize = section
        .signed_hash_sets
        .iter()
        .map(|s| s.signatures.len())
        .sum();
    if total > MAX_SIGNATURES || section.signed_hash_sets.len() > MAX_SIGNED_HASH_SETS {
        return Err(SignatureError::Malformed(format!(
            "adding a signature would exceed the caps ({MAX_SIGNATURES} signatures, {MAX_SIGNED_HASH_SETS} sets)"
        )));
    }
    Ok(assemble(wasm, &section, split.content))
}

/// Header ‖ `signature` section ‖ content.
fn assemble(wasm: &[u8], section: &SignatureSection, content: &[u8]) -> Vec<u8> {
    let payload = section.encode();
    let mut custom = Vec::with_capacity(payload.len() + 16);
    put_slice(&mut custom, SIGNATURE_SECTION.as_bytes());
    custom.extend_from_slice(&payload);
    let mut out = Vec::with_capacity(HEADER_LEN + custom.len() + 6 + content.len());
    out.extend_from_slice(&wasm[..HEADER_LEN]);
    out.push(0);
    put_slice(&mut out, &custom);
    out.extend_from_slice(content);
    out
}

fn put_leb(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_slice(out: &mut Vec<u8>, bytes: &[u8]) {
    put_leb(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A strict cursor: canonical varuint32, bounds-checked slices, and an explicit end check.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| format!("truncated {what}"))?;
        self.pos += 1;
        Ok(b)
    }

    fn leb(&mut self, what: &str) -> Result<u32, String> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.byte(what)?;
            if i == 4 && b > 0x0f {
                return Err(format!("{what} overflows 32 bits"));
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                // A zero final byte after the first means a padded (non-canonical) number:
                // the encoding of every field must be unique.
                if i > 0 && b == 0 {
                    return Err(format!("{what} is not minimally encoded"));
                }
                return Ok(value);
            }
        }
        Err(format!("{what} is longer than 5 bytes"))
    }

    fn count(&mut self, what: &str, max: usize) -> Result<usize, String> {
        let n = self.leb(what)? as usize;
        if n > max {
            return Err(format!("{what} {n} is over the cap of {max}"));
        }
        Ok(n)
    }

    fn slice(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = self.leb(what)? as usize;
        let rest = &self.bytes[self.pos..];
        if len > rest.len() {
            return Err(format!(
                "{what} claims {len} bytes but only {} remain",
                rest.len()
            ));
        }
        self.pos += len;
        Ok(&rest[..len])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let rest = &self.bytes[self.pos..];
        let a: [u8; N] = rest
            .get(..N)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| format!("truncated {what}"))?;
        self.pos += N;
        Ok(a)
    }

    fn end(&self, what: &str) -> Result<(), String> {
        if self.pos != self.bytes.len() {
            return Err(format!(
                "{} unexpected trailing bytes after the {what}",
                self.bytes.len() - self.pos
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: [u8; 8] = *b"\0asm\x0d\0\x01\0";

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        put_slice(&mut payload, name.as_bytes());
        payload.extend_from_slice(data);
        let mut out = vec![0];
        put_slice(&mut out, &payload);
        out
    }

    fn component(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut out = COMPONENT.to_vec();
        for s in sections {
            out.extend_from_slice(s);
        }
        out
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }

    #[test]
    fn signs_the_content_after_the_section_with_the_wasmsig_domain() {
        let wasm = component(&[custom("code", b"hello"), custom("more", &[1, 2, 3])]);
        let signed = sign(&wasm, &key(1)).unwrap();
        // Header, then the signature section, then the original content byte for byte.
        assert_eq!(&signed[..8], &COMPONENT);
        let split = split(&signed).unwrap();
        assert_eq!(split.content, &wasm[8..]);
        assert_eq!(
            split.content_hash(),
            <[u8; 32]>::from(Sha256::digest(&wasm[8..]))
        );
        let section = split.section.clone().unwrap();
        assert_eq!(section.signed_hash_sets.len(), 1);
        let set = &section.signed_hash_sets[0];
        assert_eq!(set.hashes, vec![split.content_hash()]);
        let sig = &set.signatures[0];
        let public = key(1).public();
        assert_eq!(sig.key_id, public.signature_key_id());
        // The signed message, spelled out.
        let mut msg = b"wasmsig\x01\x01\x01".to_vec();
        msg.extend_from_slice(&split.content_hash());
        assert_eq!(set.message(), msg);
        assert!(public.verify_strict(&msg, &sig.signature));
        // The payload round-trips exactly.
        assert_eq!(
            SignatureSection::decode(&section.encode()).unwrap(),
            section
        );
    }

    #[test]
    fn a_second_key_adds_a_signature_and_the_same_key_does_not_duplicate() {
        let wasm = component(&[custom("code", b"x")]);
        let once = sign(&wasm, &key(1)).unwrap();
        assert_eq!(sign(&once, &key(1)).unwrap(), once);
        let twice = sign(&once, &key(2)).unwrap();
        let section = read(&twice).unwrap();
        assert_eq!(section.signed_hash_sets.len(), 1);
        let set = &section.signed_hash_sets[0];
        assert_eq!(set.signatures.len(), 2);
        for (sig, k) in set.signatures.iter().zip([key(1), key(2)]) {
            assert_eq!(sig.key_id, k.public().signature_key_id());
            assert!(k.public().verify_strict(&set.message(), &sig.signature));
        }
        assert_eq!(content_hash(&twice).unwrap(), content_hash(&wasm).unwrap());
        assert_eq!(strip(&twice).unwrap(), wasm);
    }

    #[test]
    fn re_signing_changed_content_drops_the_stale_signatures() {
        let signed = sign(&component(&[custom("code", b"v1")]), &key(1)).unwrap();
        let mut changed = signed.clone();
        *changed.last_mut().unwrap() = b'2';
        let resigned = sign(&changed, &key(2)).unwrap();
        let section = read(&resigned).unwrap();
        assert_eq!(section.signed_hash_sets.len(), 1);
        assert_eq!(section.signed_hash_sets[0].signatures.len(), 1);
        assert_eq!(
            section.signed_hash_sets[0].signatures[0].key_id,
            key(2).public().signature_key_id()
        );
    }

    #[test]
    fn delimiters_get_rolling_hashes_ending_with_the_whole_content() {
        let a = custom("a", b"1");
        let d = custom(DELIMITER_SECTION, &[7; 16]);
        let b = custom("b", b"2");
        let wasm = component(&[a.clone(), d.clone(), b.clone()]);
        let signed = sign(&wasm, &key(1)).unwrap();
        let set = &read(&signed).unwrap().signed_hash_sets[0];
        let h1: [u8; 32] = Sha256::digest([a.clone(), d.clone()].concat()).into();
        let h2: [u8; 32] = Sha256::digest([a, d, b].concat()).into();
        assert_eq!(set.hashes, vec![h1, h2]);
        assert!(set.covers(&content_hash(&signed).unwrap()));
    }

    #[test]
    fn unsigned_and_misplaced_sections_are_reported() {
        let wasm = component(&[custom("code", b"x")]);
        assert_eq!(read(&wasm), Err(SignatureError::NotSigned));
        let signed = sign(&wasm, &key(1)).unwrap();
        // A signature section that is not first.
        let mut moved = wasm.clone();
        moved.extend_from_slice(&signed[8..signed.len() - (wasm.len() - 8)]);
        assert!(matches!(
            split(&moved),
            Err(SignatureError::MalformedSection { .. })
        ));
        assert!(matches!(
            read(b"\0asm\x02\0\0\0"),
            Err(SignatureError::BadHeader { .. })
        ));
        assert!(matches!(
            read(b"\0as"),
            Err(SignatureError::BadHeader { .. })
        ));
        // A truncated section frame.
        assert!(matches!(
            split(&component(&[vec![0, 5, 1]])),
            Err(SignatureError::MalformedSection { offset: 8, .. })
        ));
    }

    fn payload_with(f: impl FnOnce(&mut SignatureSection)) -> Vec<u8> {
        let signed = sign(&component(&[custom("code", b"x")]), &key(1)).unwrap();
        let mut section = read(&signed).unwrap();
        f(&mut section);
        section.encode()
    }

    #[test]
    fn parsing_is_strict_and_capped() {
        let good = payload_with(|_| {});
        SignatureSection::decode(&good).unwrap();

        let mut trailing = good.clone();
        trailing.push(0);
        assert!(SignatureSection::decode(&trailing).is_err());
        for cut in 0..good.len() {
            assert!(
                SignatureSection::decode(&good[..cut]).is_err(),
                "a payload cut to {cut} bytes parsed"
            );
        }
        let mut bad_version = good.clone();
        bad_version[0] = 2;
        assert!(SignatureSection::decode(&bad_version).is_err());
        let mut bad_hash_fn = good.clone();
        bad_hash_fn[2] = 2;
        assert!(SignatureSection::decode(&bad_hash_fn).is_err());

        // A padded (non-canonical) set count.
        let mut padded = good[..3].to_vec();
        padded.extend_from_slice(&[0x81, 0x00]);
        padded.extend_from_slice(&good[4..]);
        let err = SignatureSection::decode(&padded).unwrap_err().to_string();
        assert!(err.contains("minimally"), "{err}");

        let too_many_sets = payload_with(|s| {
            let set = s.signed_hash_sets[0].clone();
            s.signed_hash_sets = vec![set; MAX_SIGNED_HASH_SETS + 1];
        });
        assert!(SignatureSection::decode(&too_many_sets).is_err());
        let too_many_sigs = payload_with(|s| {
            let sig = s.signed_hash_sets[0].signatures[0].clone();
            s.signed_hash_sets[0].signatures = vec![sig; MAX_SIGNATURES + 1];
        });
        let err = SignatureSection::decode(&too_many_sigs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cap"), "{err}");
        let long_key_id = payload_with(|s| {
            s.signed_hash_sets[0].signatures[0].key_id = vec![1; MAX_KEY_ID_LEN + 1];
        });
        assert!(SignatureSection::decode(&long_key_id).is_err());
        let no_hashes = payload_with(|s| s.signed_hash_sets[0].hashes.clear());
        assert!(SignatureSection::decode(&no_hashes).is_err());
        // An empty key id (what `wasmsign2 sign` writes without `-K`) is fine.
        let no_key_id = payload_with(|s| s.signed_hash_sets[0].signatures[0].key_id.clear());
        SignatureSection::decode(&no_key_id).unwrap();
    }
}
