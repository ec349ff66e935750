//! `anya key generate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::global::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an ed25519 key pair: STEM.key (0600, never overwritten) and STEM.pub.
    Generate {
        /// Path stem of the key files.
        #[arg(long, short)]
        out: PathBuf,
    },
}

impl KeyCommand {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        match self {
            Self::Generate { out } => {
                if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                let key = anya_host::keys::write_keypair(&out)?;
                let public = key.public();
                if global.json {
                    output::json(&serde_json::json!({
                        "key_id": key.key_id().to_hex(),
                        "public_key": public.to_hex(),
                        "secret_key_file": format!("{}.key", out.display()),
                        "public_key_file": format!("{}.pub", out.display()),
                    }));
                } else {
                    println!("wrote {0}.key and {0}.pub", out.display());
                    println!("key id      {}", key.key_id());
                    println!("public key  {}", public.to_hex());
                    println!();
                    println!(
                        "trust it with: anya trust add {}.pub --may-sign 'NAME-GLOB'",
                        out.display()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
