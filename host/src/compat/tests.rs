//! The classification on the real bech32 fixtures, and on small components built from
//! WIT text (a dummy core module encoded as a component) for every kind of change.

use anya_fixtures::{BECH32_1_0_0, BECH32_1_1_0, TEST_KV, TEST_TRAP, TEST_WASI_FS};
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::{ManglingAndAbi, Resolve};

use super::*;

/// A stand-in for a WASI package, so that worlds can import `wasi:filesystem/types`.
const WASI_FS: &str = "package wasi:filesystem@0.2.0;
interface types {
    stat: func(path: string) -> result<u64, string>;
}";

/// The exports of version 1 of the test world; `api` is replaced to make the others.
const API_V1: &str = "
    record point { x: u32, y: u32 }
    enum color { red, green }
    variant shape { circle(u32), square(point) }
    area: func(s: shape) -> u64;
    paint: func(p: point, c: color) -> result<_, string>;
    name: func() -> string;
";

/// A component whose world imports `log-sink` and `imports`, and exports an interface
/// `api` with `api_body`.
fn component(api_body: &str, imports: &[&str]) -> Vec<u8> {
    let mut resolve = Resolve::default();
    resolve.push_str("wasi-fs.wit", WASI_FS).unwrap();
    let extra: String = imports.iter().map(|i| format!("import {i};\n")).collect();
    let text = format!(
        "package test:demo@1.0.0;
        interface log-sink {{ write: func(msg: string); }}
        interface api {{ {api_body} }}
        world w {{ import log-sink; {extra} export api; }}"
    );
    let pkg = resolve.push_str("demo.wit", &text).unwrap();
    let world = resolve.select_world(&[pkg], Some("w")).unwrap();
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap()
}

fn diff_of(old: &[u8], new: &[u8]) -> WitDiff {
    diff(&decode(old).unwrap(), &decode(new).unwrap())
}

fn manifest(version: &str, update_type: &str, breaking: bool) -> Manifest {
    Manifest::parse(&format!(
        "name = \"demo\"\nversion = \"{version}\"\nupdate_type = \"{update_type}\"\n\
         breaking_changes = {breaking}\n"
    ))
    .unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

#[test]
fn bech32_1_0_0_to_1_1_0_changes_no_export_and_no_import() {
    let old = decode(&BECH32_1_0_0.wasm_bytes()).unwrap();
    let new = decode(&BECH32_1_1_0.wasm_bytes()).unwrap();
    assert_eq!(
        old.exports(),
        ["anya:bitcoin/address", "anya:extension/lifecycle"]
    );
    assert_eq!(old.exports(), new.exports());
    let d = diff(&old, &new);
    assert_eq!(d, WitDiff::default(), "{d:#?}");
    assert_eq!(d.computed(), ComputedType::Patch);
    // The manifest declares a feature (BIP-350 support): a behaviour change the WIT
    // cannot see, so it is not a mismatch.
    let c = classify(&d, &v("1.0.0"), &manifest("1.1.0", "feature", false));
    assert_eq!(c.computed, ComputedType::Patch);
    assert_eq!(c.declared, UpdateType::Feature);
    assert!(c.semver_ok && !c.breaks_without_major());
    assert!(c.mismatches.is_empty(), "{:?}", c.mismatches);
}

#[test]
fn fixture_imports_are_read_without_versions() {
    let fs = decode(&TEST_WASI_FS.wasm_bytes()).unwrap();
    assert!(
        fs.imports().iter().any(|i| i == "wasi:filesystem/types"),
        "{fs:?}"
    );
    let kv = decode(&TEST_KV.wasm_bytes()).unwrap();
    assert!(kv.imports().iter().any(|i| i == "anya:host/kv"), "{kv:?}");
    let trap = decode(&TEST_TRAP.wasm_bytes()).unwrap();
    assert!(
        !trap
            .imports()
            .iter()
            .any(|i| i.starts_with("wasi:filesystem")),
        "{trap:?}"
    );
    // An unrelated component: its exports all went away, so every one is breaking.
    let d = diff(&trap, &fs);
    assert!(
        d.breaking
            .iter()
            .any(|b| b.item == "anya:test/trap" && b.reason == "exported interface removed"),
        "{d:#?}"
    );
    assert!(d.new_imports.iter().any(|i| i == "wasi:filesystem/types"));
}

#[test]
fn identical_wit_is_a_patch() {
    let a = component(API_V1, &[]);
    let d = diff_of(&a, &a);
    assert_eq!(d, WitDiff::default());
    let c = classify(&d, &v("1.0.0"), &manifest("1.0.1", "bugfix", false));
    assert_eq!(c.computed, ComputedType::Patch);
    assert!(c.reasons.is_empty() && c.mismatches.is_empty());
}

#[test]
fn an_added_function_is_a_feature() {
    let old = component(API_V1, &[]);
    let new = component(&format!("{API_V1} reset: func();"), &[]);
    let d = diff_of(&old, &new);
    assert_eq!(d.added, ["test:demo/api.reset: function added"]);
    assert!(d.breaking.is_empty());
    let c = classify(&d, &v("1.0.0"), &manifest("1.1.0", "feature", false));
    assert_eq!(c.computed, ComputedType::Feature);
    assert!(c.mismatches.is_empty(), "{:?}", c.mismatches);
    // Declared a bugfix, in a patch release: both are reported, neither refuses.
    let c = classify(&d, &v("1.0.0"), &manifest("1.0.1", "bugfix", false));
    assert_eq!(c.mismatches.len(), 2, "{:?}", c.mismatches);
    assert!(c.mismatches[0].contains("update_type = bugfix"));
    assert!(c.mismatches[1].contains("patch release"));
    assert!(!c.breaks_without_major());
}

#[test]
fn a_removed_function_is_breaking_and_needs_a_major_bump() {
    let old = component(API_V1, &[]);
    let new = component(&API_V1.replace("name: func() -> string;", ""), &[]);
    let d = diff_of(&old, &new);
    assert_eq!(
        d.breaking,
        [Breaking {
            item: "test:demo/api.name".into(),
            reason: "function removed".into()
        }]
    );
    let c = classify(&d, &v("1.0.0"), &manifest("1.1.0", "feature", false));
    assert_eq!(c.computed, ComputedType::Breaking);
    assert!(c.breaks_without_major());
    assert_eq!(c.reasons, ["test:demo/api.name: function removed"]);
    assert_eq!(
        c.mismatches,
        ["the manifest says breaking_changes = false, but test:demo/api.name: function removed"]
    );
    let c = classify(&d, &v("1.0.0"), &manifest("2.0.0", "protocol", true));
    assert!(!c.breaks_without_major() && c.mismatches.is_empty());
    // 0.x: a minor bump is the major one.
    let c = classify(&d, &v("0.3.1"), &manifest("0.4.0", "protocol", true));
    assert!(!c.breaks_without_major());
    let c = classify(&d, &v("0.3.1"), &manifest("0.3.2", "protocol", true));
    assert!(c.breaks_without_major());
}

#[test]
fn changed_types_are_breaking_with_the_path_to_the_change() {
    let old = component(API_V1, &[]);
    let cases = [
        (
            API_V1.replace(
                "record point { x: u32, y: u32 }",
                "record point { x: u64, y: u32 }",
            ),
            "test:demo/api.area: parameter s: variant shape: case square: record point: field x: u32 became u64",
        ),
        (
            API_V1.replace("y: u32 }", "z: u32 }"),
            "test:demo/api.area: parameter s: variant shape: case square: record point: field y removed",
        ),
        (
            API_V1.replace(
                "enum color { red, green }",
                "enum color { red, green, blue }",
            ),
            "test:demo/api.paint: parameter c: enum color: case blue added",
        ),
        (
            API_V1
                .replace("record point", "record pixel")
                .replace("square(point)", "square(pixel)")
                .replace("p: point", "p: pixel"),
            "test:demo/api.area: parameter s: variant shape: case square: record point renamed to pixel",
        ),
        (
            API_V1.replace("name: func() -> string;", "name: func() -> list<u8>;"),
            "test:demo/api.name: result: string became list<u8>",
        ),
        (
            API_V1.replace("area: func(s: shape)", "area: func(shape: shape)"),
            "test:demo/api.area: parameter 1 renamed from s to shape",
        ),
        (
            API_V1.replace("result<_, string>", "result<_, u32>"),
            "test:demo/api.paint: result: string became u32",
        ),
    ];
    for (api, want) in cases {
        let d = diff_of(&old, &component(&api, &[]));
        let got: Vec<String> = d.breaking.iter().map(ToString::to_string).collect();
        assert!(got.iter().any(|g| g == want), "want {want:?}, got {got:#?}");
        assert_eq!(d.computed(), ComputedType::Breaking);
    }
}

#[test]
fn an_alias_is_looked_through() {
    let old = component(API_V1, &[]);
    let new = component(
        &API_V1.replace(
            "name: func() -> string;",
            "type label = string; name: func() -> label;",
        ),
        &[],
    );
    assert_eq!(diff_of(&old, &new), WitDiff::default());
}

#[test]
fn a_new_import_is_an_escalation_and_a_removed_one_is_not() {
    let old = component(API_V1, &[]);
    let new = component(API_V1, &["wasi:filesystem/types@0.2.0"]);
    let d = diff_of(&old, &new);
    assert_eq!(d.new_imports, ["wasi:filesystem/types"]);
    assert!(d.removed_imports.is_empty());
    assert_eq!(d.computed(), ComputedType::Patch);
    let back = diff_of(&new, &old);
    assert!(back.new_imports.is_empty());
    assert_eq!(back.removed_imports, ["wasi:filesystem/types"]);
}

#[test]
fn not_a_component_is_an_error() {
    let err = decode(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(err, CompatError::NotAComponent { .. }), "{err}");
    assert!(decode(b"garbage").is_err());
    let mut truncated = component(API_V1, &[]);
    truncated.truncate(truncated.len() / 2);
    let err = decode(&truncated).unwrap_err();
    assert!(matches!(err, CompatError::Decode { .. }), "{err}");
}

#[test]
fn semver_compatibility_follows_caret() {
    for (a, b, same) in [
        ("1.2.3", "1.9.0", true),
        ("1.2.3", "2.0.0", false),
        ("0.2.3", "0.2.9", true),
        ("0.2.3", "0.3.0", false),
        ("0.0.3", "0.0.3", true),
        ("0.0.3", "0.0.4", false),
    ] {
        assert_eq!(semver_compatible(&v(a), &v(b)), same, "{a} → {b}");
    }
}
