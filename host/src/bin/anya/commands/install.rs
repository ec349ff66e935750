//! `anya install NAME [VERSION] [--force]`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use semver::Version;

use anya_host::ids::ComponentName;
use anya_host::store::Access;

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Install {
    /// The component.
    name: String,
    /// The version [default: the newest in the registry].
    version: Option<String>,
    /// Allow what policy refuses: a downgrade (below the active version or the
    /// watermark), a blocklisted package, a breaking change without a major version bump,
    /// or new capabilities without `anya approve`. Audited in the journal.
    #[arg(long)]
    force: bool,
}

impl Install {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let name = ComponentName::parse(&self.name)?;
        let version = self
            .version
            .as_deref()
            .map(Version::parse)
            .transpose()
            .with_context(|| {
                format!(
                    "invalid version {:?}",
                    self.version.as_deref().unwrap_or("")
                )
            })?;
        let manager = global.manager(Access::Write)?;
        let outcome = manager.install(&name, version.as_ref(), self.force)?;
        if global.json {
            output::json(&outcome);
        } else if outcome.unchanged {
            println!("{} {} is already installed", outcome.name, outcome.version);
        } else {
            match &outcome.previous {
                Some(p) => println!(
                    "installed {} {} (was {p}){}",
                    outcome.name,
                    outcome.version,
                    if outcome.forced { ", forced" } else { "" }
                ),
                None => println!("installed {} {}", outcome.name, outcome.version),
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
