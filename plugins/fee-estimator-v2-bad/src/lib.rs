//! A `fee-estimator` 2.0.1 whose migration fails half-way, for tests only.
//!
//! `activate` always does the first half of the 2.x migration, then gives
//! up: it writes the 1.x history (if readable; else nothing) as `history-v2`
//! with `schema` = 2, deletes the 1.x key `history`, and returns
//! `err("migration failed ...")`. A host that restores the kv snapshot of a
//! refused activation therefore shows the previous version's `history`
//! intact and no `history-v2` or `schema` key; one that does not shows the
//! damage. Its estimator functions are 2.0.0's.

anya_sdk::generate!(extension "anya:fees/fee-estimator", "../fee-estimator-core/wit");

use anya_fee_estimator::{Format, Kv, SCHEMA_KEY, SCHEMA_V2, V1_HISTORY_KEY, guest};
use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::fees::estimator::Guest as Estimator;

const FORMAT: Format = Format::V2;

struct FeeEstimator;

impl Lifecycle for FeeEstimator {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        let kv = guest::HostKv;
        let history = Format::V1.load(&kv).unwrap_or_default();
        let damage = FORMAT
            .store(&kv, &history)
            .map_err(|e| e.to_string())
            .and_then(|()| kv.set(SCHEMA_KEY, &SCHEMA_V2.to_le_bytes()))
            .and_then(|()| kv.delete(V1_HISTORY_KEY));
        Err(format!(
            "migration failed on purpose (fee-estimator 2.0.1 is a test fixture; previous: {}): \
             wrote {} rates as history-v2 and schema, deleted history, then gave up{}",
            previous_version.as_deref().unwrap_or("none"),
            history.len(),
            damage
                .err()
                .map(|e| format!(" (a write failed: {e})"))
                .unwrap_or_default()
        ))
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl Estimator for FeeEstimator {
    fn record(sat_per_vbyte: u64) -> Result<(), String> {
        guest::record(FORMAT, sat_per_vbyte)
    }

    fn estimate() -> Option<u64> {
        guest::estimate(FORMAT)
    }

    fn history() -> Vec<u64> {
        guest::history(FORMAT)
    }
}

export!(FeeEstimator);
