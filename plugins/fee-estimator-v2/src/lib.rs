//! The `fee-estimator` extension, version 2.0.0: the same `anya:fees/estimator`
//! as 1.0.0, with the history stored as little-endian u64s under
//! `history-v2` and a `schema` key of 2 ([`Format::V2`]). `activate` migrates
//! a 1.x history to this format and deletes the old key, and refuses
//! malformed data so that the host keeps the previous version and its data
//! ([`anya_fee_estimator::activate_v2`] has the rules).

anya_sdk::generate!(extension "anya:fees/fee-estimator", "../fee-estimator-core/wit");

use anya_fee_estimator::{Activation, Format, activate_v2, guest};
use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::fees::estimator::Guest as Estimator;

const FORMAT: Format = Format::V2;

struct FeeEstimator;

impl Lifecycle for FeeEstimator {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        let previous = previous_version.as_deref();
        let done = activate_v2(&guest::HostKv, previous).map_err(|e| {
            format!(
                "fee-estimator 2.0.0: cannot migrate the data of {}: {e}",
                previous.unwrap_or("an earlier installation")
            )
        })?;
        anya_sdk::log::info(&match done {
            Activation::Migrated { entries } => format!(
                "fee-estimator 2.0.0 active: migrated {entries} rates from the 1.x format \
                 (previous: {})",
                previous.unwrap_or("none")
            ),
            Activation::Current { entries } => format!(
                "fee-estimator 2.0.0 active: {entries} rates (previous: {})",
                previous.unwrap_or("none")
            ),
        });
        Ok(())
    }

    fn health() -> Result<(), String> {
        FORMAT
            .load(&guest::HostKv)
            .map(drop)
            .map_err(|e| format!("fee-estimator 2.0.0: {e}"))
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
