//! An OCI registry as a package source: component `NAME` is the repository
//! `PREFIX/NAME`, each published version a tag holding one Wasm OCI artifact
//! ([`artifact`]).
//!
//! The client is `oci-client` on tokio. The rest of the library is synchronous, so this
//! source owns a small runtime of its own (one worker) and waits for it: callable from any
//! thread (docs/architecture.md, "Where tokio lives"); from an async task, through
//! `spawn_blocking`, as the daemon runs installs and checks.
//!
//! Nothing a registry returns is trusted: every blob is streamed under a cap and a
//! deadline, its size and digest checked against the manifest, and the package's signature
//! is verified afterwards like a folder's.

pub mod artifact;
pub mod credentials;
mod error;

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use semver::Version;

pub use error::OciError;

use self::artifact::{Artifact, LayerKind, MANIFEST_MEDIA_TYPE, MAX_MANIFEST_BYTES};
use self::credentials::{Credential, CredentialsSource};
use super::location::OciLocation;
use super::{Fetched, INDEX_NAME, Registry, RegistryError};
use crate::ids::{ComponentName, Digest};
use crate::index::{DocumentKind, IndexError, MAX_DOCUMENT_BYTES, ReleasedPackage};
use crate::package::VerifiedPackage;

/// How long one operation (a listing, a fetch, a publish) may take in all.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connecting may take, and how long a response may stall between two reads.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Tags and repositories asked for per page, and the most a listing may hold.
const PAGE: usize = 1000;
const MAX_LISTED: usize = 100 * PAGE;
const SMALLEST_PAGE_CAP: usize = 100;

/// A registry reached over the OCI distribution API.
pub struct OciRegistry {
    location: OciLocation,
    credentials: CredentialsSource,
    client: Client,
    runtime: Option<tokio::runtime::Runtime>,
    timeout: Duration,
}

impl std::fmt::Debug for OciRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciRegistry")
            .field("location", &self.location.to_string())
            .finish_non_exhaustive()
    }
}

impl OciRegistry {
    /// A source for `location`, signing in with what `credentials` holds for its host.
    pub fn new(location: OciLocation, credentials: CredentialsSource) -> Result<Self, OciError> {
        install_tls_provider();
        let protocol = if location.plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            platform_resolver: None,
            use_monolithic_push: true,
            ..ClientConfig::default()
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("anya-oci")
            .enable_all()
            .build()
            .map_err(|e| OciError::Start(e.to_string()))?;
        Ok(Self {
            location,
            credentials,
            client,
            runtime: Some(runtime),
            timeout: DEFAULT_OPERATION_TIMEOUT,
        })
    }

    /// Sets how long one operation may take in all.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn location(&self) -> &OciLocation {
        &self.location
    }

    fn registry_error(&self, reason: OciError) -> RegistryError {
        RegistryError::Remote {
            registry: self.describe(),
            reason,
        }
    }

    fn auth(&self) -> Result<RegistryAuth, OciError> {
        let credential = self.credentials.credential_for(&self.location.host)?;
        if credential != Credential::Anonymous && self.location.sends_in_clear() {
            return Err(OciError::CleartextCredentials(self.location.host.clone()));
        }
        Ok(match credential {
            Credential::Anonymous => RegistryAuth::Anonymous,
            Credential::Basic { username, password } => RegistryAuth::Basic(username, password),
            Credential::Bearer(token) => RegistryAuth::Bearer(token),
        })
    }

    fn tag_reference(&self, name: &ComponentName, version: &Version) -> Reference {
        Reference::with_tag(
            self.location.host.clone(),
            self.location.repository(name.as_str()),
            version.to_string(),
        )
    }

    /// The reference of the index document of `kind`: `PREFIX/anya.index:<stem>`.
    fn index_reference(&self, kind: DocumentKind) -> Reference {
        Reference::with_tag(
            self.location.host.clone(),
            self.location.repository(INDEX_NAME),
            kind.stem().to_owned(),
        )
    }

    /// The package at `reference` (a tag or a digest of `name` `version`), under
    /// `max_bytes`.
    fn pull_package(
        &self,
        name: &ComponentName,
        version: &Version,
        reference: Reference,
        max_bytes: u64,
    ) -> Result<Fetched, RegistryError> {
        let client = self.client.clone();
        let auth = self.auth().map_err(|e| self.registry_error(e))?;
        let pulled = self.run(async move {
            Self::pull_artifact(&client, &auth, &reference, LayerKind::Component, max_bytes).await
        });
        match pulled {
            Ok((bytes, manifest_digest)) => Ok(Fetched {
                bytes,
                source: format!(
                    "{}/{name}@{manifest_digest}",
                    self.describe().trim_end_matches('/')
                ),
                manifest_digest: Some(manifest_digest),
            }),
            Err(OciError::NotFound) => Err(RegistryError::UnknownVersion {
                registry: self.describe(),
                name: name.clone(),
                version: version.clone(),
            }),
            Err(e) => Err(self.registry_error(e)),
        }
    }

    /// Runs `work` on this source's runtime under the operation deadline and waits for it.
    fn run<T, F>(&self, work: F) -> Result<T, OciError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, OciError>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        let timeout = self.timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let outcome = tokio::time::timeout(timeout, work)
                .await
                .unwrap_or(Err(OciError::Timeout(timeout)));
            let _ = tx.send(outcome);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(OciError::Start("the registry client stopped".into())))
    }

    /// Every entry of a paginated listing: `page(last)` returns the page after `last`.
    /// A page of fewer than `SMALLEST_PAGE_CAP` entries is the last one (registries cap
    /// pages at 100 or more, whatever [`PAGE`] asks); a page that brings nothing new ends
    /// it too (distribution ignores `last`
    /// for tags and sends them all again); a listing past `MAX_LISTED` is refused.
    async fn all_pages<P, Fut>(mut page: P) -> Result<Vec<String>, OciError>
    where
        P: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<Vec<String>, OciError>>,
    {
        let mut all: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let items = page(all.last().cloned()).await?;
            let full = items.len() >= SMALLEST_PAGE_CAP;
            let before = all.len();
            for item in items {
                if seen.insert(item.clone()) {
                    all.push(item);
                }
            }
            if all.len() > MAX_LISTED {
                return Err(OciError::Protocol(format!(
                    "a listing of more than {MAX_LISTED} entries"
                )));
            }
            if !full || all.len() == before {
                return Ok(all);
            }
        }
    }

    /// The manifest at `reference` (a tag or a digest), read under its cap, with its digest
    /// checked when the reference names one.
    async fn pull_manifest(
        client: &Client,
        auth: &RegistryAuth,
        reference: &Reference,
    ) -> Result<(bytes::Bytes, String), OciError> {
        // The registry's digest header is not used: ours is computed from the bytes.
        let (manifest, _) = client
            .pull_manifest_raw(reference, auth, &[MANIFEST_MEDIA_TYPE])
            .await?;
        if manifest.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::TooLarge {
                reference: reference.whole(),
                what: "the manifest",
                cap: MAX_MANIFEST_BYTES as u64,
            });
        }
        let actual = artifact::oci_digest(&Digest::of(&manifest));
        if let Some(named) = reference.digest()
            && named != actual
        {
            return Err(OciError::DigestMismatch {
                reference: reference.whole(),
                expected: named.to_owned(),
                actual,
            });
        }
        Ok((manifest, actual))
    }

    /// The manifest at `reference` and the one layer of `kind` it names (under
    /// `max_bytes`): the layer's bytes and the manifest's digest.
    async fn pull_artifact(
        client: &Client,
        auth: &RegistryAuth,
        reference: &Reference,
        kind: LayerKind,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, String), OciError> {
        let (manifest, manifest_digest) = Self::pull_manifest(client, auth, reference).await?;
        // The manifest exists: a missing blob is the registry's fault, not "no version".
        let bytes = Self::pull_layer(client, reference, &manifest, kind, max_bytes)
            .await
            .map_err(|e| match e {
                OciError::NotFound => OciError::MissingBlob(reference.whole()),
                other => other,
            })?;
        Ok((bytes, manifest_digest))
    }

    /// Pushes `artifact` (its layer is `layer`) under `reference`, signed in for push (a
    /// token registry scopes tokens by operation).
    async fn push_artifact(
        client: &Client,
        auth: &RegistryAuth,
        reference: &Reference,
        layer: bytes::Bytes,
        layer_digest: &str,
        artifact: Artifact,
    ) -> Result<(), OciError> {
        client
            .auth(reference, auth, RegistryOperation::Push)
            .await?;
        client.push_blob(reference, layer, layer_digest).await?;
        client
            .push_blob(reference, artifact.config, &artifact.config_digest)
            .await?;
        client
            .push_manifest_raw(
                reference,
                artifact.manifest,
                http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await?;
        Ok(())
    }

    /// The layer of `kind` `manifest` names, streamed under `max_bytes`, its size and
    /// digest checked.
    async fn pull_layer(
        client: &Client,
        reference: &Reference,
        manifest: &[u8],
        kind: LayerKind,
        max_bytes: u64,
    ) -> Result<Vec<u8>, OciError> {
        let (layer, digest, size) =
            artifact::single_layer(manifest, kind).map_err(|source| OciError::Layout {
                reference: reference.whole(),
                source,
            })?;
        let too_large = || OciError::TooLarge {
            reference: reference.whole(),
            what: match kind {
                LayerKind::Component => "the component layer",
                LayerKind::IndexDocument => "the index document",
            },
            cap: max_bytes,
        };
        if size > max_bytes {
            return Err(too_large());
        }
        let mut stream = client.pull_blob_stream(reference, &layer).await?;
        if stream.content_length.is_some_and(|len| len > max_bytes) {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                // The verifying stream's last item is a digest mismatch; ours says it
                // better below, so only a short read or a transport error is reported here.
                Err(e) if bytes.len() as u64 == size => {
                    tracing::debug!("blob stream ended with: {e}");
                    break;
                }
                Err(e) => return Err(OciError::Interrupted(e.to_string())),
            };
            // `size` is within the cap (checked above): more than it is a lie about it.
            if bytes.len() as u64 + chunk.len() as u64 > size {
                return Err(OciError::LengthMismatch {
                    reference: reference.whole(),
                    expected: size,
                    actual: bytes.len() as u64 + chunk.len() as u64,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() as u64 != size {
            return Err(OciError::LengthMismatch {
                reference: reference.whole(),
                expected: size,
                actual: bytes.len() as u64,
            });
        }
        let actual = Digest::of(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                reference: reference.whole(),
                expected: artifact::oci_digest(&digest),
                actual: artifact::oci_digest(&actual),
            });
        }
        Ok(bytes)
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which a tokio thread may not do: let it wind down.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Registry for OciRegistry {
    fn describe(&self) -> String {
        self.location.to_string()
    }

    fn names(&self) -> Result<Vec<ComponentName>, RegistryError> {
        let client = self.client.clone();
        let auth = self.auth().map_err(|e| self.registry_error(e))?;
        let anchor = Reference::with_tag(self.location.host.clone(), "_".into(), "_".into());
        let repositories = self
            .run(async move {
                Self::all_pages(|last| {
                    let (client, auth, anchor) = (client.clone(), auth.clone(), anchor.clone());
                    async move {
                        let page = client
                            .catalog(&anchor, &auth, Some(PAGE), last.as_deref())
                            .await?;
                        Ok(page.repositories)
                    }
                })
                .await
            })
            .map_err(|e| self.registry_error(e))?;
        let prefix = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let mut names: Vec<ComponentName> = repositories
            .iter()
            .filter_map(|repo| repo.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .filter_map(|rest| ComponentName::parse(rest).ok())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn versions(&self, name: &ComponentName) -> Result<Vec<Version>, RegistryError> {
        let client = self.client.clone();
        let auth = self.auth().map_err(|e| self.registry_error(e))?;
        let reference = self.tag_reference(name, &Version::new(0, 0, 0));
        let tags = self.run(async move {
            Self::all_pages(|last| {
                let (client, auth, reference) = (client.clone(), auth.clone(), reference.clone());
                async move {
                    match client
                        .list_tags(&reference, &auth, Some(PAGE), last.as_deref())
                        .await
                    {
                        Ok(page) => Ok(page.tags),
                        Err(e) => match OciError::from(e) {
                            OciError::NotFound => Ok(Vec::new()),
                            other => Err(other),
                        },
                    }
                }
            })
            .await
        });
        let tags = tags.map_err(|e| self.registry_error(e))?;
        let mut versions: Vec<Version> = tags
            .iter()
            .filter_map(|tag| match Version::parse(tag) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::debug!(registry = %self.describe(), "skipping tag {name}:{tag}: not a version");
                    None
                }
            })
            .collect();
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    fn fetch(
        &self,
        name: &ComponentName,
        version: &Version,
        max_bytes: u64,
    ) -> Result<Fetched, RegistryError> {
        self.pull_package(name, version, self.tag_reference(name, version), max_bytes)
    }

    /// Pulls `repository@digest` exactly as the index names it, never a tag (a tag is
    /// only a hint: whoever controls the registry can move it).
    fn fetch_listed(
        &self,
        name: &ComponentName,
        version: &Version,
        listed: &ReleasedPackage,
    ) -> Result<Fetched, RegistryError> {
        let reference = match &listed.oci_digest {
            Some(digest) => Reference::with_digest(
                self.location.host.clone(),
                self.location.repository(name.as_str()),
                digest.clone(),
            ),
            None => self.tag_reference(name, version),
        };
        let fetched = self.pull_package(name, version, reference, listed.length)?;
        super::check_listed(fetched, name, version, listed)
    }

    fn index_document(&self, kind: DocumentKind) -> Result<Option<Vec<u8>>, RegistryError> {
        let reference = self.index_reference(kind);
        let client = self.client.clone();
        let auth = self.auth().map_err(|e| self.registry_error(e))?;
        let pulled = self.run(async move {
            let max = MAX_DOCUMENT_BYTES as u64;
            Self::pull_artifact(&client, &auth, &reference, LayerKind::IndexDocument, max).await
        });
        match pulled {
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(OciError::NotFound) => Ok(None),
            Err(OciError::TooLarge { .. }) => Err(RegistryError::Index {
                registry: self.describe(),
                source: Box::new(IndexError::TooLarge {
                    kind,
                    cap: MAX_DOCUMENT_BYTES,
                }),
            }),
            Err(e) => Err(self.registry_error(e)),
        }
    }

    fn publish_index_document(
        &self,
        kind: DocumentKind,
        envelope: &[u8],
    ) -> Result<String, RegistryError> {
        let reference = self.index_reference(kind);
        let location = format!("{}/{}:{}", self.describe(), INDEX_NAME, kind.stem());
        let artifact = Artifact::of_index_document(kind, envelope);
        let client = self.client.clone();
        let auth = self.auth().map_err(|e| self.registry_error(e))?;
        let layer = bytes::Bytes::copy_from_slice(envelope);
        let layer_digest = artifact::oci_digest(&Digest::of(envelope));
        let manifest_digest = artifact.manifest_digest.clone();
        self.run(async move {
            Self::push_artifact(&client, &auth, &reference, layer, &layer_digest, artifact).await
        })
        .map_err(|e| self.registry_error(e))?;
        Ok(format!("{location}@{manifest_digest}"))
    }

    fn publish(&self, package: &VerifiedPackage) -> Result<String, RegistryError> {
        let manifest = package.manifest();
        if !manifest.version.build.is_empty() {
            return Err(self.registry_error(OciError::NotATag(manifest.version.to_string())));
        }
        let reference = self.tag_reference(&manifest.name, &manifest.version);
        let location = format!("{}/{}:{}", self.describe(), manifest.name, manifest.version);
        let artifact = Artifact::of(package.bytes(), &package.digest(), manifest);
        let client = self.client.clone();
        let auth = self.auth().map_err(|e| self.registry_error(e))?;
        let layer = bytes::Bytes::copy_from_slice(package.bytes());
        let layer_digest = artifact::oci_digest(&package.digest());
        let published = self.run(async move {
            match Self::pull_manifest(&client, &auth, &reference).await {
                Ok((existing, digest)) => {
                    return Ok(Published::Already {
                        manifest_digest: digest,
                        layer: artifact::component_layer(&existing).map(|(_, d, _)| d),
                    });
                }
                Err(OciError::NotFound) => {}
                Err(e) => return Err(e),
            }
            let manifest_digest = artifact.manifest_digest.clone();
            Self::push_artifact(&client, &auth, &reference, layer, &layer_digest, artifact).await?;
            Ok(Published::Now { manifest_digest })
        });
        match published.map_err(|e| self.registry_error(e))? {
            Published::Now { manifest_digest } => Ok(format!("{location}@{manifest_digest}")),
            Published::Already {
                manifest_digest,
                layer: Ok(layer),
            } if layer == package.digest() => Ok(format!("{location}@{manifest_digest}")),
            Published::Already { layer, .. } => {
                Err(self.registry_error(OciError::AlreadyPublished {
                    label: manifest.label(),
                    existing: match layer {
                        Ok(d) => format!("digest {}", d.short()),
                        Err(e) => e.to_string(),
                    },
                }))
            }
        }
    }
}

/// What publishing found or did.
enum Published {
    Now {
        manifest_digest: String,
    },
    Already {
        manifest_digest: String,
        layer: Result<Digest, artifact::LayoutError>,
    },
}

/// rustls needs one crypto provider per process; Anya's TLS is rustls on ring throughout.
fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already: that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
