//! Calls with component values instead of JSON, for embedders that hold typed data: the
//! arguments are checked against the function's parameter types (a mismatch names the
//! parameter and where inside it), then passed as they are; the results come back as
//! the guest returned them. No JSON is written or read on this path.

use wasmtime::component::{Type, Val};

use super::json::wit_text;

/// Fails, saying where, unless `val` is a value of type `ty`.
pub(super) fn fits(ty: &Type, val: &Val) -> Result<(), String> {
    let at = |place: String, inner: Result<(), String>| {
        inner.map_err(|reason| format!("{place}: {reason}"))
    };
    match (ty, val) {
        (Type::Bool, Val::Bool(_))
        | (Type::S8, Val::S8(_))
        | (Type::U8, Val::U8(_))
        | (Type::S16, Val::S16(_))
        | (Type::U16, Val::U16(_))
        | (Type::S32, Val::S32(_))
        | (Type::U32, Val::U32(_))
        | (Type::S64, Val::S64(_))
        | (Type::U64, Val::U64(_))
        | (Type::Float32, Val::Float32(_))
        | (Type::Float64, Val::Float64(_))
        | (Type::Char, Val::Char(_))
        | (Type::String, Val::String(_)) => Ok(()),
        (Type::List(list), Val::List(items)) => each(&list.ty(), items),
        (Type::FixedLengthList(list), Val::FixedLengthList(items)) => each(&list.ty(), items),
        (Type::Map(map), Val::Map(pairs)) => {
            pairs.iter().enumerate().try_for_each(|(i, (k, v))| {
                at(format!("key {i}"), fits(&map.key(), k))?;
                at(format!("value {i}"), fits(&map.value(), v))
            })
        }
        (Type::Record(record), Val::Record(fields)) => {
            let expected = record.fields().len();
            if fields.len() != expected {
                return Err(format!(
                    "expected {expected} fields, found {}",
                    fields.len()
                ));
            }
            record
                .fields()
                .zip(fields)
                .try_for_each(|(field, (name, v))| {
                    if field.name != name {
                        return Err(format!("expected field `{}`, found `{name}`", field.name));
                    }
                    at(format!("field `{name}`"), fits(&field.ty, v))
                })
        }
        (Type::Tuple(tuple), Val::Tuple(items)) => {
            let expected = tuple.types().len();
            if items.len() != expected {
                return Err(format!(
                    "expected a tuple of {expected}, found {}",
                    items.len()
                ));
            }
            tuple
                .types()
                .zip(items)
                .enumerate()
                .try_for_each(|(i, (t, v))| at(format!("item {i}"), fits(&t, v)))
        }
        (Type::Variant(variant), Val::Variant(case, payload)) => {
            let Some(def) = variant.cases().find(|c| c.name == case) else {
                return Err(format!("no case `{case}` in {}", wit_text(ty)));
            };
            match (def.ty, payload) {
                (None, None) => Ok(()),
                (Some(t), Some(v)) => at(format!("case `{case}`"), fits(&t, v)),
                (None, Some(_)) => Err(format!("case `{case}` has no payload")),
                (Some(_), None) => Err(format!("case `{case}` needs a payload")),
            }
        }
        (Type::Enum(enumeration), Val::Enum(name)) => {
            if enumeration.names().any(|n| n == name) {
                Ok(())
            } else {
                Err(format!("no case `{name}` in {}", wit_text(ty)))
            }
        }
        (Type::Option(option), Val::Option(inner)) => inner
            .as_deref()
            .map_or(Ok(()), |v| at("some".into(), fits(&option.ty(), v))),
        (Type::Result(result), Val::Result(outcome)) => {
            let (side, declared, payload) = match outcome {
                Ok(payload) => ("ok", result.ok(), payload),
                Err(payload) => ("err", result.err(), payload),
            };
            match (declared, payload.as_deref()) {
                (None, None) => Ok(()),
                (Some(t), Some(v)) => at(side.into(), fits(&t, v)),
                (None, Some(_)) => Err(format!("`{side}` has no payload")),
                (Some(_), None) => Err(format!("`{side}` needs a payload")),
            }
        }
        (Type::Flags(flags), Val::Flags(set)) => match set
            .iter()
            .find(|name| !flags.names().any(|n| n == name.as_str()))
        {
            Some(unknown) => Err(format!("no flag `{unknown}` in {}", wit_text(ty))),
            None => Ok(()),
        },
        _ => Err(format!("expected {}, found {}", wit_text(ty), kind(val))),
    }
}

fn each(ty: &Type, items: &[Val]) -> Result<(), String> {
    items
        .iter()
        .enumerate()
        .try_for_each(|(i, v)| fits(ty, v).map_err(|reason| format!("item {i}: {reason}")))
}

/// What kind of value `val` is, for an error.
fn kind(val: &Val) -> &'static str {
    match val {
        Val::Bool(_) => "a bool",
        Val::S8(_) => "an s8",
        Val::U8(_) => "a u8",
        Val::S16(_) => "an s16",
        Val::U16(_) => "a u16",
        Val::S32(_) => "an s32",
        Val::U32(_) => "a u32",
        Val::S64(_) => "an s64",
        Val::U64(_) => "a u64",
        Val::Float32(_) => "an f32",
        Val::Float64(_) => "an f64",
        Val::Char(_) => "a char",
        Val::String(_) => "a string",
        Val::List(_) => "a list",
        Val::FixedLengthList(_) => "a fixed-length list",
        Val::Map(_) => "a map",
        Val::Record(_) => "a record",
        Val::Tuple(_) => "a tuple",
        Val::Variant(..) => "a variant",
        Val::Enum(_) => "an enum",
        Val::Option(_) => "an option",
        Val::Result(_) => "a result",
        Val::Flags(_) => "flags",
        Val::Resource(_) => "a resource",
        Val::Future(_) => "a future",
        Val::Stream(_) => "a stream",
        Val::ErrorContext(_) => "an error-context",
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::component::types::ComponentItem;
    use wasmtime::component::{Component, Val};
    use wasmtime::{Config, Engine};

    use super::{Type, fits};

    /// The parameter types of a function a component imports (types only: nothing runs).
    fn params() -> Vec<Type> {
        let engine = Engine::new(Config::new().wasm_component_model(true)).unwrap();
        let component = Component::new(
            &engine,
            r#"(component
                (import "t:t/i" (instance
                    (type $r0 (record (field "a" u32) (field "b" (option string))))
                    (export "r" (type $r (eq $r0)))
                    (type $e0 (enum "x" "y"))
                    (export "e" (type $e (eq $e0)))
                    (type $v0 (variant (case "n") (case "s" string)))
                    (export "v" (type $v (eq $v0)))
                    (type $fl0 (flags "p" "q"))
                    (export "fl" (type $fl (eq $fl0)))
                    (export "f" (func (param "r" $r) (param "e" $e) (param "v" $v)
                        (param "res" (result u32 (error string))) (param "l" (list u8))
                        (param "fl" $fl))))))"#,
        )
        .unwrap();
        let ty = component.component_type();
        let (_, item) = ty.imports(&engine).next().unwrap();
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            panic!("not an instance")
        };
        let (_, f) = instance.exports(&engine).find(|(n, _)| *n == "f").unwrap();
        let ComponentItem::ComponentFunc(func) = f.ty else {
            panic!("not a function")
        };
        func.params().map(|(_, t)| t).collect()
    }

    fn s(text: &str) -> Val {
        Val::String(text.into())
    }

    #[test]
    fn values_that_fit_their_types_pass() {
        let p = params();
        let record = Val::Record(vec![
            ("a".into(), Val::U32(1)),
            ("b".into(), Val::Option(Some(Box::new(s("hi"))))),
        ]);
        assert_eq!(fits(&p[0], &record), Ok(()));
        assert_eq!(fits(&p[1], &Val::Enum("y".into())), Ok(()));
        assert_eq!(fits(&p[2], &Val::Variant("n".into(), None)), Ok(()));
        assert_eq!(
            fits(&p[2], &Val::Variant("s".into(), Some(Box::new(s("x"))))),
            Ok(())
        );
        assert_eq!(
            fits(&p[3], &Val::Result(Err(Some(Box::new(s("no")))))),
            Ok(())
        );
        assert_eq!(
            fits(&p[4], &Val::List(vec![Val::U8(1), Val::U8(2)])),
            Ok(())
        );
        assert_eq!(fits(&p[5], &Val::Flags(vec!["q".into()])), Ok(()));
    }

    #[test]
    fn a_mismatch_says_where_it_is() {
        let p = params();
        let wrong_field = Val::Record(vec![
            ("a".into(), Val::U32(1)),
            ("b".into(), Val::Option(Some(Box::new(Val::U32(2))))),
        ]);
        assert_eq!(
            fits(&p[0], &wrong_field),
            Err("field `b`: some: expected string, found a u32".into())
        );
        let misnamed = Val::Record(vec![
            ("a".into(), Val::U32(1)),
            ("c".into(), Val::Option(None)),
        ]);
        assert_eq!(
            fits(&p[0], &misnamed),
            Err("expected field `b`, found `c`".into())
        );
        assert!(
            fits(&p[1], &Val::Enum("z".into()))
                .unwrap_err()
                .starts_with("no case `z`")
        );
        assert_eq!(
            fits(&p[2], &Val::Variant("s".into(), None)),
            Err("case `s` needs a payload".into())
        );
        assert_eq!(
            fits(&p[3], &Val::Result(Ok(None))),
            Err("`ok` needs a payload".into())
        );
        assert_eq!(
            fits(&p[4], &Val::List(vec![Val::U8(1), Val::U16(2)])),
            Err("item 1: expected u8, found a u16".into())
        );
        assert!(
            fits(&p[5], &Val::Flags(vec!["r".into()]))
                .unwrap_err()
                .starts_with("no flag `r`")
        );
    }
}
