//! Stage 2: located syntax tree → validated, resolved [`Schema`].
//!
//! Every rule of the schema language is checked here, and every violation is
//! reported (with its position and a hint) before the schema is rejected: a user
//! fixes all problems in one round.

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::Reporter;
use crate::ident;
use crate::model::{
    EnumVariant, Field, Method, MethodKind, Scalar, Schema, Service, TypeDef, TypeIndex, TypeKind,
    TypeRef, UnionVariant,
};
use crate::source::{Located, Span};
use crate::syntax::{Document, FieldDecl, TypeBody, TypeDecl};

/// Checks `document` and builds the model; `None` when anything was wrong (the
/// problems are in `report`).
pub fn check(document: &Document, source: &str, report: &mut Reporter<'_>) -> Option<Schema> {
    if let Some(version) = &document.version {
        if version.value != "1" {
            report.error(
                version.span,
                format!("unsupported schema format version `{}`", version.value),
                Some("this acton-gen reads `acton: 1`".to_owned()),
            );
        }
    }
    if let Some(package) = &document.package {
        if !package.value.split('.').all(ident::is_identifier) {
            report.error(
                package.span,
                format!("`{}` is not a package name", package.value),
                Some("use identifiers separated by dots, such as `shop` or `acme.shop`".to_owned()),
            );
        }
    }

    // Types and errors share one namespace: errors are numbered after the types.
    let decls: Vec<&TypeDecl> = document.types.iter().chain(&document.errors).collect();
    let first_error = document.types.len();
    let mut names: HashMap<&str, TypeIndex> = HashMap::new();
    for (i, decl) in decls.iter().enumerate() {
        check_type_name(&decl.name, report);
        if i >= first_error {
            check_error_name(&decl.name, report);
            check_error_fields(decl, report);
        }
        if let Some(first) = names.insert(decl.name.value.as_str(), TypeIndex(i)) {
            let first = decls[first.0];
            report.error(
                decl.name.span,
                format!(
                    "`{}` is declared twice (first on line {})",
                    decl.name.value, first.name.span.line
                ),
                Some("types and errors share one namespace: rename one of them".to_owned()),
            );
        }
    }
    let resolver = Resolver {
        names: &names,
        decls: &decls,
        first_error,
    };

    let package = document.package.as_ref().map(|p| p.value.as_str());
    let mut types: Vec<TypeDef> = decls
        .iter()
        .enumerate()
        .map(|(i, decl)| {
            let mut def = resolver.type_def(decl, package, report);
            def.is_error = i >= first_error;
            def
        })
        .collect();
    let field_spans: Vec<Vec<Span>> = decls.iter().map(|decl| field_spans(decl)).collect();
    check_recursion(&mut types, &field_spans, report);

    let services = document
        .services
        .iter()
        .map(|decl| resolver.service(decl, report))
        .collect();

    if report.has_errors() {
        return None;
    }
    Some(Schema {
        source: source.to_owned(),
        package: document.package.as_ref().map(|p| p.value.clone()),
        doc: document.doc.clone(),
        types,
        services,
    })
}

fn check_type_name(name: &Located<String>, report: &mut Reporter<'_>) {
    let text = &name.value;
    if !ident::is_identifier(text) {
        report.error(
            name.span,
            format!("`{text}` is not a valid type name"),
            Some("type names start with a letter and hold only letters, digits and `_` (such as `AddRequest`)".to_owned()),
        );
        return;
    }
    if Scalar::from_name(text).is_some() || matches!(text.as_str(), "list" | "map") {
        report.error(
            name.span,
            format!("`{text}` is a built-in type and cannot be redefined"),
            Some("choose another name".to_owned()),
        );
        return;
    }
    let languages = ident::reserved_in(text);
    if !languages.is_empty() {
        report.error(
            name.span,
            format!(
                "type name `{text}` is a reserved word in {}",
                languages.join(", ")
            ),
            Some(format!(
                "rename it, for example `{}Message`",
                ident::upper_camel_case(text)
            )),
        );
    } else if ident::RESERVED_TYPE_NAMES.contains(&text.as_str()) {
        report.error(
            name.span,
            format!("type name `{text}` would shadow a type the generated code uses"),
            Some(format!("rename it, for example `{text}Message`")),
        );
    }
}

/// The error codes of the protocol (docs/protocol.md): an error may not take one
/// of their names, which clients already give a meaning.
pub(crate) const PROTOCOL_ERROR_CODES: [&str; 17] = [
    "UNKNOWN_MESSAGE_TYPE",
    "ACTOR_NOT_FOUND",
    "SERIALIZATION_ERROR",
    "TARGET_BUSY",
    "CONNECTION_CLOSED",
    "PROTOCOL_ERROR",
    "IO_ERROR",
    "TIMEOUT",
    "RATE_LIMITED",
    "SHUTTING_DOWN",
    "CONNECTION_LIMIT_REACHED",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "STREAM_ERROR",
    "ACCESS_DENIED",
    "LIMIT_EXCEEDED",
    "UNIMPLEMENTED",
    "INTERNAL",
];

/// Members every generated exception class has (Python's `ActonError`,
/// TypeScript's `ActonError` and `Error`, and the generated classes' own): an
/// error's field may not take one of their names.
const EXCEPTION_MEMBERS: &[&str] = &[
    "code",
    "message",
    "name",
    "stack",
    "cause",
    "args",
    "serverMessage",
    "server_message",
    "wireName",
    "WIRE_NAME",
    "fromFailure",
    "from_failure",
    "toWire",
    "to_wire",
    "with_traceback",
    "add_note",
    "retryAfterMs",
    "retry_after_ms",
];

fn check_error_fields(decl: &TypeDecl, report: &mut Reporter<'_>) {
    let TypeBody::Struct(fields) = &decl.body else {
        return;
    };
    for field in fields {
        if EXCEPTION_MEMBERS.contains(&field.name.value.as_str())
            || field.name.value.starts_with("__")
        {
            report.error(
                field.name.span,
                format!(
                    "field `{}` of error `{}` would hide a member every error already has",
                    field.name.value, decl.name.value
                ),
                Some(format!(
                    "errors are exceptions in Python and TypeScript, whose `code`, `message`, `name`, ... are taken: rename it, for example `{}_value`",
                    field.name.value
                )),
            );
        }
    }
}

fn check_error_name(name: &Located<String>, report: &mut Reporter<'_>) {
    let text = name.value.as_str();
    if PROTOCOL_ERROR_CODES.contains(&text) {
        report.error(
            name.span,
            format!("error `{text}` has the name of a protocol error code"),
            Some(format!(
                "clients already read `{text}` as the protocol's own error; choose another name, such as `{}Error`",
                ident::upper_camel_case(&text.to_lowercase())
            )),
        );
    }
}

fn field_spans(decl: &TypeDecl) -> Vec<Span> {
    match &decl.body {
        TypeBody::Struct(fields) => fields.iter().map(|f| f.name.span).collect(),
        TypeBody::Union { variants, .. } => variants
            .iter()
            .flat_map(|v| v.fields.iter().map(|f| f.name.span))
            .collect(),
        TypeBody::Enum(_) => Vec::new(),
    }
}

struct Resolver<'a> {
    names: &'a HashMap<&'a str, TypeIndex>,
    /// Every declaration: the types, then the errors.
    decls: &'a [&'a TypeDecl],
    /// The index of the first error in `decls`.
    first_error: usize,
}

impl Resolver<'_> {
    fn type_def(
        &self,
        decl: &TypeDecl,
        package: Option<&str>,
        report: &mut Reporter<'_>,
    ) -> TypeDef {
        let kind = match &decl.body {
            TypeBody::Struct(fields) => TypeKind::Struct {
                fields: self.fields(fields, &decl.name.value, None, report),
            },
            TypeBody::Enum(variants) => {
                if variants.is_empty() {
                    report.error(
                        decl.name.span,
                        format!("enum `{}` has no variants", decl.name.value),
                        Some("list them: `enum: [first, second]`".to_owned()),
                    );
                }
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for variant in variants {
                    if !ident::is_identifier(&variant.name.value) {
                        report.error(
                            variant.name.span,
                            format!("`{}` is not a valid enum variant", variant.name.value),
                            Some("variants are identifiers, such as `buy`".to_owned()),
                        );
                    }
                    if let Some(first) = seen.insert(&variant.name.value, variant.name.span) {
                        report.error(
                            variant.name.span,
                            format!(
                                "variant `{}` is listed twice (first at line {})",
                                variant.name.value, first.line
                            ),
                            Some("remove one".to_owned()),
                        );
                    }
                }
                TypeKind::Enum {
                    variants: variants
                        .iter()
                        .map(|v| EnumVariant {
                            name: v.name.value.clone(),
                            doc: v.doc.clone(),
                        })
                        .collect(),
                }
            }
            TypeBody::Union { tag, variants } => {
                if !ident::is_field_identifier(&tag.value) {
                    report.error(
                        tag.span,
                        format!("`{}` is not a valid tag name", tag.value),
                        Some("the tag is a field name, such as `kind`".to_owned()),
                    );
                }
                if variants.is_empty() {
                    report.error(
                        decl.name.span,
                        format!("union `{}` has no variants", decl.name.value),
                        Some("add `variants: { name: { fields: {...} } }`".to_owned()),
                    );
                }
                let variants = variants
                    .iter()
                    .map(|variant| {
                        if !ident::is_identifier(&variant.name.value) {
                            report.error(
                                variant.name.span,
                                format!("`{}` is not a valid union variant", variant.name.value),
                                Some("variants are identifiers, such as `circle`".to_owned()),
                            );
                        }
                        UnionVariant {
                            name: variant.name.value.clone(),
                            doc: variant.doc.clone(),
                            fields: self.fields(
                                &variant.fields,
                                &variant.name.value,
                                Some(tag),
                                report,
                            ),
                        }
                    })
                    .collect();
                TypeKind::Union {
                    tag: tag.value.clone(),
                    variants,
                }
            }
        };
        TypeDef {
            name: decl.name.value.clone(),
            wire_name: match package {
                Some(package) => format!("{package}.{}", decl.name.value),
                None => decl.name.value.clone(),
            },
            doc: decl.doc.clone(),
            deprecated: decl.deprecated.clone(),
            kind,
            is_error: false,
        }
    }

    fn fields(
        &self,
        decls: &[FieldDecl],
        owner: &str,
        tag: Option<&Located<String>>,
        report: &mut Reporter<'_>,
    ) -> Vec<Field> {
        let mut rust_names: HashMap<String, &Located<String>> = HashMap::new();
        decls
            .iter()
            .filter_map(|decl| {
                let name = &decl.name;
                if !ident::is_field_identifier(&name.value) {
                    report.error(
                        name.span,
                        format!("`{}` is not a valid field name", name.value),
                        Some("field names hold only letters, digits and `_`, and do not start with a digit".to_owned()),
                    );
                }
                if let Some(tag) = tag {
                    if tag.value == name.value {
                        report.error(
                            name.span,
                            format!("field `{}` of variant `{owner}` has the name of the union's tag", name.value),
                            Some(format!("the tag `{}` already carries the variant's name; rename the field", tag.value)),
                        );
                    }
                }
                if let Some(other) = rust_names.insert(ident::snake_case(&name.value), name) {
                    report.error(
                        name.span,
                        format!("fields `{}` and `{}` of `{owner}` would get the same name in generated code", other.value, name.value),
                        Some("rename one of them".to_owned()),
                    );
                }
                let ty = self.type_expr(&decl.ty, report)?;
                let default = decl.default.as_ref().and_then(|default| self.check_default(default, &ty, report));
                Some(Field {
                    name: name.value.clone(),
                    ty,
                    doc: decl.doc.clone(),
                    default,
                    deprecated: decl.deprecated.clone(),
                    recursive: false,
                })
            })
            .collect()
    }

    /// Parses and resolves a type expression.
    fn type_expr(&self, text: &Located<String>, report: &mut Reporter<'_>) -> Option<TypeRef> {
        let mut parser = TypeParser {
            text: &text.value,
            at: 0,
        };
        let parsed = parser.expression().and_then(|ty| {
            parser.skip_spaces();
            if parser.at < text.value.len() {
                Err((
                    parser.at,
                    text.value.len() - parser.at,
                    "unexpected text after the type".to_owned(),
                ))
            } else {
                Ok(ty)
            }
        });
        match parsed {
            Ok(ty) => self.resolve(&ty, text, report),
            Err((offset, width, message)) => {
                let hint = if text.value.starts_with("map<") && !text.value.contains(',') {
                    "inside `{ ... }` a comma ends the value: quote the type (`\"map<string, T>\"`) or write the field in block style"
                } else {
                    "types are scalars (`i64`, `string`, ...), `list<T>`, `map<string, T>`, `T?` or type names"
                };
                report.error(
                    text.span.sub(offset, width.max(1)),
                    format!("`{}` is not a type: {message}", text.value),
                    Some(hint.to_owned()),
                );
                None
            }
        }
    }

    fn resolve(
        &self,
        ty: &ParsedType,
        text: &Located<String>,
        report: &mut Reporter<'_>,
    ) -> Option<TypeRef> {
        Some(match ty {
            ParsedType::Name { name, offset } => {
                if let Some(scalar) = Scalar::from_name(name) {
                    TypeRef::Scalar(scalar)
                } else if let Some(index) = self.names.get(name.as_str()) {
                    if self.is_error(*index) {
                        report.error(
                            text.span.sub(*offset, name.len()),
                            format!("`{name}` is an error, not a type"),
                            Some(ERRORS_ONLY_IN_LISTS.to_owned()),
                        );
                        return None;
                    }
                    TypeRef::Named(*index)
                } else {
                    report.error(
                        text.span.sub(*offset, name.len()),
                        format!("unknown type `{name}`"),
                        Some(self.unknown_type_hint(name)),
                    );
                    return None;
                }
            }
            ParsedType::List(inner) => TypeRef::List(Box::new(self.resolve(inner, text, report)?)),
            ParsedType::Map {
                key,
                key_offset,
                value,
            } => {
                if key != "string" {
                    report.error(
                        text.span.sub(*key_offset, key.len()),
                        format!("map keys must be `string`, not `{key}`"),
                        Some("JSON objects have string keys; write `map<string, T>`".to_owned()),
                    );
                    return None;
                }
                TypeRef::Map(Box::new(self.resolve(value, text, report)?))
            }
            ParsedType::Optional { inner, offset } => {
                if matches!(**inner, ParsedType::Optional { .. }) {
                    report.error(
                        text.span.sub(*offset, 1),
                        "a type cannot be optional twice",
                        Some("write a single `?`".to_owned()),
                    );
                    return None;
                }
                TypeRef::Optional(Box::new(self.resolve(inner, text, report)?))
            }
        })
    }

    fn unknown_type_hint(&self, name: &str) -> String {
        let familiar = match name {
            "int" | "integer" | "long" | "int64" => Some("i64"),
            "int32" => Some("i32"),
            "float" | "double" | "number" | "float64" => Some("f64"),
            "str" | "String" | "text" => Some("string"),
            "boolean" | "Bool" => Some("bool"),
            "any" | "object" | "Value" => Some("json"),
            "blob" | "binary" => Some("bytes"),
            "array" | "vec" | "Vec" | "List" => Some("list<T>"),
            "dict" | "HashMap" | "Map" | "object<T>" => Some("map<string, T>"),
            _ => None,
        };
        if let Some(familiar) = familiar {
            return format!("did you mean `{familiar}`?");
        }
        let candidates = self.decls[..self.first_error]
            .iter()
            .map(|t| t.name.value.as_str())
            .chain(Scalar::ALL.iter().map(|(n, _)| *n));
        match ident::closest(name, candidates) {
            Some(close) => format!("did you mean `{close}`?"),
            None => "declare it under `types:`, or use a built-in type".to_owned(),
        }
    }

    /// Checks a default value against the field's type; returns it as JSON.
    fn check_default(
        &self,
        default: &Located<serde_json::Value>,
        ty: &TypeRef,
        report: &mut Reporter<'_>,
    ) -> Option<serde_json::Value> {
        match self.default_fits(&default.value, ty) {
            Ok(()) => Some(default.value.clone()),
            Err(expected) => {
                report.error(
                    default.span,
                    format!(
                        "default `{}` does not fit the field's type: {expected}",
                        default.value
                    ),
                    Some("give a value of the field's type, or remove `default`".to_owned()),
                );
                None
            }
        }
    }

    fn default_fits(&self, value: &serde_json::Value, ty: &TypeRef) -> Result<(), String> {
        use serde_json::Value;
        match (ty, value) {
            (TypeRef::Optional(_), Value::Null) => Ok(()),
            (TypeRef::Optional(inner), value) => self.default_fits(value, inner),
            (TypeRef::Scalar(Scalar::Json), _) => Ok(()),
            (TypeRef::Scalar(Scalar::Bool), Value::Bool(_)) => Ok(()),
            (TypeRef::Scalar(Scalar::String), Value::String(_)) => Ok(()),
            (TypeRef::Scalar(scalar @ (Scalar::F32 | Scalar::F64)), value) => {
                if value.is_number() {
                    Ok(())
                } else {
                    Err(format!("expected a number ({})", scalar.name()))
                }
            }
            (TypeRef::Scalar(scalar), Value::Number(number))
                if scalar.integer_range().is_some() =>
            {
                let (min, max) = scalar.integer_range().unwrap_or((0, 0));
                let n = number
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| number.as_u64().map(i128::from));
                match n {
                    Some(n) if (min..=max).contains(&n) => Ok(()),
                    Some(_) => Err(format!(
                        "out of the range of {} ({min} to {max})",
                        scalar.name()
                    )),
                    None => Err(format!("expected an integer ({})", scalar.name())),
                }
            }
            (TypeRef::Scalar(scalar), _) => Err(format!("expected a {}", scalar.name())),
            (TypeRef::List(inner), Value::Array(items)) => items
                .iter()
                .try_for_each(|item| self.default_fits(item, inner)),
            (TypeRef::List(_), _) => Err("expected a list, such as `[]`".to_owned()),
            (TypeRef::Map(inner), Value::Object(entries)) => entries
                .values()
                .try_for_each(|item| self.default_fits(item, inner)),
            (TypeRef::Map(_), _) => Err("expected a mapping, such as `{}`".to_owned()),
            (TypeRef::Named(index), value) => {
                let decl = self.decls[index.0];
                match (&decl.body, value) {
                    (TypeBody::Enum(variants), Value::String(name)) if variants.iter().any(|v| &v.name.value == name) => Ok(()),
                    (TypeBody::Enum(variants), _) => Err(format!(
                        "expected one of {}",
                        variants.iter().map(|v| format!("`{}`", v.name.value)).collect::<Vec<_>>().join(", ")
                    )),
                    _ => Err(format!("defaults of struct and union types (`{}`) are not supported; make the field optional instead", decl.name.value)),
                }
            }
        }
    }

    fn service(&self, decl: &crate::syntax::ServiceDecl, report: &mut Reporter<'_>) -> Service {
        if !ident::is_field_identifier(&decl.name.value) {
            report.error(
                decl.name.span,
                format!("`{}` is not a valid service name", decl.name.value),
                Some(
                    "service names are identifiers, such as `calculator` or `kv_store`".to_owned(),
                ),
            );
        }
        let service_errors = self.errors(&decl.errors, report);
        let exclusive = match decl.exclusive.as_ref().map(|e| (e, e.value.as_str())) {
            None | Some((_, "false")) => false,
            Some((_, "true")) => true,
            Some((value, other)) => {
                report.error(
                    value.span,
                    format!("`exclusive` is `true` or `false`, not `{other}`"),
                    Some(
                        "`exclusive: true` makes handlers take `&mut self` and run one at a time"
                            .to_owned(),
                    ),
                );
                false
            }
        };
        let mut requests: HashMap<TypeIndex, &Located<String>> = HashMap::new();
        let mut method_names: HashMap<String, &Located<String>> = HashMap::new();
        let mut methods = Vec::new();
        for method in &decl.methods {
            let name = &method.name;
            if !ident::is_field_identifier(&name.value) {
                report.error(
                    name.span,
                    format!("`{}` is not a valid method name", name.value),
                    Some("method names are identifiers, such as `add`".to_owned()),
                );
            } else {
                let languages = ident::reserved_in(&name.value);
                if !languages.is_empty() {
                    report.error(
                        name.span,
                        format!(
                            "method name `{}` is a reserved word in {}",
                            name.value,
                            languages.join(", ")
                        ),
                        Some(format!("rename it, for example `{}_item`", name.value)),
                    );
                }
            }
            if let Some(other) = method_names.insert(ident::snake_case(&name.value), name) {
                report.error(
                    name.span,
                    format!(
                        "methods `{}` and `{}` would get the same name in generated code",
                        other.value, name.value
                    ),
                    Some("rename one of them".to_owned()),
                );
            }
            let Some(request_name) = &method.request else {
                report.error(
                    name.span,
                    format!("method `{}` has no `request` type", name.value),
                    Some("add `request: SomeRequest`".to_owned()),
                );
                continue;
            };
            let request = self.named(request_name, report);
            if let (Some(reply), Some(stream)) = (&method.reply, &method.stream) {
                report.error(
                    stream.span,
                    format!("method `{}` has both `reply` and `stream`", name.value),
                    Some(format!("a method answers once (`reply: {}`) or with a stream (`stream: {}`), not both", reply.value, stream.value)),
                );
                continue;
            }
            let kind = match (&method.reply, &method.stream) {
                (Some(reply), None) => self.named(reply, report).map(MethodKind::Reply),
                (None, Some(stream)) => self.named(stream, report).map(MethodKind::Stream),
                _ => Some(MethodKind::FireAndForget),
            };
            let Some(request) = request else { continue };
            if let Some(first) = requests.insert(request, request_name) {
                report.error(
                    request_name.span,
                    format!("`{}` is already the request of another method of `{}` (line {})", request_name.value, decl.name.value, first.span.line),
                    Some("the request type routes a call to its method: give each method its own request type".to_owned()),
                );
            }
            let mut errors = self.errors(&method.errors, report);
            if kind == Some(MethodKind::FireAndForget) {
                if let Some(first) = method.errors.first() {
                    report.error(
                        first.span,
                        format!("fire-and-forget method `{}` cannot fail with an error", name.value),
                        Some("its caller hears back once the message is delivered, before it is handled: give it a `reply` to report errors".to_owned()),
                    );
                }
                errors.clear();
            } else {
                for error in &service_errors {
                    if !errors.contains(error) {
                        errors.push(*error);
                    }
                }
            }
            if let Some(kind) = kind {
                methods.push(Method {
                    name: name.value.clone(),
                    doc: method.doc.clone(),
                    request,
                    kind,
                    errors,
                });
            }
        }
        let mut pushes = Vec::new();
        for push in &decl.pushes {
            if let Some(index) = self.named(push, report) {
                if pushes.contains(&index) {
                    report.error(
                        push.span,
                        format!("`{}` is listed twice in `pushes`", push.value),
                        Some("remove one".to_owned()),
                    );
                } else {
                    pushes.push(index);
                }
            }
        }
        Service {
            name: decl.name.value.clone(),
            doc: decl.doc.clone(),
            methods,
            pushes,
            errors: service_errors,
            exclusive,
        }
    }

    fn is_error(&self, index: TypeIndex) -> bool {
        index.0 >= self.first_error
    }

    /// A reference that must name a declared type (requests, replies, pushes).
    fn named(&self, name: &Located<String>, report: &mut Reporter<'_>) -> Option<TypeIndex> {
        if let Some(index) = self.names.get(name.value.as_str()) {
            if self.is_error(*index) {
                report.error(
                    name.span,
                    format!("`{}` is an error, not a type", name.value),
                    Some(ERRORS_ONLY_IN_LISTS.to_owned()),
                );
                return None;
            }
            return Some(*index);
        }
        let hint = if Scalar::from_name(&name.value).is_some() || name.value.contains('<') {
            format!(
                "messages are named types: declare one under `types:` with a field of type `{}`",
                name.value
            )
        } else {
            self.unknown_type_hint(&name.value)
        };
        report.error(
            name.span,
            format!("unknown type `{}`", name.value),
            Some(hint),
        );
        None
    }

    /// Resolves an `errors:` list: declared errors, each once.
    fn errors(&self, names: &[Located<String>], report: &mut Reporter<'_>) -> Vec<TypeIndex> {
        let mut errors = Vec::new();
        for name in names {
            let Some(index) = self.names.get(name.value.as_str()).copied() else {
                report.error(
                    name.span,
                    format!("unknown error `{}`", name.value),
                    Some("declare it under the top-level `errors:` section".to_owned()),
                );
                continue;
            };
            if !self.is_error(index) {
                report.error(
                    name.span,
                    format!("`{}` is a type, not an error", name.value),
                    Some(
                        "declare it under `errors:` instead of `types:` to fail with it".to_owned(),
                    ),
                );
            } else if errors.contains(&index) {
                report.error(
                    name.span,
                    format!("`{}` is listed twice", name.value),
                    Some("remove one".to_owned()),
                );
            } else {
                errors.push(index);
            }
        }
        errors
    }
}

const ERRORS_ONLY_IN_LISTS: &str =
    "errors travel only as the failure of a call: list it in a method's or service's `errors:`";

/// Rejects types that contain themselves without indirection (an infinite
/// value), and marks optional fields on a cycle as recursive (to be boxed).
fn check_recursion(types: &mut [TypeDef], spans: &[Vec<Span>], report: &mut Reporter<'_>) {
    // Edges: type -> (field position, target, through an optional?).
    let edges: Vec<Vec<(usize, TypeIndex, bool)>> = types
        .iter()
        .map(|def| {
            all_fields(def)
                .enumerate()
                .filter_map(|(i, field)| match &field.ty {
                    TypeRef::Named(target) => Some((i, *target, false)),
                    TypeRef::Optional(inner) => match &**inner {
                        TypeRef::Named(target) => Some((i, *target, true)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .collect();
    let reaches = |from: TypeIndex, to: TypeIndex, required_only: bool| -> bool {
        let mut seen = vec![false; types.len()];
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            if std::mem::replace(&mut seen[node.0], true) {
                continue;
            }
            for (_, target, optional) in &edges[node.0] {
                if !(required_only && *optional) {
                    stack.push(*target);
                }
            }
        }
        false
    };
    let mut reported: BTreeMap<usize, ()> = BTreeMap::new();
    let mut recursive: Vec<(usize, usize)> = Vec::new();
    for (owner, out) in edges.iter().enumerate() {
        for (position, target, optional) in out {
            if *optional {
                if reaches(*target, TypeIndex(owner), false) {
                    recursive.push((owner, *position));
                }
            } else if reaches(*target, TypeIndex(owner), true)
                && reported.insert(owner, ()).is_none()
            {
                let span = spans
                    .get(owner)
                    .and_then(|s| s.get(*position))
                    .copied()
                    .unwrap_or_default();
                report.error(
                    span,
                    format!("type `{}` contains itself through this field: a value of it would be infinite", types[owner].name),
                    Some("break the cycle with an optional (`T?`) or a list (`list<T>`)".to_owned()),
                );
            }
        }
    }
    for (owner, position) in recursive {
        if let Some(field) = all_fields_mut(&mut types[owner]).nth(position) {
            field.recursive = true;
        }
    }
}

fn all_fields(def: &TypeDef) -> Box<dyn Iterator<Item = &Field> + '_> {
    match &def.kind {
        TypeKind::Struct { fields } => Box::new(fields.iter()),
        TypeKind::Union { variants, .. } => Box::new(variants.iter().flat_map(|v| v.fields.iter())),
        TypeKind::Enum { .. } => Box::new(std::iter::empty()),
    }
}

fn all_fields_mut(def: &mut TypeDef) -> Box<dyn Iterator<Item = &mut Field> + '_> {
    match &mut def.kind {
        TypeKind::Struct { fields } => Box::new(fields.iter_mut()),
        TypeKind::Union { variants, .. } => {
            Box::new(variants.iter_mut().flat_map(|v| v.fields.iter_mut()))
        }
        TypeKind::Enum { .. } => Box::new(std::iter::empty()),
    }
}

/// A type expression before resolution.
#[derive(Debug, Clone, PartialEq)]
enum ParsedType {
    Name {
        name: String,
        offset: usize,
    },
    List(Box<ParsedType>),
    Map {
        key: String,
        key_offset: usize,
        value: Box<ParsedType>,
    },
    Optional {
        inner: Box<ParsedType>,
        offset: usize,
    },
}

/// `expr := base '?'?` — `base := list<expr> | map<name, expr> | name`.
struct TypeParser<'a> {
    text: &'a str,
    at: usize,
}

type ParseError = (usize, usize, String);

impl TypeParser<'_> {
    fn skip_spaces(&mut self) {
        while self.text[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn expression(&mut self) -> Result<ParsedType, ParseError> {
        let mut ty = self.base()?;
        self.skip_spaces();
        while self.text[self.at..].starts_with('?') {
            ty = ParsedType::Optional {
                inner: Box::new(ty),
                offset: self.at,
            };
            self.at += 1;
            self.skip_spaces();
        }
        Ok(ty)
    }

    fn name(&mut self) -> Result<(String, usize), ParseError> {
        self.skip_spaces();
        let start = self.at;
        let len = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .count();
        if len == 0 {
            let found = self.text[start..]
                .chars()
                .next()
                .map_or("the end".to_owned(), |c| format!("`{c}`"));
            return Err((start, 1, format!("expected a type name, found {found}")));
        }
        self.at += len;
        Ok((self.text[start..start + len].to_owned(), start))
    }

    fn expect(&mut self, token: char) -> Result<(), ParseError> {
        self.skip_spaces();
        if self.text[self.at..].starts_with(token) {
            self.at += 1;
            Ok(())
        } else {
            let found = self.text[self.at..]
                .chars()
                .next()
                .map_or("the end".to_owned(), |c| format!("`{c}`"));
            Err((self.at, 1, format!("expected `{token}`, found {found}")))
        }
    }

    fn base(&mut self) -> Result<ParsedType, ParseError> {
        let (name, offset) = self.name()?;
        self.skip_spaces();
        let generic = self.text[self.at..].starts_with('<');
        match (name.as_str(), generic) {
            ("list", true) => {
                self.expect('<')?;
                let inner = self.expression()?;
                self.expect('>')?;
                Ok(ParsedType::List(Box::new(inner)))
            }
            ("map", true) => {
                self.expect('<')?;
                let (key, key_offset) = self.name()?;
                self.expect(',')?;
                let value = self.expression()?;
                self.expect('>')?;
                Ok(ParsedType::Map {
                    key,
                    key_offset,
                    value: Box::new(value),
                })
            }
            ("list" | "map", false) => Err((
                offset,
                name.len(),
                format!("`{name}` needs its element type, such as `{name}<...>`"),
            )),
            (_, true) => Err((self.at, 1, format!("`{name}` takes no type parameters"))),
            _ => Ok(ParsedType::Name { name, offset }),
        }
    }
}
