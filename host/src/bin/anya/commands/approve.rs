//! `anya approve NAME VERSION`: let an update that asks for new capabilities through.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use semver::Version;

use anya_host::ids::ComponentName;
use anya_host::store::Access;

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Approve {
    /// The component.
    name: String,
    /// The version whose new imports are approved (that exact package, by digest).
    version: String,
}

impl Approve {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let name = ComponentName::parse(&self.name)?;
        let version = Version::parse(&self.version)
            .with_context(|| format!("invalid version {:?}", self.version))?;
        let manager = global.backend(Access::Write)?;
        let outcome = manager.approve(&name, &version)?;
        if global.json {
            output::json(&outcome);
        } else {
            println!(
                "{} {} {} to import, beyond {}: {}",
                outcome.name,
                outcome.version,
                if outcome.already_approved {
                    "was already approved"
                } else {
                    "approved"
                },
                outcome.running,
                outcome.imports.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
