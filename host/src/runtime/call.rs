//! A call by function name with JSON arguments: a fresh instance in a fresh store, the
//! arguments converted by the function's types, the result converted back.
//!
//! Invariant: nothing the guest does escapes as a panic or a poisoned host: every way a
//! call can end badly becomes a [`CallError`], and the store with its instance is dropped.

use serde_json::Value;
use wasmtime::Trap;
use wasmtime::component::{Type, Val};

use super::component::LoadedComponent;
use super::error::{CallError, chain};
use super::exports::{Function, Resolved, resolve};
use super::json;
use super::limits::LimitHit;
use super::store::new_store;
use super::{CallContext, Runtime};

/// What identifies a call in its errors.
struct Site<'a> {
    component: String,
    function: &'a str,
}

impl Runtime {
    /// Calls `function` of `loaded` with `args` (a JSON array of the parameters, the one
    /// value of a one-parameter function, or `null` for none) in a fresh instance, and
    /// returns the result as JSON (`null` for a function without result).
    pub fn call(
        &self,
        loaded: &LoadedComponent,
        ctx: &CallContext,
        function: &str,
        args: Value,
    ) -> Result<Value, CallError> {
        let component = loaded.manifest.label();
        let func = match resolve(&loaded.exports, function) {
            Resolved::Found(i) => &loaded.functions[i],
            Resolved::Missing => {
                return Err(CallError::NoSuchFunction {
                    component,
                    function: function.to_owned(),
                    available: loaded.exports.iter().map(|f| f.qualified_name()).collect(),
                });
            }
            Resolved::Ambiguous(candidates) => {
                return Err(CallError::Ambiguous {
                    component,
                    function: function.to_owned(),
                    candidates,
                });
            }
        };
        let qualified = func.export.qualified_name();
        let site = Site {
            component,
            function: &qualified,
        };
        if let Some(reason) = &func.unsupported {
            return Err(CallError::Unsupported {
                component: site.component,
                function: qualified.clone(),
                reason: reason.clone(),
            });
        }
        let params = arguments(func, &args).map_err(|reason| CallError::BadArguments {
            component: site.component.clone(),
            function: qualified.clone(),
            reason,
        })?;

        let mut store = new_store(
            &self.engine,
            ctx.component.clone(),
            ctx.kv.clone(),
            &self.limits,
        )
        .map_err(|e| site.host(&e))?;
        let instance = match loaded.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => {
                return Err(match store.data().sandbox.hit {
                    Some(hit) => site.limit(hit),
                    None => CallError::Instantiate {
                        component: site.component,
                        reason: chain(&e),
                    },
                });
            }
        };
        let wasm_func = instance
            .get_func(&mut store, func.index)
            .ok_or_else(|| site.host_msg("the export disappeared from the instance"))?;
        let mut results = vec![Val::Bool(false); func.results.len()];
        if let Err(e) = wasm_func.call(&mut store, &params, &mut results) {
            return Err(self.classify(&site, &e, store.data().sandbox.hit));
        }
        drop(store);

        let json = result_json(&func.results, &results).map_err(|reason| site.host_msg(&reason))?;
        let len = serde_json::to_string(&json).map_or(usize::MAX, |s| s.len());
        if len > self.limits.result_json_bytes {
            return Err(CallError::ResultTooLarge {
                component: site.component,
                function: qualified.clone(),
                len,
                limit: self.limits.result_json_bytes,
            });
        }
        Ok(json)
    }

    /// Which of the runtime's limits (or which trap) ended a call.
    fn classify(
        &self,
        site: &Site<'_>,
        error: &wasmtime::Error,
        hit: Option<LimitHit>,
    ) -> CallError {
        if let Some(hit) = hit {
            return site.limit(hit);
        }
        let trap = error
            .downcast_ref::<Trap>()
            .or_else(|| error.chain().find_map(|e| e.downcast_ref::<Trap>()));
        let component = site.component.clone();
        let function = site.function.to_owned();
        match trap {
            Some(Trap::OutOfFuel) => CallError::OutOfFuel {
                component,
                function,
                fuel: self.limits.fuel,
            },
            Some(Trap::Interrupt) => CallError::DeadlineExceeded {
                component,
                function,
                deadline: self.limits.deadline,
            },
            Some(trap) => {
                tracing::debug!(component, function, error = ?error, "call trapped");
                CallError::Trap {
                    component,
                    function,
                    reason: trap.to_string(),
                }
            }
            // Not a trap code: an error raised by a host function (WASI included).
            None => CallError::Trap {
                component,
                function,
                reason: chain(error),
            },
        }
    }
}

impl Site<'_> {
    fn limit(&self, hit: LimitHit) -> CallError {
        let component = self.component.clone();
        let function = self.function.to_owned();
        match hit {
            LimitHit::Memory { desired, limit } => CallError::MemoryLimit {
                component,
                function,
                limit,
                desired,
            },
            LimitHit::Table { desired, limit } => CallError::TableLimit {
                component,
                function,
                limit,
                desired,
            },
        }
    }

    fn host(&self, error: &wasmtime::Error) -> CallError {
        self.host_msg(&chain(error))
    }

    fn host_msg(&self, reason: &str) -> CallError {
        CallError::Host {
            component: self.component.clone(),
            function: self.function.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// The parameters of `func` from the JSON arguments.
///
/// A one-parameter function takes the value itself; when that does not fit and the JSON
/// is a one-element array, the element (so `["x"]` works like `"x"` for a string, while
/// `["x"]` stays a list for a `list<string>` parameter). Several parameters take an array
/// in order or an object keyed by parameter name.
pub(super) fn arguments(func: &Function, args: &Value) -> Result<Vec<Val>, String> {
    let names: Vec<&str> = func.export.params.iter().map(|(n, _)| n.as_str()).collect();
    let param = |i: usize, json: &Value| {
        json::to_val(&func.params[i], json)
            .map_err(|reason| format!("parameter {:?}: {reason}", names[i]))
    };
    match (func.params.len(), args) {
        (0, Value::Null) => Ok(vec![]),
        (0, Value::Array(items)) if items.is_empty() => Ok(vec![]),
        (0, other) => Err(format!(
            "the function takes no arguments, found {}",
            json::describe(other)
        )),
        (1, json) => match (param(0, json), json) {
            (Ok(v), _) => Ok(vec![v]),
            (Err(_), Value::Array(items)) if items.len() == 1 && param(0, &items[0]).is_ok() => {
                Ok(vec![param(0, &items[0])?])
            }
            (Err(e), _) => Err(e),
        },
        (n, Value::Array(items)) => {
            if items.len() != n {
                return Err(format!(
                    "expected {n} arguments ({}), found {}",
                    names.join(", "),
                    items.len()
                ));
            }
            items.iter().enumerate().map(|(i, j)| param(i, j)).collect()
        }
        (n, Value::Object(object)) => {
            if let Some(unknown) = object.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(format!(
                    "unknown parameter {unknown:?} (parameters: {})",
                    names.join(", ")
                ));
            }
            (0..n)
                .map(|i| {
                    let json = object
                        .get(names[i])
                        .ok_or_else(|| format!("missing parameter {:?}", names[i]))?;
                    param(i, json)
                })
                .collect()
        }
        (n, other) => Err(format!(
            "expected an array of {n} arguments ({}) or an object keyed by their names, found {}",
            names.join(", "),
            json::describe(other)
        )),
    }
}

/// The JSON of a call's results: `null` for none, the value for one.
fn result_json(types: &[Type], results: &[Val]) -> Result<Value, String> {
    match (types, results) {
        ([], []) => Ok(Value::Null),
        ([ty], [val]) => json::from_val(ty, val),
        _ => types
            .iter()
            .zip(results)
            .map(|(t, v)| json::from_val(t, v))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}
