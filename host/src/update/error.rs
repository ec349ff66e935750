//! What can go wrong in the update pipeline, each error naming the thing and the reason.

use semver::Version;

use crate::ids::ComponentName;
use crate::package::PackageError;
use crate::registry::RegistryError;
use crate::runtime::{CallError, RuntimeError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The package failed verification.
    #[error("{source_path}: {component}: {reason}")]
    Refused {
        source_path: String,
        component: String,
        #[source]
        reason: PackageError,
    },
    /// The package is not what its place says it is.
    #[error("{source_path}: expected {expected}, but its manifest says {found}")]
    Mismatch {
        source_path: String,
        expected: String,
        found: String,
    },
    #[error("{name} is not installed")]
    NotInstalled { name: ComponentName },
    #[error("registry {registry} has no version of {name}")]
    NotInRegistry {
        registry: String,
        name: ComponentName,
    },
    #[error(
        "{name} {version} is below the watermark {watermark} (the highest version this host \
         ever trusted); a downgrade needs --force"
    )]
    BelowWatermark {
        name: ComponentName,
        version: Version,
        watermark: Version,
    },
    #[error(
        "{name} {version} is not newer than the installed {installed}; a downgrade needs --force"
    )]
    NotNewer {
        name: ComponentName,
        version: Version,
        installed: Version,
    },
    #[error("{name} {version} is a {kind}, which is run by the validation gate, not installed")]
    WrongKind {
        name: ComponentName,
        version: Version,
        kind: &'static str,
    },
    #[error("{name} {version} is blocklisted on this host ({reason}); installing it needs --force")]
    Blocklisted {
        name: ComponentName,
        version: Version,
        reason: String,
    },
    #[error(
        "{name} {version}: {in_flight} calls were still in flight on the old version after \
         {waited:?}; the install was aborted and nothing changed"
    )]
    DrainTimeout {
        name: ComponentName,
        version: Version,
        in_flight: u64,
        waited: std::time::Duration,
    },
    #[error("{name} has no rollback point: no earlier version was verified and run on this host")]
    NoRollbackPoint { name: ComponentName },
    #[error("{component}: lifecycle.{step} failed: {reason}")]
    Lifecycle {
        component: String,
        step: &'static str,
        reason: String,
    },
    /// The candidate imports interfaces the running version did not: a capability
    /// escalation, held until an operator approves it.
    #[error(
        "{name} {version} asks for capabilities the running version does not have ({}); \
         it is held for approval: run `anya approve {name} {version}` or install with --force",
        imports.join(", ")
    )]
    NeedsApproval {
        name: ComponentName,
        version: Version,
        imports: Vec<String>,
    },
    /// The candidate's WIT breaks the running version's exports, without a major version
    /// bump.
    #[error(
        "{name} {version} breaks the exports of {running} without a major version bump: {}; \
         installing it needs --force",
        breaking.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    BreakingWithoutMajor {
        name: ComponentName,
        version: Version,
        running: Version,
        /// Each export that broke (`anya:bitcoin/address.decode`) and what changed.
        breaking: Box<[crate::compat::Breaking]>,
    },
    /// A component's WIT could not be read for the compatibility check.
    #[error("{component}: {source}")]
    Wit {
        component: String,
        #[source]
        source: crate::compat::CompatError,
    },
    /// `approve` of a package that asks for nothing new.
    #[error(
        "{name} {version} imports nothing that the running {running} does not; there is \
         nothing to approve"
    )]
    NothingToApprove {
        name: ComponentName,
        version: Version,
        running: Version,
    },
    /// The validation gate refused the candidate: a validator failed or could not run,
    /// or a BIP is not proven. Not overridable by `--force`.
    #[error("{candidate} failed validation: {}", problems.join("; "))]
    ValidationFailed {
        candidate: String,
        problems: Vec<String>,
    },
    /// The swapped-in version failed its post-install check and was rolled back.
    #[error(
        "{candidate} failed its post-install check and was rolled back to {rolled_back_to}: \
         {reason}"
    )]
    PostInstallCheck {
        /// `name version`.
        candidate: String,
        rolled_back_to: Version,
        reason: String,
    },
    /// The components an update touches depend on each other in a circle.
    #[error("dependency cycle: {cycle}")]
    DependencyCycle { cycle: String },
    /// The update leaves a requirement unmet: a candidate's dependency, or an installed
    /// dependent's.
    #[error("unmet dependencies: {}; installing anyway needs --force", problems.join("; "))]
    UnmetDependencies { problems: Vec<String> },
    /// A multi-component update failed, and undoing the installs already made failed too.
    #[error(
        "{cause}; undoing the installs already made failed too: {}",
        failures.join("; ")
    )]
    UndoFailed {
        cause: String,
        failures: Vec<String>,
    },
    /// One component named twice in one install.
    #[error("{name} is named more than once in one install")]
    DuplicateRequest { name: ComponentName },
    #[error("{component}: {source}")]
    Call {
        component: ComponentName,
        #[source]
        source: CallError,
    },
}

impl UpdateError {
    /// The process exit code the CLI uses for this error (see the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { .. } | Self::Mismatch { .. } | Self::WrongKind { .. } => 3,
            Self::NotInstalled { .. }
            | Self::NotInRegistry { .. }
            | Self::NoRollbackPoint { .. } => 4,
            Self::Registry(e) => e.exit_code(),
            Self::BelowWatermark { .. }
            | Self::NotNewer { .. }
            | Self::Blocklisted { .. }
            | Self::NeedsApproval { .. }
            | Self::BreakingWithoutMajor { .. }
            | Self::UnmetDependencies { .. } => 5,
            Self::DependencyCycle { .. } => 3,
            Self::DuplicateRequest { .. } => 2,
            Self::Wit { .. } => 3,
            Self::Store(StoreError::Locked { .. }) => 6,
            Self::ValidationFailed { .. } | Self::PostInstallCheck { .. } => 7,
            _ => 1,
        }
    }
}
