//! JSON to component values and back, driven by the component's own types.
//!
//! The mapping (the same both ways, so a result can be fed back as an argument):
//! - `bool`, integers (range-checked), `f32`/`f64` (numbers; `"NaN"`, `"Infinity"`,
//!   `"-Infinity"` for the values JSON lacks), `char` (a one-character string), `string`;
//! - `list<T>` (including `list<u8>`) and fixed-length lists: arrays; `tuple`: arrays of
//!   exactly its length; `map<string, V>`: objects, other maps: arrays of `[key, value]`;
//! - `record`: objects keyed by field name, every field present and no other;
//! - `variant`: `{"case": payload}`, or `"case"` for a case without payload; `enum`: `"case"`;
//! - `option<T>`: `null` or the value (`{"some": v}` when `T` is itself an option);
//! - `result`: `{"ok": v}` or `{"err": e}` (`null` payload when the case has no type);
//! - `flags`: an array of the names that are set.
//!
//! Resources, futures, streams and error contexts cannot cross a JSON call: [`check`]
//! refuses them before anything runs.

use serde_json::{Map, Number, Value};
use wasmtime::component::{Type, Val};

/// The JSON spelling of the floats JSON has no number for.
const NAN: &str = "NaN";
const INFINITY: &str = "Infinity";
const NEG_INFINITY: &str = "-Infinity";

/// Fails when `ty` holds a type that cannot be written as JSON.
pub(super) fn check(ty: &Type) -> Result<(), String> {
    match ty {
        Type::Bool
        | Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::Enum(_)
        | Type::Flags(_) => Ok(()),
        Type::List(list) => check(&list.ty()),
        Type::FixedLengthList(list) => check(&list.ty()),
        Type::Map(map) => check(&map.key()).and(check(&map.value())),
        Type::Record(record) => record.fields().try_for_each(|f| check(&f.ty)),
        Type::Tuple(tuple) => tuple.types().try_for_each(|t| check(&t)),
        Type::Variant(variant) => variant
            .cases()
            .filter_map(|c| c.ty)
            .try_for_each(|t| check(&t)),
        Type::Option(option) => check(&option.ty()),
        Type::Result(result) => {
            result.ok().map_or(Ok(()), |t| check(&t))?;
            result.err().map_or(Ok(()), |t| check(&t))
        }
        Type::Own(_) | Type::Borrow(_) => Err("it takes or returns a resource".into()),
        Type::Future(_) => Err("it takes or returns a future".into()),
        Type::Stream(_) => Err("it takes or returns a stream".into()),
        Type::ErrorContext => Err("it takes or returns an error-context".into()),
    }
}

/// `json` as a value of type `ty`. Errors say where in the value the mismatch is.
pub(super) fn to_val(ty: &Type, json: &Value) -> Result<Val, String> {
    ToVal { path: Vec::new() }.convert(ty, json)
}

/// `val` (of type `ty`) as JSON.
pub(super) fn from_val(ty: &Type, val: &Val) -> Result<Value, String> {
    Ok(match (ty, val) {
        (_, Val::Bool(b)) => Value::Bool(*b),
        (_, Val::S8(n)) => (*n).into(),
        (_, Val::U8(n)) => (*n).into(),
        (_, Val::S16(n)) => (*n).into(),
        (_, Val::U16(n)) => (*n).into(),
        (_, Val::S32(n)) => (*n).into(),
        (_, Val::U32(n)) => (*n).into(),
        (_, Val::S64(n)) => (*n).into(),
        (_, Val::U64(n)) => (*n).into(),
        // The shortest decimal that reads back as the same f32, not its f64 widening.
        (_, Val::Float32(f)) => float(f.to_string().parse().unwrap_or(f64::NAN), f.is_nan()),
        (_, Val::Float64(f)) => float(*f, f.is_nan()),
        (_, Val::Char(c)) => Value::String(c.to_string()),
        (_, Val::String(s)) => Value::String(s.clone()),
        (Type::List(list), Val::List(items)) => each(&list.ty(), items)?,
        (Type::FixedLengthList(list), Val::FixedLengthList(items)) => each(&list.ty(), items)?,
        (Type::Map(map), Val::Map(entries)) => {
            let (kt, vt) = (map.key(), map.value());
            if kt == Type::String {
                let mut object = Map::new();
                for (k, v) in entries {
                    let Val::String(k) = k else {
                        return Err(mismatch(ty, val));
                    };
                    object.insert(k.clone(), from_val(&vt, v)?);
                }
                Value::Object(object)
            } else {
                let pairs = entries
                    .iter()
                    .map(|(k, v)| Ok(Value::Array(vec![from_val(&kt, k)?, from_val(&vt, v)?])))
                    .collect::<Result<_, String>>()?;
                Value::Array(pairs)
            }
        }
        (Type::Record(record), Val::Record(fields)) => {
            let mut object = Map::new();
            for (field, (name, v)) in record.fields().zip(fields) {
                object.insert(name.clone(), from_val(&field.ty, v)?);
            }
            Value::Object(object)
        }
        (Type::Tuple(tuple), Val::Tuple(items)) => Value::Array(
            tuple
                .types()
                .zip(items)
                .map(|(t, v)| from_val(&t, v))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Variant(variant), Val::Variant(case, payload)) => {
            let case_ty = variant.cases().find(|c| c.name == case).and_then(|c| c.ty);
            match (case_ty, payload) {
                (Some(t), Some(p)) => tagged(case, from_val(&t, p)?),
                (None, None) => Value::String(case.clone()),
                _ => return Err(mismatch(ty, val)),
            }
        }
        (_, Val::Enum(case)) => Value::String(case.clone()),
        (Type::Option(option), Val::Option(inner)) => match inner {
            None => Value::Null,
            Some(v) => {
                let inner_ty = option.ty();
                let json = from_val(&inner_ty, v)?;
                if matches!(inner_ty, Type::Option(_)) {
                    tagged("some", json)
                } else {
                    json
                }
            }
        },
        (Type::Result(result), Val::Result(outcome)) => {
            let (case, case_ty, payload) = match outcome {
                Ok(p) => ("ok", result.ok(), p),
                Err(p) => ("err", result.err(), p),
            };
            let json = match (case_ty, payload) {
                (Some(t), Some(p)) => from_val(&t, p)?,
                (None, None) => Value::Null,
                _ => return Err(mismatch(ty, val)),
            };
            tagged(case, json)
        }
        (_, Val::Flags(names)) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        _ => return Err(mismatch(ty, val)),
    })
}

fn each(ty: &Type, items: &[Val]) -> Result<Value, String> {
    Ok(Value::Array(
        items
            .iter()
            .map(|v| from_val(ty, v))
            .collect::<Result<_, _>>()?,
    ))
}

fn float(f: f64, nan: bool) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if nan => Value::String(NAN.into()),
        None if f > 0.0 => Value::String(INFINITY.into()),
        None => Value::String(NEG_INFINITY.into()),
    }
}

fn tagged(case: &str, payload: Value) -> Value {
    let mut object = Map::new();
    object.insert(case.to_owned(), payload);
    Value::Object(object)
}

fn mismatch(ty: &Type, val: &Val) -> String {
    format!(
        "the component returned a value that does not match its type {}: {val:?}",
        wit_text(ty)
    )
}

/// JSON → value, remembering where in the value it is for error messages.
struct ToVal {
    path: Vec<String>,
}

impl ToVal {
    fn fail(&self, reason: impl std::fmt::Display) -> String {
        if self.path.is_empty() {
            reason.to_string()
        } else {
            format!("at {}: {reason}", self.path.join(""))
        }
    }

    fn expected(&self, what: &str, json: &Value) -> String {
        self.fail(format_args!("expected {what}, found {}", describe(json)))
    }

    fn nested<T>(&mut self, step: String, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(step);
        let out = f(self);
        self.path.pop();
        out
    }

    fn items(&mut self, ty: &Type, items: &[Value]) -> Result<Vec<Val>, String> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.nested(format!("[{i}]"), |s| s.convert(ty, item)))
            .collect()
    }

    fn convert(&mut self, ty: &Type, json: &Value) -> Result<Val, String> {
        Ok(match ty {
            Type::Bool => Val::Bool(
                json.as_bool()
                    .ok_or_else(|| self.expected("a boolean", json))?,
            ),
            Type::S8 => Val::S8(self.int(json, "s8")?),
            Type::U8 => Val::U8(self.int(json, "u8")?),
            Type::S16 => Val::S16(self.int(json, "s16")?),
            Type::U16 => Val::U16(self.int(json, "u16")?),
            Type::S32 => Val::S32(self.int(json, "s32")?),
            Type::U32 => Val::U32(self.int(json, "u32")?),
            Type::S64 => Val::S64(self.int(json, "s64")?),
            Type::U64 => Val::U64(self.int(json, "u64")?),
            // Narrowing to f32 rounds to the nearest f32, as a decimal literal would.
            Type::Float32 => Val::Float32(self.float(json)? as f32),
            Type::Float64 => Val::Float64(self.float(json)?),
            Type::Char => {
                let s = json
                    .as_str()
                    .ok_or_else(|| self.expected("a one-character string", json))?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Val::Char(c),
                    _ => return Err(self.expected("a one-character string", json)),
                }
            }
            Type::String => Val::String(
                json.as_str()
                    .ok_or_else(|| self.expected("a string", json))?
                    .to_owned(),
            ),
            Type::List(list) => {
                let items = json
                    .as_array()
                    .ok_or_else(|| self.expected("an array", json))?;
                Val::List(self.items(&list.ty(), items)?)
            }
            Type::FixedLengthList(list) => {
                let len = list.len() as usize;
                let items = json
                    .as_array()
                    .filter(|items| items.len() == len)
                    .ok_or_else(|| self.expected(&format!("an array of {len} elements"), json))?;
                Val::FixedLengthList(self.items(&list.ty(), items)?)
            }
            Type::Map(map) => self.map(&map.key(), &map.value(), json)?,
            Type::Record(record) => {
                let object = json
                    .as_object()
                    .ok_or_else(|| self.expected("an object", json))?;
                let names: Vec<&str> = record.fields().map(|f| f.name).collect();
                if let Some(unknown) = object.keys().find(|k| !names.contains(&k.as_str())) {
                    return Err(self.fail(format_args!(
                        "unknown field {unknown:?} (fields: {})",
                        names.join(", ")
                    )));
                }
                let mut fields = Vec::with_capacity(names.len());
                for field in record.fields() {
                    let value = object
                        .get(field.name)
                        .ok_or_else(|| self.fail(format_args!("missing field {:?}", field.name)))?;
                    let v =
                        self.nested(format!(".{}", field.name), |s| s.convert(&field.ty, value))?;
                    fields.push((field.name.to_owned(), v));
                }
                Val::Record(fields)
            }
            Type::Tuple(tuple) => {
                let len = tuple.types().len();
                let items = json
                    .as_array()
                    .filter(|items| items.len() == len)
                    .ok_or_else(|| self.expected(&format!("an array of {len} elements"), json))?;
                let values = tuple
                    .types()
                    .zip(items)
                    .enumerate()
                    .map(|(i, (t, item))| self.nested(format!("[{i}]"), |s| s.convert(&t, item)))
                    .collect::<Result<_, _>>()?;
                Val::Tuple(values)
            }
            Type::Variant(variant) => {
                let names: Vec<&str> = variant.cases().map(|c| c.name).collect();
                let (case, payload) = self.case(json, &names)?;
                let Some(case_def) = variant.cases().find(|c| c.name == case) else {
                    return Err(self.unknown_case(case, &names));
                };
                match (case_def.ty, payload) {
                    (None, None) => Val::Variant(case.to_owned(), None),
                    (None, Some(Value::Null)) => Val::Variant(case.to_owned(), None),
                    (None, Some(_)) => {
                        return Err(self.fail(format_args!("case {case:?} takes no payload")));
                    }
                    (Some(_), None) => {
                        return Err(self.fail(format_args!(
                            "case {case:?} needs a payload: write {{\"{case}\": value}}"
                        )));
                    }
                    (Some(t), Some(p)) => {
                        let v = self.nested(format!(".{case}"), |s| s.convert(&t, p))?;
                        Val::Variant(case.to_owned(), Some(Box::new(v)))
                    }
                }
            }
            Type::Enum(enumeration) => {
                let names: Vec<&str> = enumeration.names().collect();
                let case = json
                    .as_str()
                    .ok_or_else(|| self.expected("a string naming a case", json))?;
                if !names.contains(&case) {
                    return Err(self.unknown_case(case, &names));
                }
                Val::Enum(case.to_owned())
            }
            Type::Option(option) => {
                let inner_ty = option.ty();
                match json {
                    Value::Null => Val::Option(None),
                    _ if matches!(inner_ty, Type::Option(_)) => {
                        let (case, payload) = self.case(json, &["some"])?;
                        match (case, payload) {
                            ("some", Some(p)) => {
                                let v = self.nested(".some".into(), |s| s.convert(&inner_ty, p))?;
                                Val::Option(Some(Box::new(v)))
                            }
                            _ => return Err(self.expected("null or {\"some\": value}", json)),
                        }
                    }
                    _ => Val::Option(Some(Box::new(self.convert(&inner_ty, json)?))),
                }
            }
            Type::Result(result) => {
                let (case, payload) = self.case(json, &["ok", "err"])?;
                let case_ty = match case {
                    "ok" => result.ok(),
                    "err" => result.err(),
                    other => return Err(self.unknown_case(other, &["ok", "err"])),
                };
                let payload = match (case_ty, payload) {
                    (None, None | Some(Value::Null)) => None,
                    (None, Some(_)) => {
                        return Err(
                            self.fail(format_args!("{case:?} takes no payload: write null"))
                        );
                    }
                    (Some(_), None) => {
                        return Err(self.fail(format_args!(
                            "{case:?} needs a payload: write {{\"{case}\": value}}"
                        )));
                    }
                    (Some(t), Some(p)) => Some(Box::new(
                        self.nested(format!(".{case}"), |s| s.convert(&t, p))?,
                    )),
                };
                Val::Result(if case == "ok" {
                    Ok(payload)
                } else {
                    Err(payload)
                })
            }
            Type::Flags(flags) => {
                let names: Vec<&str> = flags.names().collect();
                let items = json
                    .as_array()
                    .ok_or_else(|| self.expected("an array of flag names", json))?;
                let mut set: Vec<String> = Vec::with_capacity(items.len());
                for item in items {
                    let name = item
                        .as_str()
                        .ok_or_else(|| self.expected("a flag name", item))?;
                    if !names.contains(&name) {
                        return Err(self.fail(format_args!(
                            "unknown flag {name:?} (flags: {})",
                            names.join(", ")
                        )));
                    }
                    if set.iter().any(|s| s == name) {
                        return Err(self.fail(format_args!("flag {name:?} is listed twice")));
                    }
                    set.push(name.to_owned());
                }
                Val::Flags(set)
            }
            Type::Own(_)
            | Type::Borrow(_)
            | Type::Future(_)
            | Type::Stream(_)
            | Type::ErrorContext => {
                return Err(self.fail(format_args!("{} cannot be written as JSON", wit_text(ty))));
            }
        })
    }

    fn int<T: TryFrom<i64> + TryFrom<u64>>(&self, json: &Value, name: &str) -> Result<T, String> {
        let Value::Number(n) = json else {
            return Err(self.expected(&format!("an integer ({name})"), json));
        };
        let converted = if let Some(i) = n.as_i64() {
            T::try_from(i).ok()
        } else if let Some(u) = n.as_u64() {
            T::try_from(u).ok()
        } else {
            return Err(self.expected(&format!("an integer ({name})"), json));
        };
        converted.ok_or_else(|| self.fail(format_args!("{n} is out of range for {name}")))
    }

    fn float(&self, json: &Value) -> Result<f64, String> {
        match json {
            Value::Number(n) => n.as_f64().ok_or_else(|| self.expected("a number", json)),
            Value::String(s) if s == NAN => Ok(f64::NAN),
            Value::String(s) if s == INFINITY => Ok(f64::INFINITY),
            Value::String(s) if s == NEG_INFINITY => Ok(f64::NEG_INFINITY),
            _ => Err(self.expected("a number (or \"NaN\", \"Infinity\", \"-Infinity\")", json)),
        }
    }

    /// A case written as `"case"` or `{"case": payload}`.
    fn case<'j>(
        &self,
        json: &'j Value,
        names: &[&str],
    ) -> Result<(&'j str, Option<&'j Value>), String> {
        match json {
            Value::String(case) => Ok((case, None)),
            Value::Object(object) if object.len() == 1 => {
                let (case, payload) = object.iter().next().expect("one entry");
                Ok((case, Some(payload)))
            }
            _ => Err(self.expected(
                &format!(
                    "\"case\" or {{\"case\": payload}} with a case of {}",
                    names.join(", ")
                ),
                json,
            )),
        }
    }

    fn unknown_case(&self, case: &str, names: &[&str]) -> String {
        self.fail(format_args!(
            "unknown case {case:?} (cases: {})",
            names.join(", ")
        ))
    }

    fn map(&mut self, kt: &Type, vt: &Type, json: &Value) -> Result<Val, String> {
        let mut entries = Vec::new();
        match json {
            Value::Object(object) if *kt == Type::String => {
                for (k, v) in object {
                    let value = self.nested(format!("[{k:?}]"), |s| s.convert(vt, v))?;
                    entries.push((Val::String(k.clone()), value));
                }
            }
            Value::Array(pairs) => {
                for (i, pair) in pairs.iter().enumerate() {
                    let Some([k, v]) = pair.as_array().map(Vec::as_slice) else {
                        return Err(self.nested(format!("[{i}]"), |s| {
                            s.expected("a [key, value] pair", pair)
                        }));
                    };
                    let key = self.nested(format!("[{i}][0]"), |s| s.convert(kt, k))?;
                    let value = self.nested(format!("[{i}][1]"), |s| s.convert(vt, v))?;
                    entries.push((key, value));
                }
            }
            _ => return Err(self.expected("an object or an array of [key, value] pairs", json)),
        }
        Ok(Val::Map(entries))
    }
}

/// A short description of a JSON value for error messages.
pub(super) fn describe(json: &Value) -> String {
    let text = json.to_string();
    if text.len() <= 40 {
        text
    } else {
        let mut end = 37;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    }
}

/// `ty` written as WIT. Component types are structural, so records, variants, enums and
/// flags are written out in full rather than by a name they do not carry.
pub(super) fn wit_text(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(list) => format!("list<{}>", wit_text(&list.ty())),
        Type::FixedLengthList(list) => format!("list<{}, {}>", wit_text(&list.ty()), list.len()),
        Type::Map(map) => format!("map<{}, {}>", wit_text(&map.key()), wit_text(&map.value())),
        Type::Record(record) => {
            let fields: Vec<String> = record
                .fields()
                .map(|f| format!("{}: {}", f.name, wit_text(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(tuple) => {
            let types: Vec<String> = tuple.types().map(|t| wit_text(&t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Variant(variant) => {
            let cases: Vec<String> = variant
                .cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, wit_text(&t)),
                    None => c.name.to_owned(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(enumeration) => {
            format!(
                "enum {{ {} }}",
                enumeration.names().collect::<Vec<_>>().join(", ")
            )
        }
        Type::Option(option) => format!("option<{}>", wit_text(&option.ty())),
        Type::Result(result) => match (result.ok(), result.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", wit_text(&ok)),
            (None, Some(err)) => format!("result<_, {}>", wit_text(&err)),
            (Some(ok), Some(err)) => format!("result<{}, {}>", wit_text(&ok), wit_text(&err)),
        },
        Type::Flags(flags) => format!(
            "flags {{ {} }}",
            flags.names().collect::<Vec<_>>().join(", ")
        ),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(future) => match future.ty() {
            Some(t) => format!("future<{}>", wit_text(&t)),
            None => "future".into(),
        },
        Type::Stream(stream) => match stream.ty() {
            Some(t) => format!("stream<{}>", wit_text(&t)),
            None => "stream".into(),
        },
        Type::ErrorContext => "error-context".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;
    use wasmtime::component::Component;
    use wasmtime::component::types::ComponentItem;
    use wasmtime::{Config, Engine};

    use super::*;

    /// One exported record whose fields have every type the mapping covers.
    const TYPES: &str = r#"
    (component
      (type $r (resource (rep i32)))
      (export $res "res" (type $r))
      (type $point (record (field "x" s32) (field "y" s32)))
      (export $p "point" (type $point))
      (type $shape (variant (case "circle" u32) (case "empty")))
      (export $s "shape" (type $shape))
      (type $color (enum "red" "green"))
      (export $c "color" (type $color))
      (type $perm (flags "read" "write"))
      (export $f "perm" (type $perm))
      (type $all (record
        (field "b" bool) (field "s8" s8) (field "u8" u8) (field "s16" s16) (field "u16" u16)
        (field "s32" s32) (field "u32" u32) (field "s64" s64) (field "u64" u64)
        (field "f32" f32) (field "f64" f64) (field "c" char) (field "str" string)
        (field "bytes" (list u8)) (field "strs" (list string)) (field "point" $p)
        (field "tup" (tuple u8 string)) (field "shape" $s) (field "color" $c)
        (field "opt" (option u32)) (field "optopt" (option (option u32)))
        (field "res" (result u32 (error string))) (field "unit" (result))
        (field "erronly" (result (error string))) (field "perm" $f)
        (field "own" (own $res)) (field "points" (list $p))))
      (export "all" (type $all))
    )
    "#;

    /// The field types of `all`, by field name.
    fn types() -> HashMap<String, Type> {
        let engine = Engine::new(&Config::new()).unwrap();
        let component = Component::new(&engine, TYPES).unwrap();
        let ty = component.component_type();
        let (_, all) = ty.exports(&engine).find(|(n, _)| *n == "all").unwrap();
        let ComponentItem::Type(Type::Record(record)) = all.ty else {
            panic!("`all` is not a record");
        };
        record.fields().map(|f| (f.name.to_owned(), f.ty)).collect()
    }

    /// `json` converts to a value and back to the same JSON.
    fn round_trips(ty: &Type, json: Value) {
        let val = to_val(ty, &json).unwrap_or_else(|e| panic!("{json} as {}: {e}", wit_text(ty)));
        assert_eq!(from_val(ty, &val).unwrap(), json, "as {}", wit_text(ty));
    }

    fn refused(ty: &Type, json: Value) -> String {
        match to_val(ty, &json) {
            Ok(v) => panic!("{json} accepted as {}: {v:?}", wit_text(ty)),
            Err(e) => e,
        }
    }

    #[test]
    fn scalars_round_trip_and_ranges_are_checked() {
        let t = types();
        round_trips(&t["b"], json!(true));
        refused(&t["b"], json!(1));
        for (name, min, max) in [
            ("s8", json!(-128), json!(127)),
            ("u8", json!(0), json!(255)),
            ("s16", json!(-32768), json!(32767)),
            ("u16", json!(0), json!(65535)),
            ("s32", json!(i32::MIN), json!(i32::MAX)),
            ("u32", json!(0), json!(u32::MAX)),
            ("s64", json!(i64::MIN), json!(i64::MAX)),
            ("u64", json!(0), json!(u64::MAX)),
        ] {
            round_trips(&t[name], min.clone());
            round_trips(&t[name], max.clone());
            let wide = |v: &Value| v.as_i64().map(i128::from).or(v.as_u64().map(i128::from));
            let below = wide(&min).unwrap() - 1;
            let above = wide(&max).unwrap() + 1;
            if let Ok(below) = i64::try_from(below) {
                let err = refused(&t[name], json!(below));
                assert!(err.contains(&format!("out of range for {name}")), "{err}");
            }
            if let Ok(above) = u64::try_from(above) {
                refused(&t[name], json!(above));
            }
            refused(&t[name], json!(1.5));
            refused(&t[name], json!("1"));
        }
        round_trips(&t["f64"], json!(1.5));
        round_trips(&t["f64"], json!(-0.25));
        round_trips(&t["f32"], json!(0.1));
        for special in ["NaN", "Infinity", "-Infinity"] {
            round_trips(&t["f32"], json!(special));
            round_trips(&t["f64"], json!(special));
        }
        refused(&t["f64"], json!("1.5"));
        round_trips(&t["c"], json!("é"));
        refused(&t["c"], json!("ab"));
        refused(&t["c"], json!(""));
        round_trips(&t["str"], json!("héllo\u{0}"));
        refused(&t["str"], json!(null));
    }

    #[test]
    fn lists_tuples_and_records() {
        let t = types();
        round_trips(&t["bytes"], json!([0, 1, 255]));
        round_trips(&t["bytes"], json!([]));
        let err = refused(&t["bytes"], json!([0, 256]));
        assert!(err.starts_with("at [1]:"), "{err}");
        refused(&t["bytes"], json!("AAEC"));
        round_trips(&t["strs"], json!(["a", "b"]));
        round_trips(&t["tup"], json!([7, "x"]));
        refused(&t["tup"], json!([7]));
        refused(&t["tup"], json!([7, "x", 1]));
        round_trips(&t["point"], json!({"x": -1, "y": 2}));
        let err = refused(&t["point"], json!({"x": 1}));
        assert!(err.contains("missing field \"y\""), "{err}");
        let err = refused(&t["point"], json!({"x": 1, "y": 2, "z": 3}));
        assert!(err.contains("unknown field \"z\""), "{err}");
        let err = refused(&t["points"], json!([{"x": 1, "y": 2}, {"x": "1", "y": 2}]));
        assert!(err.starts_with("at [1].x:"), "{err}");
    }

    #[test]
    fn variants_enums_options_results_and_flags() {
        let t = types();
        round_trips(&t["shape"], json!({"circle": 3}));
        round_trips(&t["shape"], json!("empty"));
        assert_eq!(
            to_val(&t["shape"], &json!({"empty": null})).unwrap(),
            Val::Variant("empty".into(), None)
        );
        assert!(refused(&t["shape"], json!("circle")).contains("needs a payload"));
        assert!(refused(&t["shape"], json!({"empty": 1})).contains("takes no payload"));
        assert!(refused(&t["shape"], json!("square")).contains("unknown case \"square\""));
        refused(&t["shape"], json!({"circle": 1, "empty": null}));
        round_trips(&t["color"], json!("green"));
        refused(&t["color"], json!("blue"));
        refused(&t["color"], json!({"red": null}));

        round_trips(&t["opt"], json!(null));
        round_trips(&t["opt"], json!(5));
        round_trips(&t["optopt"], json!(null));
        round_trips(&t["optopt"], json!({"some": null}));
        round_trips(&t["optopt"], json!({"some": 5}));
        refused(&t["optopt"], json!(5));

        round_trips(&t["res"], json!({"ok": 1}));
        round_trips(&t["res"], json!({"err": "bad"}));
        refused(&t["res"], json!({"ok": "1"}));
        refused(&t["res"], json!({"fine": 1}));
        refused(&t["res"], json!(1));
        round_trips(&t["unit"], json!({"ok": null}));
        round_trips(&t["unit"], json!({"err": null}));
        refused(&t["unit"], json!({"ok": 1}));
        round_trips(&t["erronly"], json!({"ok": null}));
        round_trips(&t["erronly"], json!({"err": "x"}));
        refused(&t["erronly"], json!("err"));

        round_trips(&t["perm"], json!([]));
        round_trips(&t["perm"], json!(["read", "write"]));
        assert!(refused(&t["perm"], json!(["exec"])).contains("unknown flag"));
        assert!(refused(&t["perm"], json!(["read", "read"])).contains("twice"));
    }

    #[test]
    fn resources_are_refused_with_a_reason() {
        let t = types();
        assert_eq!(
            check(&t["own"]).unwrap_err(),
            "it takes or returns a resource"
        );
        assert!(refused(&t["own"], json!(0)).contains("own<resource>"));
        for (name, ty) in &t {
            if name != "own" {
                check(ty).unwrap();
            }
        }
    }

    #[test]
    fn types_are_written_as_wit() {
        let t = types();
        assert_eq!(wit_text(&t["bytes"]), "list<u8>");
        assert_eq!(wit_text(&t["point"]), "record { x: s32, y: s32 }");
        assert_eq!(wit_text(&t["tup"]), "tuple<u8, string>");
        assert_eq!(wit_text(&t["shape"]), "variant { circle(u32), empty }");
        assert_eq!(wit_text(&t["color"]), "enum { red, green }");
        assert_eq!(wit_text(&t["optopt"]), "option<option<u32>>");
        assert_eq!(wit_text(&t["res"]), "result<u32, string>");
        assert_eq!(wit_text(&t["unit"]), "result");
        assert_eq!(wit_text(&t["erronly"]), "result<_, string>");
        assert_eq!(wit_text(&t["perm"]), "flags { read, write }");
    }
}
