//! `anya call NAME FUNCTION [JSON-ARGS]`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use anya_host::ids::ComponentName;
use anya_host::store::Access;

use crate::global::Global;

#[derive(Debug, Args)]
pub struct Call {
    /// The installed component.
    name: String,
    /// The exported function: `decode`, or qualified `anya:bitcoin/address#decode`.
    function: String,
    /// The arguments as JSON: an array of the parameters, or the single value of a
    /// one-parameter function. Omit for none.
    args: Option<String>,
}

impl Call {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        let name = ComponentName::parse(&self.name)?;
        let args = match &self.args {
            Some(text) => serde_json::from_str(text)
                .with_context(|| format!("the arguments are not valid JSON: {text}"))?,
            None => serde_json::Value::Null,
        };
        // A call may write the component's key-value data: one writer at a time.
        let manager = global.backend(Access::Write)?;
        let result = manager.call(&name, &self.function, args)?;
        let text = if global.json {
            serde_json::to_string_pretty(&result)?
        } else {
            serde_json::to_string(&result)?
        };
        println!("{text}");
        Ok(ExitCode::SUCCESS)
    }
}
