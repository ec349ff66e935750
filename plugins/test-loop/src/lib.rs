//! Test guest `test-loop`: never returns, or works for a bounded while.

anya_sdk::generate!(extension "anya:test/loop-guest", "../test-wit");

use std::hint::black_box;

use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::test::spin::Guest as Spin;

struct TestLoop;

impl Lifecycle for TestLoop {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl Spin for TestLoop {
    fn spin() {
        let mut i: u64 = 0;
        // `black_box` keeps the optimizer from proving the loop pointless.
        loop {
            i = black_box(i.wrapping_add(1));
        }
    }

    fn count(n: u64) -> u64 {
        let mut i: u64 = 0;
        while black_box(i) < n {
            i += 1;
        }
        i
    }
}

export!(TestLoop);
