//! The signed manifest a package carries about itself, in its `anya-manifest` custom
//! section, as TOML.
//!
//! Parsing is strict: unknown keys are errors, every value is validated into a domain
//! type, so a [`Manifest`] in hand is always well formed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::ids::ComponentName;

/// The custom section that holds the manifest.
pub const MANIFEST_SECTION: &str = "anya-manifest";

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_LEN: usize = 64 * 1024;

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("manifest is {len} bytes, over the {MAX_MANIFEST_LEN}-byte cap")]
    TooLarge { len: usize },
    #[error("manifest is not UTF-8")]
    NotUtf8,
    #[error("malformed manifest: {0}")]
    Malformed(String),
    #[error(
        "version {version} carries build metadata (+{}): a published version is named by \
         MAJOR.MINOR.PATCH[-PRE] alone, so that two different packages can never share one",
        version.build
    )]
    BuildMetadata { version: Version },
}

/// What an update is, as its publisher declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    Security,
    Feature,
    Bugfix,
    Performance,
    Protocol,
    Dependency,
}

impl UpdateType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Feature => "feature",
            Self::Bugfix => "bugfix",
            Self::Performance => "performance",
            Self::Protocol => "protocol",
            Self::Dependency => "dependency",
        }
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a package is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Serves calls: exports `anya:extension/lifecycle`.
    #[default]
    Extension,
    /// Tests a candidate: exports `anya:validator/suite`.
    Validator,
}

/// A Bitcoin Improvement Proposal number, such as `173`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bip(u32);

impl Bip {
    pub fn number(self) -> u32 {
        self.0
    }
}

impl FromStr for Bip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix("BIP-").unwrap_or(s);
        if digits.is_empty()
            || digits.len() > 5
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(format!(
                "invalid BIP {s:?}: expected a BIP number such as \"173\""
            ));
        }
        Ok(Self(
            digits.parse().map_err(|_| format!("invalid BIP {s:?}"))?,
        ))
    }
}

impl fmt::Display for Bip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Bip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Bip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How the host runs calls into a component (see `docs/architecture.md`, "Running
/// extensions").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallMode {
    /// A new instance for every call: full isolation between calls.
    #[default]
    Fresh,
    /// A small pool of live instances, reused across calls.
    Warm,
}

/// The manifest of one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: ComponentName,
    pub version: Version,
    #[serde(default)]
    pub kind: Kind,
    pub update_type: UpdateType,
    #[serde(default)]
    pub security_critical: bool,
    #[serde(default)]
    pub breaking_changes: bool,
    #[serde(default)]
    pub bip_compliance: Vec<Bip>,
    #[serde(default)]
    pub dependencies: BTreeMap<ComponentName, VersionReq>,
    #[serde(default)]
    pub validators: Vec<ComponentName>,
    #[serde(default)]
    pub call_mode: CallMode,
    #[serde(default)]
    pub description: String,
}

impl Manifest {
    /// Parses the TOML text of a manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        if text.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge { len: text.len() });
        }
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Malformed(one_line(&e, text)))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Parses the bytes of the `anya-manifest` custom section.
    pub fn from_section(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge { len: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        Self::parse(text)
    }

    /// The TOML text, as embedded in the custom section.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest always serializes")
    }

    /// `name version`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    fn check(&self) -> Result<(), ManifestError> {
        // Semver orders `1.1.0+evil` after `1.1.0`, but they are the same release: allowed,
        // it would let other code publish beside a version and install as newer.
        if !self.version.build.is_empty() {
            return Err(ManifestError::BuildMetadata {
                version: self.version.clone(),
            });
        }
        if self.dependencies.contains_key(&self.name) {
            return Err(ManifestError::Malformed(format!(
                "{} lists itself as a dependency",
                self.name
            )));
        }
        if self.description.len() > 4096 {
            return Err(ManifestError::Malformed(
                "description is longer than 4096 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// A TOML error as one line: `line 3, column 7: unknown field ...`.
pub(crate) fn one_line(e: &toml::de::Error, input: &str) -> String {
    let msg = e.message().trim().to_owned();
    match e.span() {
        Some(span) => {
            let before = &input[..span.start.min(input.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BECH32: &str = r#"
name = "bech32"
version = "1.1.0"
update_type = "feature"
bip_compliance = ["173", "350"]
validators = ["bip173-vectors", "bip350-vectors"]
description = "Segwit address encoding"
"#;

    #[test]
    fn parses_and_round_trips() {
        let m = Manifest::parse(BECH32).unwrap();
        assert_eq!(m.name.as_str(), "bech32");
        assert_eq!(m.version, Version::new(1, 1, 0));
        assert_eq!(m.update_type, UpdateType::Feature);
        assert_eq!(m.kind, Kind::Extension);
        assert_eq!(m.bip_compliance.len(), 2);
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values_with_a_position() {
        let err = Manifest::parse(
            "name = \"x\"\nversion = \"1.0.0\"\nupdate_type = \"feature\"\nsurprise = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 4") && err.contains("surprise"), "{err}");
        let err =
            Manifest::parse("name = \"xY\"\nversion = \"1.0.0\"\nupdate_type = \"feature\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("upper case"), "{err}");
        let err = Manifest::parse("name = \"x\"\nversion = \"one\"\nupdate_type = \"feature\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = Manifest::parse("name = \"x\"\nversion = \"1.0.0\"\nupdate_type = \"feature\"\nbip_compliance = [\"17x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid BIP"), "{err}");
        assert!(Manifest::from_section(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn refuses_build_metadata_in_the_version() {
        let err = Manifest::parse(&BECH32.replace("1.1.0", "1.1.0+evil"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1.1.0+evil") && err.contains("build metadata (+evil)"),
            "{err}"
        );
        // A pre-release is a version of its own, and fine.
        assert!(Manifest::parse(&BECH32.replace("1.1.0", "1.1.0-rc.1")).is_ok());
    }
}
