//! The TypeScript target: an npm package (ES modules, `.d.ts` via `tsc`) with an
//! interface (or string-literal union, or discriminated union) per type — TSDoc,
//! defaults, exact wire form — and a typed client per service, on the bundled
//! client runtime (`src/runtime.ts`).
//!
//! 64-bit integers (`i64`, `u64`) are `bigint`; narrower integers and floats are
//! `number`; `bytes` are `Uint8Array`.
//!
//! The files' layout lives in handlebars templates beside this emitter
//! (`codegen/templates/typescript/`); this module computes names, types and
//! conversion expressions.

use handlebars::Handlebars;
use serde::Serialize;
use serde_json::{json, Value};

use super::conversion::{self, Combinators, Dialect, Imports};
use super::GeneratedFile;
use crate::ident::typescript as names;
use crate::model::{Field, MethodKind, Scalar, Schema, TypeDef, TypeIndex, TypeKind, TypeRef};

const RUNTIME: &str = include_str!("../../templates/typescript/runtime.ts");
/// The NATS transport (`src/nats.ts`), used by `connectNats`.
const NATS: &str = include_str!("../../templates/typescript/nats.ts");

/// A field's pieces of code: what a message's interface and functions are written
/// from (errors through `error.ts.hbs`).
#[derive(Debug, Serialize)]
struct TsField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    optional: bool,
    /// Its TSDoc comment, or nothing.
    doc: String,
    /// Written with `isPresent` (it may be absent).
    present_check: bool,
    encode: Option<String>,
    encode_present: Option<String>,
    decode: String,
    defaulted: bool,
}

fn templates() -> Handlebars<'static> {
    let sources = [
        (
            "types",
            include_str!("../../templates/typescript/types.ts.hbs"),
        ),
        (
            "enum",
            include_str!("../../templates/typescript/enum.ts.hbs"),
        ),
        (
            "union",
            include_str!("../../templates/typescript/union.ts.hbs"),
        ),
        (
            "error",
            include_str!("../../templates/typescript/error.ts.hbs"),
        ),
        (
            "client",
            include_str!("../../templates/typescript/client.ts.hbs"),
        ),
        (
            "service",
            include_str!("../../templates/typescript/service.ts.hbs"),
        ),
        (
            "index",
            include_str!("../../templates/typescript/index.ts.hbs"),
        ),
        (
            "package",
            include_str!("../../templates/typescript/package.json.hbs"),
        ),
        (
            "tsconfig",
            include_str!("../../templates/typescript/tsconfig.json.hbs"),
        ),
        (
            "readme",
            include_str!("../../templates/typescript/README.md.hbs"),
        ),
    ];
    super::templates(&sources)
}

/// Renders a template, without the trailing blank lines templates leave.
fn render(registry: &Handlebars<'_>, name: &str, data: &impl Serialize) -> String {
    super::render(registry, name, data).trim_end().to_owned()
}

/// A TSDoc comment at `indent`, or nothing.
fn tsdoc(doc: Option<&str>, indent: usize) -> String {
    let Some(doc) = doc.map(str::trim).filter(|d| !d.is_empty()) else {
        return String::new();
    };
    let pad = " ".repeat(indent);
    let doc = doc.replace("*/", "*\\/");
    let lines: Vec<&str> = doc.lines().collect();
    if lines.len() == 1 {
        return format!("{pad}/** {} */", lines[0]);
    }
    let body: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                format!("{pad} *")
            } else {
                format!("{pad} * {}", l.trim_end())
            }
        })
        .collect();
    format!("{pad}/**\n{}\n{pad} */", body.join("\n"))
}

/// `@deprecated` (after a blank line) for a deprecated method or client.
fn deprecated_tag(deprecated: Option<&str>) -> String {
    match deprecated {
        Some("") => "\n\n@deprecated".to_owned(),
        Some(reason) => format!("\n\n@deprecated {reason}"),
        None => String::new(),
    }
}

/// A note of an enum's deprecated values: a string-literal union has no place
/// for a tag per value.
fn deprecated_values(variants: &[crate::model::EnumVariant]) -> String {
    let notes: Vec<String> = variants
        .iter()
        .filter_map(|v| {
            v.deprecated.as_deref().map(|reason| {
                if reason.is_empty() {
                    format!("`\"{}\"`", v.name)
                } else {
                    format!("`\"{}\"` ({reason})", v.name)
                }
            })
        })
        .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!("\n\nDeprecated values: {}.", notes.join(", "))
    }
}

fn field_doc(field: &Field) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(doc) = &field.doc {
        parts.push(doc.clone());
    }
    if let Some(default) = &field.default {
        parts.push(format!("Default: `{}`.", super::canonical_json(default)));
    }
    if let Some(reason) = &field.deprecated {
        parts.push(if reason.is_empty() {
            "@deprecated".to_owned()
        } else {
            format!("@deprecated {reason}")
        });
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Every file of the package, relative to the target directory.
pub(crate) fn generate_served(
    schema: &Schema,
    stem: &str,
    served: &super::document::LazyServed<'_>,
) -> Vec<GeneratedFile> {
    let registry = templates();
    let package = schema
        .package
        .as_deref()
        .map_or_else(|| stem.replace('_', "-"), |p| p.replace(['.', '_'], "-"));
    let banner = super::banner(schema);
    let title = schema
        .doc
        .as_deref()
        .and_then(|d| d.lines().next())
        .map_or_else(|| format!("The `{package}` schema."), str::to_owned);
    let types_ts = types_module(
        schema,
        &registry,
        schema.package.as_deref(),
        &title,
        &banner,
    );
    let imported: Vec<(String, String)> = schema
        .imports
        .iter()
        .map(|import| {
            let title = format!(
                "The types of package `{}` (`{}`), which the schema imports.",
                import.package,
                import.source.replace('\\', "/")
            );
            (
                names::module_file(Some(&import.package), schema.package.as_deref()),
                types_module(schema, &registry, Some(&import.package), &title, &banner),
            )
        })
        .collect();
    let emitter = Emitter::new(schema, schema.package.as_deref(), true);

    let mut readme_services = Vec::new();
    let services: Vec<String> = schema
        .services
        .iter()
        .map(|service| {
            let (text, summary) = emitter.service(&registry, service);
            readme_services.push(json!({
                "class_name": names::client(&service.name),
                "name": service.name,
                "doc": service.doc.as_deref().map(str::trim).unwrap_or_default(),
                "signatures": summary,
            }));
            text
        })
        .collect();
    let client_modules = emitter.imports.modules();
    let has_methods = schema.services.iter().any(|s| !s.methods.is_empty());
    let has_pushes = schema.services.iter().any(|s| !s.pushes.is_empty());
    let has_services = !schema.services.is_empty();
    let client_runtime: Vec<&str> = [
        (true, "Connection"),
        (has_pushes, "TypedSubscription"),
        (has_methods, "type CallOptions"),
        (true, "type ConnectOptions"),
        (has_services, "type SchemaCheck"),
    ]
    .into_iter()
    .filter_map(|(used, name)| used.then_some(name))
    .collect();
    let client_ts = render(
        &registry,
        "client",
        &json!({
            "banner": banner,
            "module_imports": client_modules,
            "uses_schema": has_services,
            "runtime_imports": client_runtime.join(", "),
            "services": services,
            "service_names": schema.services.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", "),
        }),
    ) + "\n";
    let modules: Vec<String> = schema
        .imports
        .iter()
        .map(|import| crate::ident::module_alias(&import.package))
        .collect();
    let index_ts = render(
        &registry,
        "index",
        &json!({ "title": title, "banner": banner, "modules": modules }),
    ) + "\n";
    let package_json = render(
        &registry,
        "package",
        &json!({
            "name": package,
            "version": "0.1.0",
            "title_plain": title.trim_end_matches('.').replace('"', "'"),
            "banner": banner.replace('`', "'"),
        }),
    ) + "\n";
    let tsconfig = render(&registry, "tsconfig", &json!({})) + "\n";
    let readme = render(
        &registry,
        "readme",
        &json!({
            "banner": banner,
            "name": package,
            "doc": schema.doc.as_deref().map(str::trim).unwrap_or_default(),
            "services": readme_services,
            "examples": readme_examples(&emitter, schema),
        }),
    );

    let file = |path: &str, contents: String| GeneratedFile {
        path: path.into(),
        contents,
    };
    let mut files = vec![
        file("package.json", package_json),
        file("README.md", format!("{}\n", readme.trim_end())),
        file("tsconfig.json", tsconfig),
        file("src/index.ts", index_ts),
        file("src/types.ts", types_ts),
        file("src/client.ts", client_ts),
        file("src/runtime.ts", RUNTIME.to_owned()),
        file("src/nats.ts", NATS.to_owned()),
        file(
            "src/schema.ts",
            format!(
                "/**\n * The schema this package was generated from, as JSON (`acton-schema/1`), and the\n * fingerprint of its wire contract: what `checkSchema()` compares with the server's.\n *\n * {banner}\n */\n\nexport const SCHEMA_FINGERPRINT = {};\n\nexport const SCHEMA = {};\n",
                Value::String(served.get().fingerprint.clone()),
                Value::String(served.get().document.clone())
            ),
        ),
    ];
    files.extend(
        imported
            .into_iter()
            .map(|(name, text)| file(&format!("src/{name}"), text)),
    );
    files
}

/// A module of types: `types.ts` for the root schema's (`package` is its
/// package), or an imported package's module.
fn types_module(
    schema: &Schema,
    registry: &Handlebars<'_>,
    package: Option<&str>,
    title: &str,
    banner: &str,
) -> String {
    let emitter = Emitter::new(schema, package, false);
    let definitions: Vec<String> = schema
        .types
        .iter()
        .filter(|def| def.package.as_deref() == package)
        .map(|def| emitter.definition(registry, def))
        .collect();
    // What the templates use besides the conversions (recorded as they were
    // built): closed enums and unions throw `ActonError`, errors extend
    // `DeclaredError`, objects are read with `expectRecord`, enums with
    // `decodeString`, open types keep `Unknown`.
    let own: Vec<&TypeDef> = schema
        .types
        .iter()
        .filter(|def| def.package.as_deref() == package)
        .collect();
    let kinds = |test: fn(&TypeDef) -> bool| own.iter().any(|def| test(def));
    let imports = &emitter.imports;
    imports.runtime_if(
        kinds(|d| match d.kind {
            TypeKind::Enum { .. } => !d.open,
            TypeKind::Union { .. } => true,
            TypeKind::Struct { .. } => false,
        }),
        "ActonError",
    );
    imports.runtime_if(kinds(|d| d.is_error), "DeclaredError");
    imports.runtime_if(
        kinds(|d| !matches!(d.kind, TypeKind::Enum { .. })),
        "expectRecord",
    );
    imports.runtime_if(
        kinds(|d| matches!(d.kind, TypeKind::Enum { .. })),
        "decodeString",
    );
    imports.runtime_if(kinds(|d| d.open), "Unknown");
    let mut runtime_imports = imports.runtime_names();
    if emitter.uses_json.get() {
        runtime_imports.push("type Json".to_owned());
    }
    let modules = emitter.imports.modules();
    render(
        registry,
        "types",
        &json!({
            "title": title,
            "banner": banner,
            "runtime_imports": runtime_imports,
            "module_imports": modules,
            "definitions": definitions,
        }),
    ) + "\n"
}

impl Dialect for Emitter<'_> {
    const COMBINATORS: Combinators = Combinators {
        list_of: "listOf",
        map_of: "mapOf",
        optional_of: "optionalOf",
        list_to: "listTo",
        map_to: "mapTo",
        optional_to: "optionalTo",
    };

    fn scalar_decoder(&self, scalar: Scalar) -> &'static str {
        match scalar {
            Scalar::Bool => "decodeBool",
            Scalar::I64 | Scalar::U64 => "decodeBigInt",
            Scalar::F32 | Scalar::F64 => "decodeFloat",
            Scalar::String => "decodeString",
            Scalar::Bytes => "decodeBytes",
            Scalar::Json => "decodeJson",
            Scalar::Timestamp => "decodeTimestamp",
            Scalar::Duration => "decodeDuration",
            Scalar::I8 | Scalar::I16 | Scalar::I32 | Scalar::U8 | Scalar::U16 | Scalar::U32 => {
                "decodeInt"
            }
        }
    }

    fn scalar_encoder(&self, scalar: Scalar) -> Option<&'static str> {
        match scalar {
            Scalar::Timestamp => Some("encodeTimestamp"),
            Scalar::Duration => Some("encodeDuration"),
            _ => None,
        }
    }

    fn named_decoder(&self, index: TypeIndex) -> String {
        format!(
            "{}{}",
            self.prefix(index),
            names::decode_fn(&self.schema.ty(index).name)
        )
    }

    fn named_encoder(&self, index: TypeIndex, _imports: &Imports) -> String {
        format!(
            "{}{}",
            self.prefix(index),
            names::encode_fn(&self.schema.ty(index).name)
        )
    }
}

struct Emitter<'a> {
    schema: &'a Schema,
    /// The package whose module is being written (the root schema's for
    /// `types.ts` and `client.ts`).
    module: Option<&'a str>,
    /// Whether it is `client.ts`, which names the root's types `types.X`.
    client: bool,
    /// What the module imports, recorded as its code is built.
    imports: Imports,
    /// Whether its code names the runtime's `Json` type.
    uses_json: std::cell::Cell<bool>,
}

impl<'a> Emitter<'a> {
    fn new(schema: &'a Schema, module: Option<&'a str>, client: bool) -> Self {
        Self {
            schema,
            module,
            client,
            imports: Imports::default(),
            uses_json: std::cell::Cell::new(false),
        }
    }

    /// `""`, `types.` or `common.`: what precedes the names of the module of the
    /// type at `index`, recording the modules this one must import.
    fn prefix(&self, index: TypeIndex) -> String {
        let def = self.schema.ty(index);
        if def.is_imported(self.schema) {
            if def.package.as_deref() == self.module && !self.client {
                return String::new();
            }
            let alias = crate::ident::module_alias(def.package.as_deref().unwrap_or_default());
            self.imports.module(&alias);
            format!("{alias}.")
        } else if self.client {
            self.imports.module("types");
            "types.".to_owned()
        } else {
            String::new()
        }
    }

    fn helper(&self, name: &str) -> String {
        self.imports.runtime(name)
    }

    fn ts_type(&self, ty: &TypeRef) -> String {
        match ty {
            TypeRef::Scalar(scalar) => match scalar {
                Scalar::Bool => "boolean".into(),
                Scalar::I64 | Scalar::U64 => "bigint".into(),
                Scalar::String => "string".into(),
                Scalar::Bytes => "Uint8Array".into(),
                Scalar::Json => {
                    self.uses_json.set(true);
                    "Json".into()
                }
                Scalar::Timestamp => "Date".into(),
                Scalar::I8
                | Scalar::I16
                | Scalar::I32
                | Scalar::U8
                | Scalar::U16
                | Scalar::U32
                | Scalar::F32
                | Scalar::F64
                | Scalar::Duration => "number".into(),
            },
            TypeRef::List(inner) => {
                let inner = self.ts_type(inner);
                if inner.contains(' ') {
                    format!("Array<{inner}>")
                } else {
                    format!("{inner}[]")
                }
            }
            TypeRef::Map(inner) => format!("Record<string, {}>", self.ts_type(inner)),
            TypeRef::Optional(inner) => format!("{} | undefined", self.ts_type(inner)),
            TypeRef::Named(index) => {
                format!("{}{}", self.prefix(*index), self.schema.ty(*index).name)
            }
        }
    }

    fn decoder(&self, ty: &TypeRef) -> String {
        conversion::decoder(self, &self.imports, ty)
    }

    fn encode(&self, ty: &TypeRef, value: &str) -> String {
        match conversion::encoder(self, &self.imports, ty) {
            Some(encoder) => format!("{encoder}({value})"),
            None => value.to_owned(),
        }
    }

    /// A TypeScript expression for a default value.
    fn literal(&self, value: &Value, ty: &TypeRef) -> String {
        match (ty, value) {
            (TypeRef::Optional(_), Value::Null) => "undefined".into(),
            (TypeRef::Optional(inner), value) => self.literal(value, inner),
            (TypeRef::Scalar(Scalar::I64 | Scalar::U64), Value::Number(n)) => format!("{n}n"),
            (TypeRef::Scalar(Scalar::Json), value) => super::canonical_json(value),
            (TypeRef::Scalar(Scalar::Duration), Value::String(text)) => {
                // Milliseconds.
                let (secs, nanos) = crate::model::parse_duration(text).unwrap_or_default();
                let millis = format!("{secs}{:03}.{:06}", nanos / 1_000_000, nanos % 1_000_000);
                let millis = millis.trim_start_matches('0');
                let millis = millis.trim_end_matches('0').trim_end_matches('.');
                if millis.is_empty() || millis.starts_with('.') {
                    format!("0{millis}")
                } else {
                    millis.to_owned()
                }
            }
            (TypeRef::List(inner), Value::Array(items)) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| self.literal(i, inner))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            (TypeRef::Map(inner), Value::Object(entries)) => {
                let mut entries: Vec<(&String, &Value)> = entries.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let items: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| {
                        format!("{}: {}", Value::String(k.clone()), self.literal(v, inner))
                    })
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
            (_, value) => super::canonical_json(value),
        }
    }

    /// A field's data for the templates; `receiver` holds the value being
    /// encoded (`value` in an encoder function, `this` in an error class).
    fn field_data(&self, owner: &str, field: &Field, receiver: &str) -> TsField {
        let optional = matches!(field.ty, TypeRef::Optional(_));
        let inner = match &field.ty {
            TypeRef::Optional(inner) => inner.as_ref(),
            other => other,
        };
        let name = &names::property(&field.name);
        let aliases = if field.aliases.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = field.aliases.iter().map(|a| format!("\"{a}\"")).collect();
            format!(", [{}]", quoted.join(", "))
        };
        let lookup = || format!("{}(fields, \"{name}\"{aliases})", self.helper("fieldOf"));
        let present_check = optional || field.default.is_some();
        let decode = if let Some(default) = &field.default {
            let lookup = lookup();
            let literal = self.literal(default, &field.ty);
            format!(
                "{}({lookup}) ? {} : {literal}",
                self.helper("isPresent"),
                self.decode_expr(inner, &lookup)
            )
        } else if optional {
            self.decode_expr(&field.ty, &lookup())
        } else {
            self.decode_expr(
                &field.ty,
                &format!(
                    "{}(fields, \"{name}\", \"{owner}\"{aliases})",
                    self.helper("required")
                ),
            )
        };
        // Written with `isPresent` when it may be absent: only the form the
        // templates render is built.
        let this = format!("{receiver}.{name}");
        let (encode, encode_present) = if present_check {
            self.helper("isPresent");
            (None, Some(self.encode(inner, &this)))
        } else {
            (Some(self.encode(&field.ty, &this)), None)
        };
        TsField {
            name: name.clone(),
            ty: self.ts_type(inner),
            optional,
            doc: tsdoc(field_doc(field).as_deref(), 2),
            present_check,
            encode,
            encode_present,
            decode,
            defaulted: field.default.is_some(),
        }
    }

    fn decode_expr(&self, ty: &TypeRef, value: &str) -> String {
        format!("{}({value})", self.decoder(ty))
    }

    /// `X` itself, or `X` with its defaulted fields made optional.
    fn init_type(&self, name: &str, fields: &[Field]) -> String {
        let defaulted: Vec<String> = fields
            .iter()
            .filter(|f| f.default.is_some() && !matches!(f.ty, TypeRef::Optional(_)))
            .map(|f| format!("\"{}\"", f.name))
            .collect();
        if defaulted.is_empty() {
            name.to_owned()
        } else {
            let keys = defaulted.join(" | ");
            format!("Omit<{name}, {keys}> & Partial<Pick<{name}, {keys}>>")
        }
    }

    /// A message's interface, its init type and its encode and decode functions:
    /// what `struct.ts.hbs` once rendered, written directly (the per-type template
    /// rendering was most of the generator's time on large schemas).
    fn struct_like(
        &self,
        name: &str,
        doc: Option<String>,
        fields: &[Field],
        tag: Option<(&str, &str)>,
    ) -> String {
        use std::fmt::Write as _;
        let fields_data: Vec<TsField> = fields
            .iter()
            .map(|f| self.field_data(name, f, "value"))
            .collect();
        let doc = tsdoc(
            doc.as_deref().or(Some(&format!("The `{name}` message."))),
            0,
        );
        let init_name = names::init_type(name);
        let mut out = String::with_capacity(512 + fields.len() * 256);
        // `write!` to a String cannot fail.
        let _ = write!(out, "{doc}\nexport interface {name} {{\n");
        if let Some((tag, value)) = tag {
            let _ = write!(out, "  /** The union's tag. */\n  {tag}: \"{value}\";\n");
        }
        for field in &fields_data {
            if !field.doc.is_empty() {
                let _ = writeln!(out, "{}", field.doc);
            }
            let _ = writeln!(
                out,
                "  {}{}: {};",
                field.name,
                if field.optional { "?" } else { "" },
                field.ty
            );
        }
        let _ = write!(
            out,
            "}}\n\n/** The fields that build a `{name}` (those with a default may be left out). */\nexport type {init_name} = {};\n\n/** The wire form of `{name}`. */\nexport function {}(value: {init_name}): Record<string, unknown> {{\n  const wire: Record<string, unknown> = {{}};\n",
            self.init_type(name, fields),
            names::encode_fn(name)
        );
        if let Some((tag, value)) = tag {
            let _ = writeln!(out, "  wire[\"{tag}\"] = \"{value}\";");
        }
        for field in &fields_data {
            match (&field.encode_present, &field.encode) {
                (Some(encode), _) if field.present_check => {
                    let _ = writeln!(
                        out,
                        "  if (isPresent(value.{0})) wire[\"{0}\"] = {encode};",
                        field.name
                    );
                }
                (_, Some(encode)) => {
                    let _ = writeln!(out, "  wire[\"{}\"] = {encode};", field.name);
                }
                _ => {}
            }
        }
        let _ = write!(
            out,
            "  return wire;\n}}\n\n/** Reads `{name}` from its wire form; unknown fields are ignored, absent ones get their default. */\nexport function {}(data: unknown): {name} {{\n  {}expectRecord(data, \"{name}\");\n  return {{\n",
            names::decode_fn(name),
            if fields_data.is_empty() { "" } else { "const fields = " }
        );
        if let Some((tag, value)) = tag {
            let _ = writeln!(out, "    {tag}: \"{value}\",");
        }
        for field in &fields_data {
            let _ = writeln!(out, "    {}: {},", field.name, field.decode);
        }
        out.push_str("  };\n}");
        out
    }

    fn definition(&self, registry: &Handlebars<'_>, def: &TypeDef) -> String {
        let doc = match (&def.doc, &def.deprecated) {
            (doc, Some(reason)) => Some(format!(
                "{}{}",
                doc.as_deref()
                    .map(|d| format!("{d}\n\n"))
                    .unwrap_or_default(),
                if reason.is_empty() {
                    "@deprecated".to_owned()
                } else {
                    format!("@deprecated {reason}")
                }
            )),
            (doc, None) => doc.clone(),
        };
        match &def.kind {
            TypeKind::Struct { fields } if def.is_error => self.error(registry, def, doc, fields),
            TypeKind::Struct { fields } => self.struct_like(&def.name, doc, fields, None),
            TypeKind::Enum { variants } => {
                let alternatives: Vec<String> =
                    variants.iter().map(|v| format!("\"{}\"", v.name)).collect();
                render(
                    registry,
                    "enum",
                    &json!({
                        "name": def.name,
                        "values_const": names::values_const(&def.name),
                        "open": def.open,
                        "encode_fn": names::encode_fn(&def.name),
                        "decode_fn": names::decode_fn(&def.name),
                        "doc": tsdoc(Some(&format!("{}{}", doc.as_deref().unwrap_or(&format!("The `{}` enum.", def.name)), deprecated_values(variants))), 0),
                        "alternatives": alternatives.iter().cloned().chain(def.open.then(|| "Unknown".to_owned())).collect::<Vec<_>>().join(" | "),
                        "values": alternatives.join(", "),
                    }),
                )
            }
            TypeKind::Union { tag, variants } => {
                let mut parts: Vec<String> = variants
                    .iter()
                    .map(|variant| {
                        self.struct_like(
                            &names::variant_type(&def.name, &variant.name),
                            variant.doc.clone(),
                            &variant.fields,
                            Some((tag, &variant.name)),
                        )
                    })
                    .collect();
                let classes: Vec<String> = variants
                    .iter()
                    .map(|v| names::variant_type(&def.name, &v.name))
                    .collect();
                parts.push(render(
                    registry,
                    "union",
                    &json!({
                        "name": def.name,
                        "init_name": names::init_type(&def.name),
                        "encode_fn": names::encode_fn(&def.name),
                        "decode_fn": names::decode_fn(&def.name),
                        "open": def.open,
                        "doc": tsdoc(doc.as_deref().or(Some(&format!("The `{}` union.", def.name))), 0),
                        "tag": tag,
                        "alternatives": classes.iter().cloned().chain(def.open.then(|| "Unknown".to_owned())).collect::<Vec<_>>().join(" | "),
                        "init_alternatives": classes.iter().map(|c| names::init_type(c)).chain(def.open.then(|| "Unknown".to_owned())).collect::<Vec<_>>().join(" | "),
                        "variants": variants.iter().map(|v| json!({
                            "wire_name": v.name,
                            "encode_fn": names::encode_fn(&names::variant_type(&def.name, &v.name)),
                            "decode_fn": names::decode_fn(&names::variant_type(&def.name, &v.name)),
                        })).collect::<Vec<_>>(),
                    }),
                ));
                parts.join("\n\n")
            }
        }
    }

    /// A declared error: a class extending the runtime's `DeclaredError`.
    fn error(
        &self,
        registry: &Handlebars<'_>,
        def: &TypeDef,
        doc: Option<String>,
        fields: &[Field],
    ) -> String {
        let summary = super::error_summary(def);
        let field_values: Vec<Value> = fields
            .iter()
            .map(|field| {
                let mut data = json!(self.field_data(&def.name, field, "this"));
                let name = &field.name;
                let inner = match &field.ty {
                    TypeRef::Optional(inner) => inner.as_ref(),
                    other => other,
                };
                let class_type = if matches!(field.ty, TypeRef::Optional(_)) {
                    format!("{} | undefined", self.ts_type(inner))
                } else {
                    self.ts_type(inner)
                };
                let init_value = match &field.default {
                    Some(default) if !matches!(field.ty, TypeRef::Optional(_)) => {
                        format!("fields.{name} ?? {}", self.literal(default, &field.ty))
                    }
                    _ => format!("fields.{name}"),
                };
                data["class_type"] = Value::String(class_type);
                data["init_value"] = Value::String(init_value);
                data
            })
            .collect();
        let init_type = if fields.is_empty() {
            "Record<string, never>".to_owned()
        } else {
            let members: Vec<String> = fields
                .iter()
                .map(|field| {
                    let optional =
                        field.default.is_some() || matches!(field.ty, TypeRef::Optional(_));
                    let inner = match &field.ty {
                        TypeRef::Optional(inner) => inner.as_ref(),
                        other => other,
                    };
                    format!(
                        "{}{}: {}",
                        field.name,
                        if optional { "?" } else { "" },
                        self.ts_type(inner)
                    )
                })
                .collect();
            format!("{{ {} }}", members.join("; "))
        };
        render(
            registry,
            "error",
            &json!({
                "name": def.name,
                "wire_name": def.wire_name,
                "doc": tsdoc(doc.as_deref().or(Some(&format!("The `{}` error.", def.name))), 0),
                "fields": field_values,
                "init_type": init_type,
                "default_message": Value::String(summary).to_string(),
            }),
        )
    }

    fn request_type(&self, index: TypeIndex) -> String {
        let def = self.schema.ty(index);
        match def.kind {
            TypeKind::Enum { .. } => format!("{}{}", self.prefix(index), def.name),
            _ => format!("{}{}", self.prefix(index), names::init_type(&def.name)),
        }
    }

    /// The service's client class, and its methods' signatures (for the README).
    fn service(
        &self,
        registry: &Handlebars<'_>,
        service: &crate::model::Service,
    ) -> (String, Vec<String>) {
        let class_name = names::client(&service.name);
        let mut summary = Vec::new();
        let methods: Vec<Value> = service
            .methods
            .iter()
            .map(|method| {
                let request = self.schema.ty(method.request);
                let name = names::method(&method.name);
                let wire = &request.wire_name;
                let param = self.request_type(method.request);
                let errors: Vec<String> = method
                    .errors
                    .iter()
                    .map(|e| format!("{}{}", self.prefix(*e), self.schema.ty(*e).name))
                    .collect();
                let encode = format!("{}{}", self.prefix(method.request), names::encode_fn(&request.name));
                // The method's code is the template's; here are its parts.
                let (answer, returns, note) = match method.kind {
                    MethodKind::Reply(reply) => {
                        let prefix = self.prefix(reply);
                        let def = self.schema.ty(reply);
                        (
                            Some((format!("{prefix}{}", def.name), format!("{prefix}{}", names::decode_fn(&def.name)))),
                            format!("Promise<{prefix}{}>", def.name),
                            "",
                        )
                    }
                    MethodKind::Stream(item) => {
                        let prefix = self.prefix(item);
                        let def = self.schema.ty(item);
                        (
                            Some((format!("{prefix}{}", def.name), format!("{prefix}{}", names::decode_fn(&def.name)))),
                            format!("AsyncGenerator<{prefix}{}>", def.name),
                            "\n\nYields the stream's items as they arrive.",
                        )
                    }
                    MethodKind::FireAndForget => (
                        None,
                        "Promise<void>".to_owned(),
                        "\n\nResolves once the service's mailbox accepted the message.",
                    ),
                };
                let star = if matches!(method.kind, MethodKind::Stream(_)) { "*" } else { "" };
                let signature = format!("async {star}{name}(request: {param}, options?: CallOptions): {returns}");
                let throws: String = method
                    .errors
                    .iter()
                    .map(|e| {
                        let def = self.schema.ty(*e);
                        let summary = def.doc.as_deref().and_then(|d| d.lines().next()).unwrap_or("");
                        format!("\n\n@throws {{@link {}{}}} {summary}", self.prefix(*e), def.name).trim_end().to_owned()
                    })
                    .collect();
                let doc = format!("{}{note}{throws}{}", method.doc.clone().unwrap_or_else(|| format!("Calls `{}`.", method.name)), deprecated_tag(method.deprecated.as_deref()));
                let throws_names: Vec<&str> = method.errors.iter().map(|e| self.schema.ty(*e).name.as_str()).collect();
                summary.push(if throws_names.is_empty() {
                    signature.clone()
                } else {
                    format!("{signature}  // throws {}", throws_names.join(", "))
                });
                let answer = answer.map(|(ty, decode)| json!({ "type": ty, "decode": decode }));
                json!({
                    "doc": tsdoc(Some(&doc), 2),
                    "name": name,
                    "request": param,
                    "wire": wire,
                    "encode": encode,
                    "errors": (!errors.is_empty()).then(|| errors.join(", ")),
                    "reply": if matches!(method.kind, MethodKind::Reply(_)) { answer.clone() } else { None },
                    "stream": if matches!(method.kind, MethodKind::Stream(_)) { answer } else { None },
                    "send": matches!(method.kind, MethodKind::FireAndForget),
                })
            })
            .collect();
        let pushes: Vec<Value> = service
            .pushes
            .iter()
            .map(|push| {
                let def = self.schema.ty(*push);
                let method = names::subscribe_method(&def.name);
                let prefix = self.prefix(*push);
                let item = format!("{prefix}{}", def.name);
                summary.push(format!("{method}(): TypedSubscription<{item}>"));
                json!({
                    "method": method,
                    "item_type": item,
                    "decode_ref": format!("{prefix}{}", names::decode_fn(&def.name)),
                    "type_name": def.name,
                    "wire_name": def.wire_name,
                })
            })
            .collect();
        let text = render(
            registry,
            "service",
            &json!({
                "class_name": class_name,
                "name": service.name,
                "doc": tsdoc(Some(&format!("{}{}", service.doc.as_deref().unwrap_or(&format!("Client of the `{}` service.", service.name)), deprecated_tag(service.deprecated.as_deref()))), 0),
                "methods": methods,
                "pushes": pushes,
            }),
        );
        (text, summary)
    }
}

/// The generated README's example calls (`add({ a: 1n })`), from
/// `example::examples`.
fn readme_examples(emitter: &Emitter<'_>, schema: &Schema) -> Value {
    let Some(examples) = super::example::examples(schema) else {
        return Value::Null;
    };
    let call = |call: &super::example::Call<'_>, options: Option<&str>| {
        let fields: Vec<String> = call
            .arguments
            .iter()
            .map(|(field, value)| {
                format!(
                    "{}: {}",
                    names::property(&field.name),
                    emitter.literal(value, &field.ty)
                )
            })
            .collect();
        let request = if fields.is_empty() {
            "{}".to_owned()
        } else {
            format!("{{ {} }}", fields.join(", "))
        };
        let options = options.map(|o| format!(", {o}")).unwrap_or_default();
        format!("{}({request}{options})", names::method(&call.method.name))
    };
    json!({
        "client": names::client(&examples.service.name),
        "reply": examples.reply.as_ref().map(|c| call(c, None)),
        "reply_timeout": examples.reply.as_ref().map(|c| call(c, Some("{ timeoutMs: 2500 }"))),
        "stream_no_timeout": examples.stream.as_ref().map(|c| call(c, Some("{ timeoutMs: null }"))),
        "stream_signal": examples.stream.as_ref().map(|c| call(c, Some("{ signal: abort.signal }"))),
        "stream": examples.stream.as_ref().map(|c| call(c, None)),
        "push_method": examples.push.map(|(_, ty)| names::subscribe_method(&schema.ty(ty).name)),
        "push_client": examples
            .push
            .filter(|(service, _)| service.name != examples.service.name)
            .map(|(service, _)| names::client(&service.name)),
    })
}
