//! `anya check`: available updates; exit code 100 when there are some.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::store::Access;

use crate::global::Global;
use crate::output::{self, Table, yes_no};

/// The exit code when updates are available, as `dnf check-update` uses.
pub const UPDATES_AVAILABLE: u8 = 100;

#[derive(Debug, Args)]
pub struct Check {}

impl Check {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let manager = global.manager(Access::Read)?;
        let report = manager.check()?;
        if global.json {
            output::json(&report);
        } else {
            let mut table = Table::new(vec![
                "COMPONENT",
                "CURRENT",
                "AVAILABLE",
                "TYPE",
                "SECURITY",
                "BREAKING",
                "BIPS",
                "ROLLBACK",
            ]);
            for u in &report.updates {
                let bips: Vec<String> = u.bip_compliance.iter().map(|b| b.to_string()).collect();
                table.row(vec![
                    u.component.to_string(),
                    u.current_version.to_string(),
                    u.available_version.to_string(),
                    u.update_type.to_string(),
                    yes_no(u.security_critical),
                    yes_no(u.breaking_changes),
                    if bips.is_empty() {
                        "-".into()
                    } else {
                        bips.join(",")
                    },
                    yes_no(u.rollback_supported),
                ]);
            }
            if table.is_empty() {
                println!("no updates available");
            } else {
                table.print();
            }
            for p in &report.problems {
                eprintln!(
                    "warning: {} {} not offered: {}",
                    p.component, p.version, p.reason
                );
            }
        }
        Ok(if report.updates.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(UPDATES_AVAILABLE)
        })
    }
}
