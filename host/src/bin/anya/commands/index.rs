//! `anya index release | sign | push`: the publisher's side of the signed index.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::{Timestamp, ToSpan};
use semver::Version;

use anya_host::ids::ComponentName;
use anya_host::index::{DocumentKind, RoleSpec, envelope};
use anya_host::keys::{self, PublicKey, SecretKey};
use anya_host::registry::RegistryLocation;
use anya_host::release::{self, ReleaseRequest};
use anya_host::update::DEFAULT_MAX_PACKAGE_BYTES;

use crate::global::{self, Global};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// List every package of the registry (each verified) in a new release index, signed
    /// with the publisher's offline keys, and push it (or write it with --out).
    Release(ReleaseArgs),
    /// Add signatures to a document written with --out: a threshold of offline keys,
    /// each on its own machine, sign one document in turn.
    Sign(SignArgs),
    /// Push a signed document (release index or rollout document) into the registry.
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// A secret key to sign with (repeat for a threshold).
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// Days until the release expires: hosts install nothing new from an expired one.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 30,
        conflicts_with = "expires"
    )]
    expires_in: u32,
    /// When the release expires (RFC 3339), instead of --expires-in.
    #[arg(long, value_name = "TIME")]
    expires: Option<Timestamp>,
    /// Its version [default: the registry's current release + 1].
    #[arg(long)]
    version: Option<u64>,
    /// A version no host may install any more: NAME@VERSION (repeatable).
    #[arg(long, value_name = "NAME@VERSION")]
    revoke: Vec<String>,
    /// The online key that signs rollout documents: a .pub file or 64 hex digits
    /// (repeatable) [default: the current release's].
    #[arg(long = "rollout-key", value_name = "PUB")]
    rollout_keys: Vec<String>,
    /// How many distinct rollout keys must sign a rollout document.
    #[arg(long, default_value_t = 1)]
    rollout_threshold: u32,
    /// Hand the signing of later releases to these keys (key rotation): a .pub file or 64
    /// hex digits (repeatable). They must sign this release too.
    #[arg(long = "next-release-key", value_name = "PUB")]
    next_release_keys: Vec<String>,
    /// How many distinct keys of --next-release-key must sign later releases.
    #[arg(long, default_value_t = 1)]
    next_release_threshold: u32,
    /// Write the signed document here instead of pushing it (to sign it further).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The registry whose packages are listed and where the document goes [default:
    /// --registry].
    #[arg(long, value_name = "DIR|oci://HOST/PREFIX")]
    to: Option<RegistryLocation>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The document (an envelope) to sign, rewritten in place.
    file: PathBuf,
    /// A secret key to sign with (repeatable).
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The signed document.
    file: PathBuf,
    /// The registry [default: --registry].
    #[arg(long, value_name = "DIR|oci://HOST/PREFIX")]
    to: Option<RegistryLocation>,
}

/// The most read of a document file.
const MAX_DOCUMENT_FILE: u64 = anya_host::index::MAX_DOCUMENT_BYTES as u64;

impl IndexCommand {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        match self {
            Self::Release(args) => args.execute(global),
            Self::Sign(args) => args.execute(global),
            Self::Push(args) => args.execute(global),
        }
    }
}

impl ReleaseArgs {
    fn execute(self, global: &Global) -> Result<ExitCode> {
        if self.keys.is_empty() && self.out.is_none() {
            bail!("give --key (the publisher's offline keys), or --out to sign it later");
        }
        let keys = read_secret_keys(&self.keys)?;
        let request = self.request()?;
        let trust = global.trust_store()?;
        let location = self
            .to
            .clone()
            .unwrap_or_else(|| global.registry_location());
        let registry = global.open_registry(&location)?;
        let release = release::draft_release(
            registry.as_ref(),
            &trust,
            request,
            DEFAULT_MAX_PACKAGE_BYTES,
        )?;
        let sealed = release::seal_release(&release, &keys.iter().collect::<Vec<_>>());
        let location = match &self.out {
            Some(path) => {
                anya_host::store::atomic::write_atomic(path, &sealed)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                path.display().to_string()
            }
            None => registry.publish_index_document(DocumentKind::Release, &sealed)?,
        };
        let packages: usize = release.components.values().map(|v| v.len()).sum();
        if global.json {
            output::json(&serde_json::json!({
                "version": release.version,
                "expires": release.expires,
                "components": release.components.len(),
                "packages": packages,
                "signed_by": keys.iter().map(|k| k.key_id().to_hex()).collect::<Vec<_>>(),
                "location": location,
            }));
        } else {
            println!(
                "release index version {} ({} components, {packages} packages, expires {}) -> {location}",
                release.version,
                release.components.len(),
                release.expires
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    fn request(&self) -> Result<ReleaseRequest> {
        let expires = match self.expires {
            Some(at) => at,
            None => global::clock()?
                .now()
                .checked_add((i64::from(self.expires_in) * 24).hours())
                .context("--expires-in is too far away")?,
        };
        let revoke = self
            .revoke
            .iter()
            .map(|s| parse_name_at_version(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(ReleaseRequest {
            expires,
            version: self.version,
            revoke,
            rollout_signers: role(&self.rollout_keys, self.rollout_threshold)?,
            release_signers: role(&self.next_release_keys, self.next_release_threshold)?,
        })
    }
}

impl SignArgs {
    fn execute(self, global: &Global) -> Result<ExitCode> {
        let keys = read_secret_keys(&self.keys)?;
        let bytes = read_document(&self.file)?;
        let what = self.file.display().to_string();
        release::kind_of(&bytes, &what)?;
        let signed = envelope::add_signatures(&bytes, &keys.iter().collect::<Vec<_>>())
            .with_context(|| what.clone())?;
        anya_host::store::atomic::write_atomic(&self.file, &signed)
            .with_context(|| format!("cannot write {what}"))?;
        let ids: Vec<String> = keys.iter().map(|k| k.key_id().to_hex()).collect();
        if global.json {
            output::json(&serde_json::json!({"file": what, "signed_by": ids}));
        } else {
            println!("signed {what} with {}", ids.join(", "));
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl PushArgs {
    fn execute(self, global: &Global) -> Result<ExitCode> {
        let bytes = read_document(&self.file)?;
        let kind = release::kind_of(&bytes, &self.file.display().to_string())?;
        let registry =
            global.open_registry(self.to.as_ref().unwrap_or(&global.registry_location()))?;
        let location = registry.publish_index_document(kind, &bytes)?;
        if global.json {
            output::json(&serde_json::json!({"kind": kind, "location": location}));
        } else {
            println!("pushed the {kind} -> {location}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn read_secret_keys(paths: &[PathBuf]) -> Result<Vec<SecretKey>> {
    paths
        .iter()
        .map(|p| keys::read_secret_key(p).map_err(anyhow::Error::from))
        .collect()
}

fn read_document(path: &Path) -> Result<Vec<u8>> {
    anya_host::files::read_capped(path, MAX_DOCUMENT_FILE, anya_host::files::Links::Follow)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// A role of `keys` (each a .pub file or 64 hex digits), `None` when there are none.
fn role(keys: &[String], threshold: u32) -> Result<Option<RoleSpec>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let keys = keys
        .iter()
        .map(|k| public_key(k).map(|k| k.to_hex()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(RoleSpec { keys, threshold }))
}

fn public_key(arg: &str) -> Result<PublicKey> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(PublicKey::from_hex(arg)?);
    }
    Ok(keys::read_public_key(Path::new(arg))?)
}

fn parse_name_at_version(arg: &str) -> Result<(ComponentName, Version)> {
    let (name, version) = arg
        .split_once('@')
        .with_context(|| format!("--revoke {arg:?}: expected NAME@VERSION"))?;
    Ok((
        ComponentName::parse(name).with_context(|| format!("--revoke {arg:?}"))?,
        Version::parse(version).with_context(|| format!("--revoke {arg:?}"))?,
    ))
}
