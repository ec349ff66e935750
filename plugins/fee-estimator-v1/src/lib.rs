//! The `fee-estimator` extension, version 1.0.0: keeps the fee rates it is
//! told about (`anya:fees/estimator`) in `anya:host/kv` under `history`, as
//! comma-separated decimal text, and estimates from the recent ones. The
//! logic and the format are in `anya_fee_estimator` ([`Format::V1`]).

anya_sdk::generate!(extension "anya:fees/fee-estimator", "../fee-estimator-core/wit");

use anya_fee_estimator::{Format, guest};
use exports::anya::extension::lifecycle::Guest as Lifecycle;
use exports::anya::fees::estimator::Guest as Estimator;

const FORMAT: Format = Format::V1;

struct FeeEstimator;

impl Lifecycle for FeeEstimator {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // The first format: there is nothing older to migrate from. After a
        // rollback from 2.x the host has restored this version's own data.
        anya_sdk::log::info(&format!(
            "fee-estimator 1.0.0 active (previous: {})",
            previous_version.as_deref().unwrap_or("none")
        ));
        Ok(())
    }

    fn health() -> Result<(), String> {
        FORMAT
            .load(&guest::HostKv)
            .map(drop)
            .map_err(|e| format!("fee-estimator 1.0.0: {e}"))
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
