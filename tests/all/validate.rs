//! Validators in a sandbox: the real BIP-173 and BIP-350 validators against the real
//! `bech32` builds, and misbehaving validators (trap, endless loop, memory hog, oversized
//! answer) that are stopped within their limits while the host keeps serving calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anya_fixtures::{
    BECH32_1_0_0, BECH32_1_1_0, BECH32_BROKEN, BIP173_VECTORS, BIP350_VECTORS, Fixture, TEST_TRAP,
};
use anya_host::ids::ComponentName;
use anya_host::manifest::Manifest;
use anya_host::package::{self, VerifiedPackage};
use anya_host::runtime::{
    CallContext, FailureKind, Limits, LoadedComponent, LoadedValidator, MAX_CASES, Runtime,
    RuntimeConfig, ValidationReport,
};
use anya_host::signature;
use anya_host::trust::TrustStore;
use serde_json::json;
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::ManglingAndAbi;
use wit_parser::decoding::DecodedWasm;

use crate::common::{key, manifest_of, package, trust_entry};

/// A BIP-173 address that every `bech32` build decodes.
const P2WPKH: &str = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4";

struct Host {
    runtime: Runtime,
    trust: TrustStore,
    _cache: tempfile::TempDir,
}

impl Host {
    fn new(limits: Limits) -> Self {
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: cache.path().to_owned(),
            limits,
        })
        .unwrap();
        let trust = TrustStore::parse(&trust_entry("test", &key(1), &["*"])).unwrap();
        Self {
            runtime,
            trust,
            _cache: cache,
        }
    }

    fn verify(&self, bytes: Vec<u8>) -> VerifiedPackage {
        package::verify(bytes, &self.trust).unwrap()
    }

    fn candidate(&self, fixture: &Fixture) -> Arc<LoadedComponent> {
        let verified = self.verify(package(fixture, &[&key(1)]));
        self.runtime.load(&verified).unwrap()
    }

    fn validator(&self, fixture: &Fixture) -> Arc<LoadedValidator> {
        let verified = self.verify(package(fixture, &[&key(1)]));
        self.runtime.load_validator(&verified).unwrap()
    }

    /// A validator built from `wasm` (a component), under the name `name`.
    fn custom_validator(&self, wasm: &[u8], name: &str) -> Arc<LoadedValidator> {
        let mut manifest: Manifest = manifest_of(&BIP173_VECTORS);
        manifest.name = ComponentName::parse(name).unwrap();
        let bytes = package::embed_manifest(wasm, &manifest).unwrap();
        let signed = signature::sign(&bytes, &key(1)).unwrap();
        self.runtime.load_validator(&self.verify(signed)).unwrap()
    }

    fn validate(
        &self,
        candidate: &LoadedComponent,
        validator: &LoadedValidator,
    ) -> ValidationReport {
        self.runtime
            .validate(candidate, validator, &ctx("validation"))
    }

    /// A normal call to `candidate` still works.
    fn assert_serving(&self, candidate: &LoadedComponent) {
        let out = self
            .runtime
            .call(candidate, &ctx("bech32"), "decode", json!(P2WPKH))
            .unwrap();
        assert_eq!(out["ok"]["hrp"], "bc", "{out}");
    }
}

fn ctx(name: &str) -> CallContext {
    CallContext::in_memory(ComponentName::parse(name).unwrap())
}

fn failed_names(report: &ValidationReport) -> Vec<String> {
    report.failed_cases().map(|c| c.name.clone()).collect()
}

#[test]
fn bech32_versions_against_the_bip_validators() {
    let host = Host::new(Limits::default());
    let bip173 = host.validator(&BIP173_VECTORS);
    let bip350 = host.validator(&BIP350_VECTORS);
    assert_eq!(
        bip173.tested_interfaces(),
        vec!["anya:bitcoin/address@1.0.0".to_owned()]
    );

    let v110 = host.candidate(&BECH32_1_1_0);
    for validator in [&bip173, &bip350] {
        let report = host.validate(&v110, validator);
        assert!(report.passed, "{report:#?}");
        assert_eq!(report.failure, None);
        assert!(report.cases.len() > 10, "{report:#?}");
        assert_eq!(report.candidate, "bech32 1.1.0");
    }

    let v100 = host.candidate(&BECH32_1_0_0);
    let report = host.validate(&v100, &bip173);
    assert!(report.passed, "{report:#?}");
    let report = host.validate(&v100, &bip350);
    assert!(!report.passed);
    assert_eq!(report.failure, None, "the run completed; cases failed");
    let failed = failed_names(&report);
    assert!(
        !failed.is_empty() && failed.len() < report.cases.len(),
        "1.0.0 fails some BIP-350 cases, not all: {failed:?}"
    );
    for case in report.failed_cases() {
        assert!(!case.detail.is_empty(), "{case:?}");
    }

    let broken = host.candidate(&BECH32_BROKEN);
    let report = host.validate(&broken, &bip173);
    assert!(!report.passed);
    assert_eq!(report.failure, None);
    let failed: Vec<_> = report.failed_cases().collect();
    assert!(
        failed.iter().any(|c| c.detail.contains("mixed case")
            && c.detail
                .contains("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7")),
        "no failed case names the mixed-case vector: {failed:#?}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], false);
    assert!(json["cases"].as_array().unwrap().len() == report.cases.len());
}

#[test]
fn a_candidate_without_the_interface_fails_with_the_reason() {
    let host = Host::new(Limits::default());
    let bip173 = host.validator(&BIP173_VECTORS);
    let trap = host.candidate(&TEST_TRAP);
    let report = host.validate(&trap, &bip173);
    assert!(!report.passed);
    assert!(report.cases.is_empty());
    assert_eq!(report.failure_kind, Some(FailureKind::MissingExport));
    let failure = report.failure.unwrap();
    assert!(
        failure.contains("does not export anya:bitcoin/address@1.0.0#")
            && failure.contains("test-trap 1.0.0"),
        "{failure}"
    );
}

#[test]
fn an_answer_over_the_byte_cap_fails_the_run() {
    let host = Host::new(Limits {
        result_json_bytes: 300,
        ..Limits::default()
    });
    let bip173 = host.validator(&BIP173_VECTORS);
    let v110 = host.candidate(&BECH32_1_1_0);
    let report = host.validate(&v110, &bip173);
    assert!(!report.passed);
    assert!(report.cases.is_empty());
    assert_eq!(report.failure_kind, Some(FailureKind::OversizedAnswer));
    assert!(
        report.failure.as_deref().unwrap().contains("300 bytes"),
        "{report:?}"
    );
}

/// The world of the BIP-173 validator (imports `anya:bitcoin/address` and
/// `anya:host/log`, exports `anya:validator/suite`), around `module`.
fn validator_component(module: Option<Vec<u8>>) -> Vec<u8> {
    let DecodedWasm::Component(resolve, world) =
        wit_component::decode(&BIP173_VECTORS.wasm_bytes()).unwrap()
    else {
        panic!("not a component");
    };
    let mut module =
        module.unwrap_or_else(|| dummy_module(&resolve, world, ManglingAndAbi::Standard32));
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap()
}

/// A core module for the validator world whose `run` first decodes an address through
/// the candidate, then does `body` (which leaves the return pointer on the stack).
fn validator_module(memory_pages: u32, data: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (import "anya:bitcoin/address@1.0.0" "decode" (func $decode (param i32 i32 i32)))
            (memory (export "memory") {memory_pages})
            (global $heap (mut i32) (i32.const 4096))
            (data (i32.const 64) "{P2WPKH}")
            {data}
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $p i32)
                (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
                (global.set $heap (i32.add (local.get $p) (local.get 3)))
                (local.get $p))
            (func (export "anya:validator/suite@1.0.0#run") (result i32)
                (call $decode (i32.const 64) (i32.const {len}) (i32.const 256))
                {body}))"#,
        len = P2WPKH.len(),
    ))
    .unwrap()
}

#[test]
fn misbehaving_validators_are_stopped_within_their_limits() {
    let deadline = Duration::from_millis(300);
    let host = Host::new(Limits {
        deadline,
        fuel: u64::MAX / 2,
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let v110 = host.candidate(&BECH32_1_1_0);
    let bip350 = host.validator(&BIP350_VECTORS);

    // Every export of a dummy module traps.
    let trap = host.custom_validator(&validator_component(None), "trap-validator");
    let report = host.validate(&v110, &trap);
    assert!(!report.passed);
    assert_eq!(report.failure_kind, Some(FailureKind::Trap), "{report:?}");
    assert!(
        report
            .failure
            .as_deref()
            .unwrap()
            .contains("suite.run: trapped")
    );
    host.assert_serving(&v110);

    let spin = validator_module(1, "", "(loop $l (br $l)) (i32.const 0)");
    let spin = host.custom_validator(&validator_component(Some(spin)), "loop-validator");
    let report = host.validate(&v110, &spin);
    assert_eq!(
        report.failure_kind,
        Some(FailureKind::Deadline),
        "{report:?}"
    );
    assert!(
        report.duration <= deadline.mul_f64(1.25) + Duration::from_millis(50),
        "stopped after {:?}",
        report.duration
    );
    assert!(report.duration >= deadline, "{:?}", report.duration);
    host.assert_serving(&v110);

    let hog = validator_module(
        1,
        "",
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (i32.const 0)",
    );
    let hog = host.custom_validator(&validator_component(Some(hog)), "hog-validator");
    let report = host.validate(&v110, &hog);
    assert_eq!(
        report.failure_kind,
        Some(FailureKind::MemoryLimit),
        "{report:?}"
    );
    assert!(
        report
            .failure
            .as_deref()
            .unwrap()
            .contains("16777216 bytes")
    );
    host.assert_serving(&v110);

    // The answer at 0: a list of MAX_CASES + 1 records at 65536 (all zeros: empty
    // strings), within the validator's memory, so only the cap refuses it.
    let count = MAX_CASES as u32 + 1;
    let le = |n: u32| {
        n.to_le_bytes()
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>()
    };
    let data = format!(r#"(data (i32.const 0) "{}{}")"#, le(65536), le(count));
    let big = validator_module(8, &data, "(i32.const 0)");
    let big = host.custom_validator(&validator_component(Some(big)), "big-validator");
    let report = host.validate(&v110, &big);
    assert_eq!(
        report.failure_kind,
        Some(FailureKind::OversizedAnswer),
        "{report:?}"
    );
    assert!(
        report
            .failure
            .as_deref()
            .unwrap()
            .contains(&format!("{count} cases"))
    );

    // Endless recursion exhausts the call stack, not the host's.
    let recurse = wat::parse_str(
        r#"(module
            (import "anya:bitcoin/address@1.0.0" "decode" (func $decode (param i32 i32 i32)))
            (memory (export "memory") 1)
            (func $down (param i32) (result i32)
                (call $down (i32.add (local.get 0) (i32.const 1))))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0))
            (func (export "anya:validator/suite@1.0.0#run") (result i32)
                (call $down (i32.const 0))))"#,
    )
    .unwrap();
    let recurse = host.custom_validator(&validator_component(Some(recurse)), "deep-validator");
    let report = host.validate(&v110, &recurse);
    assert_eq!(
        report.failure_kind,
        Some(FailureKind::StackOverflow),
        "{report:?}"
    );
    assert!(report.failure.as_deref().unwrap().contains("call stack"));
    host.assert_serving(&v110);

    // The host and the validators keep working.
    host.assert_serving(&v110);
    assert!(host.validate(&v110, &bip350).passed);
}

/// Fuel stops a spinning validator, and a memory hog is stopped at its cap, while another
/// thread keeps calling the current version, without a failed call.
#[test]
fn the_host_keeps_serving_while_validators_misbehave() {
    let fuel = 200_000_000;
    let host = Host::new(Limits {
        fuel,
        deadline: Duration::from_secs(30),
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let v110 = host.candidate(&BECH32_1_1_0);
    let spin = validator_module(1, "", "(loop $l (br $l)) (i32.const 0)");
    let spin = host.custom_validator(&validator_component(Some(spin)), "loop-validator");
    let hog = validator_module(
        1,
        "",
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (i32.const 0)",
    );
    let hog = host.custom_validator(&validator_component(Some(hog)), "hog-validator");

    let done = std::sync::atomic::AtomicBool::new(false);
    let (served, reports) = std::thread::scope(|scope| {
        let serving = scope.spawn(|| {
            let mut served = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                host.assert_serving(&v110);
                served += 1;
            }
            served
        });
        let reports = [host.validate(&v110, &spin), host.validate(&v110, &hog)];
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (serving.join().unwrap(), reports)
    });
    assert_eq!(
        reports[0].failure_kind,
        Some(FailureKind::OutOfFuel),
        "{:?}",
        reports[0]
    );
    assert!(
        reports[0]
            .failure
            .as_deref()
            .unwrap()
            .contains(&format!("ran out of fuel (limit {fuel})")),
        "{:?}",
        reports[0]
    );
    assert_eq!(
        reports[1].failure_kind,
        Some(FailureKind::MemoryLimit),
        "{:?}",
        reports[1]
    );
    assert!(served > 0, "no call was served while the validators ran");
}

/// A validator that imports a WASI interface the host never links (here a network
/// capability) is refused when it is loaded, with a reason naming what it asked for.
#[test]
fn a_validator_asking_for_an_ungranted_capability_is_refused() {
    let host = Host::new(Limits::default());
    let DecodedWasm::Component(mut resolve, _) =
        wit_component::decode(&BIP173_VECTORS.wasm_bytes()).unwrap()
    else {
        panic!("not a component");
    };
    resolve
        .push_str(
            "http.wit",
            "package wasi:http@0.2.0;\ninterface outgoing-handler {\n  handle: func(url: string) -> string;\n}\n",
        )
        .unwrap();
    let pkg = resolve
        .push_str(
            "cap.wit",
            "package test:cap;\nworld cap {\n  import wasi:http/outgoing-handler@0.2.0;\n  export anya:validator/suite@1.0.0;\n}\n",
        )
        .unwrap();
    let world = resolve.select_world(&[pkg], Some("cap")).unwrap();
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    let wasm = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap();

    let mut manifest: Manifest = manifest_of(&BIP173_VECTORS);
    manifest.name = ComponentName::parse("net-validator").unwrap();
    let signed =
        signature::sign(&package::embed_manifest(&wasm, &manifest).unwrap(), &key(1)).unwrap();
    let error = host
        .runtime
        .load_validator(&host.verify(signed))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "asks for wasi:http/outgoing-handler@0.2.0, a capability validators are not given"
        ),
        "{error}"
    );
    host.assert_serving(&host.candidate(&BECH32_1_1_0));
}

/// The time to validate 1.1.0 with both validators, warm (both loaded), printed.
#[test]
fn time_to_validate_bech32_1_1_0_with_both_validators() {
    let host = Host::new(Limits::default());
    let v110 = host.candidate(&BECH32_1_1_0);
    let validators = [
        host.validator(&BIP173_VECTORS),
        host.validator(&BIP350_VECTORS),
    ];
    let run = || {
        for validator in &validators {
            assert!(host.validate(&v110, validator).passed);
        }
    };
    run();
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        run();
    }
    let each = started.elapsed() / rounds;
    eprintln!("validate bech32 1.1.0 with bip173-vectors + bip350-vectors (warm): {each:?}");
    assert!(each < Duration::from_secs(1), "{each:?}");
}

/// `bech32` 1.1.0's world with `address.decode` taking a `u32` instead of a `string`,
/// under the same interface version (a dummy core module: refused before it runs).
fn bech32_with_changed_decode() -> Vec<u8> {
    let DecodedWasm::Component(mut resolve, world) =
        wit_component::decode(&BECH32_1_1_0.wasm_bytes()).unwrap()
    else {
        panic!("not a component");
    };
    let (id, _) = resolve
        .interfaces
        .iter()
        .find(|(_, i)| i.name.as_deref() == Some("address"))
        .unwrap();
    let decode = resolve.interfaces[id].functions.get_mut("decode").unwrap();
    decode.params[0].ty = wit_parser::Type::U32;
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap()
}

#[test]
fn a_candidate_with_a_changed_function_type_is_refused_before_running() {
    let host = Host::new(Limits::default());
    let bip173 = host.validator(&BIP173_VECTORS);
    let mut manifest = manifest_of(&BECH32_1_1_0);
    manifest.version = semver::Version::new(1, 1, 9);
    let bytes = package::embed_manifest(&bech32_with_changed_decode(), &manifest).unwrap();
    let signed = signature::sign(&bytes, &key(1)).unwrap();
    let changed = host.runtime.load(&host.verify(signed)).unwrap();
    let report = host.validate(&changed, &bip173);
    assert!(!report.passed);
    assert_eq!(
        report.failure_kind,
        Some(FailureKind::TypeMismatch),
        "{report:?}"
    );
    let failure = report.failure.unwrap();
    assert!(
        failure.contains("anya:bitcoin/address@1.0.0#decode")
            && failure.contains("func(string)")
            && failure.contains("func(u32)"),
        "{failure}"
    );
}
