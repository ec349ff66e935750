//! `anya verify`: check a package against the trust store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use anya_host::package;
use anya_host::update::DEFAULT_MAX_PACKAGE_BYTES;

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Verify {
    /// The package file.
    package: PathBuf,
}

impl Verify {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let trust = global.trust_store()?;
        let bytes = package::read_package_file(&self.package, DEFAULT_MAX_PACKAGE_BYTES)
            .with_context(|| format!("{}", self.package.display()))?;
        let verified = package::verify(bytes, &trust)
            .with_context(|| format!("{}", self.package.display()))?;
        let m = verified.manifest();
        let signers: Vec<String> = verified.signers().iter().map(|k| k.to_hex()).collect();
        if global.json {
            output::json(&serde_json::json!({
                "verified": true,
                "name": m.name,
                "version": m.version.to_string(),
                "digest": verified.digest(),
                "signers": signers,
            }));
        } else {
            println!(
                "{}: {} verified (digest {}, signed by {})",
                self.package.display(),
                m.label(),
                verified.digest().short(),
                signers.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
