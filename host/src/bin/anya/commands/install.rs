//! `anya install NAME [VERSION] [--force]`, or `anya install NAME[@VERSION]... [--force]`.

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
    /// `NAME [VERSION]` for one component, or `NAME[@VERSION]...` for several, installed
    /// as one update: in dependency order, all or nothing. The version defaults to the
    /// newest in the registry.
    #[arg(required = true, value_name = "NAME[@VERSION]")]
    targets: Vec<String>,
    /// Allow what policy refuses: a downgrade (below the active version or the
    /// watermark), a blocklisted package, a breaking change without a major version bump,
    /// new capabilities without `anya approve`, or an unmet dependency. Audited in the
    /// journal. A failed validation is never overridden.
    #[arg(long)]
    force: bool,
}

/// `NAME@VERSION` or `NAME`.
fn target(text: &str) -> Result<(ComponentName, Option<Version>)> {
    let (name, version) = match text.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    };
    let name = ComponentName::parse(name)?;
    let version = version
        .map(|v| Version::parse(v).with_context(|| format!("invalid version {v:?} in {text:?}")))
        .transpose()?;
    Ok((name, version))
}

impl Install {
    /// The requests: the old `NAME VERSION` form when the second word is a version.
    fn requests(&self) -> Result<Vec<(ComponentName, Option<Version>)>> {
        if let [name, version] = self.targets.as_slice()
            && !name.contains('@')
            && version.starts_with(|c: char| c.is_ascii_digit())
        {
            let version =
                Version::parse(version).with_context(|| format!("invalid version {version:?}"))?;
            return Ok(vec![(ComponentName::parse(name)?, Some(version))]);
        }
        self.targets.iter().map(|t| target(t)).collect()
    }

    /// `install bech32 notaversion` reads as two components; when the second is not
    /// found, say how a version is written.
    fn hint_at_a_version(&self, error: anyhow::Error) -> anyhow::Error {
        match self.targets.as_slice() {
            [name, second]
                if !name.contains('@')
                    && !second.contains('@')
                    && crate::exit_code_of(&error) == 4 =>
            {
                let hint = format!(
                    "{second:?} was read as a second component, not as a version of {name} \
                     (a version starts with a digit: `anya install {name} 1.2.0`, or \
                     `{name}@1.2.0`)"
                );
                error.context(hint)
            }
            _ => error,
        }
    }

    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let requests = self.requests()?;
        let manager = global.backend(Access::Write)?;
        let outcomes = manager
            .install_many(&requests, self.force)
            .map_err(|e| self.hint_at_a_version(e))?;
        if global.json {
            if let [one] = outcomes.as_slice() {
                output::json(one);
            } else {
                output::json(&outcomes);
            }
            return Ok(ExitCode::SUCCESS);
        }
        for outcome in &outcomes {
            if outcome.unchanged {
                match &outcome.repaired {
                    Some(why) => println!(
                        "{} {} is installed; its stored package was damaged ({}) and has been \
                         written again from the registry's verified copy",
                        outcome.name,
                        outcome.version,
                        crate::output::printable(why)
                    ),
                    None => println!("{} {} is already installed", outcome.name, outcome.version),
                }
                continue;
            }
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
