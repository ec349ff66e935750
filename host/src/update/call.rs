//! `call`: run one exported function of the current version, with JSON in and out.

use super::probation::is_guest_failure;
use super::{UpdateError, UpdateManager};
use crate::ids::ComponentName;

impl UpdateManager {
    /// Calls `function` on the current version of `name`. The call takes the slot's
    /// current version once and runs wholly on it, whatever swap happens meanwhile.
    pub fn call(
        &self,
        name: &ComponentName,
        function: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, UpdateError> {
        let entry = self.serving_entry(name)?;
        let _in_flight = entry.slot.enter();
        let serving = entry.slot.current_guard();
        let ctx = entry.context(self.call_mode(name, &serving.loaded));
        let result = self.runtime()?.call(&serving.loaded, ctx, function, args);
        let failed = matches!(&result, Err(e) if is_guest_failure(e));
        self.record_outcome(name, &serving, failed);
        result.map_err(|source| UpdateError::Call {
            component: name.clone(),
            source,
        })
    }
}
