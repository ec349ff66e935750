//! A call by function name with JSON arguments: the arguments converted by the
//! function's types, the call run in the caller's mode (a fresh instance in a fresh
//! store, or a live instance from the warm pool), the result converted back.
//!
//! Invariant: nothing the guest does escapes as a panic or a poisoned host: every way a
//! call can end badly becomes a [`CallError`], and the store with its instance is dropped
//! (a warm instance too: only one whose call returned normally is reused).

use std::io;

use serde_json::Value;
use wasmtime::Trap;
use wasmtime::component::{Type, Val};

use super::component::LoadedComponent;
use super::error::{CallError, chain};
use super::exports::{Function, Resolved, resolve};
use super::json;
use super::limits::LimitHit;
use super::store::{StoreData, new_store, prepare};
use super::values;
use super::warm::WarmInstance;
use super::{CallContext, CallMode, ComponentValue, Runtime};

/// What identifies a call in its errors. The names are formatted only when an error
/// needs them: a warm call costs well under a microsecond, and two `String`s per call
/// would be a sizeable part of that.
pub(super) struct Site<'a> {
    loaded: &'a LoadedComponent,
    /// The function's position in `loaded.functions`.
    position: usize,
    func: &'a Function,
}

impl Runtime {
    /// Calls `function` of `loaded` with `args` (a JSON array of the parameters, the one
    /// value of a one-parameter function, or `null` for none) in the mode `ctx` asks for,
    /// and returns the result as JSON (`null` for a function without result).
    pub fn call(
        &self,
        loaded: &LoadedComponent,
        ctx: &CallContext,
        function: &str,
        args: Value,
    ) -> Result<Value, CallError> {
        let site = site(loaded, function)?;
        let func = site.func;
        if let Some(reason) = &func.unsupported {
            return Err(CallError::Unsupported {
                component: site.component(),
                function: site.function(),
                reason: reason.clone(),
            });
        }
        let params = arguments(func, &args).map_err(|reason| CallError::BadArguments {
            component: site.component(),
            function: site.function(),
            reason,
        })?;
        let results = self.run(&site, ctx, &params)?;
        let json = result_json(&func.results, &results).map_err(|reason| site.host_msg(&reason))?;
        let len = json_len(&json);
        if len > self.limits.result_json_bytes {
            return Err(CallError::ResultTooLarge {
                component: site.component(),
                function: site.function(),
                len,
                limit: self.limits.result_json_bytes,
            });
        }
        Ok(json)
    }

    /// Calls `function` of `loaded` with component values, in the mode `ctx` asks for:
    /// the arguments are checked against the parameters' types (a mismatch is
    /// [`CallError::BadArguments`]), no JSON is written or read.
    pub fn call_values(
        &self,
        loaded: &LoadedComponent,
        ctx: &CallContext,
        function: &str,
        args: &[ComponentValue],
    ) -> Result<Vec<ComponentValue>, CallError> {
        let site = site(loaded, function)?;
        let func = site.func;
        let bad = |reason: String| CallError::BadArguments {
            component: site.component(),
            function: site.function(),
            reason,
        };
        if args.len() != func.params.len() {
            return Err(bad(format!(
                "expected {} arguments, found {}",
                func.params.len(),
                args.len()
            )));
        }
        for (i, (ty, val)) in func.params.iter().zip(args).enumerate() {
            values::fits(ty, val).map_err(|reason| {
                bad(format!(
                    "parameter {:?}: {reason}",
                    func.export.params[i].0.as_str()
                ))
            })?;
        }
        self.run(&site, ctx, args)
    }

    /// Runs the call in `ctx`'s mode; the results.
    fn run(
        &self,
        site: &Site<'_>,
        ctx: &CallContext,
        params: &[Val],
    ) -> Result<Vec<Val>, CallError> {
        let mut results = vec![Val::Bool(false); site.func.results.len()];
        match ctx.mode {
            CallMode::Fresh => self.call_fresh(site, ctx, params, &mut results)?,
            CallMode::Warm => self.call_warm(site, ctx, params, &mut results)?,
        }
        Ok(results)
    }

    /// A new instance in a new store, dropped when the call ends.
    fn call_fresh(
        &self,
        site: &Site<'_>,
        ctx: &CallContext,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), CallError> {
        let mut store = new_store(&self.engine, ctx, &self.limits).map_err(|e| site.host(&e))?;
        let instance = site
            .loaded
            .pre
            .instantiate(&mut store)
            .map_err(|e| site.instantiate(&e, store.data()))?;
        let func = instance
            .get_func(&mut store, site.func.index)
            .ok_or_else(|| site.host_msg("the export disappeared from the instance"))?;
        func.call(&mut store, params, results)
            .map_err(|e| self.classify(site, &e, store.data().sandbox.hit))
    }

    /// A live instance from the version's warm pool (a new one when none is idle), back
    /// to the pool when the call returns normally and dropped otherwise.
    fn call_warm(
        &self,
        site: &Site<'_>,
        ctx: &CallContext,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), CallError> {
        let pool = &site.loaded.warm;
        let checkout = pool.checkout();
        let mut warm = match checkout.instance {
            Some(warm) => warm,
            None => self.new_warm(site, ctx, checkout.generation)?,
        };
        prepare(&mut warm.store, ctx, &self.limits).map_err(|e| site.host(&e))?;
        let func = warm
            .func(site.position, site.func)
            .ok_or_else(|| site.host_msg("the export disappeared from the instance"))?;
        match func.call(&mut warm.store, params, results) {
            Ok(()) => {
                warm.used();
                pool.give_back(warm, &self.limits);
                Ok(())
            }
            Err(e) => Err(self.classify(site, &e, warm.store.data().sandbox.hit)),
        }
    }

    /// A new instance for the warm pool of `site.loaded`, made in pool `generation`.
    pub(super) fn new_warm(
        &self,
        site: &Site<'_>,
        ctx: &CallContext,
        generation: u64,
    ) -> Result<WarmInstance, CallError> {
        let mut store = new_store(&self.engine, ctx, &self.limits).map_err(|e| site.host(&e))?;
        let instance = site
            .loaded
            .pre
            .instantiate(&mut store)
            .map_err(|e| site.instantiate(&e, store.data()))?;
        tracing::debug!(component = %site.loaded.manifest.label(), "new warm instance");
        Ok(WarmInstance::new(
            store,
            instance,
            site.loaded.functions.len(),
            generation,
        ))
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
        let component = site.component();
        let function = site.function();
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

/// Resolves `function` among the exports of `loaded`.
fn site<'a>(loaded: &'a LoadedComponent, function: &str) -> Result<Site<'a>, CallError> {
    match resolve(&loaded.exports, function) {
        Resolved::Found(position) => Ok(Site {
            loaded,
            position,
            func: &loaded.functions[position],
        }),
        Resolved::Missing => Err(CallError::NoSuchFunction {
            component: loaded.manifest.label(),
            function: function.to_owned(),
            available: loaded.exports.iter().map(|f| f.qualified_name()).collect(),
        }),
        Resolved::Ambiguous(candidates) => Err(CallError::Ambiguous {
            component: loaded.manifest.label(),
            function: function.to_owned(),
            candidates,
        }),
    }
}

impl Site<'_> {
    fn component(&self) -> String {
        self.loaded.manifest.label()
    }

    fn function(&self) -> String {
        self.func.export.qualified_name()
    }

    fn limit(&self, hit: LimitHit) -> CallError {
        let component = self.component();
        let function = self.function();
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

    /// An instantiation that failed: a limit hit by the component's start-up, or another
    /// reason (the allocator's pool is full, for example).
    fn instantiate(&self, error: &wasmtime::Error, data: &StoreData) -> CallError {
        match data.sandbox.hit {
            Some(hit) => self.limit(hit),
            None => CallError::Instantiate {
                component: self.component(),
                reason: chain(error),
            },
        }
    }

    fn host(&self, error: &wasmtime::Error) -> CallError {
        self.host_msg(&chain(error))
    }

    fn host_msg(&self, reason: &str) -> CallError {
        CallError::Host {
            component: self.component(),
            function: self.function(),
            reason: reason.to_owned(),
        }
    }
}

/// The length of `json` rendered compactly, without building the text.
fn json_len(json: &Value) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, json) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// The parameters of `func` from the JSON arguments.
///
/// A one-parameter function takes the value itself; when that does not fit and the JSON
/// is a one-element array, the element (so `["x"]` works like `"x"` for a string, while
/// `["x"]` stays a list for a `list<string>` parameter). Several parameters take an array
/// in order or an object keyed by parameter name.
pub(super) fn arguments(func: &Function, args: &Value) -> Result<Vec<Val>, String> {
    let name = |i: usize| func.export.params[i].0.as_str();
    let names = || {
        func.export
            .params
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let param = |i: usize, json: &Value| {
        json::to_val(&func.params[i], json)
            .map_err(|reason| format!("parameter {:?}: {reason}", name(i)))
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
                    names(),
                    items.len()
                ));
            }
            items.iter().enumerate().map(|(i, j)| param(i, j)).collect()
        }
        (n, Value::Object(object)) => {
            if let Some(unknown) = object
                .keys()
                .find(|k| !func.export.params.iter().any(|(n, _)| n == *k))
            {
                return Err(format!(
                    "unknown parameter {unknown:?} (parameters: {})",
                    names()
                ));
            }
            (0..n)
                .map(|i| {
                    let json = object
                        .get(name(i))
                        .ok_or_else(|| format!("missing parameter {:?}", name(i)))?;
                    param(i, json)
                })
                .collect()
        }
        (n, other) => Err(format!(
            "expected an array of {n} arguments ({}) or an object keyed by their names, found {}",
            names(),
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

/// For tests: the site of a function of `loaded` that exists.
#[cfg(test)]
pub(super) fn tests_site<'a>(loaded: &'a LoadedComponent, function: &str) -> Site<'a> {
    site(loaded, function).expect("the function exists")
}
