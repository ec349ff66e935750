//! Runs a validator component against a candidate in one sandboxed store: the
//! validator's imports of the interfaces under test are forwarded to the candidate's
//! exports, then `anya:validator/suite.run` is called and its answer read.
//!
//! Invariants:
//! - One store per validation run, holding the candidate and the validator instances (a
//!   trap poisons every instance of a store, so a store is never reused). Fuel and the
//!   epoch deadline are set before anything is instantiated, and they meter the candidate
//!   and the validator together.
//! - The candidate must export every function the validator imports from a tested
//!   interface, with the same parameter and result types (checked before anything runs:
//!   export lookup is semver-aware, so a changed type under a kept version would
//!   otherwise fail mid-run).
//! - The answer is capped in size: the store's hostcall fuel bounds the bytes wasmtime
//!   copies out of the guest (so an answer whose records all point at one large string
//!   cannot make the host allocate without bound), then the case count is checked.
//! - Every way a run can end badly is a failed [`ValidationReport`] with its reason; the
//!   host keeps serving.

use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::Trap;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{ComponentExportIndex, ComponentType, InstancePre, Lift, Linker, Type};

use super::component::{LoadedComponent, Origin};
use super::error::{RuntimeError, chain};
use super::json;
use super::limits::LimitHit;
use super::store::{StoreData, new_store};
use super::{CallContext, Runtime};
use crate::ids::Digest;
use crate::manifest::Manifest;
use crate::package::VerifiedPackage;

/// The interface every validator exports, without its version.
const SUITE_INTERFACE: &str = "anya:validator/suite";
/// The major version of [`SUITE_INTERFACE`] this host speaks.
const SUITE_MAJOR: u64 = 1;
/// Most cases one validator may report.
pub const MAX_CASES: usize = 10_000;

/// A validator ready to run: compiled, with its imports of the interfaces under test
/// forwarded and everything else linked to the host's own imports.
pub struct LoadedValidator {
    digest: Digest,
    manifest: Manifest,
    origin: Origin,
    pre: InstancePre<StoreData>,
    /// The imported functions forwarded to the candidate, in the order of the indices
    /// the forwarding closures were given.
    forwards: Vec<Forward>,
    /// `suite.run`.
    run: ComponentExportIndex,
}

/// One function the validator imports from an interface under test.
struct Forward {
    /// The import's name (`anya:bitcoin/address@1.0.0`).
    interface: String,
    function: String,
    params: Vec<Type>,
    results: Vec<Type>,
}

impl LoadedValidator {
    /// The sha256 of the package this was compiled from.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether this load compiled the code or read it from the cache.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The interfaces under test (imports forwarded to the candidate), each once.
    pub fn tested_interfaces(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in &self.forwards {
            if !out.contains(&f.interface) {
                out.push(f.interface.clone());
            }
        }
        out
    }
}

impl std::fmt::Debug for LoadedValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedValidator")
            .field("validator", &self.manifest.label())
            .field("digest", &self.digest)
            .field("tested", &self.tested_interfaces())
            .finish_non_exhaustive()
    }
}

/// The outcome of one validator against one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    /// The validator, as `name version`.
    pub validator: String,
    /// The candidate, as `name version`.
    pub candidate: String,
    /// True only if the run completed, reported at least one case, and every case passed.
    pub passed: bool,
    /// Every case the validator reported, in its order (empty when the run failed).
    pub cases: Vec<CaseResult>,
    /// Why the run itself failed (not a failed case), if it did.
    pub failure: Option<String>,
    /// Which kind of failure that was.
    pub failure_kind: Option<FailureKind>,
    /// Wall-clock time of the run, instantiation included.
    pub duration: Duration,
}

impl ValidationReport {
    /// The cases that failed.
    pub fn failed_cases(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases.iter().filter(|c| !c.passed)
    }
}

/// One case a validator reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Why a validation run failed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The candidate lacks a function the validator imports.
    MissingExport,
    /// The candidate exports it with other parameter or result types.
    TypeMismatch,
    /// The candidate or the validator could not be instantiated.
    Instantiate,
    /// The validator (or the candidate, called by it) trapped.
    Trap,
    /// It recursed until the call stack was exhausted.
    StackOverflow,
    /// The run used all of its fuel.
    OutOfFuel,
    /// The run passed its wall-clock deadline.
    Deadline,
    /// A linear memory grew past the limit.
    MemoryLimit,
    /// A table grew past the limit.
    TableLimit,
    /// The answer has too many cases or too many bytes.
    OversizedAnswer,
    /// The answer could not be read (bad pointers, invalid UTF-8, wrong type).
    MalformedAnswer,
    /// The validator reported no case at all.
    NoCases,
    /// The host failed in a way that is not the guest's fault.
    Host,
}

/// `anya:validator/suite.case-result`, as copied out of the validator.
#[derive(ComponentType, Lift)]
#[component(record)]
struct CaseRecord {
    name: String,
    passed: bool,
    detail: String,
}

/// The text wasmtime's error has when a copy out of a guest exceeds the store's hostcall
/// fuel (its type is private).
const HOSTCALL_FUEL_EXHAUSTED: &str = "too much data is being copied";

fn oversized(limit: usize) -> Failure {
    Failure::new(
        FailureKind::OversizedAnswer,
        format!("the answer is over the limit of {limit} bytes"),
    )
}

/// A run that failed as a whole.
struct Failure {
    kind: FailureKind,
    reason: String,
}

impl Failure {
    fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

impl Runtime {
    /// Compiles a validator package (once per digest in the compile cache) and links it:
    /// WASI (denied) and `anya:host` as for any component, and each other import (an
    /// interface under test) forwarded to whatever candidate a run gives it.
    pub fn load_validator(
        &self,
        package: &VerifiedPackage,
    ) -> Result<std::sync::Arc<LoadedValidator>, RuntimeError> {
        let digest = package.digest();
        let label = package.manifest().label();
        let (component, origin) = match self.load_cached(&digest, &label) {
            Some(component) => (component, Origin::Cached),
            None => (self.compile(package, &label)?, Origin::Compiled),
        };
        let link = |reason: String| RuntimeError::Link {
            component: label.clone(),
            reason,
        };
        let ty = component.component_type();
        let mut forwards = Vec::new();
        for (name, item) in ty.imports(&self.engine) {
            if is_host_provided(name) {
                continue;
            }
            let ComponentItem::ComponentInstance(instance) = item.ty else {
                return Err(link(format!(
                    "import {name:?} is not an interface the host can forward to a candidate"
                )));
            };
            for (function, item) in instance.exports(&self.engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(func) => forwards.push(Forward {
                        interface: name.to_owned(),
                        function: function.to_owned(),
                        params: func.params().map(|(_, t)| t).collect(),
                        results: func.results().collect(),
                    }),
                    ComponentItem::Type(_) => {}
                    _ => {
                        return Err(link(format!(
                            "{name}#{function}: only functions of an interface under test can be forwarded"
                        )));
                    }
                }
            }
        }

        let mut linker: Linker<StoreData> = self.linker.clone();
        for (position, forward) in forwards.iter().enumerate() {
            let mut instance = linker
                .instance(&forward.interface)
                .map_err(|e| link(chain(&e)))?;
            instance
                .func_new(&forward.function, move |mut store, _ty, params, results| {
                    let func = store.data().forward.get(position).copied().ok_or_else(|| {
                        wasmtime::format_err!("no candidate function is wired to this import")
                    })?;
                    func.call(&mut store, params, results)
                })
                .map_err(|e| link(chain(&e)))?;
        }
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            let reason = chain(&e);
            // A WASI interface the host does not link (sockets, HTTP, ...) is a capability
            // no validator is given; say so rather than "not found in the linker".
            match ty
                .imports(&self.engine)
                .map(|(name, _)| name)
                .find(|name| name.starts_with("wasi:") && reason.contains(name))
            {
                Some(wanted) => link(format!(
                    "asks for {wanted}, a capability validators are not given (they run \
                     with no filesystem, network or environment)"
                )),
                None => link(reason),
            }
        })?;
        let run = suite_run(&self.engine, &component)
            .ok_or_else(|| link(format!("exports no {SUITE_INTERFACE}@{SUITE_MAJOR}.x#run")))?;
        tracing::debug!(validator = label, %digest, ?origin, "validator loaded");
        Ok(std::sync::Arc::new(LoadedValidator {
            digest,
            manifest: package.manifest().clone(),
            origin,
            pre,
            forwards,
            run,
        }))
    }

    /// Runs `validator` against `candidate` in a new store under this runtime's limits
    /// (`ctx` gives the candidate's key-value namespace; use a throwaway one). Never
    /// fails: every problem is a failed report with its reason.
    pub fn validate(
        &self,
        candidate: &LoadedComponent,
        validator: &LoadedValidator,
        ctx: &CallContext,
    ) -> ValidationReport {
        let started = Instant::now();
        let outcome = self
            .run_validation(candidate, validator, ctx)
            .and_then(|cases| {
                if cases.is_empty() {
                    Err(Failure::new(
                        FailureKind::NoCases,
                        "the validator reported no case",
                    ))
                } else {
                    Ok(cases)
                }
            });
        let mut report = ValidationReport {
            validator: validator.manifest.label(),
            candidate: candidate.manifest.label(),
            passed: false,
            cases: Vec::new(),
            failure: None,
            failure_kind: None,
            duration: Duration::ZERO,
        };
        match outcome {
            Ok(cases) => {
                report.passed = cases.iter().all(|c| c.passed);
                report.cases = cases;
            }
            Err(failure) => {
                report.failure = Some(format!(
                    "{} against {}: {}",
                    report.validator, report.candidate, failure.reason
                ));
                report.failure_kind = Some(failure.kind);
            }
        }
        report.duration = started.elapsed();
        tracing::info!(
            validator = report.validator,
            candidate = report.candidate,
            passed = report.passed,
            cases = report.cases.len(),
            failed = report.failed_cases().count(),
            failure = report.failure.as_deref().unwrap_or(""),
            duration = ?report.duration,
            "validation run"
        );
        report
    }

    fn run_validation(
        &self,
        candidate: &LoadedComponent,
        validator: &LoadedValidator,
        ctx: &CallContext,
    ) -> Result<Vec<CaseResult>, Failure> {
        let targets = validator
            .forwards
            .iter()
            .map(|f| target(candidate, f))
            .collect::<Result<Vec<usize>, Failure>>()?;

        let host = |e: &wasmtime::Error| Failure::new(FailureKind::Host, chain(e));
        let mut store = new_store(&self.engine, ctx, &self.limits).map_err(|e| host(&e))?;
        let instance = candidate.pre.instantiate(&mut store).map_err(|e| {
            self.failure(
                &e,
                store.data().sandbox.hit,
                "instantiating the candidate",
                true,
            )
        })?;
        let mut funcs = Vec::with_capacity(targets.len());
        for &position in &targets {
            let func = instance
                .get_func(&mut store, candidate.functions[position].index)
                .ok_or_else(|| Failure::new(FailureKind::Host, "a candidate export disappeared"))?;
            funcs.push(func);
        }
        store.data_mut().forward = funcs;

        let instance = validator.pre.instantiate(&mut store).map_err(|e| {
            self.failure(
                &e,
                store.data().sandbox.hit,
                "instantiating the validator",
                true,
            )
        })?;
        let run = instance
            .get_func(&mut store, validator.run)
            .ok_or_else(|| Failure::new(FailureKind::Host, "suite.run disappeared"))?
            .typed::<(), (Vec<CaseRecord>,)>(&store)
            .map_err(|e| {
                Failure::new(
                    FailureKind::MalformedAnswer,
                    format!("suite.run has the wrong type: {}", chain(&e)),
                )
            })?;
        // Bounds what copying the answer (and each forwarded call's data) may allocate
        // in the host: wasmtime charges every byte it copies out of a guest against it.
        store.set_hostcall_fuel(self.limits.result_json_bytes);
        let (records,) = run
            .call(&mut store, ())
            .map_err(|e| self.failure(&e, store.data().sandbox.hit, "suite.run", false))?;
        self.check_answer(records)
    }

    /// The answer, within the caps (the byte cap was enforced while it was copied).
    fn check_answer(&self, records: Vec<CaseRecord>) -> Result<Vec<CaseResult>, Failure> {
        if records.len() > MAX_CASES {
            return Err(Failure::new(
                FailureKind::OversizedAnswer,
                format!(
                    "the answer has {} cases, over the limit of {MAX_CASES}",
                    records.len()
                ),
            ));
        }
        let limit = self.limits.result_json_bytes;
        let bytes = records
            .iter()
            .map(|r| r.name.len().saturating_add(r.detail.len()))
            .fold(0usize, usize::saturating_add);
        if bytes > limit {
            return Err(oversized(limit));
        }
        Ok(records
            .into_iter()
            .map(|r| CaseResult {
                name: r.name,
                passed: r.passed,
                detail: r.detail,
            })
            .collect())
    }

    /// Which limit (or trap) ended a run; `what` says which step.
    fn failure(
        &self,
        error: &wasmtime::Error,
        hit: Option<LimitHit>,
        what: &str,
        instantiating: bool,
    ) -> Failure {
        match hit {
            Some(LimitHit::Memory { desired, limit }) => {
                return Failure::new(
                    FailureKind::MemoryLimit,
                    format!("{what}: memory limit of {limit} bytes exceeded (wanted {desired})"),
                );
            }
            Some(LimitHit::Table { desired, limit }) => {
                return Failure::new(
                    FailureKind::TableLimit,
                    format!("{what}: table limit of {limit} elements exceeded (wanted {desired})"),
                );
            }
            None => {}
        }
        if error
            .chain()
            .any(|e| e.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
        {
            let mut failure = oversized(self.limits.result_json_bytes);
            failure.reason = format!("{what}: {}", failure.reason);
            return failure;
        }
        let trap = error
            .downcast_ref::<Trap>()
            .or_else(|| error.chain().find_map(|e| e.downcast_ref::<Trap>()));
        match trap {
            Some(Trap::OutOfFuel) => Failure::new(
                FailureKind::OutOfFuel,
                format!("{what}: ran out of fuel (limit {})", self.limits.fuel),
            ),
            Some(Trap::Interrupt) => Failure::new(
                FailureKind::Deadline,
                format!(
                    "{what}: exceeded its deadline of {:?}",
                    self.limits.deadline
                ),
            ),
            Some(Trap::StackOverflow) => Failure::new(
                FailureKind::StackOverflow,
                format!("{what}: recursed until the call stack was exhausted"),
            ),
            Some(trap) => Failure::new(FailureKind::Trap, format!("{what}: trapped: {trap}")),
            None if instantiating => Failure::new(
                FailureKind::Instantiate,
                format!("{what}: {}", chain(error)),
            ),
            // An error raised by a host function (WASI, or a forwarded call's own).
            None => Failure::new(FailureKind::Trap, format!("{what}: {}", chain(error))),
        }
    }
}

/// Whether the runtime's base linker provides `import` (WASI, denied, and `anya:host`).
fn is_host_provided(import: &str) -> bool {
    import.starts_with("wasi:") || import.starts_with("anya:host/")
}

/// The index of `suite.run` among the exports of a validator component.
fn suite_run(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Option<ComponentExportIndex> {
    let ty = component.component_type();
    let name = ty.exports(engine).map(|(name, _)| name).find(|name| {
        let (interface, version) = name.split_once('@').unwrap_or((name, ""));
        interface == SUITE_INTERFACE
            && semver::Version::parse(version).is_ok_and(|v| v.major == SUITE_MAJOR)
    })?;
    let instance = component.get_export_index(None, name)?;
    component.get_export_index(Some(&instance), "run")
}

/// The position among `candidate.functions` of the function `forward` is wired to: the
/// same name in an exported interface that satisfies the import (same name, a
/// semver-compatible version, the exact version preferred), with the same types.
fn target(candidate: &LoadedComponent, forward: &Forward) -> Result<usize, Failure> {
    let wanted = format!("{}#{}", forward.interface, forward.function);
    let mut matches: Vec<usize> = candidate
        .functions
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.export.name == forward.function && satisfies(&f.export.interface, &forward.interface)
        })
        .map(|(i, _)| i)
        .collect();
    matches.sort_by_key(|&i| candidate.functions[i].export.interface != forward.interface);
    let Some(&position) = matches.first() else {
        let exports: Vec<String> = candidate
            .exports
            .iter()
            .map(|f| f.qualified_name())
            .collect();
        return Err(Failure::new(
            FailureKind::MissingExport,
            format!(
                "the candidate does not export {wanted}, which the validator imports (its exports: {})",
                if exports.is_empty() {
                    "none".to_owned()
                } else {
                    exports.join(", ")
                }
            ),
        ));
    };
    let found = &candidate.functions[position];
    if found.params != forward.params || found.results != forward.results {
        let text = |params: &[Type], results: &[Type]| {
            format!(
                "func({}) -> ({})",
                params
                    .iter()
                    .map(json::wit_text)
                    .collect::<Vec<_>>()
                    .join(", "),
                results
                    .iter()
                    .map(json::wit_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Failure::new(
            FailureKind::TypeMismatch,
            format!(
                "{wanted}: the validator imports {} but the candidate exports {} as {}",
                text(&forward.params, &forward.results),
                found.export.qualified_name(),
                text(&found.params, &found.results)
            ),
        ));
    }
    Ok(position)
}

/// Whether an export named `export` satisfies an import named `import`: the same
/// interface, and a version that a caret requirement on the import's version accepts.
fn satisfies(export: &str, import: &str) -> bool {
    if export == import {
        return true;
    }
    let (Some((export_name, export_version)), Some((import_name, import_version))) =
        (export.split_once('@'), import.split_once('@'))
    else {
        return false;
    };
    if export_name != import_name {
        return false;
    }
    let (Ok(have), Ok(req)) = (
        semver::Version::parse(export_version),
        semver::VersionReq::parse(&format!("^{import_version}")),
    ) else {
        return false;
    };
    req.matches(&have)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_versions_satisfy_imports_by_caret() {
        let i = "anya:bitcoin/address@1.0.0";
        assert!(satisfies(i, i));
        assert!(satisfies("anya:bitcoin/address@1.1.0", i));
        assert!(!satisfies("anya:bitcoin/address@2.0.0", i));
        assert!(!satisfies("anya:bitcoin/address@0.9.0", i));
        assert!(!satisfies("anya:bitcoin/addresses@1.0.0", i));
        assert!(!satisfies("anya:bitcoin/address", i));
        assert!(!satisfies(
            "anya:bitcoin/address@0.2.0",
            "anya:bitcoin/address@0.1.0"
        ));
        assert!(satisfies(
            "anya:bitcoin/address@0.1.5",
            "anya:bitcoin/address@0.1.0"
        ));
    }

    #[test]
    fn host_imports_are_not_forwarded() {
        assert!(is_host_provided("wasi:cli/environment@0.2.6"));
        assert!(is_host_provided("anya:host/log@1.0.0"));
        assert!(!is_host_provided("anya:bitcoin/address@1.0.0"));
    }
}
