//! The Rust target's many small items — one struct or enum per type, the
//! functions giving fields' defaults, `register_all` — written straight as text,
//! in exactly the layout prettyplease gives them.
//!
//! Building tokens, parsing them back with `syn` and printing them with
//! prettyplease costs about 40 µs per type: for a schema of a thousand types that
//! is most of the generator's time, spent on items whose layout never varies.
//! Each function here returns `None` where the layout is not one it knows for
//! certain — attributes `build.rs` added, a type mapped to a Rust path, text a
//! string literal would escape, a line long enough that prettyplease might wrap it,
//! an error type (it carries impls) — and the caller builds that item's tokens
//! and formats them as before. The tests print every item of a set of schemas
//! both ways and require the same bytes.

use std::fmt::Write as _;

use super::{names, Emitter};
use crate::model::{Field, Scalar, TypeDef, TypeIndex, TypeKind, TypeRef};

/// The longest line written directly. prettyplease breaks lines past 89
/// columns; this leaves a margin, so no line written here is one it would break.
const WIDTH: usize = 80;

/// The indentation of a member (a field, a variant) of a top-level item.
const INDENT: &str = "    ";

/// Whether `text` is written the same inside a string literal: printable ASCII
/// with nothing a literal escapes.
fn plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'\''))
}

/// Doc comments as prettyplease prints `#[doc = " line"]` attributes (see the
/// parent module's `docs`): `None` for a line it would print as a block comment.
fn push_docs(
    out: &mut String,
    indent: &str,
    doc: Option<&str>,
    deprecated: Option<&str>,
) -> Option<()> {
    let mut any = false;
    for line in doc.into_iter().flat_map(str::lines) {
        push_doc_line(out, indent, line.trim_end());
        any = true;
    }
    if let Some(reason) = deprecated {
        if reason.contains('\n') {
            return None;
        }
        if any {
            push_doc_line(out, indent, "");
        }
        if reason.is_empty() {
            push_doc_line(out, indent, "**Deprecated.**");
        } else {
            let line = format!("**Deprecated:** {reason}");
            push_doc_line(out, indent, line.trim_end_matches(' '));
        }
    }
    Some(())
}

/// One `///` line (prettyplease drops a doc line's trailing spaces).
fn push_doc_line(out: &mut String, indent: &str, text: &str) {
    out.push_str(indent);
    out.push_str("///");
    if !text.is_empty() {
        out.push(' ');
        out.push_str(text);
    }
    out.push('\n');
}

/// `#[deprecated]`, as the parent module's `deprecated_attr` writes it.
fn push_deprecated_attr(out: &mut String, indent: &str, deprecated: Option<&str>) -> Option<()> {
    match deprecated {
        None => {}
        Some("") => {
            let _ = writeln!(out, "{indent}#[deprecated]");
        }
        Some(reason) if plain(reason) => {
            let _ = writeln!(out, "{indent}#[deprecated(note = \"{reason}\")]");
        }
        Some(_) => return None,
    }
    Some(())
}

/// Whether every line of `text` but doc comments fits in [`WIDTH`].
fn fits(text: &str) -> bool {
    text.lines()
        .all(|line| line.len() <= WIDTH || line.trim_start().starts_with("///"))
}

impl Emitter<'_> {
    /// How a field's type is written, as [`rust_type`](Emitter::rust_type) prints.
    fn rust_type_text(&self, ty: &TypeRef, boxed: bool, out: &mut String) -> Option<()> {
        match ty {
            TypeRef::Scalar(scalar) => out.push_str(match scalar {
                Scalar::Bool => "bool",
                Scalar::I8 => "i8",
                Scalar::I16 => "i16",
                Scalar::I32 => "i32",
                Scalar::I64 => "i64",
                Scalar::U8 => "u8",
                Scalar::U16 => "u16",
                Scalar::U32 => "u32",
                Scalar::U64 => "u64",
                Scalar::F32 => "f32",
                Scalar::F64 => "f64",
                Scalar::String => "String",
                Scalar::Bytes => "Bytes",
                Scalar::Json => "Json",
                Scalar::Timestamp => "acton_reactive::ipc::wire::Timestamp",
                Scalar::Duration => "acton_reactive::ipc::wire::Duration",
            }),
            TypeRef::List(inner) => {
                out.push_str("Vec<");
                self.rust_type_text(inner, false, out)?;
                out.push('>');
            }
            TypeRef::Map(inner) => {
                out.push_str("BTreeMap<String, ");
                self.rust_type_text(inner, false, out)?;
                out.push('>');
            }
            TypeRef::Optional(inner) => {
                out.push_str(if boxed { "Option<Box<" } else { "Option<" });
                self.rust_type_text(inner, false, out)?;
                out.push_str(if boxed { ">>" } else { ">" });
            }
            TypeRef::Named(index) => self.type_path_text(*index, out)?,
        }
        Some(())
    }

    /// How generated code names a schema type, as [`type_path`](Emitter::type_path)
    /// prints (a type mapped to a Rust path is left to prettyplease).
    fn type_path_text(&self, index: TypeIndex, out: &mut String) -> Option<()> {
        let def = self.schema.ty(index);
        if self.is_extern(def) {
            return None;
        }
        if def.package.as_deref() != self.module {
            if !self.is_root() {
                out.push_str("super::");
            }
            out.push_str(&crate::ident::module_alias(
                def.package.as_deref().unwrap_or_default(),
            ));
            out.push_str("::");
        }
        out.push_str(&names::type_name(&def.name));
        Some(())
    }

    /// Whether `build.rs` added attributes to `def` or any of its fields.
    fn has_added_attributes(&self, def: &TypeDef) -> bool {
        let options = self.options;
        let on_type = options
            .type_attributes
            .iter()
            .any(|(path, _)| path == "." || *path == def.name);
        let prefix = format!("{}.", def.name);
        on_type
            || options
                .field_attributes
                .iter()
                .any(|(path, _)| path.starts_with(&prefix))
    }

    /// `def`'s definition as [`type_def`](Emitter::type_def) and prettyplease
    /// print it, or `None` where that layout is not certain.
    pub(super) fn direct_type_def(&self, def: &TypeDef) -> Option<String> {
        if def.is_error || self.has_added_attributes(def) || !plain(&def.wire_name) {
            return None;
        }
        let mut out = String::with_capacity(512);
        push_docs(&mut out, "", def.doc.as_deref(), def.deprecated.as_deref())?;
        let derive = match def.kind {
            TypeKind::Enum { .. } if def.open => {
                "Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize"
            }
            TypeKind::Enum { .. } => {
                "Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize"
            }
            _ => "Clone, Debug, PartialEq, Serialize, Deserialize",
        };
        let name = names::type_name(&def.name);
        match &def.kind {
            TypeKind::Struct { fields } => {
                if def.doc.is_some() {
                    push_doc_line(&mut out, "", "");
                }
                push_doc_line(&mut out, "", &format!("Registered as `{}`.", def.wire_name));
                push_derive(&mut out, derive);
                let _ = write!(out, "pub struct {name} {{");
                if !fields.is_empty() {
                    out.push('\n');
                }
                for field in fields {
                    self.push_field(&mut out, INDENT, &def.name, field, true)?;
                }
                out.push_str("}\n");
            }
            TypeKind::Enum { variants } => {
                push_derive(&mut out, derive);
                let _ = write!(out, "pub enum {name} {{");
                if !variants.is_empty() || def.open {
                    out.push('\n');
                }
                for variant in variants {
                    if !plain(&variant.name) {
                        return None;
                    }
                    push_docs(
                        &mut out,
                        INDENT,
                        variant.doc.as_deref(),
                        variant.deprecated.as_deref(),
                    )?;
                    push_deprecated_attr(&mut out, INDENT, variant.deprecated.as_deref())?;
                    let _ = writeln!(
                        out,
                        "{INDENT}#[serde(rename = \"{}\")]\n{INDENT}{},",
                        variant.name,
                        names::variant(&variant.name)
                    );
                }
                if def.open {
                    out.push_str(concat!(
                        "    /// A value this code does not know (added to the schema after it\n",
                        "    /// was generated: the enum is open), by its wire name; it is sent\n",
                        "    /// back as it came.\n",
                        "    #[serde(untagged)]\n",
                        "    Unknown(String),\n",
                    ));
                }
                out.push_str("}\n");
            }
            TypeKind::Union { tag, variants } => {
                if !plain(tag) {
                    return None;
                }
                push_derive(&mut out, derive);
                let _ = writeln!(out, "#[serde(tag = \"{tag}\")]");
                let _ = write!(out, "pub enum {name} {{");
                if !variants.is_empty() || def.open {
                    out.push('\n');
                }
                for variant in variants {
                    if !plain(&variant.name) || variant.fields.is_empty() {
                        return None;
                    }
                    push_docs(&mut out, INDENT, variant.doc.as_deref(), None)?;
                    let _ = writeln!(out, "{INDENT}#[serde(rename = \"{}\")]", variant.name);
                    let scope = format!("{}_{}", def.name, variant.name);
                    self.push_variant(
                        &mut out,
                        &names::variant(&variant.name),
                        &scope,
                        &variant.fields,
                    )?;
                }
                if def.open {
                    out.push_str(concat!(
                        "    /// A variant this code does not know (added to the schema after it\n",
                        "    /// was generated: the union is open), as its whole wire object,\n",
                        "    /// tag included; it is sent back as it came.\n",
                        "    #[serde(untagged)]\n",
                        "    Unknown(Json),\n",
                    ));
                }
                out.push_str("}\n");
            }
        }
        fits(&out).then_some(out)
    }

    /// A union's variant with its fields. prettyplease puts the fields in one box
    /// that breaks only when it does not fit or holds a doc comment (a hard
    /// break): otherwise the variant is one line, attributes included
    /// (`A { #[serde(default)] x: Option<u8> },`). A doc comment puts one field per
    /// line; a line too long is left to prettyplease.
    fn push_variant(
        &self,
        out: &mut String,
        name: &str,
        scope: &str,
        fields: &[Field],
    ) -> Option<()> {
        let mut block = String::new();
        for field in fields {
            self.push_field(&mut block, "        ", scope, field, false)?;
        }
        let documented = block
            .lines()
            .any(|line| line.trim_start().starts_with("///"));
        if documented {
            let _ = write!(out, "{INDENT}{name} {{\n{block}{INDENT}}},\n");
            return Some(());
        }
        // Each field's attribute and declaration lines, joined by spaces; the
        // fields by `, `.
        let inline = block
            .lines()
            .map(str::trim_start)
            .collect::<Vec<&str>>()
            .join(" ");
        let line = format!(
            "{INDENT}{name} {{ {} }},\n",
            inline.strip_suffix(',').unwrap_or(&inline)
        );
        if line.len() > WIDTH {
            return None;
        }
        out.push_str(&line);
        Some(())
    }

    /// One field, as [`field`](Emitter::field) and prettyplease print it, with its
    /// trailing comma.
    fn push_field(
        &self,
        out: &mut String,
        indent: &str,
        scope: &str,
        field: &Field,
        public: bool,
    ) -> Option<()> {
        push_docs(
            out,
            indent,
            field.doc.as_deref(),
            field.deprecated.as_deref(),
        )?;
        let ident = names::field(&field.name);
        let mut serde: Vec<String> = Vec::new();
        if ident.trim_start_matches("r#") != field.name {
            if !plain(&field.name) {
                return None;
            }
            serde.push(format!("rename = \"{}\"", field.name));
        }
        for alias in &field.aliases {
            if !plain(alias) {
                return None;
            }
            serde.push(format!("alias = \"{alias}\""));
        }
        let optional = matches!(field.ty, TypeRef::Optional(_));
        if field.default.is_some() {
            serde.push(format!(
                "default = \"{}\"",
                names::default_fn(scope, &field.name)
            ));
        } else if optional {
            serde.push("default".to_owned());
        }
        if optional {
            serde.push("skip_serializing_if = \"Option::is_none\"".to_owned());
        }
        if !serde.is_empty() {
            let _ = writeln!(out, "{indent}#[serde({})]", serde.join(", "));
        }
        out.push_str(indent);
        if public {
            out.push_str("pub ");
        }
        out.push_str(&ident);
        out.push_str(": ");
        self.rust_type_text(&field.ty, field.recursive, out)?;
        out.push_str(",\n");
        Some(())
    }

    /// The function giving `field`'s default (named after `scope`), as
    /// [`default_functions`](Emitter::default_functions) and prettyplease print
    /// it; `None` for a value other than a number, a bool, a plain string, an enum
    /// value or nothing.
    pub(super) fn direct_default_function(&self, scope: &str, field: &Field) -> Option<String> {
        let value = field.default.as_ref()?;
        if self.names_deprecated_value(&field.ty) {
            return None;
        }
        let mut ty = String::new();
        self.rust_type_text(&field.ty, field.recursive, &mut ty)?;
        let value = self.default_value_text(value, &field.ty)?;
        let out = format!(
            "fn {}() -> {ty} {{\n{INDENT}{value}\n}}\n",
            names::default_fn(scope, &field.name)
        );
        fits(&out).then_some(out)
    }

    /// A default value as [`default_value`](Emitter::default_value) writes it,
    /// for the simple values.
    fn default_value_text(&self, value: &serde_json::Value, ty: &TypeRef) -> Option<String> {
        use serde_json::Value;
        Some(match (ty, value) {
            (TypeRef::Optional(_), Value::Null) => "None".to_owned(),
            (TypeRef::Optional(inner), value) => {
                format!("Some({})", self.default_value_text(value, inner)?)
            }
            (TypeRef::Scalar(Scalar::Bool), Value::Bool(b)) => b.to_string(),
            (TypeRef::Scalar(Scalar::String), Value::String(s)) if plain(s) => {
                format!("String::from(\"{s}\")")
            }
            (TypeRef::Scalar(Scalar::F32 | Scalar::F64), Value::Number(n)) => {
                proc_macro2::Literal::f64_unsuffixed(n.as_f64()?).to_string()
            }
            (TypeRef::Scalar(scalar), Value::Number(n)) if scalar.is_integer() => {
                match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => i.to_string(),
                    (None, Some(u)) => u.to_string(),
                    _ => return None,
                }
            }
            (TypeRef::List(_), Value::Array(items)) if items.is_empty() => "Vec::new()".to_owned(),
            (TypeRef::Map(_), Value::Object(entries)) if entries.is_empty() => {
                "BTreeMap::new()".to_owned()
            }
            (TypeRef::Named(index), Value::String(variant))
                if matches!(self.schema.ty(*index).kind, TypeKind::Enum { .. }) =>
            {
                let mut path = String::new();
                self.type_path_text(*index, &mut path)?;
                format!("{path}::{}", names::variant(variant))
            }
            _ => return None,
        })
    }

    /// The schema constants and `register_all`, as
    /// [`register_all`](Emitter::register_all) and prettyplease print them (the
    /// constants' values still the placeholders `render_served` replaces).
    pub(super) fn direct_register_all(&self) -> Option<String> {
        let mut out = format!(
            concat!(
                "/// The checked schema as JSON (`acton-schema/1`), which the server sends\n",
                "/// in DISCOVER when asked (`include_schema`).\n",
                "pub const SCHEMA: &str = {document};\n",
                "/// The fingerprint of [`SCHEMA`]'s wire contract: equal fingerprints,\n",
                "/// same contract.\n",
                "pub const SCHEMA_FINGERPRINT: &str = {fingerprint};\n",
                "/// Registers every type of the schema with `registry`, under its wire\n",
                "/// name, and the schema itself (served by DISCOVER).\n",
                "pub fn register_all(registry: &IpcTypeRegistry) {{\n",
            ),
            document = super::SCHEMA_PLACEHOLDER,
            fingerprint = super::FINGERPRINT_PLACEHOLDER,
        );
        for (i, def) in self.schema.types.iter().enumerate() {
            if !plain(&def.wire_name) {
                return None;
            }
            out.push_str("    registry.register::<");
            self.type_path_text(TypeIndex(i), &mut out)?;
            let _ = writeln!(out, ">(\"{}\");", def.wire_name);
        }
        out.push_str("    registry.register_schema(SCHEMA, SCHEMA_FINGERPRINT);\n}\n");
        fits(&out).then_some(out)
    }
}

/// The derive and serde-crate attributes every type carries.
fn push_derive(out: &mut String, derive: &str) {
    let _ = writeln!(
        out,
        "#[derive({derive})]\n#[serde(crate = \"acton_reactive::serde\")]"
    );
}
