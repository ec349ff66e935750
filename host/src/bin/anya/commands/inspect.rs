//! `anya inspect`: manifest, WIT world and signatures of a package, without trusting it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use anya_host::package;
use anya_host::update::DEFAULT_MAX_PACKAGE_BYTES;

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Inspect {
    /// The package or component file.
    package: PathBuf,
}

impl Inspect {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let bytes = package::read_package_file(&self.package, DEFAULT_MAX_PACKAGE_BYTES)
            .with_context(|| format!("{}", self.package.display()))?;
        let inspection = package::inspect(&bytes);
        if global.json {
            output::json(&inspection);
        } else {
            print!("{inspection}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
