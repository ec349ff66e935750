//! The local registry folder: `<root>/<name>/<name>-<version>.wasm`.
//!
//! Names are checked before they reach a path; symbolic links are refused, so nothing
//! outside the folder is ever read.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use semver::Version;

use super::{Fetched, Registry, RegistryError};
use crate::files::Links;
use crate::ids::{ComponentName, Digest};
use crate::index::{DocumentKind, IndexError, MAX_DOCUMENT_BYTES};
use crate::package::{self, VerifiedPackage};
use crate::store::atomic;

/// A registry in a local folder.
#[derive(Debug, Clone)]
pub struct DirRegistry {
    root: PathBuf,
}

impl DirRegistry {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `name` `version` lives.
    pub fn path_of(&self, name: &ComponentName, version: &Version) -> PathBuf {
        self.root
            .join(name.as_str())
            .join(format!("{name}-{version}.wasm"))
    }

    /// Where the signed index document of `kind` lives.
    pub fn index_path(&self, kind: DocumentKind) -> PathBuf {
        self.root
            .join(super::INDEX_NAME)
            .join(format!("{}.json", kind.stem()))
    }

    fn io(&self) -> impl Fn(io::Error) -> RegistryError + '_ {
        move |source| RegistryError::Io {
            registry: self.describe(),
            source,
        }
    }
}

impl Registry for DirRegistry {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn names(&self) -> Result<Vec<ComponentName>, RegistryError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io()(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(self.io())?;
            if !entry.file_type().map_err(self.io())?.is_dir() {
                continue;
            }
            let file_name = entry.file_name();
            if file_name == super::INDEX_NAME {
                continue;
            }
            match ComponentName::parse(&file_name.to_string_lossy()) {
                Ok(name) => names.push(name),
                Err(e) => tracing::warn!(registry = %self.describe(), "skipping folder: {e}"),
            }
        }
        names.sort();
        Ok(names)
    }

    fn versions(&self, name: &ComponentName) -> Result<Vec<Version>, RegistryError> {
        let dir = self.root.join(name.as_str());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io()(e)),
        };
        let prefix = format!("{name}-");
        let mut versions = Vec::new();
        for entry in entries {
            let file_name = entry.map_err(self.io())?.file_name();
            let file_name = file_name.to_string_lossy();
            let parsed = file_name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".wasm"))
                .map(Version::parse);
            match parsed {
                Some(Ok(v)) if !v.build.is_empty() => tracing::warn!(
                    registry = %self.describe(),
                    "skipping {name}/{file_name}: build metadata (+{}) is not part of a published version",
                    v.build
                ),
                Some(Ok(v)) => versions.push(v),
                _ if file_name.starts_with('.') => {}
                _ => tracing::warn!(
                    registry = %self.describe(),
                    "skipping {name}/{file_name}: not named {name}-VERSION.wasm"
                ),
            }
        }
        versions.sort();
        Ok(versions)
    }

    fn fetch(
        &self,
        name: &ComponentName,
        version: &Version,
        max_bytes: u64,
    ) -> Result<Fetched, RegistryError> {
        let path = self.path_of(name, version);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RegistryError::UnknownVersion {
                    registry: self.describe(),
                    name: name.clone(),
                    version: version.clone(),
                });
            }
            Err(e) => return Err(self.io()(e)),
        };
        if !meta.file_type().is_file() {
            return Err(RegistryError::Refused {
                path,
                reason: format!(
                    "{}, not a regular file: a registry folder holds package files only",
                    crate::files::kind_of(&meta.file_type())
                ),
            });
        }
        let bytes = package::read_package_file(&path, max_bytes).map_err(|source| {
            RegistryError::Package {
                path: path.clone(),
                source,
            }
        })?;
        Ok(Fetched {
            bytes,
            source: path.display().to_string(),
            manifest_digest: None,
        })
    }

    fn publish(&self, package: &VerifiedPackage) -> Result<String, RegistryError> {
        let manifest = package.manifest();
        let path = self.path_of(&manifest.name, &manifest.version);
        let existing = crate::files::read_capped(
            &path,
            crate::update::DEFAULT_MAX_PACKAGE_BYTES,
            crate::files::Links::Refuse,
        );
        if let Ok(existing) = existing {
            if Digest::of(&existing) == package.digest() {
                return Ok(path.display().to_string());
            }
            return Err(RegistryError::Refused {
                path,
                reason: format!(
                    "{} is already published with different content (digest {}); \
                     a published version never changes: publish a new version",
                    manifest.label(),
                    Digest::of(&existing).short()
                ),
            });
        }
        let dir = path.parent().expect("path_of has a parent");
        fs::create_dir_all(dir).map_err(self.io())?;
        atomic::write_atomic(&path, package.bytes()).map_err(self.io())?;
        Ok(path.display().to_string())
    }

    fn index_document(&self, kind: DocumentKind) -> Result<Option<Vec<u8>>, RegistryError> {
        let path = self.index_path(kind);
        match crate::files::read_capped(&path, MAX_DOCUMENT_BYTES as u64, Links::Refuse) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => Err(RegistryError::Index {
                registry: self.describe(),
                source: Box::new(IndexError::TooLarge {
                    kind,
                    cap: MAX_DOCUMENT_BYTES,
                }),
            }),
            Err(e) => Err(RegistryError::Refused {
                path,
                reason: e.to_string(),
            }),
        }
    }

    fn publish_index_document(
        &self,
        kind: DocumentKind,
        envelope: &[u8],
    ) -> Result<String, RegistryError> {
        let path = self.index_path(kind);
        let dir = path.parent().expect("index_path has a parent");
        fs::create_dir_all(dir).map_err(self.io())?;
        atomic::write_atomic(&path, envelope).map_err(self.io())?;
        Ok(path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_with_build_metadata_are_not_offered() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("bech32");
        fs::create_dir_all(&folder).unwrap();
        for file in [
            "bech32-1.1.0.wasm",
            "bech32-1.1.0+evil.wasm",
            "bech32-1.2.0-rc.1.wasm",
        ] {
            fs::write(folder.join(file), b"not read here").unwrap();
        }
        let registry = DirRegistry::new(dir.path().to_owned());
        let name = ComponentName::parse("bech32").unwrap();
        assert_eq!(
            registry.versions(&name).unwrap(),
            [Version::new(1, 1, 0), Version::parse("1.2.0-rc.1").unwrap()]
        );
    }
}
