//! `anya status [NAME]`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::ids::ComponentName;
use anya_host::store::{Access, Lifecycle, ValidationSummary};
use anya_host::update::{ComponentStatus, UpdateError};

use crate::global::Global;
use crate::output::{self, Table, printable};

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

/// When the scheduler will start each deferred update, and why then.
fn print_planned(planned: &[anya_host::store::Planned]) {
    for p in planned {
        println!(
            "next update: {} {} planned for {} ({})",
            p.component, p.version, p.at, p.why
        );
    }
}

fn brief(v: &ValidationSummary) -> String {
    if let Some(skipped) = &v.skipped
        && v.validators.is_empty()
    {
        return format!("no validator ran ({skipped})");
    }
    let bips: Vec<String> = v.bips_proven.iter().map(|b| format!("BIP-{b}")).collect();
    format!(
        "{} cases, {} failed, by {} in {} ms{}",
        v.cases,
        v.failed,
        if v.validators.is_empty() {
            "no validator".to_owned()
        } else {
            v.validators.join(", ")
        },
        v.duration_ms,
        if bips.is_empty() {
            String::new()
        } else {
            format!("; proven: {}", bips.join(", "))
        }
    )
}

/// The cases of a kept validation report, one line each.
fn print_report(report: &serde_json::Value) {
    let Some(runs) = report["runs"].as_array() else {
        return;
    };
    for run in runs {
        let duration = run["duration"]["secs"].as_f64().unwrap_or(0.0)
            + run["duration"]["nanos"].as_f64().unwrap_or(0.0) / 1e9;
        println!(
            "  validator {} against {}: {} in {:.1} ms",
            run["validator"].as_str().unwrap_or("?"),
            run["candidate"].as_str().unwrap_or("?"),
            if run["passed"].as_bool() == Some(true) {
                "passed"
            } else {
                "FAILED"
            },
            duration * 1000.0
        );
        if let Some(failure) = run["failure"].as_str() {
            println!("    {}", printable(failure));
        }
        for case in run["cases"].as_array().into_iter().flatten() {
            let detail = case["detail"].as_str().unwrap_or("");
            println!(
                "    {} {}{}",
                if case["passed"].as_bool() == Some(true) {
                    "pass"
                } else {
                    "FAIL"
                },
                printable(case["name"].as_str().unwrap_or("?")),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", printable(detail))
                }
            );
        }
    }
}

fn detail(c: &ComponentStatus, report: Option<&serde_json::Value>) {
    println!("component      {}", c.name);
    println!("version        {}", c.version);
    println!("status         {}", lifecycle(&c.status));
    println!("digest         {}", c.digest);
    println!("active since   {}", c.since);
    println!("watermark      {}", c.watermark);
    match &c.validation {
        Some(v) => println!("validation     {}", brief(v)),
        None => println!("validation     none recorded"),
    }
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
            printable(&r.reason)
        );
    }
    for p in &c.rollback_points {
        println!(
            "rollback point {} ({}), replaced at {}: {}{}",
            p.version,
            p.digest.short(),
            p.replaced_at,
            printable(&p.reason),
            p.validation
                .as_ref()
                .map_or_else(String::new, |v| format!(" [validated: {}]", brief(v)))
        );
    }
    for b in &c.blocklist {
        println!(
            "blocklisted    {} ({}): {}",
            b.version,
            b.digest.short(),
            printable(&b.reason)
        );
    }
    if let Some(report) = report {
        println!("validation report of {} {}:", c.name, c.version);
        print_report(report);
    }
}

impl Status {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let manager = global.backend(Access::Read)?;
        let mut report = manager.status()?;
        if let Some(why) = &report.registry_unavailable {
            eprintln!(
                "warning: {}; showing what is installed, without what the registry offers",
                crate::output::printable(why)
            );
        }
        if let Some(retry) = &report.registry_retry {
            eprintln!(
                "warning: the daemon could not reach the registry since {} ({} attempt(s): \
                 {}); it tries again at {}, and what is installed serves on meanwhile",
                retry.since,
                retry.attempts,
                crate::output::printable(&retry.reason),
                retry.next
            );
        }
        if let Some(name) = &self.name {
            let name = ComponentName::parse(name)?;
            report.components.retain(|c| c.name == name);
            report.available.clear();
            if report.components.is_empty() {
                return Err(UpdateError::NotInstalled { name }.into());
            }
        }
        if self.name.is_some() {
            // One component: with its full validation report.
            let c = &report.components[0];
            let kept = manager.validation_report(c.digest)?;
            if global.json {
                let mut value = serde_json::to_value(c)?;
                value["validation_report"] = kept.unwrap_or(serde_json::Value::Null);
                output::json(&value);
            } else {
                detail(c, kept.as_ref());
                let planned: Vec<_> = report
                    .planned
                    .iter()
                    .filter(|p| p.component == c.name)
                    .cloned()
                    .collect();
                print_planned(&planned);
            }
            return Ok(ExitCode::SUCCESS);
        }
        if global.json {
            output::json(&report);
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
        print_planned(&report.planned);
        if let Some(index) = &report.index {
            print_index(index);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The signed index this host follows.
fn print_index(index: &anya_host::update::IndexStatus) {
    println!();
    println!(
        "signed index: release {} (expires {})",
        index.release_version, index.release_expires
    );
    if let (Some(version), Some(expires)) = (index.rollout_version, index.rollout_expires) {
        println!("  rollout document {version} (expires {expires})");
    }
    if let Some(id) = &index.host_id {
        println!("  host id {id}");
    }
    for (name, version) in &index.targets {
        println!("  {name}: this host's stage gives {version}");
    }
}
