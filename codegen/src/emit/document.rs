//! The checked schema as a JSON document (`acton-schema/1`): what a server built
//! from the schema serves in DISCOVER (`include_schema`), what `actonctl` reads to
//! describe and validate, and whose wire-relevant part is fingerprinted.
//!
//! Named types are referred to by their wire names (`shop.AddRequest`), so a
//! document is self-contained across imported packages.

use serde_json::Value;

use crate::model::{Field, Method, MethodKind, Schema, TypeDef, TypeIndex, TypeKind, TypeRef};

/// The format of the document, its first key.
pub const FORMAT: &str = "acton-schema/1";

/// The whole document: docs, deprecations and aliases included.
pub fn document(schema: &Schema) -> Value {
    // The text is valid JSON by construction.
    serde_json::from_str(&document_text(schema)).unwrap_or(Value::Null)
}

/// [`document`] as canonical JSON text, what generated code embeds.
pub fn document_text(schema: &Schema) -> String {
    text(schema, true)
}

/// A fingerprint of what travels on the wire (names, shapes, methods; not docs,
/// deprecations or aliases): equal fingerprints, same wire contract.
/// `fnv1a64:` and 16 hex digits.
pub fn fingerprint(schema: &Schema) -> String {
    format!("fnv1a64:{:016x}", fnv1a64(text(schema, false).as_bytes()))
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
            document: document_text(schema),
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

/// The document as canonical JSON (compact, every object's keys sorted), written
/// straight from the model: `full` adds docs, deprecations and aliases.
fn text(schema: &Schema, full: bool) -> String {
    let mut json = Json::default();
    json.object(|o| {
        if full {
            o.key("doc").optional(schema.doc.as_deref());
        }
        o.key("format").string(FORMAT);
        o.key("package").optional(schema.package.as_deref());
        o.key("services").array(&schema.services, |json, service| {
            json.object(|o| {
                if full {
                    o.key("deprecated").optional(service.deprecated.as_deref());
                    o.key("doc").optional(service.doc.as_deref());
                    o.key("exclusive").bool(service.exclusive);
                }
                o.key("methods").array(&service.methods, |json, method| {
                    method_object(json, schema, method, full);
                });
                o.key("name").string(&service.name);
                o.key("pushes").array(&service.pushes, |json, push| {
                    json.string(&schema.ty(*push).wire_name);
                });
            });
        });
        o.key("types").array(&schema.types, |json, def| {
            type_object(json, schema, def, full);
        });
    });
    json.finish()
}

fn method_object(json: &mut Json, schema: &Schema, method: &Method, full: bool) {
    let wire = |index: TypeIndex| schema.ty(index).wire_name.as_str();
    let (kind, answer) = match method.kind {
        MethodKind::Reply(reply) => ("reply", Some(wire(reply))),
        MethodKind::Stream(item) => ("stream", Some(wire(item))),
        MethodKind::FireAndForget => ("fire_and_forget", None),
    };
    json.object(|o| {
        o.key("answer").optional(answer);
        if full {
            o.key("deprecated").optional(method.deprecated.as_deref());
            o.key("doc").optional(method.doc.as_deref());
        }
        o.key("errors").array(&method.errors, |json, error| {
            json.string(wire(*error));
        });
        o.key("kind").string(kind);
        o.key("name").string(&method.name);
        o.key("request").string(wire(method.request));
    });
}

fn type_object(json: &mut Json, schema: &Schema, def: &TypeDef, full: bool) {
    let kind = match (&def.kind, def.is_error) {
        (TypeKind::Struct { .. }, true) => "error",
        (TypeKind::Struct { .. }, false) => "struct",
        (TypeKind::Enum { .. }, _) => "enum",
        (TypeKind::Union { .. }, _) => "union",
    };
    json.object(|o| {
        if full {
            o.key("deprecated").optional(def.deprecated.as_deref());
            o.key("doc").optional(def.doc.as_deref());
        }
        if let TypeKind::Struct { fields } = &def.kind {
            o.key("fields").fields(schema, fields, full);
        }
        o.key("kind").string(kind);
        o.key("name").string(&def.name);
        if !matches!(def.kind, TypeKind::Struct { .. }) {
            o.key("open").bool(def.open);
        }
        o.key("package").optional(def.package.as_deref());
        if full {
            o.key("reserved")
                .array(&def.reserved, |json, name| json.string(name));
        }
        match &def.kind {
            TypeKind::Struct { .. } => {}
            TypeKind::Enum { variants } => {
                o.key("values").array(variants, |json, v| {
                    json.object(|o| {
                        if full {
                            o.key("deprecated").optional(v.deprecated.as_deref());
                            o.key("doc").optional(v.doc.as_deref());
                        }
                        o.key("name").string(&v.name);
                    });
                });
            }
            TypeKind::Union { tag, variants } => {
                o.key("tag").string(tag);
                o.key("variants").array(variants, |json, v| {
                    json.object(|o| {
                        if full {
                            o.key("doc").optional(v.doc.as_deref());
                        }
                        o.key("fields").fields(schema, &v.fields, full);
                        o.key("name").string(&v.name);
                    });
                });
            }
        }
        o.key("wire_name").string(&def.wire_name);
    });
}

impl Json {
    fn fields(&mut self, schema: &Schema, fields: &[Field], full: bool) {
        self.array(fields, |json, field| {
            json.object(|o| {
                if full {
                    o.key("aliases")
                        .array(&field.aliases, |json, alias| json.string(alias));
                }
                match &field.default {
                    Some(value) => super::write_sorted(value, &mut o.key("default").out),
                    None => o.key("default").null(),
                }
                if full {
                    o.key("deprecated").optional(field.deprecated.as_deref());
                    o.key("doc").optional(field.doc.as_deref());
                }
                o.key("has_default").bool(field.default.is_some());
                o.key("name").string(&field.name);
                o.key("type").type_text(schema, &field.ty);
            });
        });
    }

    /// A type expression with named types by wire name (`list<shop.Point>?`), as
    /// a JSON string.
    fn type_text(&mut self, schema: &Schema, ty: &TypeRef) {
        self.string(&type_text(schema, ty));
    }
}

/// Canonical JSON written in place. Objects' keys must be written in sorted
/// order (checked in debug builds), which is what makes the text canonical.
#[derive(Default)]
struct Json {
    out: String,
    /// Per open object: the last key written.
    keys: Vec<Option<&'static str>>,
}

impl Json {
    fn finish(self) -> String {
        self.out
    }

    fn object(&mut self, body: impl FnOnce(&mut Self)) {
        self.out.push('{');
        self.keys.push(None);
        body(self);
        self.keys.pop();
        self.out.push('}');
    }

    /// Starts the member `key` of the object being written; its value follows.
    fn key(&mut self, key: &'static str) -> &mut Self {
        let last = self.keys.last_mut().and_then(Option::take);
        debug_assert!(
            last.is_none_or(|last| last < key),
            "document keys out of order: `{key}` after `{last:?}`"
        );
        if last.is_some() {
            self.out.push(',');
        }
        if let Some(slot) = self.keys.last_mut() {
            *slot = Some(key);
        }
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self
    }

    fn array<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Self, &T)) {
        self.out.push('[');
        for (i, value) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item(self, value);
        }
        self.out.push(']');
    }

    fn string(&mut self, text: &str) {
        super::write_json_string(text, &mut self.out);
    }

    fn optional(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.string(text),
            None => self.null(),
        }
    }

    fn bool(&mut self, value: bool) {
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn null(&mut self) {
        self.out.push_str("null");
    }
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

    #[test]
    fn the_document_reads_back_float_defaults_exactly() {
        let text = "acton: 1\npackage: p\ntypes:\n  A:\n    fields: { x: { type: f64, default: 123456789.123456789 } }\n";
        let schema = schema(text);
        let TypeKind::Struct { fields } = &schema.types[0].kind else {
            panic!("a struct");
        };
        let written = fields[0].default.clone().expect("a default");
        let doc = document(&schema);
        assert_eq!(doc["types"][0]["fields"][0]["default"], written);
    }
}
