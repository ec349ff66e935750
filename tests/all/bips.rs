//! The BIPs node operators require, proven: `bitcoin-module` 1.1.0 (the reference
//! module of `anya:bitcoin@1.1.0`) installs under the guide's policy
//! (`bip_compliance_required = ["141", "143", "144"]`) with every BIP it claims proven
//! by the validators built from the BIPs' published vectors; each deliberately broken
//! build is refused by the validator of the rule it breaks, naming the vector; and the
//! WIT check takes `anya:bitcoin` 1.0 → 1.1 for a feature.

use anya_fixtures::{
    BECH32_1_1_0, BITCOIN_BAD_BIP143_AMOUNT, BITCOIN_BAD_PSBT_DUPKEY, BITCOIN_BAD_TAP_EPOCH,
    BITCOIN_BAD_WEIGHT, BITCOIN_MODULE, Fixture, GUIDE_POLICY, GUIDE_POLICY_PATH,
};
use anya_host::compat::{self, ComputedType};
use anya_host::ids::ComponentName;
use anya_host::policy::Policy;
use anya_host::update::{Options, UpdateManager};
use semver::Version;

use crate::common::{Node, key, manifest_of, package_with, text};

/// Every BIP `bitcoin-module` 1.1.0 claims, each proven by its validator.
const ALL_BIPS: [u32; 8] = [141, 143, 144, 173, 174, 340, 341, 350];

/// The cases of each BIP validator, as the BIPs' vectors count them (see each
/// validator's module in `plugins/bitcoin-vectors`).
const CASES: [(&str, usize); 6] = [
    // 8 witness and 7 legacy transactions × (sizes, ids), 7 taproot programs.
    ("bip141-vectors 1.0.0", 37),
    // The 13 sigHash lines of BIP-143's examples.
    ("bip143-vectors 1.0.0", 13),
    // 15 round trips, 8 bad flags, 7 superfluous witness serializations.
    ("bip144-vectors 1.0.0", 30),
    // BIP-174's 20 invalid, 10 valid and 4 fails-signer-checks PSBTs.
    ("bip174-vectors 1.0.0", 34),
    // The 19 rows of BIP-340's test-vectors.csv.
    ("bip340-vectors 1.0.0", 19),
    // BIP-341's 7 scriptPubKey vectors and 7 key path inputs.
    ("bip341-vectors 1.0.0", 14),
];

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn guide(node: &Node) -> UpdateManager {
    node.manager_with(Options::from_policy(&Policy::parse(GUIDE_POLICY).unwrap()))
}

/// `bech32` 1.1.0's component (an `anya:bitcoin@1.0.0` address provider) published as
/// `bitcoin-module` 1.0.0: the module before it grew the 1.1.0 interfaces.
fn publish_bitcoin_module_1_0_0(node: &Node) {
    let mut manifest = manifest_of(&BECH32_1_1_0);
    manifest.name = name("bitcoin-module");
    manifest.version = v("1.0.0");
    node.publish(&anya_fixtures::BIP173_VECTORS);
    node.publish(&anya_fixtures::BIP350_VECTORS);
    node.put_in_registry(
        "bitcoin-module",
        "1.0.0",
        &package_with(&BECH32_1_1_0, &manifest, &[&key(1)]),
    );
}

#[test]
fn the_wit_check_takes_anya_bitcoin_1_0_to_1_1_for_a_feature() {
    let running = compat::decode(&BECH32_1_1_0.wasm_bytes()).unwrap();
    let candidate = compat::decode(&BITCOIN_MODULE.wasm_bytes()).unwrap();
    // `address` is exported by both, at 1.0.0 and at 1.1.0 (names without versions).
    let address = "anya:bitcoin/address".to_owned();
    assert!(running.exports().contains(&address), "{running:?}");
    assert!(candidate.exports().contains(&address), "{candidate:?}");
    let diff = compat::diff(&running, &candidate);
    assert_eq!(diff.breaking, vec![], "address is unchanged in 1.1.0");
    assert_eq!(diff.computed(), ComputedType::Feature);
    for interface in ["transaction", "sighash", "taproot", "schnorr", "psbt"] {
        assert!(
            diff.added
                .iter()
                .any(|a| a.contains(&format!("anya:bitcoin/{interface}"))),
            "{interface} not among the additions: {:?}",
            diff.added
        );
    }
    assert_eq!(diff.new_imports, Vec::<String>::new());
}

#[test]
fn bitcoin_module_installs_under_the_guides_policy_with_every_bip_proven() {
    let node = Node::new();
    publish_bitcoin_module_1_0_0(&node);
    node.publish(&BITCOIN_MODULE);
    // 1.0.0 has no transactions, so nothing proves BIP 141, 143 or 144 for it: the
    // guide's policy refuses it.
    let manager = guide(&node);
    let error = manager
        .install(&name("bitcoin-module"), Some(&v("1.0.0")), false)
        .unwrap_err();
    assert_eq!(error.exit_code(), 7);
    assert!(
        error
            .to_string()
            .contains("BIP 141 (required by the policy) is not proven"),
        "{error}"
    );
    drop(manager);
    // Without the policy it installs (its manifest's BIP-173/350 validators pass); then
    // `check` under the guide's policy shows 1.1.0 as a feature with every BIP proven.
    node.manager()
        .install(&name("bitcoin-module"), Some(&v("1.0.0")), false)
        .unwrap();
    let policy = ["--policy", GUIDE_POLICY_PATH];
    let out = node.anya(&[&policy[..], &["--json", "check"]].concat());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(100), "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let update = &json["updates"][0];
    assert_eq!(update["component"], "bitcoin-module", "{update}");
    assert_eq!(update["available_version"], "1.1.0");
    assert_eq!(update["computed_type"], "feature", "{update}");
    assert_eq!(update["breaking_reasons"], serde_json::json!([]));
    assert_eq!(update["validation_passed"], true, "{update}");
    let proven: Vec<String> = ALL_BIPS.iter().map(u32::to_string).collect();
    assert_eq!(update["bips_proven"], serde_json::json!(proven));

    // The install, through the binary, under the guide's policy.
    let out = node.anya(&[&policy[..], &["install", "bitcoin-module"]].concat());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");

    let status = node.manager().status().unwrap();
    let c = &status.components[0];
    assert_eq!(c.version, v("1.1.0"));
    let summary = c.validation.as_ref().expect("a validation summary");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_eq!(
        summary
            .bips_proven
            .iter()
            .map(|b| b.number())
            .collect::<Vec<_>>(),
        ALL_BIPS
    );
    for (validator, _) in CASES {
        assert!(
            summary.validators.iter().any(|v| v == validator),
            "{validator} did not run: {:?}",
            summary.validators
        );
    }

    // Every vector a named case, as many as the BIPs publish.
    let report = node.manager().validation_report(c.digest).unwrap().unwrap();
    for (validator, count) in CASES {
        let run = report["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["validator"] == validator)
            .unwrap_or_else(|| panic!("no run of {validator} in {report}"));
        let cases = run["cases"].as_array().unwrap();
        assert_eq!(cases.len(), count, "{validator}");
        assert!(cases.iter().all(|c| c["passed"] == true), "{run}");
    }

    let out = node.anya(&["status", "bitcoin-module"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(
            "proven: BIP-141, BIP-143, BIP-144, BIP-173, BIP-174, BIP-340, BIP-341, BIP-350"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("pass bip143/native-p2wpkh/0: "), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// Publishes `broken` and expects the guide's policy to refuse it at the gate (exit 7),
/// `validator` alone failing, `failed` of its cases, the first named `vector`.
#[track_caller]
fn assert_refused(broken: &Fixture, validator: &str, failed: &str, vector: &str) {
    let node = Node::new();
    node.publish(broken);
    let manager = guide(&node);
    let against = format!(
        "{validator} 1.0.0 against bitcoin-module {}: {failed} cases failed: \"{vector}\"",
        broken.version
    );
    let message = crate::gate::assert_gate_refuses(
        &node,
        &manager,
        "bitcoin-module",
        broken.version,
        &[&against],
    );
    for (other, _) in CASES {
        if !other.starts_with(validator) {
            assert!(
                !message.contains(&format!("{other} against")),
                "{other} failed too: {message}"
            );
        }
    }
    drop(manager);
    assert!(node.manager().status().unwrap().components.is_empty());

    let policy = ["--policy", GUIDE_POLICY_PATH];
    let out = node.anya(&[&policy[..], &["install", "bitcoin-module"]].concat());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains(vector), "{vector} not in {stderr}");
}

#[test]
fn a_bip143_sighash_that_forgets_the_amount_is_refused() {
    assert_refused(
        &BITCOIN_BAD_BIP143_AMOUNT,
        "bip143-vectors",
        "13 of 13",
        "bip143/native-p2wpkh/0",
    );
}

#[test]
fn a_taproot_sighash_without_the_epoch_is_refused() {
    assert_refused(
        &BITCOIN_BAD_TAP_EPOCH,
        "bip341-vectors",
        "7 of 14",
        "bip341/key-path/input-0",
    );
}

#[test]
fn a_weight_that_counts_witness_bytes_at_full_weight_is_refused() {
    assert_refused(
        &BITCOIN_BAD_WEIGHT,
        "bip141-vectors",
        "8 of 37",
        "bip141/sizes/bip143/native-p2wpkh",
    );
}

#[test]
fn a_psbt_parser_that_accepts_a_duplicate_key_is_refused() {
    assert_refused(
        &BITCOIN_BAD_PSBT_DUPKEY,
        "bip174-vectors",
        "1 of 34",
        "bip174/invalid/psbt-with-duplicate-keys-in-an-input",
    );
}
