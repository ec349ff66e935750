//! `anya check`: available updates, declared and computed (from the WIT) side by side;
//! exit code 100 when there are some.

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
        let manager = global.backend(Access::Read)?;
        let report = manager.check()?;
        if global.json {
            output::json(&report);
        } else {
            let mut table = Table::new(vec![
                "COMPONENT",
                "CURRENT",
                "AVAILABLE",
                "DECLARED",
                "COMPUTED",
                "SECURITY",
                "BREAKING",
                "BIPS",
                "PROVEN",
                "ROLLBACK",
                "HELD",
            ]);
            let mut notes = Vec::new();
            for u in &report.updates {
                let bips: Vec<String> = u.bip_compliance.iter().map(|b| b.to_string()).collect();
                let label = format!("{} {}", u.component, u.available_version);
                // Why it is held, then the details of the classification, under the table.
                let mut held = Vec::new();
                if u.breaking_without_major {
                    held.push("--force");
                    notes.push(format!(
                        "{label}: breaks exports without a major version bump; needs --force"
                    ));
                }
                if u.held_for_approval {
                    held.push("approval");
                    notes.push(format!(
                        "{label}: new capabilities, held for approval \
                         (anya approve {} {})",
                        u.component, u.available_version
                    ));
                }
                notes.extend(
                    u.breaking_reasons
                        .iter()
                        .map(|r| format!("{label}: breaking: {r}")),
                );
                notes.extend(
                    u.added_exports
                        .iter()
                        .map(|r| format!("{label}: added: {r}")),
                );
                notes.extend(
                    u.capability_changes
                        .iter()
                        .map(|i| format!("{label}: new import: {i}")),
                );
                if !u.validation_passed {
                    held.push("validation");
                }
                notes.extend(
                    u.validation_problems
                        .iter()
                        .map(|p| format!("{label}: validation: {p}")),
                );
                notes.extend(
                    u.mismatches
                        .iter()
                        .map(|m| format!("{label}: mismatch: {m}")),
                );
                table.row(vec![
                    u.component.to_string(),
                    u.current_version.to_string(),
                    u.available_version.to_string(),
                    u.update_type.to_string(),
                    u.computed_type.to_string(),
                    yes_no(u.security_critical),
                    yes_no(u.breaking_changes),
                    if bips.is_empty() {
                        "-".into()
                    } else {
                        bips.join(",")
                    },
                    if u.bips.is_empty() {
                        "-".into()
                    } else {
                        u.bips_proven
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                    yes_no(u.rollback_supported),
                    if held.is_empty() {
                        "-".into()
                    } else {
                        held.join(",")
                    },
                ]);
            }
            if table.is_empty() {
                println!("no updates available");
            } else {
                table.print();
                if !notes.is_empty() {
                    println!();
                    for note in &notes {
                        println!("  {note}");
                    }
                }
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
