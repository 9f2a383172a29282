//! Resolution: names to type indexes, type expressions to [`TypeRef`]s, defaults
//! checked against their types, services and their methods.

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::Reporter;
use crate::ident;
use crate::model::{
    EnumVariant, Field, Method, MethodKind, Scalar, Service, TypeDef, TypeIndex, TypeKind, TypeRef,
    UnionVariant,
};
use crate::source::{Located, Span};
use crate::syntax::{FieldDecl, TypeBody, TypeDecl, TypeExpr};

pub(super) struct Resolver<'a> {
    /// The names this file can refer to: its own types and errors, and those of
    /// the files it imports, qualified by their package (`common.Money`).
    pub(super) names: &'a BTreeMap<String, TypeIndex>,
    /// The packages of the files this one imports.
    pub(super) imported: &'a [String],
    /// Every declaration of every file, by [`TypeIndex`].
    pub(super) decls: &'a [&'a TypeDecl],
    /// Which declarations are errors.
    pub(super) errors: &'a [bool],
}

impl Resolver<'_> {
    pub(super) fn type_def(
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
                            deprecated: v.deprecated.clone(),
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
        let open = self.open(decl, report);
        check_reserved(decl, report);
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
            open,
            reserved: decl.reserved.iter().map(|r| r.value.clone()).collect(),
            package: package.map(str::to_owned),
        }
    }

    /// `open: true | false`, allowed on enums and unions.
    fn open(&self, decl: &TypeDecl, report: &mut Reporter<'_>) -> bool {
        let Some(open) = &decl.open else {
            return false;
        };
        let value = match open.value.as_str() {
            "true" => true,
            "false" => false,
            other => {
                report.error(
                    open.span,
                    format!("`open` is `true` or `false`, not `{other}`"),
                    Some(
                        "`open: true` lets readers take values added later as `Unknown`".to_owned(),
                    ),
                );
                return false;
            }
        };
        if value && matches!(decl.body, TypeBody::Struct(_)) {
            report.error(
                open.span,
                format!(
                    "`open` applies to enums and unions; `{}` is a struct",
                    decl.name.value
                ),
                Some("structs are always open: readers ignore fields they do not know".to_owned()),
            );
        }
        value
    }

    fn fields(
        &self,
        decls: &[FieldDecl],
        owner: &str,
        tag: Option<&Located<String>>,
        report: &mut Reporter<'_>,
    ) -> Vec<Field> {
        check_aliases(decls, owner, tag, report);
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
                } else if name.value.starts_with("__") {
                    report.error(
                        name.span,
                        format!("field name `{}` starts with `__`", name.value),
                        Some("such names are special in Python (private name mangling) and TypeScript (`__proto__`): rename it, for example `_x` or `x`".to_owned()),
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
                let ty = self.resolve(&decl.expr, &decl.ty, report)?;
                let default = decl.default.as_ref().and_then(|default| self.check_default(default, &ty, report));
                Some(Field {
                    name: name.value.clone(),
                    ty,
                    doc: decl.doc.clone(),
                    default,
                    deprecated: decl.deprecated.clone(),
                    recursive: false,
                    aliases: decl.aliases.iter().map(|a| a.value.clone()).collect(),
                })
            })
            .collect()
    }

    fn resolve(
        &self,
        ty: &TypeExpr,
        text: &Located<String>,
        report: &mut Reporter<'_>,
    ) -> Option<TypeRef> {
        Some(match ty {
            TypeExpr::Name { name, offset } => {
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
            TypeExpr::List(inner) => TypeRef::List(Box::new(self.resolve(inner, text, report)?)),
            TypeExpr::Map {
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
            TypeExpr::Optional { inner, offset } => {
                if matches!(**inner, TypeExpr::Optional { .. }) {
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
        if let Some((package, _)) = name.rsplit_once('.') {
            if !self.imported.iter().any(|p| p == package) {
                return format!(
                    "`{package}` is not the package of a file this schema imports: add that file to `imports:` (such as `imports: [{}.yaml]`)",
                    package.rsplit('.').next().unwrap_or(package)
                );
            }
        }
        let candidates = self
            .names
            .iter()
            .filter(|(_, index)| !self.is_error(**index))
            .map(|(name, _)| name.as_str())
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
            (TypeRef::Scalar(Scalar::Duration), Value::String(text)) => {
                crate::model::parse_duration(text).map(|_| ()).ok_or_else(|| {
                    "expected seconds with an `s`, such as `30s` or `1.5s`".to_owned()
                })
            }
            (TypeRef::Scalar(Scalar::Duration), _) => {
                Err("expected a duration string, such as \"30s\"".to_owned())
            }
            (TypeRef::Scalar(Scalar::Timestamp), _) => Err(
                "defaults of `timestamp` are not supported (a fixed point in time is rarely a good default); make the field optional instead".to_owned(),
            ),
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

    pub(super) fn service(
        &self,
        decl: &crate::syntax::ServiceDecl,
        report: &mut Reporter<'_>,
    ) -> Service {
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
        let mut methods = Vec::new();
        for method in &decl.methods {
            let name = &method.name;
            if !ident::is_identifier(&name.value) {
                report.error(
                    name.span,
                    format!("`{}` is not a valid method name", name.value),
                    Some("method names start with a letter and hold only letters, digits and `_`, such as `add` or `find_one`".to_owned()),
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
                    deprecated: method.deprecated.clone(),
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
            deprecated: decl.deprecated.clone(),
        }
    }

    fn is_error(&self, index: TypeIndex) -> bool {
        self.errors.get(index.0).copied().unwrap_or(false)
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

/// Aliases are field names no other field (or the tag) of the same object takes,
/// each once.
fn check_aliases(
    decls: &[FieldDecl],
    owner: &str,
    tag: Option<&Located<String>>,
    report: &mut Reporter<'_>,
) {
    let mut taken: HashMap<&str, &str> = decls
        .iter()
        .map(|f| (f.name.value.as_str(), f.name.value.as_str()))
        .collect();
    if let Some(tag) = tag {
        taken.insert(tag.value.as_str(), tag.value.as_str());
    }
    for field in decls {
        for alias in &field.aliases {
            if !ident::is_field_identifier(&alias.value) {
                report.error(
                    alias.span,
                    format!("`{}` is not a valid field name", alias.value),
                    Some(
                        "an alias is a former name of the field: letters, digits and `_`"
                            .to_owned(),
                    ),
                );
            } else if let Some(holder) =
                taken.insert(alias.value.as_str(), field.name.value.as_str())
            {
                let message = if holder == alias.value {
                    format!(
                        "alias `{}` of field `{}` of `{owner}` is the name of a field (or the tag)",
                        alias.value, field.name.value
                    )
                } else {
                    format!(
                        "alias `{}` of field `{}` of `{owner}` is already an alias of `{holder}`",
                        alias.value, field.name.value
                    )
                };
                report.error(
                    alias.span,
                    message,
                    Some("a reader must know which field a name means: remove one".to_owned()),
                );
            }
        }
    }
}

/// No field, value or variant of the type takes a name it reserved.
fn check_reserved(decl: &TypeDecl, report: &mut Reporter<'_>) {
    if decl.reserved.is_empty() {
        return;
    }
    let reserved: HashMap<&str, Span> = decl
        .reserved
        .iter()
        .map(|r| (r.value.as_str(), r.span))
        .collect();
    let names: Vec<&Located<String>> = match &decl.body {
        TypeBody::Struct(fields) => fields.iter().map(|f| &f.name).collect(),
        TypeBody::Enum(values) => values.iter().map(|v| &v.name).collect(),
        TypeBody::Union { variants, .. } => variants
            .iter()
            .flat_map(|v| std::iter::once(&v.name).chain(v.fields.iter().map(|f| &f.name)))
            .collect(),
    };
    for name in names {
        if let Some(at) = reserved.get(name.value.as_str()) {
            report.error(
                name.span,
                format!(
                    "`{}` is reserved in `{}` (line {}) and may not be used again",
                    name.value, decl.name.value, at.line
                ),
                Some(
                    "old peers still read the name with its old meaning: choose another name"
                        .to_owned(),
                ),
            );
        }
    }
}
