//! The Rust target: one struct or enum per type (serde, the schema's docs and wire
//! names), `register_all`, and per service a handler trait, a `serve_*` function and
//! a typed client. Built with `quote` and formatted with `prettyplease`, except the
//! items written once per type, which [`direct`] writes straight in the same layout.
//!
//! The output has no inner attributes, so it can be pulled into any module with
//! `include!` (the `build.rs` way) as well as stand as a module of its own.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

mod direct;

use super::GeneratedFile;
use crate::ident::rust as names;
use crate::model::{
    Field, Method, MethodKind, Scalar, Schema, Service, TypeDef, TypeIndex, TypeKind, TypeRef,
};

/// What to generate beyond the defaults, as `build.rs` asks for it through the
/// [`Builder`](crate::Builder) (in the manner of `prost-build` and `tonic-build`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Attributes (`#[derive(Hash)]`) per type: `(type name, or "." for every
    /// type, attribute)`.
    pub type_attributes: Vec<(String, TokenStream)>,
    /// Attributes per field: `("Type.field" or "Union.variant.field", attribute)`.
    pub field_attributes: Vec<(String, TokenStream)>,
    /// Schema types mapped to existing Rust types (`"Money"` → `crate::money::Money`):
    /// not generated, referred to by that path, registered under their wire name.
    pub extern_types: std::collections::BTreeMap<String, String>,
    /// Generate the typed clients.
    pub client: bool,
    /// Generate the handler traits and `serve_*` functions.
    pub server: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            type_attributes: Vec::new(),
            field_attributes: Vec::new(),
            extern_types: std::collections::BTreeMap::new(),
            client: true,
            server: true,
        }
    }
}

/// Generates the Rust module for `schema` with `options`, as `<file_stem>.rs`.
pub fn generate_with(schema: &Schema, file_stem: &str, options: &Options) -> GeneratedFile {
    generate_served(
        schema,
        file_stem,
        options,
        &super::document::LazyServed::new(schema),
    )
}

/// [`generate_with`], the schema document already built.
pub(crate) fn generate_served(
    schema: &Schema,
    file_stem: &str,
    options: &Options,
    served: &super::document::LazyServed<'_>,
) -> GeneratedFile {
    GeneratedFile {
        path: format!("{file_stem}.rs").into(),
        contents: render_served(schema, options, served),
    }
}

/// The formatted Rust source for `schema` with `options`.
fn render_served(
    schema: &Schema,
    options: &Options,
    served: &super::document::LazyServed<'_>,
) -> String {
    let emitter = Emitter {
        schema,
        options,
        module: schema.package.as_deref(),
    };
    let own: Vec<&TypeDef> = schema.types.iter().filter(|d| emitter.is_own(d)).collect();
    let mut body = format_tokens(|| emitter.uses());
    body.push_str(&emitter.print_types(&own));
    body.push_str(&emitter.print_rest());
    let mut code = format!("// {}\n\n{}", super::banner(schema), space_items(&body));
    let served = served.get();
    for (name, placeholder, value) in [
        ("SCHEMA", SCHEMA_PLACEHOLDER, &served.document),
        (
            "SCHEMA_FINGERPRINT",
            FINGERPRINT_PLACEHOLDER,
            &served.fingerprint,
        ),
    ] {
        let line = format!("\npub const {name}: &str = {placeholder};\n");
        if let Some(at) = code.find(&line) {
            let literal = proc_macro2::Literal::string(value).to_string();
            code.replace_range(
                at..at + line.len(),
                &format!("\npub const {name}: &str = {literal};\n"),
            );
        }
    }
    code
}

/// Stand for the schema document's and fingerprint's string literals until the
/// code is formatted: as tokens they would be escaped, parsed and printed again.
const SCHEMA_PLACEHOLDER: &str = "ACTON_SCHEMA_DOCUMENT_LITERAL";
const FINGERPRINT_PLACEHOLDER: &str = "ACTON_SCHEMA_FINGERPRINT_LITERAL";

/// Whether items are written directly where they can be (tests turn it off, to
/// print a schema both ways).
#[cfg(not(test))]
fn direct_enabled() -> bool {
    true
}

#[cfg(test)]
thread_local! {
    static DIRECT_IN_TEST: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

#[cfg(test)]
fn direct_enabled() -> bool {
    DIRECT_IN_TEST.with(std::cell::Cell::get)
}

/// Prints the tokens `build` makes as formatted Rust (not cloning them: a clone
/// is copied as soon as the parser takes it apart).
fn format_tokens(build: impl Fn() -> TokenStream) -> String {
    match syn::parse2::<syn::File>(build()) {
        Ok(file) => prettyplease::unparse(&file),
        // Generated tokens always parse; should they not, the raw text still
        // shows what went wrong when compiled.
        Err(_) => build().to_string(),
    }
}

/// Puts a blank line between top-level items (and after the imports), as rustfmt
/// would leave them in hand-written code; prettyplease does not.
fn space_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 20);
    let mut previous = "";
    for line in code.lines() {
        // A top-level item, or one in an imported package's module or an impl
        // block (four columns in), ended on the previous line.
        let item_ended = previous == "}"
            || previous == "    }" && line.starts_with("    ") && !line.starts_with("     ")
            || previous.ends_with(';')
                && !previous.starts_with(' ')
                && !previous.starts_with("use ");
        let imports_ended =
            previous.trim_start().starts_with("use ") && !line.trim_start().starts_with("use ");
        if (item_ended || imports_ended) && !line.is_empty() && line.trim() != "}" {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}

struct Emitter<'a> {
    schema: &'a Schema,
    options: &'a Options,
    /// The package whose module is being written: the root schema's (whose module
    /// also holds the services), or an imported one's (`pub mod common`).
    module: Option<&'a str>,
}

/// The module of an imported package (`acme.common` → `acme_common`).
fn ident_of_module(package: &str) -> Ident {
    ident(&crate::ident::module_alias(package))
}

/// The token of an identifier the naming authority spelled (`r#type` is raw).
fn ident(spelling: &str) -> Ident {
    match spelling.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(spelling, Span::call_site()),
    }
}

fn type_ident(name: &str) -> Ident {
    ident(&names::type_name(name))
}

fn variant_ident(name: &str) -> Ident {
    ident(&names::variant(name))
}

fn field_ident(name: &str) -> Ident {
    ident(&names::field(name))
}

fn method_ident(name: &str) -> Ident {
    ident(&names::method(name))
}

fn docs(doc: Option<&str>, deprecated: Option<&str>) -> TokenStream {
    let mut lines: Vec<String> = doc
        .map(|d| d.lines().map(|l| format!(" {}", l.trim_end())).collect())
        .unwrap_or_default();
    if let Some(reason) = deprecated {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.push(if reason.is_empty() {
            " **Deprecated.**".to_owned()
        } else {
            format!(" **Deprecated:** {reason}")
        });
    }
    quote! { #( #[doc = #lines] )* }
}

/// `#[deprecated]`, with the reason as its note, for a deprecated item.
fn deprecated_attr(deprecated: Option<&str>) -> Option<TokenStream> {
    deprecated.map(|reason| {
        if reason.is_empty() {
            quote!(#[deprecated])
        } else {
            quote!(#[deprecated(note = #reason)])
        }
    })
}

impl Emitter<'_> {
    /// How generated code names a schema type: its generated ident, or the path of
    /// the existing Rust type it is mapped to.
    fn type_path(&self, index: TypeIndex) -> TokenStream {
        let def = self.schema.ty(index);
        if let Some(path) = self.extern_path(def) {
            return path.parse().unwrap_or_else(|_| quote!(#path));
        }
        let ident = type_ident(&def.name);
        if def.package.as_deref() == self.module {
            return quote!(#ident);
        }
        // Another package's module: a child of the root's module.
        let module = ident_of_module(def.package.as_deref().unwrap_or_default());
        if self.is_root() {
            quote!(#module::#ident)
        } else {
            quote!(super::#module::#ident)
        }
    }

    fn is_root(&self) -> bool {
        self.module == self.schema.package.as_deref()
    }

    /// Whether `def` is written in this module.
    fn is_own(&self, def: &TypeDef) -> bool {
        def.package.as_deref() == self.module && !self.is_extern(def)
    }

    /// The Rust path `build.rs` mapped `def` to (only the root schema's types
    /// can be mapped).
    fn extern_path(&self, def: &TypeDef) -> Option<&String> {
        if def.is_imported(self.schema) {
            return None;
        }
        self.options.extern_types.get(&def.name)
    }

    fn is_extern(&self, def: &TypeDef) -> bool {
        self.extern_path(def).is_some()
    }

    /// The attributes `build.rs` asked for on `def`.
    fn type_attributes(&self, def: &TypeDef) -> TokenStream {
        let attributes = self
            .options
            .type_attributes
            .iter()
            .filter(|(path, _)| path == "." || *path == def.name)
            .map(|(_, attribute)| attribute);
        quote! { #(#attributes)* }
    }

    /// The attributes `build.rs` asked for on the field at `path`.
    fn field_attributes(&self, path: &str) -> TokenStream {
        let attributes = self
            .options
            .field_attributes
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, attribute)| attribute);
        quote! { #(#attributes)* }
    }

    /// `types`' definitions as formatted Rust: written directly where
    /// [`direct_type_def`](Self::direct_type_def) knows the layout, the others
    /// built as tokens and formatted by prettyplease (in runs, in order).
    fn print_types(&self, types: &[&TypeDef]) -> String {
        let mut out = String::new();
        let mut pending: Vec<&TypeDef> = Vec::new();
        let flush = |out: &mut String, pending: &mut Vec<&TypeDef>| {
            if !pending.is_empty() {
                out.push_str(&format_tokens(|| {
                    let types = pending.iter().map(|def| self.type_def(def));
                    quote! { #(#types)* }
                }));
                pending.clear();
            }
        };
        for def in types {
            match self.direct_type_def(def) {
                Some(text) if direct_enabled() => {
                    flush(&mut out, &mut pending);
                    out.push_str(&text);
                }
                _ => pending.push(def),
            }
        }
        flush(&mut out, &mut pending);
        out
    }

    /// The module after its types, formatted: the registry, defaults, services
    /// and imported packages' modules.
    fn print_rest(&self) -> String {
        let mut out = match self.direct_register_all() {
            Some(text) if direct_enabled() => text,
            _ => format_tokens(|| self.register_all()),
        };
        let mut pending: Vec<(String, &Field)> = Vec::new();
        let flush = |out: &mut String, pending: &mut Vec<(String, &Field)>| {
            if !pending.is_empty() {
                out.push_str(&format_tokens(|| {
                    let functions = pending
                        .iter()
                        .filter_map(|(scope, field)| self.default_function(scope, field));
                    quote! { #(#functions)* }
                }));
                pending.clear();
            }
        };
        for (scope, field) in self.scoped_defaults() {
            match self.direct_default_function(&scope, field) {
                Some(text) if direct_enabled() => {
                    flush(&mut out, &mut pending);
                    out.push_str(&text);
                }
                _ => pending.push((scope, field)),
            }
        }
        flush(&mut out, &mut pending);
        out.push_str(&format_tokens(|| {
            let services = self
                .schema
                .services
                .iter()
                .map(|service| self.service(service));
            let imported = self.schema.imports.iter().map(|import| {
                let module = Emitter {
                    schema: self.schema,
                    options: self.options,
                    module: Some(&import.package),
                };
                module.package_module(import)
            });
            quote! {
                #(#services)*
                #(#imported)*
            }
        }));
        out
    }

    /// `pub mod common { ... }`: the types of an imported package.
    fn package_module(&self, import: &crate::model::Import) -> TokenStream {
        let name = ident_of_module(&import.package);
        let doc = format!(
            " The types of package `{}` (`{}`), which the schema imports.",
            import.package,
            import.source.replace('\\', "/")
        );
        let uses = self.uses();
        let types = self
            .schema
            .types
            .iter()
            .filter(|def| self.is_own(def))
            .map(|def| self.type_def(def));
        let defaults = self.default_functions();
        quote! {
            #[doc = #doc]
            pub mod #name {
                #uses
                #(#types)*
                #defaults
            }
        }
    }

    fn uses(&self) -> TokenStream {
        let needs_map = self.any_type(&|ty| matches!(ty, TypeRef::Map(_)));
        let map = needs_map.then(|| quote! { use std::collections::BTreeMap; });
        let needs_bytes = self.any_type(&|ty| matches!(ty, TypeRef::Scalar(Scalar::Bytes)));
        let needs_json = self.any_type(&|ty| matches!(ty, TypeRef::Scalar(Scalar::Json)))
            || self.schema.types.iter().any(|def| {
                def.open && matches!(def.kind, TypeKind::Union { .. }) && self.is_own(def)
            });
        let wire: Vec<Ident> = [(needs_bytes, "Bytes"), (needs_json, "Json")]
            .into_iter()
            .filter(|(needed, _)| *needed)
            .map(|(_, name)| format_ident!("{}", name))
            .collect();
        let wire =
            (!wire.is_empty()).then(|| quote! { use acton_reactive::ipc::wire::{#(#wire),*}; });
        let (client, server) = (self.options.client, self.options.server);
        // Services, and the registry, are the root module's.
        let services: &[Service] = if self.is_root() {
            &self.schema.services
        } else {
            &[]
        };
        let methods = || services.iter().flat_map(|s| &s.methods);
        let with_methods = || services.iter().filter(|s| !s.methods.is_empty());
        let any_errors = methods().any(|m| !m.errors.is_empty());
        // Error enums (both sides), handler traits (server) and client methods
        // (their `Status` errors) name `service`.
        let needs_service = any_errors || ((client || server) && methods().next().is_some());
        let mut uses = Vec::new();
        if server && with_methods().next().is_some() {
            uses.push(quote! { use std::future::Future; });
        }
        if client && !services.is_empty() {
            uses.push(quote! { use std::path::Path; });
        }
        if server && with_methods().any(|s| !s.exclusive) {
            uses.push(quote! { use std::sync::Arc; });
        }
        match (client && !services.is_empty(), any_errors) {
            (true, _) => {
                uses.push(quote! { use acton_reactive::ipc::client::{ClientError, IpcClient}; })
            }
            (false, true) => uses.push(quote! { use acton_reactive::ipc::client::ClientError; }),
            (false, false) => {}
        }
        if needs_service {
            uses.push(quote! { use acton_reactive::ipc::service; });
        }
        if server && !services.is_empty() {
            uses.push(quote! { use acton_reactive::prelude::{ActorHandle, ActorRuntime}; });
        }
        if client && methods().any(|m| matches!(m.kind, MethodKind::Stream(_))) {
            uses.push(quote! { use acton_reactive::ipc::client::TypedStream; });
        }
        if client && services.iter().any(|s| !s.pushes.is_empty()) {
            uses.push(quote! { use acton_reactive::ipc::client::Subscription; });
        }
        let serde = self
            .schema
            .types
            .iter()
            .any(|def| self.is_own(def))
            .then(|| quote! { use acton_reactive::serde::{Deserialize, Serialize}; });
        let registry = self
            .is_root()
            .then(|| quote! { use acton_reactive::ipc::IpcTypeRegistry; });
        quote! {
            #map
            #(#uses)*
            #registry
            #serde
            #wire
        }
    }

    /// Whether a default of type `ty` may name a deprecated enum value.
    fn names_deprecated_value(&self, ty: &TypeRef) -> bool {
        ty.named()
            .is_some_and(|index| match &self.schema.ty(index).kind {
                TypeKind::Enum { variants } => variants.iter().any(|v| v.deprecated.is_some()),
                _ => false,
            })
    }

    fn any_type(&self, test: &dyn Fn(&TypeRef) -> bool) -> bool {
        fn walk(ty: &TypeRef, test: &dyn Fn(&TypeRef) -> bool) -> bool {
            test(ty)
                || match ty {
                    TypeRef::List(inner) | TypeRef::Map(inner) | TypeRef::Optional(inner) => {
                        walk(inner, test)
                    }
                    _ => false,
                }
        }
        self.schema
            .types
            .iter()
            .filter(|def| self.is_own(def))
            .any(|def| def.fields().any(|field| walk(&field.ty, test)))
    }

    fn rust_type(&self, ty: &TypeRef, boxed: bool) -> TokenStream {
        match ty {
            TypeRef::Scalar(scalar) => match scalar {
                Scalar::Bool => quote!(bool),
                Scalar::I8 => quote!(i8),
                Scalar::I16 => quote!(i16),
                Scalar::I32 => quote!(i32),
                Scalar::I64 => quote!(i64),
                Scalar::U8 => quote!(u8),
                Scalar::U16 => quote!(u16),
                Scalar::U32 => quote!(u32),
                Scalar::U64 => quote!(u64),
                Scalar::F32 => quote!(f32),
                Scalar::F64 => quote!(f64),
                Scalar::String => quote!(String),
                Scalar::Bytes => quote!(Bytes),
                Scalar::Json => quote!(Json),
                Scalar::Timestamp => quote!(acton_reactive::ipc::wire::Timestamp),
                Scalar::Duration => quote!(acton_reactive::ipc::wire::Duration),
            },
            TypeRef::List(inner) => {
                let inner = self.rust_type(inner, false);
                quote!(Vec<#inner>)
            }
            TypeRef::Map(inner) => {
                let inner = self.rust_type(inner, false);
                quote!(BTreeMap<String, #inner>)
            }
            TypeRef::Optional(inner) => {
                let inner = self.rust_type(inner, false);
                if boxed {
                    quote!(Option<Box<#inner>>)
                } else {
                    quote!(Option<#inner>)
                }
            }
            TypeRef::Named(index) => {
                let ident = self.type_path(*index);
                quote!(#ident)
            }
        }
    }

    fn type_def(&self, def: &TypeDef) -> TokenStream {
        let ident = type_ident(&def.name);
        let doc = docs(def.doc.as_deref(), def.deprecated.as_deref());
        let wire_note = format!(" Registered as `{}`.", def.wire_name);
        // An open enum keeps an unknown value's name, so it is not `Copy`.
        let derive = match def.kind {
            TypeKind::Enum { .. } if def.open => quote! {
                #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
                #[serde(crate = "acton_reactive::serde")]
            },
            TypeKind::Enum { .. } => quote! {
                #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
                #[serde(crate = "acton_reactive::serde")]
            },
            _ => quote! {
                #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
                #[serde(crate = "acton_reactive::serde")]
            },
        };
        let extra = self.type_attributes(def);
        let derive = quote! { #derive #extra };
        match &def.kind {
            TypeKind::Struct { fields } => {
                let fields = fields.iter().map(|field| {
                    let path = format!("{}.{}", def.name, field.name);
                    self.field(&def.name, &path, field, true)
                });
                let doc_sep = def.doc.is_some().then(|| quote!(#[doc = ""]));
                let error_impls = def.is_error.then(|| self.error_impls(def));
                quote! {
                    #doc
                    #doc_sep
                    #[doc = #wire_note]
                    #derive
                    pub struct #ident { #(#fields,)* }
                    #error_impls
                }
            }
            TypeKind::Enum { variants } => {
                let variants = variants.iter().map(|variant| {
                    let name = variant_ident(&variant.name);
                    let wire = &variant.name;
                    let doc = docs(variant.doc.as_deref(), variant.deprecated.as_deref());
                    let deprecated = deprecated_attr(variant.deprecated.as_deref());
                    quote! { #doc #deprecated #[serde(rename = #wire)] #name }
                });
                let unknown = def.open.then(|| {
                    quote! {
                        /// A value this code does not know (added to the schema after it
                        /// was generated: the enum is open), by its wire name; it is sent
                        /// back as it came.
                        #[serde(untagged)]
                        Unknown(String),
                    }
                });
                quote! {
                    #doc
                    #derive
                    pub enum #ident { #(#variants,)* #unknown }
                }
            }
            TypeKind::Union { tag, variants } => {
                let variants = variants.iter().map(|variant| {
                    let name = variant_ident(&variant.name);
                    let wire = &variant.name;
                    let doc = docs(variant.doc.as_deref(), None);
                    let scope = format!("{}_{}", def.name, variant.name);
                    let fields = variant.fields.iter().map(move |field| {
                        let path = format!("{}.{}.{}", def.name, variant.name, field.name);
                        self.field(&scope, &path, field, false)
                    });
                    if variant.fields.is_empty() {
                        quote! { #doc #[serde(rename = #wire)] #name {} }
                    } else {
                        quote! { #doc #[serde(rename = #wire)] #name { #(#fields,)* } }
                    }
                });
                let unknown = def.open.then(|| {
                    quote! {
                        /// A variant this code does not know (added to the schema after it
                        /// was generated: the union is open), as its whole wire object,
                        /// tag included; it is sent back as it came.
                        #[serde(untagged)]
                        Unknown(Json),
                    }
                });
                quote! {
                    #doc
                    #derive
                    #[serde(tag = #tag)]
                    pub enum #ident { #(#variants,)* #unknown }
                }
            }
        }
    }

    /// A field; `scope` names its defaults function (the type, or type and variant).
    fn field(&self, scope: &str, path: &str, field: &Field, public: bool) -> TokenStream {
        let ident = field_ident(&field.name);
        let ty = self.rust_type(&field.ty, field.recursive);
        let doc = docs(field.doc.as_deref(), field.deprecated.as_deref());
        let mut serde = Vec::new();
        if ident.to_string().trim_start_matches("r#") != field.name {
            let wire = &field.name;
            serde.push(quote!(rename = #wire));
        }
        for alias in &field.aliases {
            serde.push(quote!(alias = #alias));
        }
        let optional = matches!(field.ty, TypeRef::Optional(_));
        if field.default.is_some() {
            let function = default_function_name(scope, field).to_string();
            serde.push(quote!(default = #function));
        } else if optional {
            serde.push(quote!(default));
        }
        if optional {
            // Absent, not null, when there is no value.
            serde.push(quote!(skip_serializing_if = "Option::is_none"));
        }
        let serde = (!serde.is_empty()).then(|| quote!(#[serde(#(#serde),*)]));
        let visibility = public.then(|| quote!(pub));
        let extra = self.field_attributes(path);
        quote! { #doc #serde #extra #visibility #ident: #ty }
    }

    /// The fields of this module's own types that have a default, with the scope
    /// their default function is named after, in order.
    fn scoped_defaults(&self) -> impl Iterator<Item = (String, &Field)> + '_ {
        self.schema
            .types
            .iter()
            .filter(|def| self.is_own(def))
            .flat_map(|def| scoped_fields(def))
            .filter(|(_, field)| field.default.is_some())
    }

    fn default_functions(&self) -> TokenStream {
        let functions = self
            .scoped_defaults()
            .filter_map(|(scope, field)| self.default_function(&scope, field));
        quote! { #(#functions)* }
    }

    /// The function giving `field`'s default (named after `scope`), if it has one.
    fn default_function(&self, scope: &str, field: &Field) -> Option<TokenStream> {
        let value = field.default.as_ref()?;
        let name = default_function_name(scope, field);
        let ty = self.rust_type(&field.ty, field.recursive);
        let value = self.default_value(value, &field.ty);
        let allow = self
            .names_deprecated_value(&field.ty)
            .then(|| quote!(#[allow(deprecated)]));
        Some(quote! {
            #allow
            fn #name() -> #ty { #value }
        })
    }

    /// A Rust expression for a default value (already checked against its type).
    fn default_value(&self, value: &serde_json::Value, ty: &TypeRef) -> TokenStream {
        use serde_json::Value;
        match (ty, value) {
            (TypeRef::Optional(_), Value::Null) => quote!(None),
            (TypeRef::Optional(inner), value) => {
                let inner = self.default_value(value, inner);
                quote!(Some(#inner))
            }
            (TypeRef::Scalar(Scalar::Json), value) => {
                let text = super::canonical_json(value);
                quote!(acton_reactive::ipc::wire::json_literal(#text))
            }
            (TypeRef::Scalar(Scalar::Duration), Value::String(text)) => {
                let (secs, nanos) = crate::model::parse_duration(text).unwrap_or_default();
                quote!(acton_reactive::ipc::wire::Duration(std::time::Duration::new(#secs, #nanos)))
            }
            (TypeRef::Scalar(Scalar::Bool), Value::Bool(b)) => quote!(#b),
            (TypeRef::Scalar(Scalar::String), Value::String(s)) => quote!(String::from(#s)),
            (TypeRef::Scalar(Scalar::F32 | Scalar::F64), Value::Number(n)) => {
                let literal = Literal::f64_unsuffixed(n.as_f64().unwrap_or_default());
                quote!(#literal)
            }
            (TypeRef::Scalar(_), Value::Number(n)) => {
                let literal = match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => Literal::i64_unsuffixed(i),
                    (None, Some(u)) => Literal::u64_unsuffixed(u),
                    _ => Literal::i64_unsuffixed(0),
                };
                quote!(#literal)
            }
            (TypeRef::List(inner), Value::Array(items)) if !items.is_empty() => {
                let items = items.iter().map(|item| self.default_value(item, inner));
                quote!(vec![#(#items),*])
            }
            (TypeRef::List(_), _) => quote!(Vec::new()),
            (TypeRef::Map(inner), Value::Object(entries)) if !entries.is_empty() => {
                let mut entries: Vec<(&String, &Value)> = entries.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let entries = entries.into_iter().map(|(key, item)| {
                    let item = self.default_value(item, inner);
                    quote!((String::from(#key), #item))
                });
                quote!(BTreeMap::from([#(#entries),*]))
            }
            (TypeRef::Map(_), _) => quote!(BTreeMap::new()),
            (TypeRef::Named(index), Value::String(variant)) => {
                let ty = self.type_path(*index);
                let variant = variant_ident(variant);
                quote!(#ty::#variant)
            }
            _ => quote!(Default::default()),
        }
    }

    fn register_all(&self) -> TokenStream {
        let registrations = self.schema.types.iter().enumerate().map(|(i, def)| {
            let path = self.type_path(TypeIndex(i));
            let wire = &def.wire_name;
            quote! { registry.register::<#path>(#wire); }
        });
        // The literals go in after formatting (see `render_served`).
        let document = format_ident!("{}", SCHEMA_PLACEHOLDER);
        let fingerprint = format_ident!("{}", FINGERPRINT_PLACEHOLDER);
        quote! {
            /// The checked schema as JSON (`acton-schema/1`), which the server sends
            /// in DISCOVER when asked (`include_schema`).
            pub const SCHEMA: &str = #document;

            /// The fingerprint of [`SCHEMA`]'s wire contract: equal fingerprints,
            /// same contract.
            pub const SCHEMA_FINGERPRINT: &str = #fingerprint;

            /// Registers every type of the schema with `registry`, under its wire
            /// name, and the schema itself (served by DISCOVER).
            pub fn register_all(registry: &IpcTypeRegistry) {
                #(#registrations)*
                registry.register_schema(SCHEMA, SCHEMA_FINGERPRINT);
            }
        }
    }

    fn wire_name(&self, index: TypeIndex) -> &str {
        &self.schema.ty(index).wire_name
    }

    /// The error type of a method: its errors' enum, or `service::Status`.
    fn error_type(&self, service: &Service, method: &Method) -> TokenStream {
        if method.errors.is_empty() {
            quote!(service::Status)
        } else {
            let ident = format_ident!(
                "{}",
                names::method_error_enum(self.schema, &service.name, &method.name)
            );
            quote!(#ident)
        }
    }

    /// `# Errors` lines naming a method's declared errors.
    fn errors_doc(&self, method: &Method, rest: &str) -> TokenStream {
        let mut lines = vec![String::new(), " # Errors".to_owned()];
        for error in &method.errors {
            let def = self.schema.ty(*error);
            let summary = def
                .doc
                .as_deref()
                .and_then(|d| d.lines().next())
                .map(|first| format!(": {first}"))
                .unwrap_or_default();
            lines.push(format!(" - `{}`{summary}", def.name));
        }
        lines.push(format!(" - {rest}"));
        quote! { #( #[doc = #lines] )* }
    }

    /// `Display` and `Error` for a declared error: its doc's first line (or its
    /// name) and its fields.
    fn error_impls(&self, def: &TypeDef) -> TokenStream {
        let ident = type_ident(&def.name);
        let summary = super::error_summary(def);
        let fields: Vec<&Field> = def.fields().collect();
        let body = if fields.is_empty() {
            quote! { f.write_str(#summary) }
        } else {
            let format = format!(
                "{} ({})",
                summary.replace('{', "{{").replace('}', "}}"),
                fields
                    .iter()
                    .map(|field| format!("{}: {{:?}}", field.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let values = fields.iter().map(|field| {
                let ident = field_ident(&field.name);
                quote!(self.#ident)
            });
            quote! { write!(f, #format, #(#values),*) }
        };
        quote! {
            impl std::fmt::Display for #ident {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    #body
                }
            }

            impl std::error::Error for #ident {}
        }
    }

    /// The enum of the errors a method may fail with, and its conversions.
    fn error_enum(&self, service: &Service, method: &Method) -> TokenStream {
        let ident = format_ident!(
            "{}",
            names::method_error_enum(self.schema, &service.name, &method.name)
        );
        let doc = format!(" How `{}.{}` can fail.", service.name, method.name);
        // Each declared error: its variant (named like the error) and its type
        // (which may live in an imported package's module).
        let errors: Vec<(Ident, TokenStream, &TypeDef)> = method
            .errors
            .iter()
            .map(|index| {
                let def = self.schema.ty(*index);
                (type_ident(&def.name), self.type_path(*index), def)
            })
            .collect();
        let variants = errors.iter().map(|(variant, path, def)| {
            let doc = docs(def.doc.as_deref(), def.deprecated.as_deref());
            quote! { #doc #variant(#path) }
        });
        let froms = errors.iter().map(|(variant, path, _)| {
            quote! {
                impl From<#path> for #ident {
                    fn from(error: #path) -> Self {
                        Self::#variant(error)
                    }
                }
            }
        });
        let decodes = errors.iter().map(|(variant, _, def)| {
            let wire = &def.wire_name;
            quote! { #wire => details.decode().ok().map(Self::#variant), }
        });
        let displays = errors.iter().map(|(variant, _, _)| {
            quote! { Self::#variant(error) => std::fmt::Display::fmt(error, f), }
        });
        let failures = errors.iter().map(|(variant, _, def)| {
            let wire = &def.wire_name;
            quote! {
                Self::#variant(error) => service::Failure::with_details(#wire, error.to_string(), error),
            }
        });
        quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, PartialEq)]
            pub enum #ident {
                #(#variants,)*
                /// Any other failure: a protocol error (a timeout, a closed
                /// connection, ...), or a status the handler chose.
                Status(service::Status),
            }

            #(#froms)*

            impl From<service::Status> for #ident {
                fn from(status: service::Status) -> Self {
                    Self::Status(status)
                }
            }

            impl From<ClientError> for #ident {
                fn from(error: ClientError) -> Self {
                    if let ClientError::Server { code, details: Some(details), .. } = &error {
                        let declared = match code.as_str() {
                            #(#decodes)*
                            _ => None,
                        };
                        if let Some(declared) = declared {
                            return declared;
                        }
                    }
                    Self::Status(error.into())
                }
            }

            impl std::fmt::Display for #ident {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    match self {
                        #(#displays)*
                        Self::Status(status) => std::fmt::Display::fmt(status, f),
                    }
                }
            }

            impl std::error::Error for #ident {}

            impl service::IntoFailure for #ident {
                fn into_failure(self) -> service::Failure {
                    match self {
                        #(#failures)*
                        Self::Status(status) => service::IntoFailure::into_failure(status),
                    }
                }
            }
        }
    }

    fn service(&self, service: &Service) -> TokenStream {
        let trait_ident = ident(&names::handler_trait(&service.name));
        let client_ident = ident(&names::client(&service.name));
        let serve_ident = ident(&names::serve_fn(&service.name));
        let name = &service.name;
        let service_doc = docs(service.doc.as_deref(), None);
        let receiver = if service.exclusive {
            quote!(&mut self)
        } else {
            quote!(&self)
        };

        let error_enums = service
            .methods
            .iter()
            .filter(|method| !method.errors.is_empty())
            .map(|method| self.error_enum(service, method));

        let trait_methods = service.methods.iter().map(|method| {
            let ident = method_ident(&method.name);
            let doc = docs(method.doc.as_deref(), method.deprecated.as_deref());
            let request = self.type_path(method.request);
            let path = format!("{}.{}", service.name, method.name);
            let error = self.error_type(service, method);
            let into = (!method.errors.is_empty()).then(|| quote!(.into()));
            let unimplemented = quote! {
                let _ = (ctx, request);
                async move { Err(service::Status::unimplemented(#path) #into) }
            };
            match method.kind {
                MethodKind::Reply(reply) => {
                    let reply = self.type_path(reply);
                    let errors = self.errors_doc(method, "any other failure, as a `Status`");
                    quote! {
                        #doc
                        #errors
                        fn #ident(#receiver, ctx: service::RequestContext, request: #request) -> impl Future<Output = Result<#reply, #error>> + Send {
                            #unimplemented
                        }
                    }
                }
                MethodKind::Stream(item) => {
                    let item = self.type_path(item);
                    let note = " Send the items into `items`; the stream ends when this returns, with the error if it returns one.";
                    let errors = self.errors_doc(method, "any other failure, as a `Status`");
                    quote! {
                        #doc
                        #[doc = ""]
                        #[doc = #note]
                        #errors
                        fn #ident(#receiver, ctx: service::RequestContext, request: #request, items: service::StreamSink<#item>) -> impl Future<Output = Result<(), #error>> + Send {
                            let _ = items;
                            #unimplemented
                        }
                    }
                }
                MethodKind::FireAndForget => {
                    quote! {
                        #doc
                        fn #ident(#receiver, ctx: service::RequestContext, request: #request) -> impl Future<Output = ()> + Send {
                            let _ = (ctx, request);
                            async move { service::warn_unimplemented(#path) }
                        }
                    }
                }
            }
        });

        let suffix = if service.exclusive { "_exclusive" } else { "" };
        let on_call = format_ident!("on_call{}", suffix);
        let on_stream = format_ident!("on_stream_call{}", suffix);
        let on_message = format_ident!("on_message_call{}", suffix);
        let handler_binding = if service.exclusive {
            quote!(mut handler)
        } else {
            quote!(handler)
        };
        // Called through the trait: a method named like one of `Arc`'s or the
        // guard's (`clone`) must still reach the handler.
        let receiver = if service.exclusive {
            quote!(&mut *handler)
        } else {
            quote!(&*handler)
        };
        let wiring = service.methods.iter().map(|method| {
            let ident = method_ident(&method.name);
            let request = self.type_path(method.request);
            match method.kind {
                MethodKind::Reply(_) => quote! {
                    service::#on_call(&mut actor, &handler, |#handler_binding, ctx, request: #request| async move { #trait_ident::#ident(#receiver, ctx, request).await });
                },
                MethodKind::Stream(_) => quote! {
                    service::#on_stream(&mut actor, &handler, |#handler_binding, ctx, request: #request, items| async move { #trait_ident::#ident(#receiver, ctx, request, items).await });
                },
                MethodKind::FireAndForget => quote! {
                    service::#on_message(&mut actor, &handler, |#handler_binding, ctx, request: #request| async move { #trait_ident::#ident(#receiver, ctx, request).await });
                },
            }
        });
        // A service without methods (it only pushes) never calls its handler.
        let (wrap, actor_binding) = if service.methods.is_empty() {
            (quote! { let _ = handler; }, quote! { actor })
        } else if service.exclusive {
            (
                quote! { let handler = service::exclusive(handler); },
                quote! { mut actor },
            )
        } else {
            (
                quote! { let handler = Arc::new(handler); },
                quote! { mut actor },
            )
        };

        let client_methods = service.methods.iter().map(|method| {
            let ident = method_ident(&method.name);
            let deprecated_method = deprecated_attr(method.deprecated.as_deref());
            let doc = docs(method.doc.as_deref(), method.deprecated.as_deref());
            let doc = quote! { #doc #deprecated_method };
            let request = self.type_path(method.request);
            let wire = self.wire_name(method.request);
            let error = self.error_type(service, method);
            match method.kind {
                MethodKind::Reply(reply) => {
                    let reply = self.type_path(reply);
                    let errors = self.errors_doc(method, "the server's other errors, a timeout or a closed connection, as a `Status`");
                    quote! {
                        #doc
                        #errors
                        pub async fn #ident(&self, request: #request) -> Result<#reply, #error> {
                            Ok(self.client.request(Self::SERVICE, #wire, &request).await?)
                        }
                    }
                }
                MethodKind::Stream(item) => {
                    let item = self.type_path(item);
                    let errors = self.errors_doc(method, "when the request cannot be sent; a failure of the stream arrives as its last item");
                    quote! {
                        #doc
                        #errors
                        pub async fn #ident(&self, request: #request) -> Result<TypedStream<#item, #error>, #error> {
                            Ok(TypedStream::new(self.client.stream(Self::SERVICE, #wire, &request).await?))
                        }
                    }
                }
                MethodKind::FireAndForget => quote! {
                    #doc
                    ///
                    /// Returns once the service's mailbox accepted the message.
                    ///
                    /// # Errors
                    /// The server's error (TARGET_BUSY when its mailbox is full), or a closed connection.
                    pub async fn #ident(&self, request: #request) -> Result<(), service::Status> {
                        Ok(self.client.send(Self::SERVICE, #wire, &request).await?)
                    }
                },
            }
        });
        let push_methods = service.pushes.iter().map(|push| {
            let def = self.schema.ty(*push);
            let ty = self.type_path(*push);
            let ident = ident(&names::subscribe_method(&def.name));
            let wire = &def.wire_name;
            let doc = format!(" Receives every `{}` the service broadcasts.", def.name);
            quote! {
                #[doc = #doc]
                ///
                /// # Errors
                /// The server's error, or a closed connection.
                pub async fn #ident(&self) -> Result<Subscription<#ty>, ClientError> {
                    self.client.subscribe(&[#wire]).await
                }
            }
        });

        let exclusive_note = service.exclusive.then(|| {
            quote! {
                #[doc = ""]
                #[doc = " Exclusive: its methods take `&mut self` and run one at a time, in arrival order."]
            }
        });
        let trait_doc = format!(
            " What the `{name}` service does: implement it and pass it to [`{serve_ident}`]. Every method has a default that fails with `UNIMPLEMENTED`, so a method added to the schema does not break an implementation."
        );
        let serve_doc = format!(" Starts the `{name}` service: registers the schema's types, builds the actor that calls `handler`, and exposes it as `{name}`.");
        let client_doc = format!(" A typed client of the `{name}` service.");
        // A deprecated service: its serve function and its client's constructors
        // say so where they are used.
        let deprecated_service = deprecated_attr(service.deprecated.as_deref());
        let service_deprecation = service.deprecated.as_deref().map(|reason| {
            let note = docs(None, Some(reason));
            quote! { #[doc = ""] #note }
        });
        let bounds = if service.exclusive {
            quote!(Send + 'static)
        } else {
            quote!(Send + Sync + 'static)
        };
        let server = self.options.server.then(|| {
            quote! {
            #service_doc
            #[doc = ""]
            #[doc = #trait_doc]
            #exclusive_note
            pub trait #trait_ident: #bounds {
                #(#trait_methods)*
            }

            #[doc = #serve_doc]
            #service_deprecation
            #deprecated_service
            pub async fn #serve_ident<H: #trait_ident>(runtime: &ActorRuntime, handler: H) -> ActorHandle {
                register_all(&runtime.ipc_registry());
                #wrap
                let #actor_binding = runtime.new_actor_with_name::<()>(#name);
                #(#wiring)*
                let handle = actor.start().await;
                runtime.ipc_expose(#name, handle.clone());
                handle
            }

            }
        });
        // Without the handler trait, the service's doc goes on its client.
        let client_service_doc =
            (!self.options.server).then(|| quote! { #service_doc #[doc = ""] });
        let client = self.options.client.then(|| {
            quote! {
                #client_service_doc
            #[doc = #client_doc]
            #service_deprecation
            #[derive(Clone, Debug)]
            pub struct #client_ident {
                client: IpcClient,
            }

            impl #client_ident {
                /// The name the service is exposed under.
                pub const SERVICE: &'static str = #name;

                /// Connects to the server listening on `path`.
                ///
                /// # Errors
                /// When the socket cannot be reached.
                #deprecated_service
                pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ClientError> {
                    Ok(Self { client: IpcClient::connect(path).await? })
                }

                /// Connects through the NATS server(s) at `url` (`nats://host:4222`) to
                /// the servers that serve this service under `prefix` (see the
                /// runtime's `start_nats_bridge`); the calls are those of a socket
                /// connection.
                ///
                /// # Errors
                /// When the NATS server cannot be reached, or the runtime was built
                /// without its `nats` feature.
                #deprecated_service
                pub async fn connect_nats(url: &str, prefix: &str) -> Result<Self, ClientError> {
                    Ok(Self { client: IpcClient::connect_nats(url, prefix).await? })
                }

                /// A client on an existing connection (which other clients may share).
                #deprecated_service
                pub fn new(client: IpcClient) -> Self {
                    Self { client }
                }

                /// The underlying connection.
                pub fn client(&self) -> &IpcClient {
                    &self.client
                }

                /// This client with another deadline for its calls: `Some(d)` for
                /// `d` (a stream's, the whole stream's), `None` for none. By default a
                /// call gets the connection's timeout and a stream none.
                #[must_use]
                pub fn with_timeout(&self, timeout: Option<std::time::Duration>) -> Self {
                    Self { client: self.client.with_timeout(timeout) }
                }

                /// Whether the server's schema fits the one this client was generated
                /// from, for this service: compatible, degraded (methods missing),
                /// incompatible, or unknown (the server serves no schema), with the
                /// differences (the rules of `acton-gen diff`).
                ///
                /// # Errors
                /// The server's error, or a closed connection.
                pub async fn check_schema(&self) -> Result<acton_reactive::ipc::client::schema_check::SchemaCheck, ClientError> {
                    self.client.check_schema(SCHEMA, SCHEMA_FINGERPRINT, &[Self::SERVICE]).await
                }

                #(#client_methods)*
                #(#push_methods)*
            }
            }
        });
        quote! {
            #(#error_enums)*
            #server
            #client
        }
    }
}

fn default_function_name(scope: &str, field: &Field) -> Ident {
    ident(&names::default_fn(scope, &field.name))
}

/// Every field of a type with the scope its defaults function is named after.
fn scoped_fields(def: &TypeDef) -> Vec<(String, &Field)> {
    match &def.kind {
        TypeKind::Struct { fields } => fields.iter().map(|f| (def.name.clone(), f)).collect(),
        TypeKind::Union { variants, .. } => variants
            .iter()
            .flat_map(|v| {
                v.fields
                    .iter()
                    .map(move |f| (format!("{}_{}", def.name, v.name), f))
            })
            .collect(),
        TypeKind::Enum { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module of `schema` printed with and without the direct writer.
    fn both_ways(schema: &Schema, options: &Options) -> (String, String) {
        let render = |direct: bool| {
            DIRECT_IN_TEST.with(|cell| cell.set(direct));
            let served = super::super::document::LazyServed::new(schema);
            let code = render_served(schema, options, &served);
            DIRECT_IN_TEST.with(|cell| cell.set(true));
            code
        };
        (render(true), render(false))
    }

    fn schema_at(path: &str) -> Schema {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        crate::load_schema(&path).expect("a valid schema")
    }

    #[test]
    fn items_written_directly_are_what_prettyplease_prints() {
        for path in [
            "tests/everything.yaml",
            "tests/units.yaml",
            "../schema/messages.yaml",
        ] {
            let schema = schema_at(path);
            for options in [
                Options::default(),
                Options {
                    client: false,
                    ..Options::default()
                },
            ] {
                let (direct, tokens) = both_ways(&schema, &options);
                assert_eq!(direct, tokens, "{path}");
            }
        }
    }

    #[test]
    fn the_direct_writer_covers_plain_items_and_leaves_the_rest() {
        // Every kind of type, default and doc the direct writer handles, and the
        // cases it must leave to prettyplease: a long line, a doc with quotes, an
        // alias that needs escaping, a deprecated value, a complex default.
        let yaml = r#"acton: 1
package: direct.check
types:
  Color:
    doc: "A colour, \"quoted\" in its doc."
    enum:
      red:
      green: { doc: Grass. }
      blue: { deprecated: use red }
  Open:
    enum: [a, b]
    open: true
  Plain:
    doc: |
      Two lines
      of doc.
    fields:
      id: u64
      name: { type: string, default: "bob", doc: The name. }
      ratio: { type: f64, default: -2.5 }
      flag: { type: bool, default: true }
      small: { type: i8, default: -3 }
      color: { type: Color, default: red }
      legacy: { type: Color, default: blue }
      tags: { type: list<string>, default: [] }
      seeds: { type: list<i64>, default: [1, 2] }
      meta: { type: "map<string, i64>", default: {} }
      maybe: { type: i64?, default: null }
      later: { type: i64?, default: 4 }
      type: string
      old: { type: string, deprecated: "gone" }
      renamed: { type: string, aliases: [former] }
      this_is_a_very_long_field_name_for_a_line: "map<string, list<map<string, list<Plain>>>>?"
      self_ref: Plain?
      any: json
      when: timestamp
      wait: duration
  Shape:
    open: true
    union:
      tag: kind
      variants:
        circle: { fields: { r: f64 } }
        optional: { fields: { x: "u8?" } }
        square: { doc: Four sides., fields: { side: f64, label: string? } }
        blob: { fields: { a_field_with_a_long_name: "map<string, list<string>>", another_one_here: string } }
  Small:
    union:
      tag: kind
      variants:
        c: { fields: { w: { type: u8, default: 7 } } }
        d: { fields: { v: { type: u8, aliases: [vv] } } }
        g: { fields: { fooBar: i64, n: u8 } }
        e: { fields: { noted: { type: u8, doc: A doc breaks the line. }, other: "u8?" } }
  Empty:
    fields: {}
services:
  s:
    methods:
      m: { request: Plain, reply: Shape }
"#;
        let schema = crate::parse_schema("direct.yaml", yaml).unwrap_or_else(|report| {
            panic!(
                "invalid schema:
{report}"
            )
        });
        let (direct, tokens) = both_ways(&schema, &Options::default());
        assert_eq!(direct, tokens);
        let emitter = Emitter {
            schema: &schema,
            options: &Options::default(),
            module: schema.package.as_deref(),
        };
        let written: Vec<&str> = schema
            .types
            .iter()
            .filter(|def| emitter.direct_type_def(def).is_some())
            .map(|def| def.name.as_str())
            .collect();
        // Quotes in a doc comment need no escaping; a long line does need prettyplease.
        assert_eq!(written, ["Color", "Open", "Small", "Empty"]);
        for left in ["Plain", "Shape"] {
            assert!(
                !written.contains(&left),
                "{left} must go through prettyplease"
            );
        }
        assert!(emitter.direct_register_all().is_some());
    }

    #[test]
    fn added_attributes_and_mapped_types_go_through_prettyplease() {
        let schema = schema_at("tests/everything.yaml");
        let mut options = Options::default();
        options
            .type_attributes
            .push((".".to_owned(), quote!(#[derive(Default)])));
        // A struct another type's field names, mapped to a Rust path.
        let named = schema
            .types
            .iter()
            .flat_map(|def| match &def.kind {
                TypeKind::Struct { fields } => fields.iter().filter_map(|f| f.ty.named()).collect(),
                _ => Vec::new(),
            })
            .map(|index| schema.ty(index))
            .find(|def| {
                matches!(def.kind, TypeKind::Struct { .. })
                    && !def.is_error
                    && !def.is_imported(&schema)
            })
            .expect("a struct used as a field");
        options
            .extern_types
            .insert(named.name.clone(), "crate::mapped::Thing".to_owned());
        let first = schema
            .types
            .iter()
            .find(|def| def.name != named.name && !def.is_error)
            .expect("another type");
        if let TypeKind::Struct { fields } = &first.kind {
            let path = format!("{}.{}", first.name, fields[0].name);
            options
                .field_attributes
                .push((path, quote!(#[doc(hidden)])));
        }
        let (direct, tokens) = both_ways(&schema, &options);
        assert_eq!(direct, tokens);
        assert!(
            direct.contains("crate::mapped::Thing"),
            "{} is not mapped",
            named.name
        );
    }

    /// A small deterministic generator (xorshift), for schemas of every shape.
    struct Dice(u64);

    impl Dice {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// A random valid schema: field types, defaults, docs, deprecations, aliases,
    /// renames, open and closed enums and unions, names long and short.
    fn random_schema(dice: &mut Dice) -> String {
        const DOCS: &[&str] = &[
            "Plain.",
            "\"Quoted\" and 'single' and `code`.",
            "Tab\there, trailing space   ",
            "/ starts with a slash",
            "* starts with a star */",
            "Ünïcödé — ok",
            "A line long enough to be well past the width prettyplease wraps code at, which does not matter for a doc comment at all.",
        ];
        const NAMES: &[&str] = &[
            "a",
            "id",
            "type",
            "self_",
            "fooBar",
            "x2",
            "kind",
            "a_rather_long_field_name_that_pushes_lines_out",
        ];
        let scalars = [
            "i8",
            "u64",
            "f64",
            "bool",
            "string",
            "bytes",
            "json",
            "timestamp",
            "duration",
        ];
        let quote = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
        let mut yaml = String::from("acton: 1\npackage: fuzz\ntypes:\n");
        let types = 1 + dice.below(4);
        yaml.push_str("  Colour:\n    enum:\n      red:\n      green: { doc: Green. }\n      blue: { deprecated: \"use red\" }\n");
        for t in 0..types {
            let name = format!("T{t}");
            let doc = if dice.below(2) == 0 {
                format!("    doc: {}\n", quote(dice.pick(DOCS)))
            } else {
                String::new()
            };
            match dice.below(4) {
                0 => {
                    yaml.push_str(&format!(
                        "  {name}:\n{doc}    union:\n      tag: kind\n      variants:\n"
                    ));
                    for v in 0..1 + dice.below(3) {
                        yaml.push_str(&format!("        v{v}: {{ fields: {{ "));
                        for f in 0..dice.below(3) {
                            let ty = if dice.below(3) == 0 {
                                format!("\"{}?\"", dice.pick(&scalars))
                            } else {
                                dice.pick(&scalars).to_owned()
                            };
                            let field = if f == 0 {
                                dice.pick(NAMES).to_owned()
                            } else {
                                format!("f{f}")
                            };
                            if field == "kind" {
                                continue;
                            }
                            yaml.push_str(&format!("{field}: {ty}, "));
                        }
                        yaml.push_str("} }\n");
                    }
                    if dice.below(2) == 0 {
                        yaml.push_str("    open: true\n");
                    }
                }
                1 => {
                    yaml.push_str(&format!(
                        "  {name}:\n{doc}    enum: [one, two_words, three]\n"
                    ));
                    if dice.below(2) == 0 {
                        yaml.push_str("    open: true\n");
                    }
                }
                _ => {
                    yaml.push_str(&format!("  {name}:\n{doc}    fields:\n"));
                    let mut used = Vec::new();
                    for f in 0..dice.below(5) {
                        let mut field = dice.pick(NAMES).to_owned();
                        if used.contains(&field) {
                            field = format!("g{f}");
                        }
                        used.push(field.clone());
                        let (ty, default) = match dice.below(9) {
                            0 => ("i8", Some("-128")),
                            1 => ("u64", Some("18446744073709551615")),
                            2 => (
                                "f64",
                                Some(dice.pick(&[
                                    "-0.0",
                                    "1e-7",
                                    "1e300",
                                    "0.1",
                                    "123456789.123456789",
                                ])),
                            ),
                            3 => (
                                "string",
                                Some(dice.pick(&["\"\"", "plain", "\"has \\\"quotes\\\"\""])),
                            ),
                            4 => ("Colour", Some(dice.pick(&["red", "blue"]))),
                            5 => ("\"i64?\"", Some(dice.pick(&["null", "4"]))),
                            6 => ("list<string>", Some("[]")),
                            7 => ("\"map<string, list<u8>>\"", None),
                            _ => (dice.pick(&["T0?", "list<T0>", "bool", "duration"]), None),
                        };
                        let mut spec = format!("type: {ty}");
                        if let Some(default) = default.filter(|_| dice.below(2) == 0) {
                            spec.push_str(&format!(", default: {default}"));
                        }
                        if dice.below(4) == 0 {
                            spec.push_str(&format!(", doc: {}", quote(dice.pick(DOCS))));
                        }
                        if dice.below(5) == 0 {
                            spec.push_str(&format!(
                                ", deprecated: {}",
                                quote(dice.pick(&["", "gone", "use \"x\" instead", "trailing  "]))
                            ));
                        }
                        if dice.below(5) == 0 {
                            spec.push_str(&format!(", aliases: [old_{f}]"));
                        }
                        yaml.push_str(&format!("      {field}: {{ {spec} }}\n"));
                    }
                    if used.is_empty() {
                        yaml.push_str("      {}\n");
                    }
                }
            }
        }
        yaml
    }

    #[test]
    fn random_schemas_print_the_same_both_ways() {
        let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
        let (mut checked, mut types, mut written) = (0, 0, 0);
        for _ in 0..300 {
            let yaml = random_schema(&mut dice);
            // A random schema may break a rule (a recursive type without a way
            // out, say): only valid ones are printed.
            let Ok(schema) = crate::parse_schema("fuzz.yaml", &yaml) else {
                continue;
            };
            let (direct, tokens) = both_ways(&schema, &Options::default());
            assert_eq!(direct, tokens, "schema:\n{yaml}");
            checked += 1;
            let emitter = Emitter {
                schema: &schema,
                options: &Options::default(),
                module: schema.package.as_deref(),
            };
            for def in &schema.types {
                types += 1;
                written += usize::from(emitter.direct_type_def(def).is_some());
            }
        }
        assert!(
            checked >= 150,
            "only {checked} of 300 random schemas were valid"
        );
        // Both paths are exercised: most types directly, some through prettyplease.
        assert!(
            written * 2 > types && written < types,
            "{written} of {types} written directly"
        );
    }
}
