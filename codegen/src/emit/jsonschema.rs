//! The JSON Schema target (draft 2020-12): one document with a definition per type,
//! keyed by wire name, so that any language can validate payloads.
//!
//! Wire rules it states: optional fields and fields with defaults are not
//! `required`; optional fields accept `null`; unknown fields are allowed (old
//! readers ignore new fields); `bytes` is a base64 string; 64-bit integers carry
//! their exact range.

use serde_json::{json, Map, Value};

use super::GeneratedFile;
use crate::model::{Field, MethodKind, Scalar, Schema, TypeDef, TypeKind, TypeRef};

/// Generates `<stem>.schema.json`.
pub fn generate(schema: &Schema, file_stem: &str) -> GeneratedFile {
    GeneratedFile {
        path: format!("{file_stem}.schema.json").into(),
        contents: render(schema),
    }
}

/// The schema document, pretty-printed.
pub fn render(schema: &Schema) -> String {
    let definitions: Map<String, Value> = schema
        .types
        .iter()
        .map(|def| (def.wire_name.clone(), type_schema(schema, def)))
        .collect();
    let services: Map<String, Value> = schema
        .services
        .iter()
        .map(|service| {
            let methods: Map<String, Value> = service
                .methods
                .iter()
                .map(|method| {
                    let mut entry = Map::new();
                    entry.insert("request".into(), reference(schema.ty(method.request)));
                    match method.kind {
                        MethodKind::Reply(reply) => {
                            entry.insert("reply".into(), reference(schema.ty(reply)));
                        }
                        MethodKind::Stream(item) => {
                            entry.insert("stream".into(), reference(schema.ty(item)));
                        }
                        MethodKind::FireAndForget => {}
                    }
                    if let Some(doc) = &method.doc {
                        entry.insert("description".into(), Value::String(doc.clone()));
                    }
                    (method.name.clone(), Value::Object(entry))
                })
                .collect();
            let pushes: Vec<Value> = service
                .pushes
                .iter()
                .map(|p| reference(schema.ty(*p)))
                .collect();
            let mut entry = Map::new();
            if let Some(doc) = &service.doc {
                entry.insert("description".into(), Value::String(doc.clone()));
            }
            entry.insert("methods".into(), Value::Object(methods));
            entry.insert("pushes".into(), Value::Array(pushes));
            (service.name.clone(), Value::Object(entry))
        })
        .collect();
    let mut document = Map::new();
    document.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    document.insert("$comment".into(), Value::String(super::banner(schema)));
    if let Some(doc) = &schema.doc {
        document.insert("description".into(), Value::String(doc.clone()));
    }
    document.insert("$defs".into(), Value::Object(definitions));
    document.insert("x-acton-services".into(), Value::Object(services));
    let mut text = serde_json::to_string_pretty(&super::sorted_keys(Value::Object(document)))
        .unwrap_or_default();
    text.push('\n');
    text
}

fn reference(def: &TypeDef) -> Value {
    json!({ "$ref": format!("#/$defs/{}", def.wire_name) })
}

fn describe(target: &mut Map<String, Value>, doc: Option<&str>, deprecated: Option<&str>) {
    if let Some(doc) = doc {
        target.insert("description".into(), Value::String(doc.to_owned()));
    }
    if let Some(reason) = deprecated {
        target.insert("deprecated".into(), Value::Bool(true));
        if !reason.is_empty() {
            target.insert(
                "x-deprecation-reason".into(),
                Value::String(reason.to_owned()),
            );
        }
    }
}

fn type_schema(schema: &Schema, def: &TypeDef) -> Value {
    let mut out = match &def.kind {
        TypeKind::Struct { fields } => object(schema, fields, None),
        TypeKind::Enum { variants } if def.open => {
            // Open: any name is valid; the known ones are listed as examples.
            let mut out = Map::new();
            out.insert("type".into(), json!("string"));
            out.insert(
                "examples".into(),
                Value::Array(
                    variants
                        .iter()
                        .map(|v| Value::String(v.name.clone()))
                        .collect(),
                ),
            );
            out
        }
        TypeKind::Enum { variants } => {
            let mut out = Map::new();
            out.insert("type".into(), json!("string"));
            out.insert(
                "enum".into(),
                Value::Array(
                    variants
                        .iter()
                        .map(|v| Value::String(v.name.clone()))
                        .collect(),
                ),
            );
            out
        }
        TypeKind::Union { tag, variants } => {
            let cases: Vec<Value> = variants
                .iter()
                .map(|variant| {
                    let mut case = object(schema, &variant.fields, Some((tag, &variant.name)));
                    describe(&mut case, variant.doc.as_deref(), None);
                    Value::Object(case)
                })
                .collect();
            let mut out = Map::new();
            if def.open {
                // Open: an object with another tag is valid too.
                let known: Vec<Value> = variants
                    .iter()
                    .map(|v| Value::String(v.name.clone()))
                    .collect();
                let mut cases = cases;
                cases.push(json!({
                    "type": "object",
                    "required": [tag],
                    "properties": { tag.as_str(): { "type": "string", "not": { "enum": known } } },
                }));
                out.insert("oneOf".into(), Value::Array(cases));
            } else {
                out.insert("oneOf".into(), Value::Array(cases));
            }
            out
        }
    };
    out.insert("title".into(), Value::String(def.name.clone()));
    describe(&mut out, def.doc.as_deref(), def.deprecated.as_deref());
    Value::Object(out)
}

/// An object schema for fields (with the union tag first, for union variants).
fn object(
    schema: &Schema,
    fields: &[Field],
    tag: Option<(&String, &String)>,
) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    if let Some((tag, variant)) = tag {
        properties.insert(tag.clone(), json!({ "const": variant }));
        required.push(Value::String(tag.clone()));
    }
    for field in fields {
        let mut property = match type_ref(schema, &field.ty) {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("allOf".into(), Value::Array(vec![other]));
                map
            }
        };
        describe(
            &mut property,
            field.doc.as_deref(),
            field.deprecated.as_deref(),
        );
        if let Some(default) = &field.default {
            property.insert("default".into(), default.clone());
        }
        if !field.may_be_absent() {
            required.push(Value::String(field.name.clone()));
        }
        properties.insert(field.name.clone(), Value::Object(property));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out
}

fn type_ref(schema: &Schema, ty: &TypeRef) -> Value {
    match ty {
        TypeRef::Scalar(scalar) => match scalar {
            Scalar::Bool => json!({ "type": "boolean" }),
            Scalar::String => json!({ "type": "string" }),
            Scalar::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Scalar::Json => json!({}),
            Scalar::Timestamp => json!({ "type": "string", "format": "date-time" }),
            Scalar::Duration => json!({ "type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,9})?s$" }),
            Scalar::F32 | Scalar::F64 => json!({ "type": "number" }),
            integer => match integer.integer_range() {
                Some((min, max)) => {
                    json!({ "type": "integer", "minimum": number(min), "maximum": number(max) })
                }
                None => json!({ "type": "integer" }),
            },
        },
        TypeRef::List(inner) => json!({ "type": "array", "items": type_ref(schema, inner) }),
        TypeRef::Map(inner) => {
            json!({ "type": "object", "additionalProperties": type_ref(schema, inner) })
        }
        TypeRef::Optional(inner) => {
            json!({ "anyOf": [type_ref(schema, inner), { "type": "null" }] })
        }
        TypeRef::Named(index) => reference(schema.ty(*index)),
    }
}

/// An exact JSON number for an integer bound (u64::MAX does not fit an i64).
fn number(value: i128) -> Value {
    if let Ok(v) = i64::try_from(value) {
        Value::from(v)
    } else if let Ok(v) = u64::try_from(value) {
        Value::from(v)
    } else {
        Value::from(0)
    }
}
