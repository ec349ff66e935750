//! `anya status [NAME]`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::ids::ComponentName;
use anya_host::store::{Access, Lifecycle};
use anya_host::update::{ComponentStatus, UpdateError};

use crate::global::Global;
use crate::output::{self, Table};

#[derive(Debug, Args)]
pub struct Status {
    /// Show one component in detail.
    name: Option<String>,
}

fn lifecycle(status: &Lifecycle) -> String {
    match status {
        Lifecycle::Trial { until } => {
            format!("trial until {}", until.strftime("%Y-%m-%d %H:%M:%S"))
        }
        Lifecycle::Committed => "committed".into(),
    }
}

fn detail(c: &ComponentStatus) {
    println!("component      {}", c.name);
    println!("version        {}", c.version);
    println!("status         {}", lifecycle(&c.status));
    println!("digest         {}", c.digest);
    println!("active since   {}", c.since);
    println!("watermark      {}", c.watermark);
    if let Some(calls) = &c.calls {
        println!("calls          {} ({} failed)", calls.calls, calls.failures);
    }
    if let Some(r) = &c.last_rollback {
        println!(
            "last rollback  {} -> {} at {} ({}): {}",
            r.from,
            r.to,
            r.at,
            if r.automatic {
                "automatic"
            } else {
                "by an operator"
            },
            r.reason
        );
    }
    for p in &c.rollback_points {
        println!(
            "rollback point {} ({}), replaced at {}: {}",
            p.version,
            p.digest.short(),
            p.replaced_at,
            p.reason
        );
    }
    for b in &c.blocklist {
        println!(
            "blocklisted    {} ({}): {}",
            b.version,
            b.digest.short(),
            b.reason
        );
    }
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
            report.components.iter().for_each(detail);
            return Ok(ExitCode::SUCCESS);
        }
        let mut table = Table::new(vec![
            "COMPONENT",
            "VERSION",
            "STATUS",
            "DIGEST",
            "SINCE",
            "ROLLBACK TO",
            "WATERMARK",
            "LAST ROLLBACK",
        ]);
        for c in &report.components {
            table.row(vec![
                c.name.to_string(),
                c.version.to_string(),
                lifecycle(&c.status),
                c.digest.short(),
                c.since.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                c.rollback_points
                    .first()
                    .map_or_else(|| "-".into(), |p| p.version.to_string()),
                c.watermark.to_string(),
                c.last_rollback
                    .as_ref()
                    .map_or_else(|| "-".into(), |r| format!("from {}: {}", r.from, r.reason)),
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
