//! The rollout controller's side of the signed index (`anya rollout …`): the online key
//! moves each component's candidate through its stages, promoting a stage only when an
//! analysis of the fleet's own metrics (the Prometheus HTTP API) passes, aborting when it
//! fails, pausing (never promoting) when Prometheus cannot answer.
//!
//! - [`plan`]: pure edits of a rollout document (start, promote, pause, resume, abort,
//!   re-bind to the current release);
//! - [`analysis`]: an Argo-style analysis (query, success condition, interval, count,
//!   failure limit) and the verdict its measurements give;
//! - [`prometheus`]: the instant-query client;
//! - [`step`](mod@step): one controller step: measure, judge, apply;
//! - [`registry`]: reading the current documents from a registry, sealing and pushing the
//!   next.
//!
//! Hosts never use this module: they accept rollout documents only through
//! [`crate::index`], and each keeps its own automatic rollback, so a fleet's safety never
//! depends on the controller.

pub mod analysis;
pub mod plan;
pub mod prometheus;
pub mod registry;
pub mod step;

pub use analysis::{Analysis, Condition, Measurement, Verdict};
pub use plan::{Promotion, Stages};
pub use prometheus::{Prometheus, PrometheusError};
pub use registry::{Current, RolloutError};
pub use step::{ComponentStep, Readiness, step};
