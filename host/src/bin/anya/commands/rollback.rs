//! `anya rollback NAME`: back to the newest rollback point, at once and audited.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::ids::ComponentName;
use anya_host::store::Access;

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Rollback {
    /// The component.
    name: String,
    /// Why, for the journal and `status`.
    #[arg(long, default_value = "requested by an operator")]
    reason: String,
}

impl Rollback {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let name = ComponentName::parse(&self.name)?;
        let manager = global.backend(Access::Write)?;
        let outcome = manager.rollback(&name, &self.reason)?;
        if global.json {
            output::json(&outcome);
        } else {
            println!(
                "rolled back {} from {} to {}",
                outcome.name, outcome.from, outcome.to
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
