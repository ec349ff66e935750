//! What the benchmarks share: a host with `bech32` 1.1.0 installed from a folder
//! registry, beside the validators its manifest names, all signed by a seeded key.

use std::path::Path;
use std::sync::Arc;

use anya_fixtures::{BECH32_1_1_0, BIP173_VECTORS, BIP350_VECTORS, Fixture};
use anya_host::ids::ComponentName;
use anya_host::keys::SecretKey;
use anya_host::manifest::Manifest;
use anya_host::registry::DirRegistry;
use anya_host::store::{Access, Store as StateStore};
use anya_host::trust::TrustStore;
use anya_host::update::{Options, UpdateManager};
use anya_host::{package, signature};

/// The Extism peer's valid input: a P2TR address (BIP-350).
pub const VALID: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
/// Its invalid twin: the same v1 program with a bech32 (not bech32m) checksum.
pub const INVALID: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd";
/// Both inputs, labelled.
pub const INPUTS: [(&str, &str); 2] = [("valid", VALID), ("invalid", INVALID)];

pub fn bech32() -> ComponentName {
    ComponentName::parse("bech32").unwrap()
}

fn signed(f: &Fixture, key: &SecretKey) -> Vec<u8> {
    let manifest = Manifest::parse(&f.manifest_text()).unwrap();
    let bytes = package::embed_manifest(&f.wasm_bytes(), &manifest).unwrap();
    signature::sign(&bytes, key).unwrap()
}

/// A host in `dir` (its `registry/` and `state/`) with `bech32` 1.1.0 installed.
pub fn host(dir: &Path, options: Options) -> UpdateManager {
    let key = SecretKey::from_seed([1; 32]);
    let trust = TrustStore::parse(&format!(
        "[[key]]\nname = \"bench\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
        key.public().to_hex()
    ))
    .unwrap();
    for f in [&BECH32_1_1_0, &BIP173_VECTORS, &BIP350_VECTORS] {
        let folder = dir.join("registry").join(f.name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("{}-{}.wasm", f.name, f.version)),
            signed(f, &key),
        )
        .unwrap();
    }
    let store = StateStore::open(&dir.join("state"), Access::Write).unwrap();
    let manager = UpdateManager::new(
        store,
        trust,
        Box::new(DirRegistry::new(dir.join("registry"))),
        options,
        Arc::new(anya_host::clock::SystemClock),
    )
    .unwrap();
    manager.install(&bech32(), None, false).unwrap();
    manager
}
