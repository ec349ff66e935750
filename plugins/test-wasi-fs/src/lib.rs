//! Test guest `test-wasi-fs`: tries the file system through WASI; the host
//! must deny it (no preopened folders), and the guest reports the error.

anya_sdk::generate!(extension "anya:test/wasi-fs-guest", "../test-wit");

use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::test::fs_probe::Guest as FsProbe;

struct TestWasiFs;

impl Lifecycle for TestWasiFs {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl FsProbe for TestWasiFs {
    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| format!("read {path:?}: {e}"))
    }

    fn write_file(path: String, contents: String) -> Result<(), String> {
        std::fs::write(&path, contents).map_err(|e| format!("write {path:?}: {e}"))
    }
}

export!(TestWasiFs);
