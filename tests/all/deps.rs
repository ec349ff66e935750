//! Dependencies between components: installs in dependency order, a cycle named, unmet
//! requirements (a candidate's and an installed dependent's) refused with the state
//! unchanged, and a multi-component update that is all or nothing.

use std::collections::BTreeMap;

use anya_fixtures::{
    BECH32_1_0_0, BECH32_1_1_0, FEE_ESTIMATOR_1_0_0, FEE_ESTIMATOR_2_0_0,
    FEE_ESTIMATOR_BAD_MIGRATION, Fixture,
};
use anya_host::ids::ComponentName;
use anya_host::update::UpdateError;
use semver::{Version, VersionReq};
use serde_json::json;

use crate::common::{Node, text};

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// `fixture` in the registry at `version`, depending on `deps`.
fn publish_with_deps(node: &Node, fixture: &Fixture, version: &str, deps: &[(&str, &str)]) {
    node.publish_edited(fixture, version, |m| {
        m.dependencies = deps
            .iter()
            .map(|(n, r)| (name(n), VersionReq::parse(r).unwrap()))
            .collect::<BTreeMap<_, _>>();
    });
}

fn request(n: &str, version: &str) -> (ComponentName, Option<Version>) {
    (name(n), Some(v(version)))
}

fn active(node: &Node) -> Vec<(String, String)> {
    node.manager()
        .status()
        .unwrap()
        .components
        .iter()
        .map(|c| (c.name.to_string(), c.version.to_string()))
        .collect()
}

#[test]
fn several_components_install_in_dependency_order() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.manager()
        .install(&name("bech32"), None, false)
        .unwrap();
    node.publish(&BECH32_1_1_0);
    publish_with_deps(&node, &FEE_ESTIMATOR_1_0_0, "1.0.0", &[("bech32", "^1.1")]);

    // Asked for in the wrong order; installed dependency first.
    let outcomes = node
        .manager()
        .install_many(
            &[
                request("fee-estimator", "1.0.0"),
                request("bech32", "1.1.0"),
            ],
            false,
        )
        .unwrap();
    let installed: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{} {}", o.name, o.version))
        .collect();
    assert_eq!(installed, ["bech32 1.1.0", "fee-estimator 1.0.0"]);
    assert_eq!(
        active(&node),
        [
            ("bech32".into(), "1.1.0".into()),
            ("fee-estimator".into(), "1.0.0".into())
        ]
    );
}

#[test]
fn unmet_requirements_are_refused_and_change_nothing() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.manager()
        .install(&name("bech32"), None, false)
        .unwrap();
    publish_with_deps(&node, &FEE_ESTIMATOR_1_0_0, "1.0.0", &[("bech32", "^1.1")]);

    let before = node.snapshot();
    let error = node
        .manager()
        .install(&name("fee-estimator"), None, false)
        .unwrap_err();
    assert!(
        matches!(error, UpdateError::UnmetDependencies { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 5);
    assert!(
        error
            .to_string()
            .contains("fee-estimator 1.0.0 requires bech32 ^1.1, but bech32 1.0.0 is installed"),
        "{error}"
    );
    assert_eq!(node.snapshot(), before);

    // A dependency that is not there at all.
    publish_with_deps(&node, &FEE_ESTIMATOR_2_0_0, "2.0.0", &[("wallet", "^3")]);
    let out = node.anya(&["install", "fee-estimator", "2.0.0"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains(
            "fee-estimator 2.0.0 requires wallet ^3, which is neither installed nor part of this install"
        ),
        "{stderr}"
    );
    crate::common::assert_refusal_journaled(&node, &before);

    // --force installs over it, audited.
    let outcome = node
        .manager()
        .install(&name("fee-estimator"), Some(&v("1.0.0")), true)
        .unwrap();
    assert!(outcome.forced);
    let journal = node.manager().store().read_journal().unwrap();
    assert!(journal.iter().any(|e| e.action == "dependencies-forced"));
}

#[test]
fn an_update_that_breaks_a_dependent_is_refused() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    publish_with_deps(&node, &FEE_ESTIMATOR_1_0_0, "1.0.0", &[("bech32", "^1")]);
    node.manager()
        .install_many(
            &[
                request("bech32", "1.0.0"),
                request("fee-estimator", "1.0.0"),
            ],
            false,
        )
        .unwrap();
    // bech32 2.0.0: the 1.1.0 build under a major version.
    publish_with_deps(&node, &BECH32_1_1_0, "2.0.0", &[]);

    let before = node.snapshot();
    let error = node
        .manager()
        .install(&name("bech32"), Some(&v("2.0.0")), false)
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "installing bech32 2.0.0 would break fee-estimator 1.0.0, which requires bech32 ^1"
        ),
        "{error}"
    );
    assert_eq!(node.snapshot(), before);

    // Updating both together, with the dependent's new requirement, is fine.
    publish_with_deps(&node, &FEE_ESTIMATOR_2_0_0, "2.0.0", &[("bech32", "^2")]);
    let out = node.anya(&["install", "fee-estimator@2.0.0", "bech32@2.0.0"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "installed bech32 2.0.0 (was 1.0.0)",
            "installed fee-estimator 2.0.0 (was 1.0.0)"
        ]
    );
}

#[test]
fn a_cycle_is_an_error_that_names_it() {
    let node = Node::new();
    publish_with_deps(&node, &BECH32_1_0_0, "1.0.0", &[("fee-estimator", "^1")]);
    publish_with_deps(&node, &FEE_ESTIMATOR_1_0_0, "1.0.0", &[("bech32", "^1")]);
    let error = node
        .manager()
        .install_many(
            &[
                request("fee-estimator", "1.0.0"),
                request("bech32", "1.0.0"),
            ],
            false,
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "dependency cycle: bech32 → fee-estimator → bech32"
    );
    let out = node.anya(&["install", "bech32@1.0.0", "fee-estimator@1.0.0", "--force"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("bech32 → fee-estimator → bech32"),
        "{stderr}"
    );
    assert!(active(&node).is_empty());
}

#[test]
fn a_multi_component_update_is_all_or_nothing() {
    let node = Node::new();
    node.publish(&BECH32_1_0_0);
    node.publish(&FEE_ESTIMATOR_1_0_0);
    node.publish(&BECH32_1_1_0);
    // 2.0.1's migration fails after writing part of its data; it needs bech32 1.1, so
    // bech32 is swapped first and must be rolled back.
    publish_with_deps(
        &node,
        &FEE_ESTIMATOR_BAD_MIGRATION,
        "2.0.1",
        &[("bech32", "^1.1")],
    );
    let manager = node.manager();
    manager
        .install_many(
            &[
                request("bech32", "1.0.0"),
                request("fee-estimator", "1.0.0"),
            ],
            false,
        )
        .unwrap();
    for fee in [3, 5, 8] {
        manager
            .call(&name("fee-estimator"), "record", json!(fee))
            .unwrap();
    }
    let history = |m: &anya_host::update::UpdateManager| {
        m.call(&name("fee-estimator"), "history", json!([]))
            .unwrap()
    };
    let before = history(&manager);

    let error = manager
        .install_many(
            &[
                request("fee-estimator", "2.0.1"),
                request("bech32", "1.1.0"),
            ],
            false,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("lifecycle.activate failed"),
        "{error}"
    );
    drop(manager);
    assert_eq!(
        active(&node),
        [
            ("bech32".into(), "1.0.0".into()),
            ("fee-estimator".into(), "1.0.0".into())
        ]
    );
    let manager = node.manager();
    assert_eq!(history(&manager), before);
    let journal = manager.store().read_journal().unwrap();
    let last = journal.last().unwrap();
    assert_eq!(last.action, "rolled-back");
    assert!(
        last.detail
            .contains("undoing a multi-component update: fee-estimator failed"),
        "{last:?}"
    );

    // First installs are removed again, their data as it was.
    let fresh = Node::new();
    fresh.publish(&BECH32_1_1_0);
    publish_with_deps(
        &fresh,
        &FEE_ESTIMATOR_BAD_MIGRATION,
        "2.0.1",
        &[("bech32", "^1.1")],
    );
    let before = fresh
        .snapshot()
        .into_keys()
        .filter(|p| p.starts_with("kv"))
        .collect::<Vec<_>>();
    let error = fresh
        .manager()
        .install_many(
            &[
                request("fee-estimator", "2.0.1"),
                request("bech32", "1.1.0"),
            ],
            false,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("lifecycle.activate failed"),
        "{error}"
    );
    assert!(active(&fresh).is_empty());
    let journal = fresh.manager().store().read_journal().unwrap();
    assert_eq!(journal.last().unwrap().action, "uninstalled");
    let after = fresh.snapshot();
    assert!(
        after
            .keys()
            .filter(|p| p.starts_with("snapshots") && !p.ends_with("snapshots"))
            .all(|p| after[p] == b"<dir>"),
        "no snapshot is left behind: {:?}",
        after.keys().collect::<Vec<_>>()
    );
    let kv_after: Vec<_> = after
        .iter()
        .filter(|(p, bytes)| p.starts_with("kv") && bytes.as_slice() != b"<dir>")
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        kv_after.iter().all(|p| before.contains(p)),
        "key-value data left behind: {kv_after:?}"
    );
}
