//! The closed sets of label values. Every label except `component`, `version` and `digest`
//! takes its value from one of these enums, which keeps the number of series bounded.

use std::fmt;

/// Declares a fieldless enum whose variants map to fixed label values.
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The label value this variant is exposed as.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

label_enum! {
    /// Who started an update: the `trigger` label of `anya_updates_total`.
    pub enum Actor {
        /// A person, through the CLI or the control API.
        Operator => "operator",
        /// The auto-update loop.
        Scheduler => "scheduler",
    }
}

label_enum! {
    /// Why an update did not end installed: the `reason` label of
    /// `anya_update_failures_total`.
    pub enum FailureReason {
        /// The package's signatures did not verify.
        Verification => "verification",
        /// The update policy forbids it.
        Policy => "policy",
        /// The WIT, capability or semver compatibility check failed.
        Compatibility => "compatibility",
        /// A validator component rejected it.
        Validation => "validation",
        /// It could not be compiled, instantiated or swapped in.
        Activation => "activation",
        /// The check after installing it failed.
        PostInstallCheck => "post_install_check",
        /// In-flight calls on the old version did not drain in time.
        DrainTimeout => "drain_timeout",
        /// Anything else (store, registry, I/O errors).
        Other => "other",
    }
}

label_enum! {
    /// Why a version was rolled back: the `reason` label of `anya_rollbacks_total`.
    pub enum RollbackReason {
        /// An operator asked for it.
        Operator => "operator",
        /// Too many calls failed during the trial period.
        TrialFailureRate => "trial_failure_rate",
        /// A health check failed.
        Health => "health",
        /// The check right after installing failed.
        PostInstallCheck => "post_install_check",
        /// Recovery at start-up from an interrupted update.
        Recovery => "recovery",
        /// The signed index sent the host down: its rollout was aborted, or the running
        /// version revoked.
        Index => "index",
    }
}

label_enum! {
    /// How one call into a component ended: the `outcome` label of `anya_calls_total`.
    /// The guest-failure kinds are also counted in `anya_traps_total`.
    pub enum CallOutcome {
        /// The call returned normally (including a guest `ok` result).
        Ok => "ok",
        /// The call failed without a trap: a guest `err` result, bad arguments, no such
        /// function, instantiation failure.
        Error => "error",
        /// The guest trapped (unreachable, out-of-bounds access, abort, ...).
        Trap => "trap",
        /// The guest ran out of fuel.
        OutOfFuel => "out_of_fuel",
        /// The call's deadline (epoch interruption) passed.
        Deadline => "deadline",
        /// The guest hit its memory or table limit.
        MemoryLimit => "memory_limit",
    }
}

impl CallOutcome {
    /// The `kind` label of `anya_traps_total` for the guest-failure outcomes, `None` for
    /// [`CallOutcome::Ok`] and [`CallOutcome::Error`].
    pub const fn trap_kind(self) -> Option<&'static str> {
        match self {
            Self::Ok | Self::Error => None,
            Self::Trap | Self::OutOfFuel | Self::Deadline | Self::MemoryLimit => {
                Some(self.as_str())
            }
        }
    }
}

label_enum! {
    /// Why a package failed verification: the `reason` label of
    /// `anya_verification_failures_total`.
    pub enum VerificationReason {
        /// A signature is malformed or does not verify.
        Signature => "signature",
        /// The signing key is not in the trust store, or may not sign this name.
        UntrustedKey => "untrusted_key",
        /// Fewer trusted signatures than the threshold.
        Threshold => "threshold",
        /// The content digest does not match.
        Digest => "digest",
        /// The embedded manifest is missing or invalid.
        Manifest => "manifest",
        /// The file is not a well-formed component package.
        Format => "format",
        /// The package exceeds the size limit.
        TooLarge => "too_large",
        /// The package is not what its place says (name or version mismatch).
        Mismatch => "mismatch",
    }
}

label_enum! {
    /// What the scheduler decided about an available update: the `decision` label of
    /// `anya_scheduler_decisions_total`.
    pub enum Decision {
        /// Installed now.
        Installed => "installed",
        /// Waits for the next maintenance window or a free update slot.
        Deferred => "deferred",
        /// Waits for an operator's approval.
        HeldForApproval => "held_for_approval",
        /// Refused by policy.
        Refused => "refused",
        /// Not applicable (auto-install off for this type or component, already current).
        Skipped => "skipped",
    }
}

/// How an update attempt ended: the `outcome` label of `anya_updates_total`. Every outcome
/// but [`UpdateOutcome::Installed`] carries the reason counted in
/// `anya_update_failures_total`, so one call records the whole attempt consistently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateOutcome {
    /// The new version is active.
    Installed,
    /// The candidate was rejected before anything changed (verification, policy,
    /// compatibility, validation).
    Refused(FailureReason),
    /// Installing failed and nothing changed.
    Failed(FailureReason),
    /// The new version was activated, then the pipeline put the previous one back.
    RolledBack(FailureReason),
}

impl UpdateOutcome {
    /// The `outcome` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
            Self::RolledBack(_) => "rolled_back",
        }
    }

    /// The failure reason, `None` when installed.
    pub const fn failure_reason(self) -> Option<FailureReason> {
        match self {
            Self::Installed => None,
            Self::Refused(r) | Self::Failed(r) | Self::RolledBack(r) => Some(r),
        }
    }
}

impl fmt::Display for UpdateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The update types a manifest can declare (`update_type`), sorted. Anything else is
/// exposed as [`UNKNOWN_UPDATE_TYPE`].
pub const UPDATE_TYPES: &[&str] = &[
    "bugfix",
    "dependency",
    "feature",
    "performance",
    "protocol",
    "security",
];

/// The `type` label value for an update type outside [`UPDATE_TYPES`] (or none known, for
/// example a package whose manifest did not parse).
pub const UNKNOWN_UPDATE_TYPE: &str = "unknown";

/// Clamps an update type to the closed set, so a caller cannot create unbounded series.
pub(crate) fn update_type_label(update_type: &str) -> &'static str {
    UPDATE_TYPES
        .iter()
        .copied()
        .find(|known| *known == update_type)
        .unwrap_or(UNKNOWN_UPDATE_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_label_value(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    }

    #[test]
    fn label_values_are_short_snake_case_and_distinct() {
        fn check(values: &[&str]) {
            let set: HashSet<_> = values.iter().collect();
            assert_eq!(set.len(), values.len(), "duplicate in {values:?}");
            for v in values {
                assert!(is_label_value(v) && v.len() <= 24, "{v:?}");
            }
        }
        check(&Actor::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>());
        check(
            &FailureReason::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
        );
        check(
            &RollbackReason::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
        );
        check(
            &CallOutcome::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
        );
        check(
            &VerificationReason::ALL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>(),
        );
        check(&Decision::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>());
        check(UPDATE_TYPES);
    }

    #[test]
    fn call_outcome_discriminants_index_all() {
        for (i, o) in CallOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        let traps: Vec<_> = CallOutcome::ALL
            .iter()
            .filter_map(|o| o.trap_kind())
            .collect();
        assert_eq!(traps, ["trap", "out_of_fuel", "deadline", "memory_limit"]);
    }

    #[test]
    fn update_types_are_clamped() {
        assert!(UPDATE_TYPES.is_sorted());
        assert_eq!(update_type_label("security"), "security");
        assert_eq!(update_type_label("Security"), "unknown");
        assert_eq!(update_type_label(""), "unknown");
        assert_eq!(update_type_label("x\"y"), "unknown");
    }

    #[test]
    fn update_outcome_labels() {
        assert_eq!(UpdateOutcome::Installed.as_str(), "installed");
        assert_eq!(UpdateOutcome::Installed.failure_reason(), None);
        let o = UpdateOutcome::RolledBack(FailureReason::PostInstallCheck);
        assert_eq!(o.to_string(), "rolled_back");
        assert_eq!(o.failure_reason(), Some(FailureReason::PostInstallCheck));
    }
}

label_enum! {
    /// Which signed index document a host refused: the `document` label of
    /// `anya_index_refusals_total`.
    pub enum IndexDocument {
        /// The release index (offline keys).
        Release => "release",
        /// The rollout document (online key).
        Rollout => "rollout",
    }
}

label_enum! {
    /// Why a host refused its signed index: the `reason` label of
    /// `anya_index_refusals_total`. Each freezes the host: it serves on, installs nothing.
    pub enum IndexRefusal {
        /// The registry holds none.
        Missing => "missing",
        /// Over the size cap (endless data).
        TooLarge => "too_large",
        /// Too few valid signatures by the role's keys.
        Signatures => "signatures",
        /// Not a document of its kind.
        Malformed => "malformed",
        /// Older than one accepted before.
        Rollback => "rollback",
        /// Other content under a version accepted before.
        Equivocation => "equivocation",
        /// Past its expiry (freeze).
        Expired => "expired",
        /// A rollout document over another release.
        MixAndMatch => "mix_and_match",
        /// A rollout naming a version the release does not list or revoked.
        NotReleased => "not_released",
        /// A key hand-over the new keys did not sign.
        Rotation => "rotation",
    }
}
