//! `anya sign`: embed a manifest into a component and add a signature.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use anya_host::manifest::Manifest;
use anya_host::package;
use anya_host::update::DEFAULT_MAX_PACKAGE_BYTES;

use crate::global::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct Sign {
    /// The component (a `wasm32-wasip2` cdylib is one), or a package to add a signature to.
    input: PathBuf,
    /// The manifest (TOML) to embed; omit it to add a signature to a package that has one.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The secret key file.
    #[arg(long, short)]
    key: PathBuf,
    /// Where to write the package [default: NAME-VERSION.wasm in the current folder].
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// The most a manifest file may hold.
const MAX_MANIFEST_FILE_BYTES: u64 = 64 * 1024;

impl Sign {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let key = anya_host::keys::read_secret_key(&self.key)?;
        let mut bytes = package::read_package_file(&self.input, DEFAULT_MAX_PACKAGE_BYTES)
            .with_context(|| format!("{}", self.input.display()))?;
        let manifest = match &self.manifest {
            Some(path) => {
                let text = anya_host::files::read_text_capped(
                    path,
                    MAX_MANIFEST_FILE_BYTES,
                    anya_host::files::Links::Follow,
                )
                .with_context(|| format!("cannot read {}", path.display()))?;
                let manifest =
                    Manifest::parse(&text).with_context(|| format!("{}", path.display()))?;
                bytes = package::embed_manifest(&bytes, &manifest)
                    .with_context(|| format!("{}", self.input.display()))?;
                manifest
            }
            None => package::inspect(&bytes).manifest.with_context(|| {
                format!(
                    "{} has no valid embedded manifest: pass --manifest",
                    self.input.display()
                )
            })?,
        };
        let signed = anya_host::signature::sign(&bytes, &key)
            .with_context(|| format!("{}", self.input.display()))?;
        // The same key over the same content signs once: nothing is added.
        let added = signed != bytes;
        let out = self.out.unwrap_or_else(|| {
            PathBuf::from(format!("{}-{}.wasm", manifest.name, manifest.version))
        });
        std::fs::write(&out, &signed).with_context(|| format!("cannot write {}", out.display()))?;
        if global.json {
            output::json(&serde_json::json!({
                "package": out,
                "name": manifest.name,
                "version": manifest.version.to_string(),
                "digest": anya_host::ids::Digest::of(&signed),
                "key_id": key.key_id().to_hex(),
                "signature_added": added,
            }));
        } else if added {
            println!(
                "signed {} with key {} -> {}",
                manifest.label(),
                key.key_id(),
                out.display()
            );
        } else {
            println!(
                "{} is already signed by key {}: nothing added -> {}",
                manifest.label(),
                key.key_id(),
                out.display()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
