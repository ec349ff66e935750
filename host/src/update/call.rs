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
    }

    /// Runs `call` on the current version of `name`, counted in flight for swaps and
    /// drains, its outcome recorded for a version on trial.
    fn serve<T>(
        &self,
        name: &ComponentName,
        call: impl FnOnce(&Runtime, &LoadedComponent, &CallContext) -> Result<T, CallError>,
    ) -> Result<T, UpdateError> {
        let entry = self.serving_entry(name)?;
        let _in_flight = entry.slot.enter();
        let serving = entry.slot.current_guard();
        let ctx = entry.context(self.call_mode(name, &serving.loaded));
        let result = call(self.runtime()?, &serving.loaded, ctx);
        let failed = matches!(&result, Err(e) if is_guest_failure(e));
        self.record_outcome(name, &serving, failed);
        result.map_err(|source| UpdateError::Call {
            component: name.clone(),
            source,
        })
    }
}
