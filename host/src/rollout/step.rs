//! `anya rollout step`: judge each progressing candidate's stage by its analysis, then
//! promote it, abort it, pause it (Prometheus silent) or hold it (no data).

use std::collections::BTreeSet;
use std::time::Duration;

use semver::Version;
use serde::Serialize;

use super::analysis::{Analysis, Measurement, Verdict, verdict};
use super::plan::{self, Promotion};
use super::prometheus::{Prometheus, PrometheusError};
use crate::ids::ComponentName;
use crate::index::{Rollout, RolloutState, Stage, in_cohort};

/// What a step did to one component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStep {
    pub component: ComponentName,
    pub stable: Version,
    pub candidate: Version,
    /// The share the stage was judged at.
    pub basis_points: u16,
    pub query: String,
    /// Whether the stage's hosts ran the candidate when it was judged; `None` when
    /// Prometheus could not say.
    pub readiness: Option<Readiness>,
    pub measurements: Vec<Measurement>,
    pub verdict: Verdict,
    /// The promotion, when the verdict was to promote.
    pub promotion: Option<Promotion>,
}

/// The rollouts a step judges: progressing, with a candidate (of `only`, or all).
pub fn due<'a>(
    document: &'a Rollout,
    only: Option<&'a ComponentName>,
) -> impl Iterator<Item = (&'a ComponentName, &'a Stage)> {
    document.components.iter().filter(move |(name, stage)| {
        only.is_none_or(|o| o == *name)
            && stage.state == RolloutState::Progressing
            && stage.candidate.is_some()
    })
}

/// Runs each progressing rollout's analysis (of `only`, or all) and applies its verdict
/// to `document`. `sleep` waits out the analysis interval (the real one in the binary).
pub fn step(
    document: &mut Rollout,
    prometheus: &Prometheus,
    analysis: &Analysis,
    only: Option<&ComponentName>,
    sleep: &dyn Fn(Duration),
) -> Vec<ComponentStep> {
    let due: Vec<(ComponentName, Stage)> = due(document, only)
        .map(|(name, stage)| (name.clone(), stage.clone()))
        .collect();
    due.into_iter()
        .map(|(name, stage)| {
            let candidate = stage.candidate.clone().expect("filtered on it");
            let query = analysis.query_for(&name, &candidate, &stage.stable);
            let readiness = readiness(prometheus, &name, &stage, &candidate, analysis.fleet_size);
            let (measurements, verdict) = match &readiness {
                Err(error) => (
                    Vec::new(),
                    Verdict::Pause {
                        why: format!("Prometheus did not answer: {error}"),
                    },
                ),
                Ok(Readiness::Empty { hosts }) => (
                    Vec::new(),
                    Verdict::Skip {
                        why: format!("none of the {hosts} hosts Prometheus sees is in this stage"),
                    },
                ),
                Ok(Readiness::Waiting { expected, running }) => (
                    Vec::new(),
                    Verdict::Hold {
                        why: format!(
                            "{running} of the {expected} hosts in this stage run {candidate} \
                             so far"
                        ),
                    },
                ),
                Ok(Readiness::PartialView { seen, fleet }) => (
                    Vec::new(),
                    Verdict::Hold {
                        why: format!("Prometheus sees {seen} of the fleet's {fleet} hosts"),
                    },
                ),
                Ok(Readiness::Unknown | Readiness::Ready { .. }) => {
                    let measurements = measure(prometheus, analysis, &query, sleep);
                    let verdict =
                        verdict(
                        &measurements,
                        analysis.count,
                        analysis.failure_limit,
                        &analysis.success,
                    );
                    (measurements, verdict)
                }
            };
            let promotion = apply(document, &name, &verdict);
            tracing::info!(component = %name, %candidate, basis_points = stage.basis_points, ?verdict, ?promotion, "rollout step");
            ComponentStep {
                component: name,
                stable: stage.stable,
                candidate,
                basis_points: stage.basis_points,
                query,
                readiness: readiness.ok(),
                measurements,
                verdict,
                promotion,
            }
        })
        .collect()
}

/// Whether the hosts a stage holds run the candidate, as the fleet's metrics tell: every
/// host exports its id (`anya_host_info`), from which the controller draws the same
/// cohort the host does, and its running version (`anya_component_info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "readiness")]
pub enum Readiness {
    /// The hosts export no ids: the stage is judged by its data alone.
    Unknown,
    /// None of the `hosts` scraped falls in this stage.
    Empty { hosts: usize },
    /// Only `running` of the stage's `expected` hosts run the candidate so far (they have
    /// not checked yet, or cannot install it).
    Waiting { expected: usize, running: usize },
    /// Every host of the stage runs the candidate.
    Ready { expected: usize },
    /// Prometheus sees fewer hosts than the fleet has (`--fleet-size`).
    PartialView { seen: usize, fleet: usize },
}

fn readiness(
    prometheus: &Prometheus,
    name: &ComponentName,
    stage: &Stage,
    candidate: &Version,
    fleet_size: Option<usize>,
) -> Result<Readiness, PrometheusError> {
    let hosts: BTreeSet<String> = prometheus
        .query_series("anya_host_info")?
        .into_iter()
        .filter_map(|s| s.labels.get("host_id").cloned())
        .collect();
    if let Some(fleet) = fleet_size
        && hosts.len() < fleet
    {
        return Ok(Readiness::PartialView {
            seen: hosts.len(),
            fleet,
        });
    }
    if hosts.is_empty() {
        return Ok(Readiness::Unknown);
    }
    let expected: BTreeSet<&String> = hosts
        .iter()
        .filter(|id| in_cohort(&stage.salt, name, id, stage.basis_points))
        .collect();
    if expected.is_empty() {
        return Ok(Readiness::Empty { hosts: hosts.len() });
    }
    // Names and versions hold no quote: their grammars forbid it.
    let running: BTreeSet<String> = prometheus
        .query_series(&format!(
            "anya_component_info{{component=\"{name}\",version=\"{candidate}\"}} \
             * on(instance) group_left(host_id) anya_host_info"
        ))?
        .into_iter()
        .filter_map(|s| s.labels.get("host_id").cloned())
        .collect();
    let running = expected.iter().filter(|id| running.contains(**id)).count();
    Ok(if running < expected.len() {
        Readiness::Waiting {
            expected: expected.len(),
            running,
        }
    } else {
        Readiness::Ready {
            expected: expected.len(),
        }
    })
}

/// Up to `count` measurements, each after `interval`; stops early once the verdict can
/// no longer be a promotion (too many failures, or Prometheus silent).
fn measure(
    prometheus: &Prometheus,
    analysis: &Analysis,
    query: &str,
    sleep: &dyn Fn(Duration),
) -> Vec<Measurement> {
    let mut measurements = Vec::new();
    for _ in 0..analysis.count.max(1) {
        sleep(analysis.interval);
        let measurement = match prometheus.query(query) {
            Err(e) => Measurement::Unreachable {
                error: e.to_string(),
            },
            Ok(values) => {
                // Every series must meet the condition: the worst one speaks.
                let failing = values
                    .iter()
                    .find(|v| !v.is_nan() && !analysis.success.holds(**v));
                let value = failing.or_else(|| values.iter().find(|v| !v.is_nan()));
                Measurement::of(value.copied(), &analysis.success)
            }
        };
        measurements.push(measurement);
        let failures = measurements
            .iter()
            .filter(|m| matches!(m, Measurement::Failure { .. }))
            .count();
        let silent = matches!(measurements.last(), Some(Measurement::Unreachable { .. }));
        if failures > analysis.failure_limit as usize || silent {
            break;
        }
    }
    measurements
}

/// What `verdict` does to `name`'s stage.
fn apply(document: &mut Rollout, name: &ComponentName, verdict: &Verdict) -> Option<Promotion> {
    let state = match verdict {
        Verdict::Promote | Verdict::Skip { .. } => {
            return plan::promote(document, name).ok();
        }
        Verdict::Abort { .. } => RolloutState::Aborted,
        Verdict::Pause { .. } => RolloutState::Paused,
        Verdict::Hold { .. } => return None,
    };
    plan::set_state(document, name, state).expect("the stage was progressing");
    None
}
