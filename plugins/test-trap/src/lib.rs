//! Test guest `test-trap`: traps on demand.

anya_sdk::generate!(extension "anya:test/trap-guest", "../test-wit");

use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::test::trap::Guest as Trap;

struct TestTrap;

impl Lifecycle for TestTrap {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl Trap for TestTrap {
    fn trap() {
        // A plain `unreachable`, not a panic: no message, no WASI stderr.
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        std::process::abort();
    }

    fn answer() -> u32 {
        42
    }
}

export!(TestTrap);
