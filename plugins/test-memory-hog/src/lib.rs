//! Test guest `test-memory-hog`: allocates until told to stop or refused.

anya_sdk::generate!(extension "anya:test/memory-hog-guest", "../test-wit");

use std::hint::black_box;

use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::test::memory_hog::Guest as MemoryHog;

const MIB: usize = 1 << 20;

struct TestMemoryHog;

impl Lifecycle for TestMemoryHog {
    fn activate(_previous_version: Option<String>) -> Result<(), String> {
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl MemoryHog for TestMemoryHog {
    fn grow(max_mib: u32) -> u32 {
        let mut held: Vec<Vec<u8>> = Vec::new();
        while max_mib == 0 || held.len() < max_mib as usize {
            // Touch every page so the memory is really used. An allocation
            // the host refuses aborts, which is a trap.
            held.push(black_box(vec![0xA5; MIB]));
        }
        black_box(&held);
        u32::try_from(held.len()).unwrap_or(u32::MAX)
    }
}

export!(TestMemoryHog);
