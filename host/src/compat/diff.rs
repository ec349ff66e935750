//! The structural comparison of two decoded worlds: exports function by function, types
//! through their definitions in each side's own `Resolve`, and imports by name.
//!
//! Two types are the same when they have the same shape and the same names where WIT
//! gives names (records, variants, enums, flags, resources and their fields, cases and
//! flags); an alias (`type a = b`, a `use`) is looked through. Parameter names count:
//! they are part of a component function's type.

use std::collections::{BTreeMap, BTreeSet};

use wit_parser::{
    Function, Handle, Interface, Resolve, Type, TypeDefKind, TypeId, WorldItem, WorldKey,
};

use super::{Breaking, ComponentWit, WitDiff};

/// One side of the comparison: a world's item, named without its package version.
enum Item<'a> {
    Interface {
        iface: &'a Interface,
        /// The package version (`1.0.0` of `anya:bitcoin/address@1.0.0`), if any.
        version: Option<&'a semver::Version>,
    },
    Function(&'a Function),
}

/// The world's imports or exports, keyed by name: `anya:bitcoin/address` for an
/// interface of a package, the plain name for an inline interface or a function. Types
/// are left out: what matters about them is reached through the functions.
fn items<'a>(wit: &'a ComponentWit, exports: bool) -> BTreeMap<String, Item<'a>> {
    let resolve = &wit.resolve;
    let world = &resolve.worlds[wit.world];
    let map = if exports {
        &world.exports
    } else {
        &world.imports
    };
    let mut out = BTreeMap::new();
    for (key, item) in map {
        match item {
            WorldItem::Interface { id, .. } => {
                let iface = &resolve.interfaces[*id];
                let package = iface.package.map(|p| &resolve.packages[p].name);
                let name = match (key, package, &iface.name) {
                    (WorldKey::Interface(_), Some(pkg), Some(n)) => {
                        format!("{}:{}/{n}", pkg.namespace, pkg.name)
                    }
                    _ => resolve.name_world_key(key),
                };
                let version = package.and_then(|p| p.version.as_ref());
                out.insert(name, Item::Interface { iface, version });
            }
            WorldItem::Function(f) => {
                out.insert(f.name.clone(), Item::Function(f));
            }
            WorldItem::Type { .. } => {}
        }
    }
    out
}

/// The interfaces (by name) a world imports, without versions.
pub(super) fn import_names(wit: &ComponentWit) -> BTreeSet<String> {
    items(wit, false).into_keys().collect()
}

/// The exported interfaces and functions, without versions.
pub(super) fn export_names(wit: &ComponentWit) -> BTreeSet<String> {
    items(wit, true).into_keys().collect()
}

/// See [`super::diff`].
pub(super) fn diff(running: &ComponentWit, candidate: &ComponentWit) -> WitDiff {
    let old = items(running, true);
    let new = items(candidate, true);
    let cmp = Comparer {
        a: &running.resolve,
        b: &candidate.resolve,
    };
    let mut out = WitDiff::default();
    for (name, old_item) in &old {
        let Some(new_item) = new.get(name) else {
            out.breaking.push(Breaking {
                item: name.clone(),
                reason: match old_item {
                    Item::Interface { .. } => "exported interface removed".into(),
                    Item::Function(_) => "exported function removed".into(),
                },
            });
            continue;
        };
        match (old_item, new_item) {
            (
                Item::Interface {
                    iface: a,
                    version: va,
                },
                Item::Interface {
                    iface: b,
                    version: vb,
                },
            ) => {
                if let (Some(va), Some(vb)) = (va, vb)
                    && !super::semver_compatible(va, vb)
                {
                    out.breaking.push(Breaking {
                        item: name.clone(),
                        reason: format!("package version {va} became {vb}, not compatible"),
                    });
                }
                for (fname, fa) in &a.functions {
                    let item = format!("{name}.{fname}");
                    match b.functions.get(fname) {
                        None => out.breaking.push(Breaking {
                            item,
                            reason: "function removed".into(),
                        }),
                        Some(fb) => {
                            if let Err(reason) = cmp.function(fa, fb) {
                                out.breaking.push(Breaking { item, reason });
                            }
                        }
                    }
                }
                for fname in b.functions.keys() {
                    if !a.functions.contains_key(fname) {
                        out.added.push(format!("{name}.{fname}: function added"));
                    }
                }
            }
            (Item::Function(fa), Item::Function(fb)) => {
                if let Err(reason) = cmp.function(fa, fb) {
                    out.breaking.push(Breaking {
                        item: name.clone(),
                        reason,
                    });
                }
            }
            (Item::Interface { .. }, Item::Function(_)) => out.breaking.push(Breaking {
                item: name.clone(),
                reason: "an exported interface became a function".into(),
            }),
            (Item::Function(_), Item::Interface { .. }) => out.breaking.push(Breaking {
                item: name.clone(),
                reason: "an exported function became an interface".into(),
            }),
        }
    }
    for (name, item) in &new {
        if !old.contains_key(name) {
            out.added.push(match item {
                Item::Interface { .. } => format!("{name}: exported interface added"),
                Item::Function(_) => format!("{name}: exported function added"),
            });
        }
    }
    let old_imports = import_names(running);
    let new_imports = import_names(candidate);
    out.new_imports = new_imports.difference(&old_imports).cloned().collect();
    out.removed_imports = old_imports.difference(&new_imports).cloned().collect();
    out
}

/// Compares a type of resolve `a` with a type of resolve `b`.
struct Comparer<'a> {
    a: &'a Resolve,
    b: &'a Resolve,
}

impl Comparer<'_> {
    /// `Err` says how the signature changed.
    fn function(&self, fa: &Function, fb: &Function) -> Result<(), String> {
        if fa.params.len() != fb.params.len() {
            return Err(format!(
                "parameters changed from ({}) to ({})",
                params(self.a, fa),
                params(self.b, fb)
            ));
        }
        for (i, (pa, pb)) in fa.params.iter().zip(&fb.params).enumerate() {
            if pa.name != pb.name {
                return Err(format!(
                    "parameter {} renamed from {} to {}",
                    i + 1,
                    pa.name,
                    pb.name
                ));
            }
            self.ty(pa.ty, pb.ty)
                .map_err(|e| format!("parameter {}: {e}", pa.name))?;
        }
        match (fa.result, fb.result) {
            (None, None) => Ok(()),
            (Some(ra), Some(rb)) => self.ty(ra, rb).map_err(|e| format!("result: {e}")),
            (ra, rb) => Err(format!(
                "result changed from {} to {}",
                ra.map_or("nothing".into(), |t| describe(self.a, t)),
                rb.map_or("nothing".into(), |t| describe(self.b, t)),
            )),
        }
    }

    fn ty(&self, ta: Type, tb: Type) -> Result<(), String> {
        let ta = unalias(self.a, ta);
        let tb = unalias(self.b, tb);
        let changed = || {
            Err(format!(
                "{} became {}",
                describe(self.a, ta),
                describe(self.b, tb)
            ))
        };
        let (Type::Id(ia), Type::Id(ib)) = (ta, tb) else {
            return if ta == tb { Ok(()) } else { changed() };
        };
        let (da, db) = (&self.a.types[ia], &self.b.types[ib]);
        let named = |what: &str| -> Result<(), String> {
            if da.name == db.name {
                Ok(())
            } else {
                Err(format!(
                    "{what} {} renamed to {}",
                    da.name.as_deref().unwrap_or("?"),
                    db.name.as_deref().unwrap_or("?")
                ))
            }
        };
        let opt = |a: Option<Type>, b: Option<Type>| match (a, b) {
            (None, None) => Ok(()),
            (Some(a), Some(b)) => self.ty(a, b),
            _ => changed(),
        };
        match (&da.kind, &db.kind) {
            (TypeDefKind::Record(ra), TypeDefKind::Record(rb)) => {
                named("record")?;
                let label = da.name.as_deref().unwrap_or("record");
                self.members(
                    &format!("record {label}"),
                    "field",
                    ra.fields.iter().map(|f| (f.name.as_str(), Some(f.ty))),
                    rb.fields.iter().map(|f| (f.name.as_str(), Some(f.ty))),
                )
            }
            (TypeDefKind::Variant(va), TypeDefKind::Variant(vb)) => {
                named("variant")?;
                let label = da.name.as_deref().unwrap_or("variant");
                self.members(
                    &format!("variant {label}"),
                    "case",
                    va.cases.iter().map(|c| (c.name.as_str(), c.ty)),
                    vb.cases.iter().map(|c| (c.name.as_str(), c.ty)),
                )
            }
            (TypeDefKind::Enum(ea), TypeDefKind::Enum(eb)) => {
                named("enum")?;
                let label = da.name.as_deref().unwrap_or("enum");
                self.members(
                    &format!("enum {label}"),
                    "case",
                    ea.cases.iter().map(|c| (c.name.as_str(), None)),
                    eb.cases.iter().map(|c| (c.name.as_str(), None)),
                )
            }
            (TypeDefKind::Flags(fa), TypeDefKind::Flags(fb)) => {
                named("flags")?;
                let label = da.name.as_deref().unwrap_or("flags");
                self.members(
                    &format!("flags {label}"),
                    "flag",
                    fa.flags.iter().map(|f| (f.name.as_str(), None)),
                    fb.flags.iter().map(|f| (f.name.as_str(), None)),
                )
            }
            (TypeDefKind::Resource, TypeDefKind::Resource) => named("resource"),
            (TypeDefKind::Handle(ha), TypeDefKind::Handle(hb)) => match (ha, hb) {
                (Handle::Own(a), Handle::Own(b)) | (Handle::Borrow(a), Handle::Borrow(b)) => {
                    self.ty(Type::Id(*a), Type::Id(*b))
                }
                _ => changed(),
            },
            (TypeDefKind::Tuple(ta), TypeDefKind::Tuple(tb)) => {
                if ta.types.len() != tb.types.len() {
                    return changed();
                }
                for (a, b) in ta.types.iter().zip(&tb.types) {
                    self.ty(*a, *b)?;
                }
                Ok(())
            }
            (TypeDefKind::Option(a), TypeDefKind::Option(b))
            | (TypeDefKind::List(a), TypeDefKind::List(b)) => self.ty(*a, *b),
            (TypeDefKind::FixedLengthList(a, na), TypeDefKind::FixedLengthList(b, nb)) => {
                if na != nb {
                    return changed();
                }
                self.ty(*a, *b)
            }
            (TypeDefKind::Map(ka, va), TypeDefKind::Map(kb, vb)) => {
                self.ty(*ka, *kb)?;
                self.ty(*va, *vb)
            }
            (TypeDefKind::Result(ra), TypeDefKind::Result(rb)) => {
                opt(ra.ok, rb.ok)?;
                opt(ra.err, rb.err)
            }
            (TypeDefKind::Future(a), TypeDefKind::Future(b))
            | (TypeDefKind::Stream(a), TypeDefKind::Stream(b)) => opt(*a, *b),
            _ => changed(),
        }
    }

    /// Fields, cases or flags: the same names in the same order (order is part of the
    /// canonical ABI), each with the same type.
    fn members<'n>(
        &self,
        owner: &str,
        what: &str,
        a: impl Iterator<Item = (&'n str, Option<Type>)>,
        b: impl Iterator<Item = (&'n str, Option<Type>)>,
    ) -> Result<(), String> {
        let a: Vec<_> = a.collect();
        let b: Vec<_> = b.collect();
        let names_a: BTreeSet<&str> = a.iter().map(|(n, _)| *n).collect();
        let names_b: BTreeSet<&str> = b.iter().map(|(n, _)| *n).collect();
        if let Some(gone) = names_a.difference(&names_b).next() {
            return Err(format!("{owner}: {what} {gone} removed"));
        }
        if let Some(new) = names_b.difference(&names_a).next() {
            return Err(format!("{owner}: {what} {new} added"));
        }
        for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
            if na != nb {
                return Err(format!("{owner}: {what}s reordered ({na} is now {nb})"));
            }
            match (ta, tb) {
                (None, None) => {}
                (Some(ta), Some(tb)) => self
                    .ty(*ta, *tb)
                    .map_err(|e| format!("{owner}: {what} {na}: {e}"))?,
                (ta, tb) => {
                    return Err(format!(
                        "{owner}: {what} {na} changed from {} to {}",
                        ta.map_or("no payload".into(), |t| describe(self.a, t)),
                        tb.map_or("no payload".into(), |t| describe(self.b, t)),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Looks through aliases (`type a = b`, `use iface.{t}`).
fn unalias(resolve: &Resolve, mut ty: Type) -> Type {
    // Bounded: a `Resolve` has no alias cycles, but decoded input is not ours.
    for _ in 0..64 {
        match ty {
            Type::Id(id) => match &resolve.types[id].kind {
                TypeDefKind::Type(inner) => ty = *inner,
                _ => return ty,
            },
            _ => return ty,
        }
    }
    ty
}

fn params(resolve: &Resolve, f: &Function) -> String {
    f.params
        .iter()
        .map(|p| format!("{}: {}", p.name, describe(resolve, p.ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type as WIT spells it: its name if it has one, else its structure.
pub(super) fn describe(resolve: &Resolve, ty: Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => describe_id(resolve, id),
    }
}

fn describe_id(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let d = |t: Type| describe(resolve, t);
    let o = |t: Option<Type>| t.map_or("_".into(), d);
    match &def.kind {
        TypeDefKind::Option(t) => format!("option<{}>", d(*t)),
        TypeDefKind::List(t) => format!("list<{}>", d(*t)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", d(*t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", d(*k), d(*v)),
        TypeDefKind::Result(r) => format!("result<{}, {}>", o(r.ok), o(r.err)),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types.iter().map(|t| d(*t)).collect::<Vec<_>>().join(", ")
        ),
        TypeDefKind::Future(t) => format!("future<{}>", o(*t)),
        TypeDefKind::Stream(t) => format!("stream<{}>", o(*t)),
        TypeDefKind::Handle(Handle::Own(r)) => format!("own<{}>", describe_id(resolve, *r)),
        TypeDefKind::Handle(Handle::Borrow(r)) => format!("borrow<{}>", describe_id(resolve, *r)),
        TypeDefKind::Type(t) => d(*t),
        other => format!("an anonymous {}", other.as_str()),
    }
}
