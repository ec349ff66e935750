//! Interop with the reference implementation of the signature format, `wasmsign2`
//! (`.ci/run` installs it): what one signs, the other verifies, both ways.

use std::path::{Path, PathBuf};
use std::process::Command;

use anya_fixtures::BECH32_1_1_0;
use anya_host::keys::{self, SecretKey};
use anya_host::package;
use anya_host::trust::TrustStore;

use crate::common::{self, key, manifest_of, trust_entry};

fn wasmsign2() -> PathBuf {
    let name = std::env::var_os("WASMSIGN2").unwrap_or_else(|| "wasmsign2".into());
    let found = Command::new(&name).arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "wasmsign2 is not installed: run `.ci/run`, or `cargo install --locked wasmsign2-cli`"
    );
    PathBuf::from(name)
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = common::text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

fn write_public_key(dir: &Path, name: &str, key: &SecretKey) -> PathBuf {
    let path = dir.join(format!("{name}.pub"));
    std::fs::write(&path, key.public().to_file_bytes()).unwrap();
    path
}

fn unsigned_package(dir: &Path) -> PathBuf {
    let wasm = std::fs::read(BECH32_1_1_0.wasm).unwrap();
    let bytes = package::embed_manifest(&wasm, &manifest_of(&BECH32_1_1_0)).unwrap();
    let path = dir.join("unsigned.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn wasmsign2_verifies_what_anya_signs() {
    let tool = wasmsign2();
    let dir = tempfile::tempdir().unwrap();
    let signed = common::package(&BECH32_1_1_0, &[&key(1)]);
    let path = dir.path().join("bech32-1.1.0.wasm");
    std::fs::write(&path, &signed).unwrap();
    let good = write_public_key(dir.path(), "good", &key(1));
    let (ok, out) = run(Command::new(&tool)
        .args(["verify", "-K"])
        .arg(&good)
        .arg("-i")
        .arg(&path));
    assert!(ok && out.contains("Signature is valid"), "{out}");
    // And refuses it under another key, as Anya would.
    let other = write_public_key(dir.path(), "other", &key(2));
    let (ok, out) = run(Command::new(&tool)
        .args(["verify", "-K"])
        .arg(&other)
        .arg("-i")
        .arg(&path));
    assert!(!ok, "{out}");
    // A flipped bit in the code is caught by both.
    let mut tampered = signed.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x10;
    std::fs::write(&path, &tampered).unwrap();
    let (ok, out) = run(Command::new(&tool)
        .args(["verify", "-K"])
        .arg(&good)
        .arg("-i")
        .arg(&path));
    assert!(!ok, "{out}");
}

#[test]
fn anya_verifies_what_wasmsign2_signs() {
    let tool = wasmsign2();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, out) = run(Command::new(&tool)
        .args(["keygen", "-k"])
        .arg(d.join("w.key"))
        .arg("-K")
        .arg(d.join("w.pub")));
    assert!(ok, "{out}");
    // Anya reads wasmsign2's key files.
    let wkey = keys::read_secret_key(&d.join("w.key")).unwrap();
    let wpub = keys::read_public_key(&d.join("w.pub")).unwrap();
    assert_eq!(wkey.public().as_bytes(), wpub.as_bytes());

    let unsigned = unsigned_package(d);
    let signed = d.join("signed.wasm");
    let (ok, out) = run(Command::new(&tool)
        .args(["sign", "-k"])
        .arg(d.join("w.key"))
        .arg("-K")
        .arg(d.join("w.pub"))
        .arg("-i")
        .arg(&unsigned)
        .arg("-o")
        .arg(&signed));
    assert!(ok, "{out}");
    let trust = TrustStore::parse(&trust_entry("wasmsign2", &wkey, &["bech32"])).unwrap();
    let verified = package::verify(std::fs::read(&signed).unwrap(), &trust).unwrap();
    assert_eq!(verified.manifest().name.as_str(), "bech32");
    assert_eq!(verified.signers(), &[wpub.key_id()]);
    // Anya signs the same bytes wasmsign2 does.
    let anya_signed =
        anya_host::signature::sign(&std::fs::read(&unsigned).unwrap(), &wkey).unwrap();
    assert_eq!(anya_signed, std::fs::read(&signed).unwrap());

    // Two signers, one from each tool, meet a threshold of two.
    let both = d.join("both.wasm");
    let anya_first =
        anya_host::signature::sign(&std::fs::read(&unsigned).unwrap(), &key(1)).unwrap();
    std::fs::write(d.join("anya-first.wasm"), anya_first).unwrap();
    let (ok, out) = run(Command::new(&tool)
        .args(["sign", "-k"])
        .arg(d.join("w.key"))
        .arg("-K")
        .arg(d.join("w.pub"))
        .arg("-i")
        .arg(d.join("anya-first.wasm"))
        .arg("-o")
        .arg(&both));
    assert!(ok, "{out}");
    let trust = TrustStore::parse(&format!(
        "{}{}[[threshold]]\nnames = \"bech32\"\nsignatures = 2\n",
        trust_entry("wasmsign2", &wkey, &["bech32"]),
        trust_entry("anya", &key(1), &["bech32"])
    ))
    .unwrap();
    let verified = package::verify(std::fs::read(&both).unwrap(), &trust).unwrap();
    assert_eq!(verified.signers().len(), 2);
    let k1 = write_public_key(d, "anya", &key(1));
    let (ok, out) = run(Command::new(&tool)
        .args(["verify_matrix", "-K"])
        .arg(d.join("w.pub"))
        .arg(&k1)
        .arg("-i")
        .arg(&both));
    assert!(ok, "{out}");
}
