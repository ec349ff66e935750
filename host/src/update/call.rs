//! `call`: run one exported function of the current version, with JSON in and out
//! ([`UpdateManager::call`]) or with component values ([`UpdateManager::call_values`]).

use super::probation::is_guest_failure;
use super::{UpdateError, UpdateManager};
use crate::ids::ComponentName;
use crate::runtime::{CallContext, CallError, ComponentValue, LoadedComponent, Runtime};

impl UpdateManager {
    /// Calls `function` on the current version of `name`. The call takes the slot's
    /// current version once and runs wholly on it, whatever swap happens meanwhile.
    pub fn call(
        &self,
        name: &ComponentName,
        function: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, UpdateError> {
        self.serve(name, |runtime, loaded, ctx| {
            runtime.call(loaded, ctx, function, args)
        })
        .result
    }

    /// [`call`](Self::call), also saying which version served it (none when no version
    /// was there to serve): what the daemon counts per version, for a staged rollout's
    /// analysis.
    pub fn call_served(
        &self,
        name: &ComponentName,
        function: &str,
        args: serde_json::Value,
    ) -> Served<serde_json::Value> {
        self.serve(name, |runtime, loaded, ctx| {
            runtime.call(loaded, ctx, function, args)
        })
    }

    /// [`call`](Self::call) with component values: no JSON on the way in or out, for
    /// embedders that hold typed data. The arguments are checked against the function's
    /// parameter types.
    pub fn call_values(
        &self,
        name: &ComponentName,
        function: &str,
        args: &[ComponentValue],
    ) -> Result<Vec<ComponentValue>, UpdateError> {
        self.serve(name, |runtime, loaded, ctx| {
            runtime.call_values(loaded, ctx, function, args)
        })
        .result
    }

    /// Runs `call` on the current version of `name`, counted in flight for swaps and
    /// drains, its outcome recorded for a version on trial.
    fn serve<T>(
        &self,
        name: &ComponentName,
        call: impl FnOnce(&Runtime, &LoadedComponent, &CallContext) -> Result<T, CallError>,
    ) -> Served<T> {
        let entry = match self.serving_entry(name) {
            Ok(entry) => entry,
            Err(e) => return Served::unserved(e),
        };
        let _in_flight = entry.slot.enter();
        let serving = entry.slot.current_guard();
        let version = Some(serving.loaded.manifest().version.clone());
        let runtime = match self.runtime() {
            Ok(runtime) => runtime,
            Err(e) => return Served::unserved(e),
        };
        let ctx = entry.context(self.call_mode(name, &serving.loaded));
        let result = call(runtime, &serving.loaded, ctx);
        let failed = matches!(&result, Err(e) if is_guest_failure(e));
        self.record_outcome(name, &serving, failed);
        Served {
            version,
            result: result.map_err(|source| UpdateError::Call {
                component: name.clone(),
                source,
            }),
        }
    }
}

/// A call's result and the version that served it.
#[derive(Debug)]
pub struct Served<T> {
    /// None when the call failed before any version was chosen (not installed, …).
    pub version: Option<semver::Version>,
    pub result: Result<T, UpdateError>,
}

impl<T> Served<T> {
    fn unserved(e: UpdateError) -> Self {
        Self {
            version: None,
            result: Err(e),
        }
    }
}
