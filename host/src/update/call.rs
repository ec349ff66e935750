//! `call`: run one exported function of the active version, with JSON in and out.

use std::sync::Arc;

use super::{UpdateError, UpdateManager};
use crate::ids::ComponentName;
use crate::runtime::CallContext;

impl UpdateManager {
    /// Calls `function` on the active version of `name`, in a fresh sandboxed instance.
    pub fn call(
        &self,
        name: &ComponentName,
        function: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, UpdateError> {
        let state = self.store.load_state()?;
        let component = state
            .components
            .get(name)
            .ok_or_else(|| UpdateError::NotInstalled { name: name.clone() })?;
        let package = self.load_installed(name, component.active.digest)?;
        let loaded = self.runtime()?.load(&package)?;
        let ctx = CallContext {
            component: name.clone(),
            kv: Arc::new(self.store.kv(name)),
        };
        self.runtime()?
            .call(&loaded, &ctx, function, args)
            .map_err(|source| UpdateError::Call {
                component: name.clone(),
                source,
            })
    }
}
