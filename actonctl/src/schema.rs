//! A schema document (`acton-schema/1`) — served by DISCOVER or built from a
//! schema file — and what `actonctl` asks of it: methods by `service.method`,
//! types by wire or short name, and payloads checked against a type with their
//! defaults filled in.

use std::fmt::Write as _;
use std::str::FromStr;

use acton_reactive::ipc::wire::{Duration, Timestamp};
use serde_json::{Map, Value};

/// A schema document.
#[derive(Debug, Clone)]
pub struct SchemaDoc {
    document: Value,
}

/// A method found in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInfo {
    /// The service (the target actor).
    pub service: String,
    /// The method's name.
    pub name: String,
    /// `reply`, `stream` or `fire_and_forget`.
    pub kind: String,
    /// The request's wire name.
    pub request: String,
    /// The answer's wire name (a reply's or a stream item's).
    pub answer: Option<String>,
}

/// Why a payload does not fit its type: where (`price.cents`) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("field {path}: ") })]
pub struct Invalid {
    /// The path to the offending value (`items[2].name`), empty for the whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl SchemaDoc {
    /// Wraps a document; `None` when it is not an `acton-schema/1` document.
    pub fn new(document: Value) -> Option<Self> {
        let format = document.get("format")?.as_str()?;
        format
            .starts_with("acton-schema/")
            .then_some(Self { document })
    }

    /// The document.
    pub fn document(&self) -> &Value {
        &self.document
    }

    fn array(&self, key: &str) -> &[Value] {
        self.document
            .get(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Every type, in document order.
    pub fn types(&self) -> &[Value] {
        self.array("types")
    }

    /// Every service, in document order.
    pub fn services(&self) -> &[Value] {
        self.array("services")
    }

    /// A type by wire name (`shop.AddRequest`), or by short name when only one
    /// type has it.
    pub fn type_named(&self, name: &str) -> Option<&Value> {
        let by_wire = self.types().iter().find(|t| str_of(t, "wire_name") == name);
        by_wire.or_else(|| {
            let mut short = self.types().iter().filter(|t| str_of(t, "name") == name);
            match (short.next(), short.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
    }

    /// The method `service.method`.
    ///
    /// # Errors
    /// A message naming what exists, when it is not found.
    pub fn method(&self, path: &str) -> Result<MethodInfo, String> {
        let Some((service_name, method_name)) = path.rsplit_once('.') else {
            return Err(format!(
                "`{path}` is not SERVICE.METHOD; services: {}",
                self.service_names().join(", ")
            ));
        };
        let Some(service) = self
            .services()
            .iter()
            .find(|s| str_of(s, "name") == service_name)
        else {
            return Err(format!(
                "no service `{service_name}`; services: {}",
                self.service_names().join(", ")
            ));
        };
        let methods = service
            .get("methods")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let Some(method) = methods.iter().find(|m| str_of(m, "name") == method_name) else {
            let names: Vec<&str> = methods.iter().map(|m| str_of(m, "name")).collect();
            return Err(format!(
                "service `{service_name}` has no method `{method_name}`; methods: {}",
                names.join(", ")
            ));
        };
        Ok(MethodInfo {
            service: service_name.to_owned(),
            name: method_name.to_owned(),
            kind: str_of(method, "kind").to_owned(),
            request: str_of(method, "request").to_owned(),
            answer: method
                .get("answer")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    fn service_names(&self) -> Vec<&str> {
        self.services().iter().map(|s| str_of(s, "name")).collect()
    }

    /// Checks `value` against the type `type_text` (`i64`, `list<shop.Point>?`,
    /// `shop.AddRequest`), and returns it with absent defaulted fields filled in.
    ///
    /// # Errors
    /// The first place where it does not fit.
    pub fn check(&self, type_text: &str, value: &Value) -> Result<Value, Invalid> {
        self.check_at(type_text, value, "")
    }

    fn check_at(&self, type_text: &str, value: &Value, path: &str) -> Result<Value, Invalid> {
        let invalid = |message: String| Invalid {
            path: path.to_owned(),
            message,
        };
        let type_text = type_text.trim();
        if let Some(inner) = type_text.strip_suffix('?') {
            return if value.is_null() {
                Ok(Value::Null)
            } else {
                self.check_at(inner, value, path)
            };
        }
        if let Some(inner) = generic(type_text, "list") {
            let Value::Array(items) = value else {
                return Err(invalid(format!("expected a list, got {}", kind_of(value))));
            };
            return items
                .iter()
                .enumerate()
                .map(|(i, item)| self.check_at(inner, item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        if let Some(inner) = generic(type_text, "map") {
            let inner = inner.split_once(',').map_or(inner, |(_, v)| v);
            let Value::Object(entries) = value else {
                return Err(invalid(format!("expected a map, got {}", kind_of(value))));
            };
            let mut out = Map::new();
            for (key, item) in entries {
                out.insert(key.clone(), self.check_at(inner, item, &join(path, key))?);
            }
            return Ok(Value::Object(out));
        }
        if let Some(expected) = scalar_mismatch(type_text, value) {
            return match expected {
                Scalar::Fits => Ok(value.clone()),
                Scalar::Expected(what) => {
                    Err(invalid(format!("expected {what}, got {}", kind_of(value))))
                }
                Scalar::Wrong(message) => Err(invalid(message)),
            };
        }
        let Some(def) = self.type_named(type_text) else {
            return Err(invalid(format!("the schema has no type `{type_text}`")));
        };
        self.check_named(def, value, path)
    }

    fn check_named(&self, def: &Value, value: &Value, path: &str) -> Result<Value, Invalid> {
        let invalid = |message: String| Invalid {
            path: path.to_owned(),
            message,
        };
        let name = str_of(def, "name");
        match str_of(def, "kind") {
            "enum" => {
                let Value::String(text) = value else {
                    return Err(invalid(format!(
                        "expected a {name} (a string), got {}",
                        kind_of(value)
                    )));
                };
                let values: Vec<&str> = def
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().map(|x| str_of(x, "name")).collect())
                    .unwrap_or_default();
                if values.contains(&text.as_str()) || def.get("open") == Some(&Value::Bool(true)) {
                    Ok(value.clone())
                } else {
                    Err(invalid(format!(
                        "`{text}` is not a {name}: one of {}",
                        values.join(", ")
                    )))
                }
            }
            "union" => {
                let Value::Object(entries) = value else {
                    return Err(invalid(format!(
                        "expected a {name} (an object), got {}",
                        kind_of(value)
                    )));
                };
                let tag = str_of(def, "tag");
                let variants = def
                    .get("variants")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                let names: Vec<&str> = variants.iter().map(|v| str_of(v, "name")).collect();
                let Some(Value::String(chosen)) = entries.get(tag) else {
                    return Err(invalid(format!(
                        "a {name} needs its `{tag}`: one of {}",
                        names.join(", ")
                    )));
                };
                let Some(variant) = variants.iter().find(|v| str_of(v, "name") == chosen) else {
                    if def.get("open") == Some(&Value::Bool(true)) {
                        return Ok(value.clone());
                    }
                    return Err(invalid(format!(
                        "`{chosen}` is not a variant of {name}: one of {}",
                        names.join(", ")
                    )));
                };
                let mut out = self.check_fields(
                    variant,
                    entries,
                    path,
                    &format!("{name}.{chosen}"),
                    Some(tag),
                )?;
                let mut tagged = Map::new();
                tagged.insert(tag.to_owned(), Value::String(chosen.clone()));
                tagged.append(&mut out);
                Ok(Value::Object(tagged))
            }
            _ => {
                let entries = match value {
                    Value::Object(entries) => entries.clone(),
                    // A unit message may be written as null.
                    Value::Null if fields_of(def).is_empty() => Map::new(),
                    other => {
                        return Err(invalid(format!(
                            "expected a {name} (an object), got {}",
                            kind_of(other)
                        )))
                    }
                };
                self.check_fields(def, &entries, path, name, None)
                    .map(Value::Object)
            }
        }
    }

    /// The fields of a struct or union variant: each present one checked, absent
    /// ones with a default filled in, required ones demanded, unknown ones refused.
    fn check_fields(
        &self,
        owner: &Value,
        entries: &Map<String, Value>,
        path: &str,
        owner_name: &str,
        tag: Option<&str>,
    ) -> Result<Map<String, Value>, Invalid> {
        let fields = fields_of(owner);
        let mut out = Map::new();
        for field in fields {
            let name = str_of(field, "name");
            let aliases: Vec<&str> = field
                .get("aliases")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let given = std::iter::once(name)
                .chain(aliases)
                .find_map(|key| entries.get(key));
            let ty = str_of(field, "type");
            match given {
                Some(value) => {
                    let checked = self.check_at(ty, value, &join(path, name))?;
                    out.insert(name.to_owned(), checked);
                }
                None if field.get("has_default") == Some(&Value::Bool(true)) => {
                    out.insert(
                        name.to_owned(),
                        field.get("default").cloned().unwrap_or(Value::Null),
                    );
                }
                None if ty.ends_with('?') => {}
                None => {
                    return Err(Invalid {
                        path: join(path, name),
                        message: format!("required by {owner_name}, missing"),
                    })
                }
            }
        }
        for key in entries.keys() {
            let known = Some(key.as_str()) == tag
                || fields.iter().any(|f| {
                    str_of(f, "name") == key
                        || f.get("aliases")
                            .and_then(Value::as_array)
                            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(key)))
                });
            if !known {
                let names: Vec<&str> = fields.iter().map(|f| str_of(f, "name")).collect();
                let mut message = format!("{owner_name} has no such field");
                if names.is_empty() {
                    message.push_str(" (it has none)");
                } else {
                    let _ = write!(message, "; its fields: {}", names.join(", "));
                }
                return Err(Invalid {
                    path: join(path, key),
                    message,
                });
            }
        }
        Ok(out)
    }
}

fn fields_of(owner: &Value) -> &[Value] {
    owner
        .get("fields")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `value[key]` as a string, or `""`.
pub fn str_of<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `list<T>` → `T` (the text between the outer brackets).
fn generic<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('<')?
        .strip_suffix('>')
}

/// How a JSON value is described in messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

enum Scalar {
    Fits,
    Expected(String),
    Wrong(String),
}

/// `None` when `type_text` is not a scalar; else whether `value` fits it.
fn scalar_mismatch(type_text: &str, value: &Value) -> Option<Scalar> {
    let integer = |min: i128, max: i128| -> Scalar {
        let n = value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from));
        match n {
            Some(n) if (min..=max).contains(&n) => Scalar::Fits,
            Some(n) => Scalar::Wrong(format!(
                "{n} is out of the range of {type_text} ({min} to {max})"
            )),
            None => Scalar::Expected(type_text.to_owned()),
        }
    };
    Some(match type_text {
        "bool" => fits(value.is_boolean(), "bool"),
        "i8" => integer(i8::MIN.into(), i8::MAX.into()),
        "i16" => integer(i16::MIN.into(), i16::MAX.into()),
        "i32" => integer(i32::MIN.into(), i32::MAX.into()),
        "i64" => integer(i64::MIN.into(), i64::MAX.into()),
        "u8" => integer(0, u8::MAX.into()),
        "u16" => integer(0, u16::MAX.into()),
        "u32" => integer(0, u32::MAX.into()),
        "u64" => integer(0, u64::MAX.into()),
        "f32" | "f64" => fits(value.is_number(), type_text),
        "string" => fits(value.is_string(), "string"),
        "bytes" => fits(
            value.is_string() || value.is_array(),
            "bytes (a base64 string)",
        ),
        "json" => Scalar::Fits,
        "timestamp" => {
            parsed::<Timestamp>(value, "timestamp (RFC 3339, such as 2026-11-28T07:03:53Z)")
        }
        "duration" => parsed::<Duration>(value, "duration (such as \"1.5s\")"),
        _ => return None,
    })
}

fn fits(ok: bool, expected: &str) -> Scalar {
    if ok {
        Scalar::Fits
    } else {
        Scalar::Expected(expected.to_owned())
    }
}

fn parsed<T: FromStr>(value: &Value, expected: &str) -> Scalar
where
    T::Err: std::fmt::Display,
{
    match value.as_str().map(str::parse::<T>) {
        Some(Ok(_)) => Scalar::Fits,
        Some(Err(error)) => Scalar::Wrong(error.to_string()),
        None => Scalar::Expected(expected.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> SchemaDoc {
        let schema = acton_codegen::parse_schema(
            "s.yaml",
            "acton: 1\npackage: p\ntypes:\n  Add:\n    fields: { a: i64, b: { type: i64, default: 0 }, note: string?, tags: list<Tag> }\n  Tag: { enum: [x, y] }\n  Sum: { fields: { sum: i64 } }\nservices:\n  calc:\n    methods: { add: { request: Add, reply: Sum } }\n",
        )
        .unwrap_or_else(|d| panic!("{d}"));
        SchemaDoc::new(acton_codegen::generate::schema_document(&schema))
            .unwrap_or_else(|| panic!("a document"))
    }

    #[test]
    fn payloads_are_checked_and_defaults_filled() {
        let doc = doc();
        let method = doc.method("calc.add").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (method.request.as_str(), method.kind.as_str()),
            ("p.Add", "reply")
        );
        let filled = doc.check(&method.request, &json!({"a": 1, "tags": ["x"]}));
        assert_eq!(filled, Ok(json!({"a": 1, "b": 0, "tags": ["x"]})));
        let wrong = doc
            .check("p.Add", &json!({"a": "one", "tags": []}))
            .unwrap_err();
        assert_eq!(wrong.to_string(), "field a: expected i64, got a string");
        let wrong = doc
            .check("p.Add", &json!({"a": 1, "tags": ["z"]}))
            .unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "field tags[0]: `z` is not a Tag: one of x, y"
        );
        let wrong = doc
            .check("p.Add", &json!({"a": 1, "tags": [], "nmae": 1}))
            .unwrap_err();
        assert!(
            wrong
                .to_string()
                .starts_with("field nmae: Add has no such field"),
            "{wrong}"
        );
        let wrong = doc.check("p.Add", &json!({"tags": []})).unwrap_err();
        assert_eq!(wrong.to_string(), "field a: required by Add, missing");
        assert!(doc.method("calc.sub").unwrap_err().contains("methods: add"));
    }
}
