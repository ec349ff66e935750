//! `anya list`: installed components, and what the registry offers.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::store::Access;

use crate::global::Global;
use crate::output::{self, Table};

#[derive(Debug, Args)]
pub struct List {}

impl List {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let manager = global.backend(Access::Read)?;
        let status = manager.status()?;
        if global.json {
            let installed: Vec<_> = status
                .components
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "installed": c.version.to_string(),
                        "latest": c.latest_in_registry.as_ref().map(ToString::to_string),
                    })
                })
                .collect();
            let available: Vec<_> = status
                .available
                .iter()
                .map(|(n, v)| serde_json::json!({"name": n, "installed": null, "latest": v.to_string()}))
                .collect();
            output::json(&serde_json::json!({"installed": installed, "available": available}));
            return Ok(ExitCode::SUCCESS);
        }
        let mut table = Table::new(vec!["NAME", "INSTALLED", "LATEST IN REGISTRY"]);
        for c in &status.components {
            table.row(vec![
                c.name.to_string(),
                c.version.to_string(),
                c.latest_in_registry
                    .as_ref()
                    .map_or_else(|| "-".into(), ToString::to_string),
            ]);
        }
        for (name, latest) in &status.available {
            table.row(vec![name.to_string(), "-".into(), latest.to_string()]);
        }
        if table.is_empty() {
            println!(
                "nothing installed, and the registry {} is empty",
                manager.registry_description()?
            );
        } else {
            table.print();
        }
        Ok(ExitCode::SUCCESS)
    }
}
