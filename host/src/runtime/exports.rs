//! What a component exports and imports, read from its component type, and how a
//! function name given by a person (`decode`, `address.decode`,
//! `anya:bitcoin/address#decode`) resolves to one export.

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, Type};

use super::json;

/// One exported function, as the public API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFunction {
    /// The exporting interface (`anya:bitcoin/address@1.0.0`), or `""` for a function the
    /// component exports directly.
    pub interface: String,
    pub name: String,
    /// Parameter names and types, as WIT text.
    pub params: Vec<(String, String)>,
    /// The result type as WIT text, or `""` when the function returns nothing.
    pub results: String,
}

impl ExportedFunction {
    /// `interface#name`, or `name` for a direct export: a name that is never ambiguous.
    pub fn qualified_name(&self) -> String {
        if self.interface.is_empty() {
            self.name.clone()
        } else {
            format!("{}#{}", self.interface, self.name)
        }
    }
}

/// An exported function with what a call needs.
pub(super) struct Function {
    pub(super) export: ExportedFunction,
    pub(super) index: ComponentExportIndex,
    pub(super) params: Vec<Type>,
    pub(super) results: Vec<Type>,
    /// Why the function cannot be called with JSON, if it cannot.
    pub(super) unsupported: Option<String>,
}

/// Every function `component` exports, directly or in an exported instance, in export
/// order.
pub(super) fn functions(engine: &Engine, component: &Component) -> Vec<Function> {
    let ty = component.component_type();
    let mut out = Vec::new();
    for (name, item) in ty.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => {
                if let Some(index) = component.get_export_index(None, name) {
                    out.push(function("", name, index, &func));
                }
            }
            ComponentItem::ComponentInstance(instance) => {
                let Some(instance_index) = component.get_export_index(None, name) else {
                    continue;
                };
                for (func_name, item) in instance.exports(engine) {
                    let ComponentItem::ComponentFunc(func) = item.ty else {
                        continue;
                    };
                    if let Some(index) =
                        component.get_export_index(Some(&instance_index), func_name)
                    {
                        out.push(function(name, func_name, index, &func));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn function(
    interface: &str,
    name: &str,
    index: ComponentExportIndex,
    func: &wasmtime::component::types::ComponentFunc,
) -> Function {
    let params: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_owned(), t)).collect();
    let results: Vec<Type> = func.results().collect();
    let unsupported = params
        .iter()
        .map(|(_, t)| t)
        .chain(&results)
        .find_map(|t| json::check(t).err())
        .or_else(|| func.async_().then(|| "it is an async function".to_owned()));
    Function {
        export: ExportedFunction {
            interface: interface.to_owned(),
            name: name.to_owned(),
            params: params
                .iter()
                .map(|(n, t)| (n.clone(), json::wit_text(t)))
                .collect(),
            results: results
                .iter()
                .map(json::wit_text)
                .collect::<Vec<_>>()
                .join(", "),
        },
        index,
        params: params.into_iter().map(|(_, t)| t).collect(),
        results,
        unsupported,
    }
}

/// The names of the component's imports (`wasi:cli/environment@0.2.6`, `anya:host/kv@1.0.0`).
pub(super) fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    let ty = component.component_type();
    ty.imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// How a name resolved.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Resolved {
    Found(usize),
    Missing,
    /// The qualified names of every match.
    Ambiguous(Vec<String>),
}

/// Finds `wanted` among `functions`: a plain name, or `qualifier#name` / `qualifier.name`
/// where the qualifier is the interface's full name, that name without its version, or
/// its short name (`address`).
pub(super) fn resolve(functions: &[ExportedFunction], wanted: &str) -> Resolved {
    let (qualifier, name) = match wanted.rsplit_once('#').or_else(|| wanted.rsplit_once('.')) {
        Some((q, n)) => (Some(q), n),
        None => (None, wanted),
    };
    let is_match = |f: &ExportedFunction| {
        f.name == name && qualifier.is_none_or(|q| interface_matches(&f.interface, q))
    };
    // The serving path: one pass, no allocation unless the name is ambiguous.
    let mut found = None;
    for (i, f) in functions.iter().enumerate() {
        if is_match(f) {
            if found.is_some() {
                return Resolved::Ambiguous(
                    functions
                        .iter()
                        .filter(|f| is_match(f))
                        .map(ExportedFunction::qualified_name)
                        .collect(),
                );
            }
            found = Some(i);
        }
    }
    found.map_or(Resolved::Missing, Resolved::Found)
}

fn interface_matches(interface: &str, qualifier: &str) -> bool {
    let unversioned = interface.split_once('@').map_or(interface, |(n, _)| n);
    let short = unversioned.rsplit_once('/').map_or(unversioned, |(_, s)| s);
    !interface.is_empty()
        && (qualifier == interface || qualifier == unversioned || qualifier == short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(interface: &str, name: &str) -> ExportedFunction {
        ExportedFunction {
            interface: interface.into(),
            name: name.into(),
            params: vec![],
            results: String::new(),
        }
    }

    #[test]
    fn names_resolve_plain_or_qualified() {
        let fs = [
            export("anya:bitcoin/address@1.0.0", "decode"),
            export("anya:bitcoin/address@1.0.0", "encode"),
            export("anya:other/address-book@1.0.0", "decode"),
            export("", "run"),
        ];
        assert_eq!(resolve(&fs, "encode"), Resolved::Found(1));
        assert_eq!(resolve(&fs, "run"), Resolved::Found(3));
        assert_eq!(resolve(&fs, "missing"), Resolved::Missing);
        assert_eq!(
            resolve(&fs, "decode"),
            Resolved::Ambiguous(vec![
                "anya:bitcoin/address@1.0.0#decode".into(),
                "anya:other/address-book@1.0.0#decode".into()
            ])
        );
        for q in [
            "anya:bitcoin/address@1.0.0#decode",
            "anya:bitcoin/address#decode",
            "address#decode",
            "address.decode",
        ] {
            assert_eq!(resolve(&fs, q), Resolved::Found(0), "{q}");
        }
        assert_eq!(resolve(&fs, "address-book.decode"), Resolved::Found(2));
        assert_eq!(
            resolve(&fs, "anya:bitcoin/address@2.0.0#decode"),
            Resolved::Missing
        );
        assert_eq!(resolve(&fs, "addr.decode"), Resolved::Missing);
        // A direct export has no interface to qualify it with.
        assert_eq!(resolve(&fs, "x.run"), Resolved::Missing);
    }
}
