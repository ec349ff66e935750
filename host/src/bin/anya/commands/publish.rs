//! `anya publish`: verify a package and add it to the registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use anya_host::registry::RegistryLocation;
use anya_host::update::{self, DEFAULT_MAX_PACKAGE_BYTES};

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Publish {
    /// The signed package file(s).
    #[arg(required = true)]
    packages: Vec<PathBuf>,
    /// Where to publish: a folder or `oci://HOST[:PORT]/PREFIX` [default: --registry].
    #[arg(long, value_name = "DIR|oci://HOST/PREFIX")]
    to: Option<RegistryLocation>,
}

impl Publish {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let trust = global.trust_store()?;
        let registry =
            global.open_registry(self.to.as_ref().unwrap_or(&global.registry_location()))?;
        let mut published = Vec::new();
        for path in &self.packages {
            let (package, location) =
                update::publish(registry.as_ref(), &trust, path, DEFAULT_MAX_PACKAGE_BYTES)?;
            if !global.json {
                println!("published {} -> {location}", package.manifest().label());
            }
            published.push(serde_json::json!({
                "name": package.manifest().name,
                "version": package.manifest().version.to_string(),
                "digest": package.digest(),
                "location": location,
            }));
        }
        if global.json {
            output::json(&published);
        }
        Ok(ExitCode::SUCCESS)
    }
}
