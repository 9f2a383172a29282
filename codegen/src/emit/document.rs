//! The checked schema as a JSON document (`acton-schema/1`): what a server built
//! from the schema serves in DISCOVER (`include_schema`), what `actonctl` reads to
//! describe and validate, and whose wire-relevant part is fingerprinted.
//!
//! Named types are referred to by their wire names (`shop.AddRequest`), so a
//! document is self-contained across imported packages.

use serde_json::{json, Map, Value};

use crate::model::{Field, MethodKind, Schema, TypeDef, TypeKind, TypeRef};

/// The format of the document, its first key.
pub const FORMAT: &str = "acton-schema/1";

/// The whole document: docs, deprecations and aliases included.
pub fn document(schema: &Schema) -> Value {
    build(schema, true)
}

/// A fingerprint of what travels on the wire (names, shapes, methods; not docs,
/// deprecations or aliases): equal fingerprints, same wire contract.
/// `fnv1a64:` and 16 hex digits.
pub fn fingerprint(schema: &Schema) -> String {
    let text = super::canonical_json(&build(schema, false));
    format!("fnv1a64:{:016x}", fnv1a64(text.as_bytes()))
}

/// What every generated package embeds: the document as canonical JSON text, and
/// the fingerprint. Built once per generation and shared by the targets (for a
/// large schema, building it is a good part of the time).
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) document: String,
    pub(crate) fingerprint: String,
}

impl Served {
    pub(crate) fn of(schema: &Schema) -> Self {
        Self {
            document: super::canonical_json(&document(schema)),
            fingerprint: fingerprint(schema),
        }
    }
}

/// [`Served`], built by whichever target needs it first (targets run on several
/// threads; the others wait for it rather than build it again).
pub(crate) struct LazyServed<'a> {
    schema: &'a Schema,
    cell: std::sync::OnceLock<Served>,
}

impl<'a> LazyServed<'a> {
    pub(crate) fn new(schema: &'a Schema) -> Self {
        Self {
            schema,
            cell: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn get(&self) -> &Served {
        self.cell.get_or_init(|| Served::of(self.schema))
    }
}

/// FNV-1a, 64 bits: stable, dependency-free, and enough to tell two contracts
/// apart (not a defence against a forger: the document itself travels too).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn build(schema: &Schema, full: bool) -> Value {
    let mut out = Map::new();
    out.insert("format".into(), json!(FORMAT));
    out.insert("package".into(), json!(schema.package));
    if full {
        out.insert("doc".into(), json!(schema.doc));
    }
    out.insert(
        "types".into(),
        Value::Array(
            schema
                .types
                .iter()
                .map(|def| type_def(schema, def, full))
                .collect(),
        ),
    );
    out.insert(
        "services".into(),
        Value::Array(
            schema
                .services
                .iter()
                .map(|service| {
                    let methods: Vec<Value> = service
                        .methods
                        .iter()
                        .map(|method| {
                            let wire = |index| json!(schema.ty(index).wire_name);
                            let (kind, answer) = match method.kind {
                                MethodKind::Reply(reply) => ("reply", wire(reply)),
                                MethodKind::Stream(item) => ("stream", wire(item)),
                                MethodKind::FireAndForget => ("fire_and_forget", Value::Null),
                            };
                            let mut m = Map::new();
                            m.insert("name".into(), json!(method.name));
                            m.insert("kind".into(), json!(kind));
                            m.insert("request".into(), wire(method.request));
                            m.insert("answer".into(), answer);
                            m.insert(
                                "errors".into(),
                                Value::Array(method.errors.iter().map(|e| wire(*e)).collect()),
                            );
                            if full {
                                m.insert("doc".into(), json!(method.doc));
                                m.insert("deprecated".into(), json!(method.deprecated));
                            }
                            Value::Object(m)
                        })
                        .collect();
                    let mut s = Map::new();
                    s.insert("name".into(), json!(service.name));
                    s.insert("methods".into(), Value::Array(methods));
                    s.insert(
                        "pushes".into(),
                        Value::Array(
                            service
                                .pushes
                                .iter()
                                .map(|p| json!(schema.ty(*p).wire_name))
                                .collect(),
                        ),
                    );
                    if full {
                        s.insert("doc".into(), json!(service.doc));
                        s.insert("deprecated".into(), json!(service.deprecated));
                        s.insert("exclusive".into(), json!(service.exclusive));
                    }
                    Value::Object(s)
                })
                .collect(),
        ),
    );
    Value::Object(out)
}

fn type_def(schema: &Schema, def: &TypeDef, full: bool) -> Value {
    let mut out = Map::new();
    out.insert("wire_name".into(), json!(def.wire_name));
    out.insert("name".into(), json!(def.name));
    out.insert("package".into(), json!(def.package));
    let kind = match (&def.kind, def.is_error) {
        (TypeKind::Struct { .. }, true) => "error",
        (TypeKind::Struct { .. }, false) => "struct",
        (TypeKind::Enum { .. }, _) => "enum",
        (TypeKind::Union { .. }, _) => "union",
    };
    out.insert("kind".into(), json!(kind));
    match &def.kind {
        TypeKind::Struct { fields } => {
            out.insert("fields".into(), fields_of(schema, fields, full));
        }
        TypeKind::Enum { variants } => {
            out.insert("open".into(), json!(def.open));
            let values: Vec<Value> = variants
                .iter()
                .map(|v| {
                    if full {
                        json!({ "name": v.name, "doc": v.doc, "deprecated": v.deprecated })
                    } else {
                        json!({ "name": v.name })
                    }
                })
                .collect();
            out.insert("values".into(), Value::Array(values));
        }
        TypeKind::Union { tag, variants } => {
            out.insert("open".into(), json!(def.open));
            out.insert("tag".into(), json!(tag));
            let variants: Vec<Value> = variants
                .iter()
                .map(|v| {
                    let mut variant = Map::new();
                    variant.insert("name".into(), json!(v.name));
                    variant.insert("fields".into(), fields_of(schema, &v.fields, full));
                    if full {
                        variant.insert("doc".into(), json!(v.doc));
                    }
                    Value::Object(variant)
                })
                .collect();
            out.insert("variants".into(), Value::Array(variants));
        }
    }
    if full {
        out.insert("doc".into(), json!(def.doc));
        out.insert("deprecated".into(), json!(def.deprecated));
        out.insert("reserved".into(), json!(def.reserved));
    }
    Value::Object(out)
}

fn fields_of(schema: &Schema, fields: &[Field], full: bool) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|field| {
                let mut out = Map::new();
                out.insert("name".into(), json!(field.name));
                out.insert("type".into(), json!(type_text(schema, &field.ty)));
                out.insert(
                    "default".into(),
                    field.default.clone().unwrap_or(Value::Null),
                );
                out.insert("has_default".into(), json!(field.default.is_some()));
                if full {
                    out.insert("aliases".into(), json!(field.aliases));
                    out.insert("doc".into(), json!(field.doc));
                    out.insert("deprecated".into(), json!(field.deprecated));
                }
                Value::Object(out)
            })
            .collect(),
    )
}

/// A type expression with named types by wire name (`list<shop.Point>?`).
fn type_text(schema: &Schema, ty: &TypeRef) -> String {
    match ty {
        TypeRef::Scalar(scalar) => scalar.name().to_owned(),
        TypeRef::List(inner) => format!("list<{}>", type_text(schema, inner)),
        TypeRef::Map(inner) => format!("map<string, {}>", type_text(schema, inner)),
        TypeRef::Optional(inner) => format!("{}?", type_text(schema, inner)),
        TypeRef::Named(index) => schema.ty(*index).wire_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Schema {
        crate::parse_schema("s.yaml", text).unwrap_or_else(|d| panic!("{d}"))
    }

    #[test]
    fn the_fingerprint_ignores_docs_but_not_the_wire() {
        let base = "acton: 1\npackage: p\ntypes:\n  A:\n    fields: { x: i64 }\n";
        let documented = "acton: 1\npackage: p\ndoc: Docs.\ntypes:\n  A:\n    doc: An A.\n    fields: { x: { type: i64, doc: The x. } }\n";
        let widened = "acton: 1\npackage: p\ntypes:\n  A:\n    fields: { x: i64, y: string? }\n";
        assert_eq!(fingerprint(&schema(base)), fingerprint(&schema(documented)));
        assert_ne!(fingerprint(&schema(base)), fingerprint(&schema(widened)));
        assert!(fingerprint(&schema(base)).starts_with("fnv1a64:"));
        let doc = document(&schema(documented));
        assert_eq!(doc["types"][0]["wire_name"], "p.A");
        assert_eq!(doc["types"][0]["fields"][0]["type"], "i64");
        assert_eq!(doc["types"][0]["doc"], "An A.");
    }
}
