//! `anya status [NAME]`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::ids::ComponentName;
use anya_host::store::Access;
use anya_host::update::UpdateError;

use crate::global::Global;
use crate::output::{self, Table};

#[derive(Debug, Args)]
pub struct Status {
    /// Show one component in detail.
    name: Option<String>,
}

impl Status {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let manager = global.manager(Access::Read)?;
        let mut report = manager.status()?;
        if let Some(name) = &self.name {
            let name = ComponentName::parse(name)?;
            report.components.retain(|c| c.name == name);
            report.available.clear();
            if report.components.is_empty() {
                return Err(UpdateError::NotInstalled { name }.into());
            }
        }
        if global.json {
            output::json(&report);
            return Ok(ExitCode::SUCCESS);
        }
        if self.name.is_some() {
            for c in &report.components {
                println!("component   {}", c.name);
                println!("version     {}", c.version);
                println!("digest      {}", c.digest);
                println!("active since {}", c.since);
                println!("watermark   {}", c.watermark);
                for p in &c.previous {
                    println!(
                        "previous    {} ({}, until replaced; active from {})",
                        p.version,
                        p.digest.short(),
                        p.since
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let mut table = Table::new(vec![
            "COMPONENT",
            "VERSION",
            "DIGEST",
            "SINCE",
            "PREVIOUS",
            "WATERMARK",
        ]);
        for c in &report.components {
            table.row(vec![
                c.name.to_string(),
                c.version.to_string(),
                c.digest.short(),
                c.since.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                c.previous
                    .first()
                    .map_or_else(|| "-".into(), |p| p.version.to_string()),
                c.watermark.to_string(),
            ]);
        }
        if table.is_empty() {
            println!(
                "nothing installed (state folder {})",
                global.state_dir().display()
            );
        } else {
            table.print();
        }
        Ok(ExitCode::SUCCESS)
    }
}
