//! `anya trust add` and `anya trust list`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use anya_host::store::atomic::write_atomic;
use anya_host::trust::TrustStore;

use crate::global::Global;
use crate::output::{self, Table};

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a public key (a .pub file) to sign the component names matching the globs.
    Add {
        /// The public key file (`anya key generate` or `wasmsign2 keygen`).
        public_key: PathBuf,
        /// Component-name globs this key may sign (`*` and `?`), e.g. `bitcoin-*`.
        #[arg(long = "may-sign", required = true)]
        may_sign: Vec<String>,
        /// A label for messages [default: the file stem].
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the trusted keys.
    List,
}

impl TrustCommand {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let path = global.trust_path();
        match self {
            Self::Add {
                public_key,
                may_sign,
                name,
            } => {
                let key = anya_host::keys::read_public_key(&public_key)?;
                let label = name.unwrap_or_else(|| {
                    public_key
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "key".into())
                });
                let mut text = match anya_host::files::read_text_capped(
                    &path,
                    anya_host::trust::MAX_TRUST_STORE_LEN,
                    anya_host::files::Links::Follow,
                ) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot read {}", path.display()));
                    }
                };
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                let globs: Vec<String> = may_sign.iter().map(|g| toml_string(g)).collect();
                text.push_str(&format!(
                    "\n[[key]]\nname = {}\npublic_key = \"{}\"\nmay_sign = [{}]\n",
                    toml_string(&label),
                    key.to_hex(),
                    globs.join(", ")
                ));
                // Validate the whole file before it replaces the old one.
                if let Err(e) = TrustStore::parse(&text) {
                    bail!(
                        "{}: adding this key would make the trust store invalid: {e}",
                        path.display()
                    );
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                write_atomic(&path, text.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                if global.json {
                    output::json(
                        &serde_json::json!({"key_id": key.key_id().to_hex(), "trust_store": path}),
                    );
                } else {
                    println!(
                        "trusted key {} ({}) in {}",
                        key.key_id(),
                        output::printable(&label),
                        path.display()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Self::List => {
                let store = global.trust_store()?;
                let keys: Vec<serde_json::Value> = store
                    .keys()
                    .map(|k| {
                        serde_json::json!({
                            "name": k.name,
                            "key_id": k.key.key_id().to_hex(),
                            "public_key": k.key.to_hex(),
                            "may_sign": k.may_sign,
                        })
                    })
                    .collect();
                if global.json {
                    output::json(&keys);
                } else {
                    let mut table = Table::new(vec!["NAME", "KEY ID", "MAY SIGN"]);
                    for k in store.keys() {
                        table.row(vec![
                            k.name.clone(),
                            k.key.key_id().to_hex(),
                            k.may_sign.join(", "),
                        ]);
                    }
                    table.print();
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
