//! The time to validate a candidate (`cargo bench -p anya-tests --bench validate`):
//! `bech32` 1.1.0 against the BIP-173 and BIP-350 validators, warm (candidate and
//! validators already loaded): each run is a new store, both instantiations, every case
//! through the forwarded imports, and the answer copied out and checked; and the whole
//! gate as `check` runs it (registry, verification, WIT diff, cached code, validators);
//! and `bitcoin-module` 1.1.0 against the eight BIP validators (141, 143, 144, 173, 174,
//! 340, 341, 350), warm, as the guide's policy runs them.

use std::sync::Arc;

use anya_fixtures::{
    BECH32_1_0_0, BECH32_1_1_0, BIP141_VECTORS, BIP143_VECTORS, BIP144_VECTORS, BIP173_VECTORS,
    BIP174_VECTORS, BIP340_VECTORS, BIP341_VECTORS, BIP350_VECTORS, BITCOIN_MODULE, Fixture,
};
use anya_host::ids::ComponentName;
use anya_host::keys::SecretKey;
use anya_host::manifest::Manifest;
use anya_host::package::{self, VerifiedPackage};
use anya_host::runtime::{CallContext, LoadedValidator, Runtime, RuntimeConfig};
use anya_host::signature;
use anya_host::trust::TrustStore;
use criterion::{Criterion, criterion_group, criterion_main};

/// `fixture` signed by a seeded key and verified against a trust store for that key.
fn verified(fixture: &Fixture) -> VerifiedPackage {
    let key = SecretKey::from_seed([1; 32]);
    let trust = TrustStore::parse(&format!(
        "[[key]]\nname = \"bench\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
        key.public().to_hex()
    ))
    .unwrap();
    let manifest = Manifest::parse(&fixture.manifest_text()).unwrap();
    let bytes = package::embed_manifest(&fixture.wasm_bytes(), &manifest).unwrap();
    package::verify(signature::sign(&bytes, &key).unwrap(), &trust).unwrap()
}

fn validate(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(dir.path().join("cache"))).unwrap();
    let candidate = runtime.load(&verified(&BECH32_1_1_0)).unwrap();
    let validators: Vec<Arc<LoadedValidator>> = [BIP173_VECTORS, BIP350_VECTORS]
        .iter()
        .map(|f| runtime.load_validator(&verified(f)).unwrap())
        .collect();
    let ctx = CallContext::in_memory(ComponentName::parse("validation").unwrap());
    for v in &validators {
        let report = runtime.validate(&candidate, v, &ctx);
        assert!(report.passed, "{report:?}");
    }

    c.bench_function("validate bech32 1.1.0 with bip173 + bip350 (warm)", |b| {
        b.iter(|| {
            for v in &validators {
                assert!(runtime.validate(&candidate, v, &ctx).passed);
            }
        })
    });
}

/// `bitcoin-module` 1.1.0 against every BIP validator, warm: 209 cases.
fn validate_bitcoin(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(dir.path().join("cache"))).unwrap();
    let candidate = runtime.load(&verified(&BITCOIN_MODULE)).unwrap();
    let validators: Vec<Arc<LoadedValidator>> = [
        BIP141_VECTORS,
        BIP143_VECTORS,
        BIP144_VECTORS,
        BIP173_VECTORS,
        BIP174_VECTORS,
        BIP340_VECTORS,
        BIP341_VECTORS,
        BIP350_VECTORS,
    ]
    .iter()
    .map(|f| runtime.load_validator(&verified(f)).unwrap())
    .collect();
    let ctx = CallContext::in_memory(ComponentName::parse("validation").unwrap());
    for v in &validators {
        let report = runtime.validate(&candidate, v, &ctx);
        assert!(report.passed, "{report:?}");
    }

    c.bench_function(
        "validate bitcoin-module 1.1.0 with the eight BIP validators (warm)",
        |b| {
            b.iter(|| {
                for v in &validators {
                    assert!(runtime.validate(&candidate, v, &ctx).passed);
                }
            })
        },
    );
}

/// The whole gate as `anya check` and `install` run it for bech32 1.1.0 over an installed
/// 1.0.0: read the registry, verify the candidate and both validators, decode and compare
/// the WIT, load everything from the compile cache, run both validators, prove the BIPs.
fn check(c: &mut Criterion) {
    use anya_host::registry::DirRegistry;
    use anya_host::store::{Access, Store};
    use anya_host::update::{Options, UpdateManager};
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed([1; 32]);
    let trust_text = format!(
        "[[key]]\nname = \"bench\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
        key.public().to_hex()
    );
    let registry = dir.path().join("registry");
    for f in [BECH32_1_0_0, BECH32_1_1_0, BIP173_VECTORS, BIP350_VECTORS] {
        let folder = registry.join(f.name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("{}-{}.wasm", f.name, f.version)),
            verified(&f).bytes(),
        )
        .unwrap();
    }
    let manager = UpdateManager::new(
        Store::open(&dir.path().join("state"), Access::Write).unwrap(),
        TrustStore::parse(&trust_text).unwrap(),
        Box::new(DirRegistry::new(registry)),
        Options::default(),
        std::sync::Arc::new(anya_host::clock::SystemClock),
    )
    .unwrap();
    let bech32 = ComponentName::parse("bech32").unwrap();
    manager
        .install(&bech32, Some(&semver::Version::new(1, 0, 0)), false)
        .unwrap();
    let report = manager.check().unwrap();
    assert!(report.updates[0].validation_passed, "{report:?}");

    c.bench_function(
        "check bech32 1.0.0 -> 1.1.0: verify, WIT diff, both validators",
        |b| {
            b.iter(|| {
                let report = manager.check().unwrap();
                assert_eq!(report.updates[0].bips_proven.len(), 2);
            })
        },
    );
}

criterion_group!(benches, validate, validate_bitcoin, check);
criterion_main!(benches);
