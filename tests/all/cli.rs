//! The operator's and the developer's path through the `anya` binary: keys, trust,
//! sign, verify, inspect, publish, install, call, check, list, status.

use serde_json::Value;

use crate::common::{Node, text};

fn json(out: &std::process::Output) -> Value {
    let (stdout, stderr) = text(out);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

#[track_caller]
fn ok(out: std::process::Output) -> std::process::Output {
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    out
}

#[test]
fn developer_signs_and_publishes_operator_installs_and_calls() {
    let node = Node::new();
    node.write_trust("");
    let dir = node.root();
    let stem = dir.join("keys/dev");
    let stem = stem.to_str().unwrap();

    let out = ok(node.anya(&["--json", "key", "generate", "--out", stem]));
    let key_id = json(&out)["key_id"].as_str().unwrap().to_owned();
    // Never overwrite a key.
    let again = node.anya(&["key", "generate", "--out", stem]);
    assert!(!again.status.success());
    ok(node.anya(&[
        "trust",
        "add",
        &format!("{stem}.pub"),
        "--may-sign",
        "bech32",
        "--may-sign",
        "bip*-vectors",
    ]));

    // The validators bech32's manifests name ship beside it, signed by the same key.
    for (fixture, file) in [
        (&anya_fixtures::BIP173_VECTORS, "bip173-vectors-1.0.0.wasm"),
        (&anya_fixtures::BIP350_VECTORS, "bip350-vectors-1.0.0.wasm"),
        (&anya_fixtures::BECH32_1_0_0, "bech32-1.0.0.wasm"),
        (&anya_fixtures::BECH32_1_1_0, "bech32-1.1.0.wasm"),
    ] {
        let out_path = dir.join(file);
        ok(node.anya(&[
            "sign",
            fixture.wasm,
            "--manifest",
            fixture.manifest,
            "--key",
            &format!("{stem}.key"),
            "-o",
            out_path.to_str().unwrap(),
        ]));
        let verified = json(&ok(node.anya(&[
            "--json",
            "verify",
            out_path.to_str().unwrap(),
        ])));
        assert_eq!(verified["signers"][0], key_id.as_str());
        ok(node.anya(&["publish", out_path.to_str().unwrap()]));
    }
    let inspected = json(&ok(node.anya(&[
        "--json",
        "inspect",
        dir.join("bech32-1.1.0.wasm").to_str().unwrap(),
    ])));
    let inspected_text = inspected.to_string();
    assert!(
        inspected_text.contains("anya:bitcoin/address"),
        "{inspected_text}"
    );
    assert!(inspected_text.contains("1.1.0"), "{inspected_text}");

    ok(node.anya(&["install", "bech32", "1.0.0"]));
    let decoded = json(&ok(node.anya(&[
        "--json",
        "call",
        "bech32",
        "decode",
        "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
    ])));
    let address = &decoded["ok"];
    assert_eq!(address["hrp"], "bc", "{decoded}");
    assert_eq!(address["witness-version"], 0, "{decoded}");
    let program: Vec<u8> = address["program"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(
        hex::encode(program),
        "751e76e8199196d454941c45d1b3a323f1433bd6"
    );

    // 1.0.0 knows only bech32: a taproot (bech32m) address does not decode.
    let taproot = "\"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0\"";
    let before = json(&ok(
        node.anya(&["--json", "call", "bech32", "decode", taproot])
    ));
    assert!(before.get("err").is_some(), "{before}");

    // check: one update, exit code 100, with what the manifest declares.
    let out = node.anya(&["--json", "check"]);
    assert_eq!(out.status.code(), Some(100), "{:?}", text(&out));
    let report = json(&out);
    let update = &report["updates"][0];
    assert_eq!(update["component"], "bech32");
    assert_eq!(update["current_version"], "1.0.0");
    assert_eq!(update["available_version"], "1.1.0");
    assert_eq!(update["update_type"], "feature");
    assert_eq!(update["breaking_changes"], false);
    assert_eq!(update["rollback_supported"], true);
    assert_eq!(update["bip_compliance"], serde_json::json!(["173", "350"]));
    let table = ok_or_100(node.anya(&["check"]));
    assert!(
        table.contains("bech32") && table.contains("1.1.0") && table.contains("feature"),
        "{table}"
    );

    ok(node.anya(&["install", "bech32"]));
    let after = json(&ok(
        node.anya(&["--json", "call", "bech32", "decode", taproot])
    ));
    assert_eq!(after["ok"]["witness-version"], 1, "{after}");
    let out = node.anya(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let status = json(&ok(node.anya(&["--json", "status"])));
    assert_eq!(status["components"][0]["version"], "1.1.0");
    assert_eq!(
        status["components"][0]["rollback_points"][0]["version"],
        "1.0.0"
    );
    assert_eq!(status["components"][0]["watermark"], "1.1.0");
    let list = text(&ok(node.anya(&["list"]))).0;
    assert!(list.contains("bech32") && list.contains("1.1.0"), "{list}");

    // Going back needs --force, and is recorded as forced.
    let out = node.anya(&["install", "bech32", "1.0.0"]);
    assert_eq!(out.status.code(), Some(5), "{:?}", text(&out));
    ok(node.anya(&["install", "bech32", "1.0.0", "--force"]));
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    assert!(journal.contains("installed-forced"), "{journal}");
}

fn ok_or_100(out: std::process::Output) -> String {
    assert!(
        matches!(out.status.code(), Some(0 | 100)),
        "{:?}",
        text(&out)
    );
    text(&out).0
}

#[test]
fn names_that_could_escape_a_folder_are_refused_before_any_lookup() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    std::fs::create_dir_all(node.state()).unwrap();
    let before = node.snapshot();
    for bad in ["../bech32", "a/b", "Bech32", "..", "bech32.wasm"] {
        let out = node.anya(&["install", bad]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {stderr}");
        assert!(
            stderr.contains("invalid component name"),
            "{bad:?}: {stderr}"
        );
    }
    assert_eq!(before, node.snapshot());
}

#[test]
fn rollback_and_the_policy_file_through_the_cli() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    node.publish(&anya_fixtures::BECH32_1_1_0);
    let policy = anya_fixtures::GUIDE_POLICY_PATH;
    ok(node.anya(&["--policy", policy, "install", "bech32", "1.0.0"]));
    ok(node.anya(&["--policy", policy, "install", "bech32"]));
    let out = text(&ok(node.anya(&["--policy", policy, "rollback", "bech32"]))).0;
    assert!(
        out.contains("rolled back bech32 from 1.1.0 to 1.0.0"),
        "{out}"
    );
    let taproot = "\"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0\"";
    let answer = json(&ok(
        node.anya(&["--json", "call", "bech32", "decode", taproot])
    ));
    assert!(
        answer.get("err").is_some(),
        "1.0.0 does not serve: {answer}"
    );
    let status = json(&ok(node.anya(&["--json", "status"])));
    let last = &status["components"][0]["last_rollback"];
    assert_eq!(last["reason"], "requested by an operator", "{status}");
    assert_eq!(last["automatic"], false);
    // Nothing further back was ever run here.
    let out = node.anya(&["rollback", "bech32"]);
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("no rollback point"),
        "{:?}",
        text(&out)
    );

    // A policy with a mistake is refused with its line and column, and nothing runs.
    let bad = node.root().join("bad_policy.toml");
    std::fs::write(
        &bad,
        "[rollback]\nrollback_timeout_minutes = 30\nsurprise = true\n",
    )
    .unwrap();
    let out = node.anya(&["--policy", bad.to_str().unwrap(), "status"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad_policy.toml") && stderr.contains("line 3"),
        "{stderr}"
    );
}

/// A command that meets another process's lock on the state folder exits 6, as the
/// README says, and names the folder.
#[test]
fn a_locked_state_folder_exits_6() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    let held =
        anya_host::store::Store::open(&node.state(), anya_host::store::Access::Write).unwrap();
    let out = node.anya(&["install", "bech32"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("locked") && stderr.contains(&node.state().display().to_string()),
        "{stderr}"
    );
    drop(held);
    ok(node.anya(&["install", "bech32"]));
}

/// Text from outside (an operator's rollback reason, a key's name in the trust store)
/// reaches the terminal with its control characters escaped: no forged line, no ANSI
/// escape.
#[test]
fn control_characters_never_reach_the_terminal() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    node.publish(&anya_fixtures::BECH32_1_1_0);
    ok(node.anya(&["install", "bech32", "1.0.0"]));
    ok(node.anya(&["install", "bech32", "1.1.0"]));
    let evil = "bad\nlast rollback  forged\u{1b}[2J\u{1b}[31m";
    ok(node.anya(&["rollback", "bech32", "--reason", evil]));
    let mut trust = std::fs::read_to_string(node.trust_path()).unwrap();
    // A TOML basic string: `\n` and `\u001b` are escapes the parser turns into the
    // characters themselves.
    trust.push_str(&format!(
        "[[key]]\nname = \"evil\\nNAME  forged\\u001b[31m\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
        crate::common::key(2).public().to_hex()
    ));
    node.write_trust(&trust);
    for args in [
        &["status"][..],
        &["status", "bech32"][..],
        &["trust", "list"][..],
    ] {
        let (stdout, _) = text(&ok(node.anya(args)));
        assert!(!stdout.contains('\u{1b}'), "{args:?}: {stdout:?}");
        assert!(
            !stdout
                .lines()
                .any(|l| l.starts_with("last rollback  forged") || l.starts_with("NAME  forged")),
            "{args:?}: {stdout}"
        );
        assert!(
            stdout.contains("\\n") && stdout.contains("\\u{1b}"),
            "{args:?}: {stdout}"
        );
    }
}

/// A lost or damaged active object makes every call fail; installing the same version
/// again writes it back from the registry's verified copy, and says so.
#[test]
fn installing_the_active_version_again_repairs_its_lost_or_damaged_object() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    ok(node.anya(&["install", "bech32", "1.0.0"]));
    let status = json(&ok(node.anya(&["--json", "status"])));
    let digest = status["components"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let object = node
        .state()
        .join("objects/sha256")
        .join(format!("{digest}.wasm"));
    let decode = [
        "call",
        "bech32",
        "decode",
        "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"",
    ];
    ok(node.anya(&decode));
    for damage in ["damaged", "lost"] {
        if damage == "lost" {
            std::fs::remove_file(&object).unwrap();
        } else {
            std::fs::set_permissions(&object, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .unwrap();
            std::fs::write(&object, b"not the package").unwrap();
        }
        let (_, stderr) = text(&node.anya(&decode));
        assert!(stderr.contains(&digest), "{damage}: {stderr}");
        let (stdout, _) = text(&ok(node.anya(&["install", "bech32", "1.0.0"])));
        assert!(
            stdout.contains("was damaged") && stdout.contains("written again"),
            "{damage}: {stdout}"
        );
        ok(node.anya(&decode));
        let (stdout, _) = text(&ok(node.anya(&["install", "bech32", "1.0.0"])));
        assert!(
            stdout.contains("is already installed"),
            "{damage}: {stdout}"
        );
    }
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    assert_eq!(
        journal.matches("\"action\":\"repaired\"").count(),
        2,
        "{journal}"
    );
}

/// Issue 11, bug 7: a refused one-shot install is audited like one through the daemon:
/// an `install-refused` entry with who asked and why; the state itself is unchanged.
#[test]
fn a_refused_install_is_journaled_without_the_daemon_too() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    node.publish(&anya_fixtures::BECH32_1_1_0);
    node.publish(&anya_fixtures::BIP173_VECTORS);
    node.publish(&anya_fixtures::BIP350_VECTORS);
    ok(node.anya(&["install", "bech32", "1.1.0"]));
    let state = std::fs::read(node.state().join("state.json")).unwrap();
    let out = node.anya(&["install", "bech32", "1.0.0"]);
    assert!(!out.status.success(), "a downgrade went through");
    assert_eq!(
        std::fs::read(node.state().join("state.json")).unwrap(),
        state
    );
    let journal = std::fs::read_to_string(node.state().join("journal.jsonl")).unwrap();
    let last: Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "install-refused", "{last}");
    assert_eq!(last["component"], "bech32", "{last}");
    assert_eq!(last["version"], "1.0.0", "{last}");
    assert!(
        last["actor"].as_str().unwrap().starts_with("cli uid="),
        "{last}"
    );
    let (_, stderr) = text(&out);
    let detail = last["detail"].as_str().unwrap();
    assert!(
        !detail.is_empty() && stderr.contains(detail),
        "{detail} / {stderr}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    // `anya list | head -0`: the pipe closes before anya writes; it must end as Unix
    // tools do (SIGPIPE), not panic with exit 101.
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    node.publish(&anya_fixtures::BECH32_1_1_0);
    let mut child = node
        .command(&crate::common::anya_bin(), &["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.success() || out.status.signal() == Some(libc_sigpipe()),
        "{:?}: {stderr}",
        out.status
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn logs_into_a_pipe_or_a_file_carry_no_colour_codes() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    let out = node
        .command(&crate::common::anya_bin(), &["install", "bech32"])
        .env("ANYA_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("installed"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn unclear_messages_say_what_is_wrong() {
    let node = Node::new();
    node.publish(&anya_fixtures::BECH32_1_0_0);
    let run = |args: &[&str]| {
        let out = node.anya(args);
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };
    // An empty file, and one too short for a header.
    let empty = node.root().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    let (code, _, err) = run(&["verify", empty.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("not a WebAssembly component: the file is empty"),
        "{err}"
    );
    std::fs::write(&empty, b"abc").unwrap();
    let (_, _, err) = run(&["verify", empty.to_str().unwrap()]);
    assert!(err.contains("only 3 byte(s) long"), "{err}");
    // A FIFO where the registry keeps a package says it is a FIFO.
    let fifo = node.registry().join("bech32").join("bech32-9.0.0.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (code, _, err) = run(&["install", "bech32", "9.0.0"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("a FIFO, not a regular file"), "{err}");
    std::fs::remove_file(&fifo).unwrap();
    // A second word that is not a version.
    let (code, _, err) = run(&["install", "bech32", "notaversion"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("not as a version of bech32 (a version starts with a digit"),
        "{err}"
    );
    // Signing again with the same key adds nothing, and says so.
    let package = node.registry().join("bech32").join("bech32-1.0.0.wasm");
    let again = node.root().join("again.wasm");
    let key = node.root().join("k");
    assert_eq!(
        run(&["key", "generate", "--out", key.to_str().unwrap()]).0,
        Some(0)
    );
    let key = key.with_extension("key");
    let sign = |out: &std::path::Path, input: &std::path::Path| {
        run(&[
            "sign",
            input.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let (_, out, err) = sign(&again, &package);
    assert!(
        out.starts_with("signed bech32 1.0.0 with key"),
        "{out}{err}"
    );
    let twice = node.root().join("twice.wasm");
    let (code, out, err) = sign(&twice, &again);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("is already signed by key") && out.contains("nothing added"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&twice).unwrap()
    );
}
