//! The validation gate: the validators a candidate must pass (those its manifest names and
//! those the policy attaches), fetched from the registry and verified like any package,
//! run in the sandbox against the candidate; and whether every BIP the candidate claims
//! or the policy requires is proven by a passing validator that declares it.
//!
//! The gate never changes the state folder: it reads the registry, compiles (the compile
//! cache is derived data) and runs code in throwaway stores with in-memory key-value data.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;

use super::{UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::manifest::{Bip, Kind};
use crate::package::VerifiedPackage;
use crate::runtime::{CallContext, LoadedComponent, LoadedValidator, ValidationReport};
use crate::store::ValidationSummary;

/// Which validators run, from the policy (`[testing]` and `[components.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationOptions {
    /// Run the validators before activation (`testing.pre_update_tests`). When false,
    /// only validators that prove a BIP the policy requires run: a required BIP is
    /// always proven.
    pub pre_update_tests: bool,
    /// After the swap, check `lifecycle.health` and run the post-install validators
    /// before the install is committed (`testing.post_update_validation`).
    pub post_update_validation: bool,
    /// The longest the validators of one candidate may run together
    /// (`testing.test_timeout_minutes`); each run is also bounded by the call limits.
    pub timeout: Duration,
    /// Per component: what the policy attaches.
    pub components: std::collections::BTreeMap<ComponentName, ComponentValidation>,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            pre_update_tests: true,
            post_update_validation: true,
            timeout: Duration::from_secs(15 * 60),
            components: std::collections::BTreeMap::new(),
        }
    }
}

/// What the policy attaches to one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentValidation {
    /// Validators run before activation, besides those the manifest names.
    pub validators: Vec<ComponentName>,
    /// Validators run against the swapped-in version, before it is committed.
    pub post_install: Vec<ComponentName>,
    /// BIPs that must be proven (`bip_compliance_required`).
    pub bips_required: Vec<Bip>,
    /// At least one validator must run and pass (`model_validation_required`).
    pub validation_required: bool,
    /// Refuse a breaking WIT change without a major version bump
    /// (`protocol_compatibility_check`, default true).
    pub protocol_compatibility_check: bool,
}

impl Default for ComponentValidation {
    fn default() -> Self {
        Self {
            validators: Vec::new(),
            post_install: Vec::new(),
            bips_required: Vec::new(),
            validation_required: false,
            protocol_compatibility_check: true,
        }
    }
}

/// A validator that was named but could not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UnavailableValidator {
    pub name: ComponentName,
    pub reason: String,
}

/// Whether one BIP is proven for a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BipProof {
    pub bip: Bip,
    /// Listed in the candidate's `bip_compliance`.
    pub claimed: bool,
    /// Listed in the policy's `bip_compliance_required` for the component.
    pub required: bool,
    /// The passing validators (`name version`) that declare it.
    pub proven_by: Vec<String>,
    /// Validators that declare it and failed.
    pub failed_by: Vec<String>,
}

impl BipProof {
    pub fn proven(&self) -> bool {
        !self.proven_by.is_empty()
    }
}

/// Everything the gate found about one candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    /// The candidate, as `name version`.
    pub candidate: String,
    pub digest: Digest,
    pub at: Timestamp,
    /// Why validators were left out, when some were.
    pub skipped: Option<String>,
    /// One report per validator that ran, in order.
    pub runs: Vec<ValidationReport>,
    pub unavailable: Vec<UnavailableValidator>,
    pub bips: Vec<BipProof>,
    /// The policy requires at least one passing validator (`model_validation_required`).
    pub validation_required: bool,
    /// Validators ran as the policy's `testing.pre_update_tests` asks: when false, a BIP
    /// the manifest claims (and the policy does not require) is reported, not enforced.
    pub pre_update_tests: bool,
}

impl GateReport {
    /// Every validator that ran passed, every one named could run, every BIP is proven.
    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }

    /// Each reason the gate refuses the candidate, naming the validator, the failed
    /// cases or the unproven BIP.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for u in &self.unavailable {
            out.push(format!("validator {}: {}", u.name, u.reason));
        }
        for run in &self.runs {
            if let Some(failure) = &run.failure {
                out.push(failure.clone());
                continue;
            }
            let failed: Vec<String> = run
                .failed_cases()
                .map(|c| {
                    if c.detail.is_empty() {
                        format!("{:?}", c.name)
                    } else {
                        format!("{:?} ({})", c.name, c.detail)
                    }
                })
                .collect();
            if !failed.is_empty() {
                const SHOWN: usize = 5;
                let more = failed.len().saturating_sub(SHOWN);
                out.push(format!(
                    "{} against {}: {} of {} cases failed: {}{}",
                    run.validator,
                    run.candidate,
                    failed.len(),
                    run.cases.len(),
                    failed[..failed.len().min(SHOWN)].join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ));
            }
        }
        if self.validation_required && !self.runs.iter().any(|r| r.passed) {
            out.push(
                "the policy requires validation (model_validation_required), and no validator \
                 ran and passed"
                    .to_owned(),
            );
        }
        for b in self
            .bips
            .iter()
            .filter(|b| !b.proven() && (b.required || self.pre_update_tests))
        {
            let why = match (b.claimed, b.required) {
                (true, true) => "claimed by the manifest and required by the policy",
                (true, false) => "claimed by the manifest",
                _ => "required by the policy",
            };
            let by = if b.failed_by.is_empty() {
                "no validator that ran declares it".to_owned()
            } else {
                format!(
                    "the validators declaring it failed: {}",
                    b.failed_by.join(", ")
                )
            };
            out.push(format!("BIP {} ({why}) is not proven: {by}", b.bip));
        }
        out
    }

    /// The BIPs a passing validator proved.
    pub fn bips_proven(&self) -> Vec<Bip> {
        self.bips
            .iter()
            .filter(|b| b.proven())
            .map(|b| b.bip)
            .collect()
    }

    /// The brief kept in the state file beside the version.
    pub fn summary(&self) -> ValidationSummary {
        ValidationSummary {
            at: self.at,
            validators: self.runs.iter().map(|r| r.validator.clone()).collect(),
            cases: self.runs.iter().map(|r| r.cases.len()).sum(),
            failed: self
                .runs
                .iter()
                .map(|r| r.failed_cases().count() + usize::from(r.failure.is_some()))
                .sum(),
            bips_proven: self.bips_proven(),
            duration_ms: self
                .runs
                .iter()
                .map(|r| r.duration)
                .sum::<Duration>()
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
            skipped: self.skipped.clone(),
        }
    }
}

impl UpdateManager {
    /// Runs the validation gate on a compiled candidate. Fails only when the host itself
    /// cannot work (the runtime cannot start); every problem of the candidate or of a
    /// validator is in the report.
    pub(super) fn run_gate(
        &self,
        package: &VerifiedPackage,
        candidate: &LoadedComponent,
    ) -> Result<GateReport, UpdateError> {
        let manifest = package.manifest();
        let attached = self
            .options()
            .validation
            .components
            .get(&manifest.name)
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<ComponentName> = Vec::new();
        for name in manifest.validators.iter().chain(&attached.validators) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let pre_update_tests = self.options().validation.pre_update_tests;
        let (runs, unavailable, skipped) = self.run_validators(&names, candidate, |validator| {
            pre_update_tests
                || validator
                    .bip_compliance
                    .iter()
                    .any(|b| attached.bips_required.contains(b))
        })?;
        let skipped = (skipped > 0).then(|| {
            format!(
                "testing.pre_update_tests is false: {skipped} validator(s) that prove no \
                 required BIP did not run"
            )
        });

        let mut bips: Vec<BipProof> = Vec::new();
        for (bip, claimed, required) in manifest
            .bip_compliance
            .iter()
            .map(|b| (*b, true, false))
            .chain(attached.bips_required.iter().map(|b| (*b, false, true)))
        {
            if let Some(existing) = bips.iter_mut().find(|p| p.bip == bip) {
                existing.claimed |= claimed;
                existing.required |= required;
                continue;
            }
            bips.push(BipProof {
                bip,
                claimed,
                required,
                proven_by: Vec::new(),
                failed_by: Vec::new(),
            });
        }
        for (run, declared) in &runs {
            for proof in bips.iter_mut().filter(|p| declared.contains(&p.bip)) {
                if run.passed {
                    proof.proven_by.push(run.validator.clone());
                } else {
                    proof.failed_by.push(run.validator.clone());
                }
            }
        }
        Ok(GateReport {
            candidate: manifest.label(),
            digest: package.digest(),
            at: self.now(),
            skipped,
            runs: runs.into_iter().map(|(run, _)| run).collect(),
            unavailable,
            bips,
            validation_required: attached.validation_required,
            pre_update_tests,
        })
    }

    /// Fetches, verifies, loads and runs each named validator that `select` keeps,
    /// against `candidate`, within the gate's time budget. Returns each run with the BIPs
    /// its validator declares, the validators that could not run, and how many `select`
    /// left out.
    #[allow(clippy::type_complexity)]
    pub(super) fn run_validators(
        &self,
        names: &[ComponentName],
        candidate: &LoadedComponent,
        select: impl Fn(&crate::manifest::Manifest) -> bool,
    ) -> Result<
        (
            Vec<(ValidationReport, Vec<Bip>)>,
            Vec<UnavailableValidator>,
            usize,
        ),
        UpdateError,
    > {
        let started = Instant::now();
        let budget = self.options().validation.timeout;
        let mut runs = Vec::new();
        let mut unavailable = Vec::new();
        let mut skipped = 0;
        for name in names {
            if started.elapsed() > budget {
                unavailable.push(UnavailableValidator {
                    name: name.clone(),
                    reason: format!(
                        "not run: the validators used the whole test timeout ({} s)",
                        budget.as_secs()
                    ),
                });
                continue;
            }
            let validator = match self.fetch_validator(name) {
                Ok(v) => v,
                Err(reason) => {
                    unavailable.push(UnavailableValidator {
                        name: name.clone(),
                        reason,
                    });
                    continue;
                }
            };
            if !select(validator.manifest()) {
                skipped += 1;
                continue;
            }
            let ctx = CallContext::in_memory(candidate.manifest().name.clone());
            let report = self.runtime()?.validate(candidate, &validator, &ctx);
            runs.push((report, validator.manifest().bip_compliance.clone()));
        }
        Ok((runs, unavailable, skipped))
    }

    /// The newest version of validator `name` in the registry, verified and loaded.
    fn fetch_validator(
        &self,
        name: &ComponentName,
    ) -> Result<std::sync::Arc<LoadedValidator>, String> {
        let version = self
            .registry
            .versions(name)
            .map_err(|e| e.to_string())?
            .pop()
            .ok_or_else(|| format!("not in registry {}", self.registry.describe()))?;
        let package = self
            .fetch_verified(name, &version)
            .map_err(|e| e.to_string())?;
        if package.manifest().kind != Kind::Validator {
            return Err(format!(
                "{} is an extension, not a validator",
                package.manifest().label()
            ));
        }
        self.runtime()
            .map_err(|e| e.to_string())?
            .load_validator(&package)
            .map_err(|e| e.to_string())
    }
}
