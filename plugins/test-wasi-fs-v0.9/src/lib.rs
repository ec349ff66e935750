//! Test guest `test-wasi-fs` 0.9.0: the same exports as 1.0.0 (`anya:test/fs-probe`),
//! but it never touches the file system, so its component imports no `wasi:filesystem`
//! interface. Installing 1.0.0 over it is a capability escalation the host must hold
//! for approval.

anya_sdk::generate!(extension "anya:test/wasi-fs-guest", "../test-wit");

use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::test::fs_probe::Guest as FsProbe;

struct TestWasiFsV09;

impl Lifecycle for TestWasiFsV09 {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl FsProbe for TestWasiFsV09 {
    fn read_file(path: String) -> Result<String, String> {
        Err(format!(
            "read {path:?}: test-wasi-fs 0.9.0 has no file system"
        ))
    }

    fn write_file(path: String, _contents: String) -> Result<(), String> {
        Err(format!(
            "write {path:?}: test-wasi-fs 0.9.0 has no file system"
        ))
    }
}

export!(TestWasiFsV09);
