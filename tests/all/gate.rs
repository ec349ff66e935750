//! The validation gate at install: which validators run (the manifest's and the
//! policy's), fetched and verified from the registry; BIPs proven, not claimed; the report
//! kept with the version; the post-install check after the swap; and each refusal with
//! its reason and the state folder unchanged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anya_fixtures::{
    BECH32_1_0_0, BECH32_1_1_0, BECH32_BROKEN, BIP173_VECTORS, BIP350_VECTORS, FEE_ESTIMATOR_1_0_0,
};
use anya_host::ids::ComponentName;
use anya_host::manifest::Manifest;
use anya_host::policy::Policy;
use anya_host::store::Lifecycle;
use anya_host::update::{Options, UpdateError, UpdateManager};
use semver::Version;

use crate::common::{Node, key, manifest_of, package, text};

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn with_policy(node: &Node, policy: &str) -> UpdateManager {
    node.manager_with(Options::from_policy(&Policy::parse(policy).unwrap()))
}

/// The state folder without the compile cache (derived data the gate may fill: a
/// refused candidate was compiled to be tested).
fn state_without_cache(node: &Node) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = node.snapshot();
    files.retain(|path, _| !path.starts_with("cache"));
    files
}

/// Runs `install` and expects the gate to refuse it (exit 7), naming every fragment in
/// `reasons`, with the state folder unchanged; the refusal's message.
#[track_caller]
pub fn assert_gate_refuses(
    node: &Node,
    manager: &UpdateManager,
    component: &str,
    version: &str,
    reasons: &[&str],
) -> String {
    let before = state_without_cache(node);
    let error = manager
        .install(&name(component), Some(&v(version)), true)
        .unwrap_err();
    assert!(
        matches!(error, UpdateError::ValidationFailed { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 7);
    let message = error.to_string();
    for reason in reasons {
        assert!(message.contains(reason), "{reason:?} not in {message}");
    }
    assert_eq!(
        state_without_cache(node),
        before,
        "the state folder changed after: {message}"
    );
    message
}

#[test]
fn the_broken_bech32_is_refused_by_the_bip173_validator_naming_the_vector() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_BROKEN);
    let manager = node.manager();
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();

    // Even --force does not take a package through a failed validator.
    let message = assert_gate_refuses(
        &node,
        &manager,
        "bech32",
        "1.1.1",
        &[
            "bech32 1.1.1 failed validation",
            "bip173-vectors 1.0.0 against bech32 1.1.1: 1 of",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
            "mixed case",
            "BIP 173 (claimed by the manifest) is not proven: the validators declaring it \
             failed: bip173-vectors 1.0.0",
        ],
    );
    // BIP-350 repeats the rule for bech32m, and the broken build fails it there too.
    assert!(
        message.contains("bip350-vectors 1.0.0 against bech32 1.1.1: 1 of"),
        "{message}"
    );
    drop(manager);

    // The CLI: exit code 7, the vector named.
    let out = node.anya(&["install", "bech32", "1.1.1"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("mixed case"), "{stderr}");
    let status = node.manager().status().unwrap();
    assert_eq!(status.components[0].version, v("1.0.0"));
}

#[test]
fn bech32_1_1_0_passes_both_validators_and_its_report_is_kept() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let manager = node.manager();
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
    let outcome = manager.install(&name("bech32"), None, false).unwrap();
    assert_eq!(outcome.version, v("1.1.0"));
    assert_eq!(outcome.status, Lifecycle::Committed);

    let status = manager.status().unwrap();
    let c = &status.components[0];
    let summary = c.validation.as_ref().expect("a validation summary");
    assert_eq!(
        summary.validators,
        vec!["bip173-vectors 1.0.0", "bip350-vectors 1.0.0"]
    );
    assert_eq!(
        summary
            .bips_proven
            .iter()
            .map(|b| b.number())
            .collect::<Vec<_>>(),
        vec![173, 350]
    );
    assert_eq!(summary.failed, 0);
    assert!(summary.cases > 20, "{summary:?}");
    // The rollback point keeps the validation that admitted 1.0.0.
    let point = &c.rollback_points[0];
    assert_eq!(point.version, v("1.0.0"));
    assert_eq!(
        point.validation.as_ref().unwrap().validators,
        vec!["bip173-vectors 1.0.0"]
    );

    // The full report: every case, pass or fail, with each run's time.
    let report = manager.validation_report(c.digest).unwrap().unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let cases: usize = runs
        .iter()
        .map(|r| r["cases"].as_array().unwrap().len())
        .sum();
    assert_eq!(cases, summary.cases);
    assert!(runs.iter().all(|r| r["duration"].is_object()));
    drop(manager);

    let out = node.anya(&["status", "bech32"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("proven: BIP-173, BIP-350"),
        "no proven BIPs in:\n{stdout}"
    );
    assert!(
        stdout.contains("validator bip350-vectors 1.0.0 against bech32 1.1.0: passed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pass ") && !stdout.contains("FAIL"),
        "{stdout}"
    );
    let out = node.anya(&["--json", "status", "bech32"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["validation_report"]["runs"].as_array().unwrap().len(),
        2
    );
    assert_eq!(json["validation"]["failed"], 0);
}

#[test]
fn validators_must_be_in_the_registry_trusted_and_validators() {
    let node = Node::new();
    // bech32 without the validators its manifest names.
    node.put_in_registry("bech32", "1.0.0", &package(&BECH32_1_0_0, &[&key(1)]));
    let manager = node.manager();
    assert_gate_refuses(
        &node,
        &manager,
        "bech32",
        "1.0.0",
        &[
            "validator bip173-vectors: not in registry",
            "BIP 173 (claimed by the manifest) is not proven: no validator that ran declares it",
        ],
    );

    // Signed by a key the trust store does not know: verified like any package.
    node.put_in_registry(
        "bip173-vectors",
        "1.0.0",
        &package(&BIP173_VECTORS, &[&key(9)]),
    );
    assert_gate_refuses(
        &node,
        &manager,
        "bech32",
        "1.0.0",
        &["validator bip173-vectors:", "bip173-vectors 1.0.0"],
    );

    // A name that is an extension, not a validator.
    node.publish_edited(&BECH32_1_0_0, "1.0.1", |m| {
        m.validators = vec![name("fee-estimator")];
        m.bip_compliance.clear();
    });
    node.publish(&FEE_ESTIMATOR_1_0_0);
    assert_gate_refuses(
        &node,
        &manager,
        "bech32",
        "1.0.1",
        &["validator fee-estimator: fee-estimator 1.0.0 is an extension, not a validator"],
    );

    // With the trusted validator in place, it installs.
    node.publish(&BIP173_VECTORS);
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
}

#[test]
fn the_policy_attaches_validators_and_requires_bips() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BIP350_VECTORS);

    // A BIP no validator declares.
    let manager = with_policy(
        &node,
        "[components.bech32]\nbip_compliance_required = [\"141\"]\n",
    );
    assert_gate_refuses(
        &node,
        &manager,
        "bech32",
        "1.0.0",
        &["BIP 141 (required by the policy) is not proven: no validator that ran declares it"],
    );
    drop(manager);

    // A validator the policy attaches runs too, and fails 1.0.0 (no BIP-350 in 1.0.0).
    let manager = with_policy(
        &node,
        "[components.bech32]\nvalidators = [\"bip350-vectors\"]\nbip_compliance_required = [\"350\"]\n",
    );
    assert_gate_refuses(
        &node,
        &manager,
        "bech32",
        "1.0.0",
        &[
            "bip350-vectors 1.0.0 against bech32 1.0.0:",
            "BIP 350 (required by the policy) is not proven: the validators declaring it \
             failed: bip350-vectors 1.0.0",
        ],
    );
    drop(manager);

    // model_validation_required: a component with no validator at all is refused.
    node.publish(&FEE_ESTIMATOR_1_0_0);
    let manager = with_policy(
        &node,
        "[components.fee-estimator]\nmodel_validation_required = true\n",
    );
    assert_gate_refuses(
        &node,
        &manager,
        "fee-estimator",
        "1.0.0",
        &[
            "the policy requires validation (model_validation_required), and no validator ran and passed",
        ],
    );

    // A malformed BIP is a clear error, in the policy and in a manifest.
    let error = Policy::parse("[components.bech32]\nbip_compliance_required = [\"BIP-14x\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 2") && error.contains("invalid BIP \"BIP-14x\""),
        "{error}"
    );
    let text = manifest_of(&BECH32_1_0_0).to_toml().replace(
        "bip_compliance = [\"173\"]",
        "bip_compliance = [\"one-seven-three\"]",
    );
    let error = Manifest::parse(&text).unwrap_err().to_string();
    assert!(error.contains("invalid BIP \"one-seven-three\""), "{error}");
}

#[test]
fn with_pre_update_tests_off_only_validators_proving_required_bips_run() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&BECH32_1_1_0);
    let manager = with_policy(
        &node,
        "[testing]\npre_update_tests = false\n[components.bech32]\nbip_compliance_required = [\"173\"]\n",
    );
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
    manager
        .install(&name("bech32"), Some(&v("1.1.0")), false)
        .unwrap();
    let status = manager.status().unwrap();
    let summary = status.components[0].validation.clone().unwrap();
    assert_eq!(summary.validators, vec!["bip173-vectors 1.0.0"]);
    assert_eq!(
        summary
            .bips_proven
            .iter()
            .map(|b| b.number())
            .collect::<Vec<_>>(),
        vec![173]
    );
    assert!(
        summary
            .skipped
            .as_deref()
            .unwrap()
            .contains("pre_update_tests is false"),
        "{summary:?}"
    );
}

#[test]
fn a_post_install_validator_that_fails_rolls_the_swap_back() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    // The broken build, claiming nothing and naming no validator: the pre-install gate
    // has nothing to run, the policy's post-install validator catches it.
    node.publish_edited(&BECH32_BROKEN, "1.1.1", |m| {
        m.validators.clear();
        m.bip_compliance.clear();
    });
    let manager = with_policy(
        &node,
        "[components.bech32]\npost_install_validators = [\"bip173-vectors\"]\n",
    );
    manager
        .install(&name("bech32"), Some(&v("1.0.0")), false)
        .unwrap();
    // Serving, so the swap is real.
    manager
        .call(
            &name("bech32"),
            "decode",
            serde_json::json!("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"),
        )
        .unwrap();

    let error = manager
        .install(&name("bech32"), Some(&v("1.1.1")), false)
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(&error, UpdateError::PostInstallCheck { rolled_back_to, .. } if *rolled_back_to == v("1.0.0")),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 7);
    assert!(message.contains("mixed case"), "{message}");
    let status = manager.status().unwrap();
    let c = &status.components[0];
    assert_eq!(c.version, v("1.0.0"));
    assert_eq!(c.status, Lifecycle::Committed);
    assert_eq!(c.blocklist[0].version, v("1.1.1"));
    assert!(
        c.last_rollback
            .as_ref()
            .unwrap()
            .reason
            .contains("post-install check failed"),
        "{:?}",
        c.last_rollback
    );
    let served = manager
        .call(
            &name("bech32"),
            "decode",
            serde_json::json!("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"),
        )
        .unwrap();
    assert_eq!(served["ok"]["hrp"], "bc");
    let journal = manager.store().read_journal().unwrap();
    let actions: Vec<&str> = journal.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.ends_with(&["installed", "rollback-started", "rolled-back-automatically"]),
        "{actions:?}"
    );
    // Kept for whoever reports automatic rollbacks (the daemon), once.
    let reported = manager.take_automatic_rollbacks();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].to, v("1.0.0"));
    assert!(reported[0].reason.starts_with("post-install check failed"));
    assert!(manager.take_automatic_rollbacks().is_empty());
}

#[test]
fn check_json_carries_bips_claimed_and_proven() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.manager()
        .install(&name("bech32"), None, false)
        .unwrap();
    node.publish(&BECH32_1_1_0);

    let out = node.anya(&["--json", "check"]);
    assert_eq!(out.status.code(), Some(100));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let update = &json["updates"][0];
    assert_eq!(update["available_version"], "1.1.0");
    assert_eq!(update["update_type"], "feature");
    // Same exports, same types: the WIT shows a patch; the publisher calls it a feature.
    assert_eq!(update["computed_type"], "patch");
    assert_eq!(update["breaking_reasons"], serde_json::json!([]));
    assert_eq!(update["capability_changes"], serde_json::json!([]));
    assert_eq!(update["bip_compliance"], serde_json::json!(["173", "350"]));
    assert_eq!(update["bips_proven"], serde_json::json!(["173", "350"]));
    assert_eq!(update["validation_passed"], true);
    assert_eq!(
        update["bips"][1]["proven_by"],
        serde_json::json!(["bip350-vectors 1.0.0"])
    );

    // The broken build as the newest: claimed, not proven, and why.
    node.publish(&BECH32_BROKEN);
    let out = node.anya(&["--json", "check"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let update = &json["updates"][0];
    assert_eq!(update["available_version"], "1.1.1");
    assert_eq!(update["bips_proven"], serde_json::json!([]));
    assert_eq!(update["validation_passed"], false);
    assert!(
        update["validation_problems"][0]
            .as_str()
            .unwrap()
            .contains("mixed case"),
        "{update}"
    );
    let out = node.anya(&["check"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("validation"), "{stdout}");
}
