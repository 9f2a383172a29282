//! The Python target: a pip-installable package with a dataclass (or enum, or
//! tagged union) per type — docs, defaults, exact wire form — and a typed asyncio
//! client per service, on the bundled client runtime (`_runtime.py`).
//!
//! The files' layout lives in handlebars templates beside this emitter
//! (`codegen/templates/python/`); this module computes what goes into them: names,
//! annotations, and the conversion expressions between Python values and their
//! wire form.

use std::collections::BTreeSet;

use handlebars::Handlebars;
use serde::Serialize;
use serde_json::{json, Value};

use super::conversion::{self, Combinators, Dialect, Imports};
use super::{render, GeneratedFile};
use crate::ident::python as names;
use crate::model::{Field, MethodKind, Scalar, Schema, TypeDef, TypeIndex, TypeKind, TypeRef};

const RUNTIME: &str = include_str!("../../templates/python/runtime.py");
/// The NATS transport (`_nats.py`), used by `connect_nats`. Not a `.py` file in
/// the templates: its relative imports only work inside the package, where the
/// generated copy is linted and type-checked.
const NATS: &str = include_str!("../../templates/python/nats.py.tmpl");

/// A field's pieces of code: what a message class and an error class are written
/// from (errors through `error.py.hbs`).
#[derive(Debug, Serialize)]
struct PyField {
    py_name: String,
    wire_name: String,
    /// `, ("alias",)` after a required field's arguments, or nothing.
    aliases: String,
    /// How an optional or defaulted field is read from `fields`.
    get: Option<String>,
    annotation: String,
    default: Option<String>,
    doc: Option<String>,
    optional: bool,
    required: bool,
    encode: Option<String>,
    encode_present: Option<String>,
    decode: Option<String>,
    decode_present: Option<String>,
}

fn templates() -> Handlebars<'static> {
    let sources = [
        ("types", include_str!("../../templates/python/types.py.hbs")),
        ("enum", include_str!("../../templates/python/enum.py.hbs")),
        ("union", include_str!("../../templates/python/union.py.hbs")),
        ("error", include_str!("../../templates/python/error.py.hbs")),
        (
            "client",
            include_str!("../../templates/python/client.py.hbs"),
        ),
        (
            "service",
            include_str!("../../templates/python/service.py.hbs"),
        ),
        (
            "init",
            include_str!("../../templates/python/__init__.py.hbs"),
        ),
        (
            "schema",
            include_str!("../../templates/python/schema.py.hbs"),
        ),
        (
            "pyproject",
            include_str!("../../templates/python/pyproject.toml.hbs"),
        ),
        (
            "readme",
            include_str!("../../templates/python/README.md.hbs"),
        ),
    ];
    super::templates(&sources)
}

/// The Python package name for a schema: its `package` (dots become `_`), else the
/// file stem.
pub fn package_name(schema: &Schema, stem: &str) -> String {
    names::package(schema.package.as_deref(), stem)
}

/// Every file of the package, relative to the target directory.
pub(crate) fn generate_served(
    schema: &Schema,
    stem: &str,
    served: &super::document::LazyServed<'_>,
) -> Vec<GeneratedFile> {
    let registry = templates();
    let package = package_name(schema, stem);
    // The banner on two lines, to stay within the line length.
    let banner = super::banner(schema).replace(". Do not edit", ".\nDo not edit");
    let title = schema
        .doc
        .as_deref()
        .and_then(|d| d.lines().next())
        .map_or_else(|| format!("The `{package}` schema."), str::to_owned);
    let types_py = types_module(
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

    let mut uses_present = false;
    let mut readme_services = Vec::new();
    let services: Vec<String> = schema
        .services
        .iter()
        .map(|service| {
            let (text, present, summary) = emitter.service(&registry, service);
            uses_present |= present;
            readme_services.push(json!({
                "class_name": names::client(&service.name),
                "name": service.name,
                "doc": service.doc.as_deref().map(str::trim).unwrap_or_default(),
                "signatures": summary,
            }));
            text.trim_end().to_owned()
        })
        .collect();
    let client_modules = emitter.imports.modules().join(", ");
    let client_py = render(
        &registry,
        "client",
        &json!({
            "banner": banner,
            "services": services,
            "uses_present": uses_present,
            "typing_imports": if emitter.client_uses_any.get() { "Any, Final" } else { "Final" },
            "datetime_imports": datetime_imports(schema.services.iter().flat_map(|s| &s.methods).flat_map(|m| match &schema.ty(m.request).kind {
                TypeKind::Struct { fields } => fields.iter(),
                _ => [].iter(),
            })),
            "uses_warnings": emitter.client_uses_warnings.get(),
            "uses_unknown": emitter.client_uses_unknown.get(),
            "module_imports": client_modules,
            "uses_pushes": schema.services.iter().any(|s| !s.pushes.is_empty()),
            "uses_methods": schema.services.iter().any(|s| !s.methods.is_empty()),
            "uses_streams": schema.services.iter().flat_map(|s| &s.methods).any(|m| matches!(m.kind, MethodKind::Stream(_))),
            "service_names": schema.services.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", "),
        }),
    );

    let mut clients: Vec<String> = schema
        .services
        .iter()
        .map(|s| names::client(&s.name))
        .collect();
    clients.sort_by_key(|name| isort_key(name));
    // The root schema's types; an imported package is exported as its module.
    let mut type_names: Vec<String> = schema
        .types
        .iter()
        .filter(|def| !def.is_imported(schema))
        .flat_map(names::type_exports)
        .collect();
    type_names.sort_by_key(|name| isort_key(name));
    let mut modules: Vec<String> = schema
        .imports
        .iter()
        .map(|import| crate::ident::module_alias(&import.package))
        .collect();
    modules.sort();
    let runtime_names = [
        "ActonError",
        "Connection",
        "ConnectionClosed",
        "DeclaredError",
        "ErrorCode",
        "Format",
        "RateLimited",
        "RequestTimeout",
        "SchemaCheck",
        "Unknown",
        "NatsConnection",
    ];
    let mut all: Vec<String> = runtime_names
        .iter()
        .map(|n| (*n).to_owned())
        .chain(clients.iter().cloned())
        .chain(type_names.iter().cloned())
        .chain(modules.iter().cloned())
        .collect();
    all.sort_by_key(|name| all_key(name));
    let init_py = render(
        &registry,
        "init",
        &json!({
            "title": title,
            "banner": banner,
            "clients": clients.join(", "),
            "types": type_names,
            "modules": (!modules.is_empty()).then(|| modules.join(", ")),
            "all": all,
        }),
    );
    // The document in string pieces short enough for the line length (each piece
    // escaped on its own, so no escape is cut).
    let document = &served.get().document;
    let chars: Vec<char> = document.chars().collect();
    let chunks: Vec<String> = chars
        .chunks(80)
        .map(|piece| python_string_quoted_as_ruff(&piece.iter().collect::<String>()))
        .collect();
    let schema_py = render(
        &registry,
        "schema",
        &json!({
            "banner": banner,
            "fingerprint": served.get().fingerprint,
            "chunks": chunks,
        }),
    );
    let pyproject = render(
        &registry,
        "pyproject",
        &json!({
            "banner": super::banner(schema),
            "distribution": package.replace('_', "-"),
            "package": package,
            "version": "0.1.0",
            "title_plain": title.trim_end_matches('.'),
        }),
    );

    let readme = render(
        &registry,
        "readme",
        &json!({
            "banner": super::banner(schema),
            "distribution": package.replace('_', "-"),
            "package": package,
            "doc": schema.doc.as_deref().map(str::trim).unwrap_or_default(),
            "services": readme_services,
            "examples": readme_examples(&emitter, schema),
        }),
    );

    let file = |path: String, contents: String| GeneratedFile {
        path: path.into(),
        contents,
    };
    vec![
        file("pyproject.toml".into(), pyproject),
        file("README.md".into(), format!("{}\n", readme.trim_end())),
        file(format!("{package}/__init__.py"), init_py),
        file(format!("{package}/types.py"), types_py),
    ]
    .into_iter()
    .chain(
        imported
            .into_iter()
            .map(|(name, text)| file(format!("{package}/{name}"), text)),
    )
    .chain([
        file(format!("{package}/client.py"), client_py),
        file(format!("{package}/_runtime.py"), RUNTIME.to_owned()),
        file(format!("{package}/_nats.py"), NATS.to_owned()),
        file(format!("{package}/_schema.py"), schema_py),
        file(format!("{package}/py.typed"), String::new()),
    ])
    .collect()
}

/// A module of types: `types.py` for the root schema's (`package` is its
/// package), or an imported package's module.
fn types_module(
    schema: &Schema,
    registry: &Handlebars<'_>,
    package: Option<&str>,
    title: &str,
    banner: &str,
) -> String {
    let emitter = Emitter::new(schema, package, false);
    let own: Vec<&TypeDef> = schema
        .types
        .iter()
        .filter(|def| def.package.as_deref() == package)
        .collect();
    // Enums first: defaults of other types refer to their members when the class
    // body runs.
    let enums_first = own
        .iter()
        .filter(|t| matches!(t.kind, TypeKind::Enum { .. }))
        .chain(
            own.iter()
                .filter(|t| !matches!(t.kind, TypeKind::Enum { .. })),
        );
    let definitions: Vec<String> = enums_first
        .map(|def| emitter.definition(registry, def).trim_end().to_owned())
        .collect();
    // Messages and errors declare `WIRE_NAME: ClassVar`; enums do not.
    let mut typing = vec!["Any", "Self"];
    if own.iter().any(|t| !matches!(t.kind, TypeKind::Enum { .. })) {
        typing.insert(1, "ClassVar");
    }
    if own.iter().any(|t| matches!(t.kind, TypeKind::Union { .. })) {
        typing.push("TypeAlias");
    }
    // What the templates use besides the conversions (recorded as they were
    // built): enums and unions raise `ActonError`, errors extend `DeclaredError`,
    // structs read mappings, open types keep `Unknown`.
    let imports = &emitter.imports;
    let kinds = |test: fn(&TypeDef) -> bool| own.iter().any(|def| test(def));
    imports.runtime_if(
        kinds(|d| !matches!(d.kind, TypeKind::Struct { .. })),
        "ActonError",
    );
    imports.runtime_if(kinds(|d| d.is_error), "DeclaredError");
    imports.runtime_if(
        kinds(|d| !matches!(d.kind, TypeKind::Enum { .. })),
        "expect_mapping",
    );
    imports.runtime_if(kinds(|d| d.open), "Unknown");
    let runtime_imports = imports.runtime_names();
    let uses_field = own.iter().filter(|def| !def.is_error).any(|def| {
        def.fields()
            .any(|f| f.default.is_some() && mutable_default(&f.ty))
    });
    let uses_dataclass = own
        .iter()
        .any(|def| !def.is_error && !matches!(def.kind, TypeKind::Enum { .. }));
    let modules = emitter.imports.modules();
    render(
        registry,
        "types",
        &json!({
            "title": title,
            "banner": banner,
            "uses_enum": own.iter().any(|t| matches!(t.kind, TypeKind::Enum { .. })),
            "uses_field": uses_field,
            "uses_dataclass": uses_dataclass,
            "typing_imports": typing.join(", "),
            "runtime_imports": runtime_imports,
            "module_imports": (!modules.is_empty()).then(|| modules.join(", ")),
            "datetime_imports": datetime_imports(own.iter().flat_map(|def| def.fields())),
            "definitions": definitions,
        }),
    )
}

/// Name groups as ruff orders them: constants, classes, then everything else.
fn name_group(name: &str) -> u8 {
    if name.len() > 1
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        0
    } else if name.starts_with(|c: char| c.is_ascii_uppercase()) {
        1
    } else {
        2
    }
}

/// The order of names in an import list (ruff's isort: by group, ignoring case).
fn isort_key(name: &str) -> (u8, String, String) {
    (name_group(name), name.to_ascii_lowercase(), name.to_owned())
}

/// The order of `__all__` (ruff's RUF022: by group, then by code point).
fn all_key(name: &str) -> (u8, String) {
    (name_group(name), name.to_owned())
}

/// The statement a deprecated method or client starts with (8 columns in).
fn deprecation_warning(what: &str, reason: &str) -> String {
    let message = if reason.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {reason}")
    };
    wrap_call(
        8,
        "warnings.warn(",
        &[
            python_string(&message),
            "DeprecationWarning".to_owned(),
            "stacklevel=2".to_owned(),
        ],
        ")",
    )
}

/// What a module imports from `datetime` for the annotations of `fields`:
/// `datetime`, `timedelta`, both (`datetime, timedelta`) or nothing.
fn datetime_imports<'f>(fields: impl Iterator<Item = &'f Field>) -> String {
    fn scalars(ty: &TypeRef, found: &mut BTreeSet<&'static str>) {
        match ty {
            TypeRef::Scalar(Scalar::Timestamp) => {
                found.insert("datetime");
            }
            TypeRef::Scalar(Scalar::Duration) => {
                found.insert("timedelta");
            }
            TypeRef::List(inner) | TypeRef::Map(inner) | TypeRef::Optional(inner) => {
                scalars(inner, found);
            }
            TypeRef::Scalar(_) | TypeRef::Named(_) => {}
        }
    }
    let mut found = BTreeSet::new();
    for field in fields {
        scalars(&field.ty, &mut found);
    }
    found.into_iter().collect::<Vec<_>>().join(", ")
}

fn mutable_default(ty: &TypeRef) -> bool {
    match ty {
        TypeRef::List(_) | TypeRef::Map(_) | TypeRef::Scalar(Scalar::Json) => true,
        TypeRef::Optional(inner) => mutable_default(inner),
        _ => false,
    }
}

/// A docstring body: the schema's doc (or `fallback`), quotes made safe, wrapped
/// to fit 100 columns at `indent`, continuation lines indented.
fn docstring(doc: Option<&str>, fallback: &str, indent: usize) -> String {
    let text = doc.unwrap_or(fallback).trim();
    let text = text.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
    let width = 100usize.saturating_sub(indent).max(40);
    let pad = " ".repeat(indent);
    let mut lines: Vec<String> = Vec::new();
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    let mut out = lines.join(&format!("\n{pad}"));
    if lines.len() > 1 {
        // A multi-line docstring ends on a line of its own.
        out.push('\n');
        out.push_str(&pad);
    }
    out.replace(&format!("\n{pad}\n"), "\n\n")
}

fn deprecated_doc(doc: Option<&str>, deprecated: Option<&str>) -> Option<String> {
    match (doc, deprecated) {
        (doc, Some(reason)) => {
            let note = if reason.is_empty() {
                "Deprecated.".to_owned()
            } else {
                format!("Deprecated: {reason}")
            };
            Some(match doc {
                Some(doc) => format!("{doc}\n\n{note}"),
                None => note,
            })
        }
        (Some(doc), None) => Some(doc.to_owned()),
        (None, None) => None,
    }
}

struct Emitter<'a> {
    schema: &'a Schema,
    /// The package whose module is being written (the root schema's for
    /// `types.py` and `client.py`).
    module: Option<&'a str>,
    /// Whether it is `client.py`, which names the root's types `types.X`.
    client: bool,
    /// What the module imports, recorded as its code is built.
    imports: Imports,
    /// Whether a client method's parameters are annotated with `Any`.
    client_uses_any: std::cell::Cell<bool>,
    /// Whether a client method warns that it is deprecated.
    client_uses_warnings: std::cell::Cell<bool>,
    /// Whether a client method's annotations name `Unknown` (an open enum).
    client_uses_unknown: std::cell::Cell<bool>,
    /// Names a field or method may not take as they are.
    shadowed: names::Shadowed,
}

impl<'a> Emitter<'a> {
    fn new(schema: &'a Schema, module: Option<&'a str>, client: bool) -> Self {
        Self {
            schema,
            module,
            client,
            imports: Imports::default(),
            client_uses_any: std::cell::Cell::new(false),
            client_uses_warnings: std::cell::Cell::new(false),
            client_uses_unknown: std::cell::Cell::new(false),
            shadowed: names::Shadowed::of(schema),
        }
    }

    /// How this module names the type at `index` (`X`, `types.X`, `common.X`),
    /// recording the modules it must import.
    fn type_ref(&self, index: TypeIndex) -> String {
        format!(
            "{}{}",
            self.module_prefix(index),
            self.schema.ty(index).name
        )
    }

    /// `""`, `types.` or `common.`: what precedes the names of the module of the
    /// type at `index`.
    fn module_prefix(&self, index: TypeIndex) -> String {
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

    fn annotation(&self, ty: &TypeRef) -> String {
        match ty {
            TypeRef::Scalar(scalar) => match scalar {
                Scalar::Bool => "bool".into(),
                Scalar::F32 | Scalar::F64 => "float".into(),
                Scalar::String => "str".into(),
                Scalar::Bytes => "bytes".into(),
                Scalar::Json => "Any".into(),
                Scalar::Timestamp => "datetime".into(),
                Scalar::Duration => "timedelta".into(),
                Scalar::I8
                | Scalar::I16
                | Scalar::I32
                | Scalar::I64
                | Scalar::U8
                | Scalar::U16
                | Scalar::U32
                | Scalar::U64 => "int".into(),
            },
            TypeRef::List(inner) => format!("list[{}]", self.annotation(inner)),
            TypeRef::Map(inner) => format!("dict[str, {}]", self.annotation(inner)),
            TypeRef::Optional(inner) => format!("{} | None", self.annotation(inner)),
            TypeRef::Named(index) => {
                let def = self.schema.ty(*index);
                let name = self.type_ref(*index);
                if def.open && matches!(def.kind, TypeKind::Enum { .. }) {
                    self.client_uses_unknown.set(true);
                    self.imports.runtime("Unknown");
                    format!("{name} | Unknown")
                } else {
                    name
                }
            }
        }
    }

    /// A decoder (a callable) for `ty`.
    fn decoder(&self, ty: &TypeRef) -> String {
        conversion::decoder(self, &self.imports, ty)
    }

    /// An expression decoding the wire value `value` (a simple name) into `ty`.
    fn decode(&self, ty: &TypeRef, value: &str) -> String {
        match ty {
            TypeRef::Scalar(Scalar::Json) => value.to_owned(),
            _ => format!("{}({value})", self.decoder(ty)),
        }
    }

    /// An expression encoding the Python value `value` of `ty`.
    fn encode(&self, ty: &TypeRef, value: &str) -> String {
        if let TypeRef::Named(_) = ty {
            return format!("{value}.to_wire()");
        }
        match (ty, conversion::encoder(self, &self.imports, ty)) {
            (_, Some(encoder)) => format!("{encoder}({value})"),
            (TypeRef::List(_), None) => format!("list({value})"),
            (TypeRef::Map(_), None) => format!("dict({value})"),
            (_, None) => value.to_owned(),
        }
    }

    fn default(&self, field: &Field) -> Option<String> {
        match &field.default {
            Some(value) => {
                let literal = self.literal(value, &field.ty);
                Some(if mutable_default(&field.ty) {
                    format!("field(default_factory=lambda: {literal})")
                } else {
                    literal
                })
            }
            None => matches!(field.ty, TypeRef::Optional(_)).then(|| "None".to_owned()),
        }
    }

    /// A Python literal for a default value (already checked against its type).
    fn literal(&self, value: &Value, ty: &TypeRef) -> String {
        match (ty, value) {
            (TypeRef::Scalar(Scalar::Duration), Value::String(text)) => {
                let (secs, nanos) = crate::model::parse_duration(text).unwrap_or_default();
                match nanos / 1000 {
                    0 => format!("timedelta(seconds={secs})"),
                    micros => format!("timedelta(seconds={secs}, microseconds={micros})"),
                }
            }
            (TypeRef::Optional(_), Value::Null) => "None".into(),
            (TypeRef::Optional(inner), value) => self.literal(value, inner),
            (TypeRef::Named(index), Value::String(variant)) => {
                format!("{}.{}", self.type_ref(*index), names::enum_member(variant))
            }
            (TypeRef::List(inner), Value::Array(items)) => {
                let items: Vec<String> = items.iter().map(|i| self.literal(i, inner)).collect();
                format!("[{}]", items.join(", "))
            }
            (TypeRef::Map(inner), Value::Object(entries)) => {
                let mut entries: Vec<(&String, &Value)> = entries.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let items: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{}: {}", python_string(k), self.literal(v, inner)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            (_, value) => python_value(value),
        }
    }

    fn field_data(&self, field: &Field) -> PyField {
        self.field_data_as(field, names::attribute(&field.name, &self.shadowed))
    }

    /// A field's pieces of code, its attribute being `name`.
    fn field_data_as(&self, field: &Field, name: String) -> PyField {
        let optional = matches!(field.ty, TypeRef::Optional(_));
        let required = field.default.is_none() && !optional;
        let inner = match &field.ty {
            TypeRef::Optional(inner) => inner.as_ref(),
            other => other,
        };
        let aliases: Vec<String> = field.aliases.iter().map(|a| python_string(a)).collect();
        let aliases = match aliases.as_slice() {
            [] => String::new(),
            [one] => format!("({one},)"),
            many => format!("({})", many.join(", ")),
        };
        // Only what the templates render is built, so that the imports recorded
        // on the way are exactly those the module uses: a required field is read
        // with `required`, another with `fields.get` (or `field_of` for aliases);
        // an optional one is written only when present.
        let (required_args, get) = if required {
            self.imports.runtime("required");
            let args = if aliases.is_empty() {
                String::new()
            } else {
                format!(", {aliases}")
            };
            (args, None)
        } else if aliases.is_empty() {
            (
                String::new(),
                Some(format!("fields.get({})", python_string(&field.name))),
            )
        } else {
            let call = format!(
                "{}(fields, {}, {aliases})",
                self.imports.runtime("field_of"),
                python_string(&field.name)
            );
            (String::new(), Some(call))
        };
        let this = format!("self.{name}");
        PyField {
            annotation: self.annotation(&field.ty),
            default: self.default(field),
            doc: deprecated_doc(field.doc.as_deref(), field.deprecated.as_deref())
                .map(|d| docstring(Some(&d), "", 4)),
            encode: (!optional).then(|| self.encode(&field.ty, &this)),
            encode_present: optional.then(|| self.encode(inner, &this)),
            decode: required.then(|| self.decode(&field.ty, "value")),
            decode_present: (!required).then(|| self.decode(inner, "value")),
            py_name: name,
            wire_name: field.name.clone(),
            aliases: required_args,
            get,
            optional,
            required,
        }
    }

    /// A message class (a struct, or a union's variant with its `tag`): what
    /// `struct.py.hbs` once rendered, written directly (the per-type template
    /// rendering was most of the generator's time on large schemas).
    fn struct_class(
        &self,
        class: &str,
        wire_name: &str,
        doc: &str,
        tag: Option<(&str, &str)>,
        fields: &[PyField],
    ) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(512 + fields.len() * 256);
        // `write!` to a String cannot fail.
        let _ = write!(
            out,
            "@dataclass(kw_only=True)\nclass {class}:\n    \"\"\"{doc}\"\"\"\n\n    WIRE_NAME: ClassVar[str] = \"{wire_name}\"\n"
        );
        if let Some((_, value)) = tag {
            let _ = writeln!(out, "    TAG: ClassVar[str] = \"{value}\"");
        }
        for field in fields {
            let _ = write!(out, "    {}: {}", field.py_name, field.annotation);
            if let Some(default) = &field.default {
                let _ = write!(out, " = {default}");
            }
            out.push('\n');
            if let Some(doc) = field.doc.as_deref().filter(|doc| !doc.is_empty()) {
                let _ = writeln!(out, "    \"\"\"{doc}\"\"\"");
            }
        }
        out.push_str("\n    def to_wire(self) -> dict[str, Any]:\n        \"\"\"The wire form: a dict keyed by wire field names.\"\"\"\n        wire: dict[str, Any] = {}\n");
        if let Some((tag, _)) = tag {
            let _ = writeln!(out, "        wire[\"{tag}\"] = self.TAG");
        }
        for field in fields {
            match (&field.encode_present, &field.encode) {
                (Some(encode), _) if field.optional => {
                    let _ = write!(
                        out,
                        "        if self.{} is not None:\n            wire[\"{}\"] = {encode}\n",
                        field.py_name, field.wire_name
                    );
                }
                (_, Some(encode)) => {
                    let _ = writeln!(out, "        wire[\"{}\"] = {encode}", field.wire_name);
                }
                _ => {}
            }
        }
        let fields_name = if fields.is_empty() {
            "_fields"
        } else {
            "fields"
        };
        let _ = write!(
            out,
            "        return wire\n\n    @classmethod\n    def from_wire(cls, data: Any) -> Self:\n        \"\"\"Reads the wire form; unknown fields are ignored, absent ones get their default.\"\"\"\n        {fields_name} = expect_mapping(data, \"{class}\")\n        values: dict[str, Any] = {{}}\n"
        );
        for field in fields {
            if field.required {
                let _ = write!(
                    out,
                    "        value = required(fields, \"{}\", \"{class}\"{})\n        values[\"{}\"] = {}\n",
                    field.wire_name,
                    field.aliases,
                    field.py_name,
                    field.decode.as_deref().unwrap_or_default()
                );
            } else {
                let _ = write!(
                    out,
                    "        if (value := {}) is not None:\n            values[\"{}\"] = {}\n",
                    field.get.as_deref().unwrap_or_default(),
                    field.py_name,
                    field.decode_present.as_deref().unwrap_or_default()
                );
            }
        }
        out.push_str("        return cls(**values)\n");
        out
    }

    fn definition(&self, registry: &Handlebars<'_>, def: &TypeDef) -> String {
        let described = deprecated_doc(def.doc.as_deref(), def.deprecated.as_deref());
        let fallback = format!("The `{}` message.", def.name);
        let doc = docstring(described.as_deref(), &fallback, 4);
        match &def.kind {
            TypeKind::Struct { fields } if def.is_error => self.error(registry, def, fields, &doc),
            TypeKind::Struct { fields } => {
                let fields: Vec<PyField> = fields.iter().map(|f| self.field_data(f)).collect();
                self.struct_class(&def.name, &def.wire_name, &doc, None, &fields)
            }
            TypeKind::Enum { variants } => render(
                registry,
                "enum",
                &json!({
                    "name": def.name,
                    "open": def.open,
                    "doc": doc,
                    "variants": variants.iter().map(|v| json!({
                        "member": names::enum_member(&v.name),
                        "wire_name": v.name,
                        "doc": deprecated_doc(v.doc.as_deref(), v.deprecated.as_deref()).map(|d| docstring(Some(&d), "", 4)),
                    })).collect::<Vec<_>>(),
                }),
            ),
            TypeKind::Union { tag, variants } => {
                let classes: Vec<String> = variants
                    .iter()
                    .map(|variant| {
                        let fields: Vec<PyField> =
                            variant.fields.iter().map(|f| self.field_data(f)).collect();
                        let doc = docstring(
                            variant.doc.as_deref(),
                            &format!("The `{}` variant of `{}`.", variant.name, def.name),
                            4,
                        );
                        let class = self.struct_class(
                            &names::variant_class(&def.name, &variant.name),
                            &def.wire_name,
                            &doc,
                            Some((tag.as_str(), variant.name.as_str())),
                            &fields,
                        );
                        class.trim_end().to_owned()
                    })
                    .collect();
                let alias = render(
                    registry,
                    "union",
                    &json!({
                        "name": def.name,
                        "decode_fn": names::decode_fn(&def.name),
                        "doc": docstring(described.as_deref(), &fallback, 0),
                        "tag": tag,
                        "open": def.open,
                        "alternatives": variants.iter().map(|v| names::variant_class(&def.name, &v.name)).chain(def.open.then(|| "Unknown".to_owned())).collect::<Vec<_>>().join(" | "),
                        "variants": variants.iter().map(|v| json!({
                            "wire_name": v.name,
                            "class_name": names::variant_class(&def.name, &v.name),
                        })).collect::<Vec<_>>(),
                    }),
                );
                let mut parts = classes;
                parts.push(alias);
                parts.join("\n\n\n")
            }
        }
    }

    /// A declared error: an exception class with the error's fields.
    fn error(
        &self,
        registry: &Handlebars<'_>,
        def: &TypeDef,
        fields: &[Field],
        doc: &str,
    ) -> String {
        let mut params: Vec<String> = fields
            .iter()
            .map(|field| {
                let name = names::error_attribute(&field.name, &self.shadowed);
                let annotation = self.annotation(&field.ty);
                match (&field.default, &field.ty) {
                    (None, TypeRef::Optional(_)) => format!("{name}: {annotation} = None"),
                    (None, _) => format!("{name}: {annotation}"),
                    (Some(value), ty) if !mutable_default(ty) => {
                        format!("{name}: {annotation} = {}", self.literal(value, ty))
                    }
                    (Some(_), _) => format!("{name}: {annotation} | None = None"),
                }
            })
            .collect();
        params.push("message: str | None = None".to_owned());
        let one_line = format!("def __init__(self, *, {}) -> None:", params.join(", "));
        let init_signature = if one_line.len() + 4 <= 100 {
            one_line
        } else {
            let mut lines = vec![
                "def __init__(".to_owned(),
                "        self,".to_owned(),
                "        *,".to_owned(),
            ];
            lines.extend(params.iter().map(|p| format!("        {p},")));
            lines.push("    ) -> None:".to_owned());
            lines.join("\n")
        };
        let summary = super::error_summary(def);
        let field_values: Vec<Value> = fields
            .iter()
            .map(|field| {
                let mut data =
                    json!(self
                        .field_data_as(field, names::error_attribute(&field.name, &self.shadowed)));
                let name = names::error_attribute(&field.name, &self.shadowed);
                let init_value = match (&field.default, &field.ty) {
                    (Some(value), ty) if mutable_default(ty) => {
                        format!(
                            "{name} if {name} is not None else {}",
                            self.literal(value, ty)
                        )
                    }
                    _ => name,
                };
                data["init_value"] = Value::String(init_value);
                data
            })
            .collect();
        render(
            registry,
            "error",
            &json!({
                "name": def.name,
                "wire_name": def.wire_name,
                "doc": doc,
                "fields": field_values,
                "init_signature": init_signature,
                "default_message": python_string(&summary),
            }),
        )
    }

    /// A client class; also whether it uses the `present` helper.
    fn service(
        &self,
        registry: &Handlebars<'_>,
        service: &crate::model::Service,
    ) -> (String, bool, Vec<String>) {
        let mut uses_present = false;
        let mut summary = Vec::new();
        let methods: Vec<Value> = service
            .methods
            .iter()
            .map(|method| {
                let request = self.schema.ty(method.request);
                let (mut params, construct, present) = self.request_parameters(method.request);
                if !params.contains(&"*".to_owned()) {
                    params.push("*".to_owned());
                }
                params.push("timeout: Timeout = DEFAULT_TIMEOUT".to_owned());
                uses_present |= present;
                let name = names::method(&method.name, &self.shadowed);
                let wire = &request.wire_name;
                let (returns, body) = match method.kind {
                    MethodKind::Reply(reply) => {
                        let call = wrap_call(
                            8,
                            "answer = await self.connection.request(",
                            &self.call_arguments(wire, &method.errors),
                            ")",
                        );
                        (
                            self.qualified_annotation(&TypeRef::Named(reply)),
                            format!(
                                "        request = {construct}\n{call}\n        return {}",
                                self.qualified_decode(reply, "answer")
                            ),
                        )
                    }
                    MethodKind::Stream(item) => {
                        let call = wrap_call(
                            8,
                            "async for item in self.connection.stream(",
                            &self.call_arguments(wire, &method.errors),
                            "):",
                        );
                        (
                            format!(
                                "AsyncGenerator[{}, None]",
                                self.qualified_annotation(&TypeRef::Named(item))
                            ),
                            format!(
                                "        request = {construct}\n{call}\n            yield {}",
                                self.qualified_decode(item, "item")
                            ),
                        )
                    }
                    MethodKind::FireAndForget => (
                        "None".to_owned(),
                        format!(
                            "        request = {construct}\n{}",
                            wrap_call(
                                8,
                                "await self.connection.send(",
                                &self.call_arguments(wire, &[]),
                                ")"
                            )
                        ),
                    ),
                };
                let parameters = if params.is_empty() {
                    String::new()
                } else {
                    params.join(", ")
                };
                let raises: Vec<&str> = method
                    .errors
                    .iter()
                    .map(|e| self.schema.ty(*e).name.as_str())
                    .collect();
                let raises = if raises.is_empty() {
                    String::new()
                } else {
                    format!("  # raises {}", raises.join(", "))
                };
                summary.push(format!(
                    "async def {name}({parameters}) -> {returns}{raises}"
                ));
                let signature = if params.is_empty() {
                    format!("async def {name}(self) -> {returns}:")
                } else {
                    let mut lines = vec![format!("async def {name}("), "        self,".to_owned()];
                    lines.extend(params.iter().map(|p| format!("        {p},")));
                    lines.push(format!("    ) -> {returns}:"));
                    lines.join("\n")
                };
                let kind_note = match method.kind {
                    MethodKind::Reply(_) => "",
                    MethodKind::Stream(_) => "\n\nYields the stream's items as they arrive.",
                    MethodKind::FireAndForget => {
                        "\n\nReturns once the service's mailbox accepted the message."
                    }
                };
                let raises = self.raises(&method.errors);
                let own_doc = method
                    .doc
                    .clone()
                    .unwrap_or_else(|| format!("Calls `{}`.", method.name));
                let own_doc =
                    deprecated_doc(Some(&own_doc), method.deprecated.as_deref()).unwrap_or(own_doc);
                let described = format!("{own_doc}{kind_note}{raises}");
                let body = match &method.deprecated {
                    Some(reason) => {
                        self.client_uses_warnings.set(true);
                        let what = format!("{}.{} is deprecated", service.name, method.name);
                        format!("{}\n{body}", deprecation_warning(&what, reason))
                    }
                    None => body,
                };
                json!({
                    "signature": signature,
                    "doc": docstring(Some(&described), "", 8),
                    "body": body,
                })
            })
            .collect();
        let pushes: Vec<Value> = service
            .pushes
            .iter()
            .map(|push| {
                let def = self.schema.ty(*push);
                let method = names::subscribe_method(&def.name);
                let item = self.qualified_annotation(&TypeRef::Named(*push));
                summary.push(format!("def {method}() -> TypedSubscription[{item}]"));
                json!({
                    "method": method,
                    "type_name": def.name,
                    "item_annotation": item,
                    "wire_name": def.wire_name,
                    "decode_fn": self.qualified_decoder(*push),
                })
            })
            .collect();
        let text = render(
            registry,
            "service",
            &json!({
                "class_name": names::client(&service.name),
                "name": service.name,
                "doc": docstring(deprecated_doc(Some(service.doc.clone().unwrap_or_else(|| format!("Client of the `{}` service.", service.name)).as_str()), service.deprecated.as_deref()).as_deref(), "", 4),
                "deprecation": service.deprecated.as_deref().map(|reason| {
                    self.client_uses_warnings.set(true);
                    deprecation_warning(&format!("the {} service is deprecated", service.name), reason)
                }),
                "methods": methods,
                "pushes": pushes,
            }),
        );
        (text, uses_present, summary)
    }

    /// The arguments of a generated call into the connection.
    fn call_arguments(&self, wire: &str, errors: &[TypeIndex]) -> Vec<String> {
        let mut arguments = vec![
            "self.SERVICE".to_owned(),
            python_string(wire),
            "request.to_wire()".to_owned(),
            "timeout=timeout".to_owned(),
        ];
        if !errors.is_empty() {
            let classes: Vec<String> = errors.iter().map(|e| self.type_ref(*e)).collect();
            let tuple = if classes.len() == 1 {
                format!("({},)", classes[0])
            } else {
                format!("({})", classes.join(", "))
            };
            arguments.push(format!("errors={tuple}"));
        }
        arguments
    }

    /// A docstring's section listing the declared errors a method raises.
    fn raises(&self, errors: &[TypeIndex]) -> String {
        if errors.is_empty() {
            return String::new();
        }
        let lines: Vec<String> = errors
            .iter()
            .map(|e| {
                let def = self.schema.ty(*e);
                let summary = def
                    .doc
                    .as_deref()
                    .and_then(|d| d.lines().next())
                    .unwrap_or("");
                format!("Raises `{}`: {summary}", def.name)
                    .trim_end()
                    .to_owned()
            })
            .collect();
        format!("\n\n{}", lines.join("\n\n"))
    }

    /// The decoder (a callable) of a named type, from the client module.
    fn qualified_decoder(&self, index: TypeIndex) -> String {
        let def = self.schema.ty(index);
        match def.kind {
            TypeKind::Union { .. } => format!(
                "{}{}",
                self.module_prefix(index),
                names::decode_fn(&def.name)
            ),
            _ => format!("{}.from_wire", self.type_ref(index)),
        }
    }

    fn qualified_decode(&self, index: TypeIndex, value: &str) -> String {
        let def = self.schema.ty(index);
        match def.kind {
            TypeKind::Union { .. } => format!(
                "{}{}({value})",
                self.module_prefix(index),
                names::decode_fn(&def.name)
            ),
            _ => format!("{}.from_wire({value})", self.type_ref(index)),
        }
    }

    /// The keyword parameters of a method whose request is `request`, the
    /// expression building the request, and whether it uses `present`.
    fn request_parameters(&self, request_index: TypeIndex) -> (Vec<String>, String, bool) {
        let request = self.schema.ty(request_index);
        match &request.kind {
            TypeKind::Struct { fields } if !fields.is_empty() => {
                let mut params = vec!["*".to_owned()];
                let mut direct = Vec::new();
                let mut given = Vec::new();
                for field in fields {
                    let name = names::attribute(&field.name, &self.shadowed);
                    let param = names::parameter(&field.name, &self.shadowed);
                    let annotation = self.qualified_annotation(&field.ty);
                    match (&field.default, &field.ty) {
                        (None, TypeRef::Optional(_)) => {
                            params.push(format!("{param}: {annotation} = None"));
                            direct.push(format!("{name}={param}"));
                        }
                        (None, _) => {
                            params.push(format!("{param}: {annotation}"));
                            direct.push(format!("{name}={param}"));
                        }
                        (Some(value), ty) if !mutable_default(ty) => {
                            let literal = self.literal(value, ty);
                            params.push(format!("{param}: {annotation} = {literal}"));
                            direct.push(format!("{name}={param}"));
                        }
                        (Some(_), _) => {
                            params.push(format!("{param}: {annotation} | None = None"));
                            given.push(format!("{name}={param}"));
                        }
                    }
                }
                let present = !given.is_empty();
                if present {
                    direct.push(format!("**present({})", given.join(", ")));
                }
                let class = self.type_ref(request_index);
                let inline = format!("{class}({})", direct.join(", "));
                let construct = if inline.len() + 18 <= 100 {
                    inline
                } else {
                    let args: Vec<String> = direct
                        .iter()
                        .map(|a| format!("            {a},\n"))
                        .collect();
                    format!("{class}(\n{}        )", args.concat())
                };
                (params, construct, present)
            }
            TypeKind::Struct { .. } => (
                Vec::new(),
                format!("{}()", self.type_ref(request_index)),
                false,
            ),
            TypeKind::Enum { .. } | TypeKind::Union { .. } => (
                vec![format!(
                    "request: {}",
                    self.qualified_annotation(&TypeRef::Named(request_index))
                )],
                "request".to_owned(),
                false,
            ),
        }
    }

    fn qualified_annotation(&self, ty: &TypeRef) -> String {
        match ty {
            TypeRef::Named(_) => self.annotation(ty),
            TypeRef::List(inner) => format!("list[{}]", self.qualified_annotation(inner)),
            TypeRef::Map(inner) => format!("dict[str, {}]", self.qualified_annotation(inner)),
            TypeRef::Optional(inner) => format!("{} | None", self.qualified_annotation(inner)),
            TypeRef::Scalar(Scalar::Json) => {
                self.client_uses_any.set(true);
                "Any".to_owned()
            }
            TypeRef::Scalar(_) => self.annotation(ty),
        }
    }
}

impl Dialect for Emitter<'_> {
    const COMBINATORS: Combinators = Combinators {
        list_of: "list_of",
        map_of: "map_of",
        optional_of: "optional_of",
        list_to: "list_to",
        map_to: "map_to",
        optional_to: "optional_to",
    };

    fn scalar_decoder(&self, scalar: Scalar) -> &'static str {
        match scalar {
            Scalar::Bool => "decode_bool",
            Scalar::F32 | Scalar::F64 => "decode_float",
            Scalar::String => "decode_str",
            Scalar::Bytes => "decode_bytes",
            Scalar::Json => "decode_json",
            Scalar::Timestamp => "decode_timestamp",
            Scalar::Duration => "decode_duration",
            Scalar::I8
            | Scalar::I16
            | Scalar::I32
            | Scalar::I64
            | Scalar::U8
            | Scalar::U16
            | Scalar::U32
            | Scalar::U64 => "decode_int",
        }
    }

    fn scalar_encoder(&self, scalar: Scalar) -> Option<&'static str> {
        match scalar {
            Scalar::Timestamp => Some("encode_timestamp"),
            Scalar::Duration => Some("encode_duration"),
            _ => None,
        }
    }

    fn named_decoder(&self, index: TypeIndex) -> String {
        let def = self.schema.ty(index);
        match def.kind {
            TypeKind::Union { .. } => {
                format!(
                    "{}{}",
                    self.module_prefix(index),
                    names::decode_fn(&def.name)
                )
            }
            _ => format!("{}.from_wire", self.type_ref(index)),
        }
    }

    fn named_encoder(&self, _index: TypeIndex, imports: &Imports) -> String {
        imports.runtime("to_wire")
    }
}

/// A call laid out so that ruff leaves it as it is under any line length from 88
/// up: on one line when that fits in 88 columns, else one argument per line with
/// a trailing comma (which keeps ruff from joining the lines again).
fn wrap_call(indent: usize, head: &str, arguments: &[String], tail: &str) -> String {
    let pad = " ".repeat(indent);
    let one_line = format!("{pad}{head}{}{tail}", arguments.join(", "));
    if one_line.len() <= 88 {
        return one_line;
    }
    let inner = " ".repeat(indent + 4);
    let lines: Vec<String> = arguments.iter().map(|a| format!("{inner}{a},")).collect();
    format!("{pad}{head}\n{}\n{pad}{tail}", lines.join("\n"))
}

/// A Python literal for `text` quoted as ruff format quotes it: with double
/// quotes, unless it holds more double quotes than single ones.
fn python_string_quoted_as_ruff(text: &str) -> String {
    let doubles = text.matches('"').count();
    let singles = text.matches('\'').count();
    if doubles > singles && !text.chars().any(char::is_control) {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    } else {
        python_string(text)
    }
}

fn python_string(text: &str) -> String {
    // JSON string syntax is valid Python for every string.
    Value::String(text.to_owned()).to_string()
}

/// A Python literal for a JSON value.
fn python_value(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_string(s),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(entries) => {
            let mut entries: Vec<(&String, &Value)> = entries.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}: {}", python_string(k), python_value(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// The generated README's example calls (`add(a=1)`), from `example::examples`.
fn readme_examples(emitter: &Emitter<'_>, schema: &Schema) -> Value {
    let Some(examples) = super::example::examples(schema) else {
        return Value::Null;
    };
    let call = |call: &super::example::Call<'_>, timeout: Option<&str>| {
        let mut arguments: Vec<String> = call
            .arguments
            .iter()
            .map(|(field, value)| {
                format!(
                    "{}={}",
                    names::parameter(&field.name, &emitter.shadowed),
                    emitter.literal(value, &field.ty)
                )
            })
            .collect();
        arguments.extend(timeout.map(|t| format!("timeout={t}")));
        format!(
            "{}({})",
            names::method(&call.method.name, &emitter.shadowed),
            arguments.join(", ")
        )
    };
    json!({
        "client": names::client(&examples.service.name),
        "reply": examples.reply.as_ref().map(|c| call(c, None)),
        "reply_timeout": examples.reply.as_ref().map(|c| call(c, Some("2.5"))),
        "stream": examples.stream.as_ref().map(|c| call(c, None)),
        "stream_no_timeout": examples.stream.as_ref().map(|c| call(c, Some("None"))),
        "push_method": examples.push.map(|(_, ty)| names::subscribe_method(&schema.ty(ty).name)),
        "push_client": examples
            .push
            .filter(|(service, _)| service.name != examples.service.name)
            .map(|(service, _)| names::client(&service.name)),
    })
}
