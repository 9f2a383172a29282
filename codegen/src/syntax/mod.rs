//! Stage 1: schema text → located syntax tree.
//!
//! Reads the YAML (with `marked-yaml`, which keeps the position of every node),
//! checks the *shape* of the document — which keys exist, which are mappings,
//! sequences or strings — and keeps every name and type expression with its
//! position. Meaning (do referenced types exist, are names legal…) is the next
//! stage's job.

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};

use crate::diagnostic::Reporter;
use crate::source::{Located, SourceFile, Span};

pub mod shape;
pub mod type_expr;

pub use type_expr::TypeExpr;

/// A parsed schema document.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// `acton:`, the schema format version.
    pub version: Option<Located<String>>,
    /// `package:`.
    pub package: Option<Located<String>>,
    /// `doc:`.
    pub doc: Option<String>,
    /// `imports:`: other schema files, relative to this one.
    pub imports: Vec<Located<String>>,
    /// `types:`, in file order.
    pub types: Vec<TypeDecl>,
    /// `errors:`, in file order (each a struct-shaped declaration).
    pub errors: Vec<TypeDecl>,
    /// `services:`, in file order.
    pub services: Vec<ServiceDecl>,
}

/// A named type.
#[derive(Debug, Clone)]
pub struct TypeDecl {
    /// Its name.
    pub name: Located<String>,
    /// `doc:`.
    pub doc: Option<String>,
    /// `deprecated:` (`true` or a reason).
    pub deprecated: Option<String>,
    /// `open:` (`true` or `false`), on an enum or a union.
    pub open: Option<Located<String>>,
    /// `reserved:`: names its fields, values or variants may never take again.
    pub reserved: Vec<Located<String>>,
    /// What it is.
    pub body: TypeBody,
}

/// The three kinds of named types.
#[derive(Debug, Clone)]
pub enum TypeBody {
    /// `fields:` (or `{}`).
    Struct(Vec<FieldDecl>),
    /// `enum:`.
    Enum(Vec<VariantDecl>),
    /// `union:`.
    Union {
        /// `tag:`.
        tag: Located<String>,
        /// `variants:`.
        variants: Vec<UnionVariantDecl>,
    },
}

/// A field of a struct or union variant.
#[derive(Debug, Clone)]
pub struct FieldDecl {
    /// Its wire name.
    pub name: Located<String>,
    /// Its type expression, as written.
    pub ty: Located<String>,
    /// The type expression, parsed.
    pub expr: TypeExpr,
    /// `doc:`.
    pub doc: Option<String>,
    /// `default:`.
    pub default: Option<Located<serde_json::Value>>,
    /// `deprecated:` (`true` or a reason).
    pub deprecated: Option<String>,
    /// `aliases:`: names readers also accept for it (its former names).
    pub aliases: Vec<Located<String>>,
}

/// A variant of a unit enum.
#[derive(Debug, Clone)]
pub struct VariantDecl {
    /// Its wire name.
    pub name: Located<String>,
    /// `doc:`.
    pub doc: Option<String>,
    /// `deprecated:` (`true` or a reason).
    pub deprecated: Option<String>,
}

/// A variant of a tagged union.
#[derive(Debug, Clone)]
pub struct UnionVariantDecl {
    /// Its tag value.
    pub name: Located<String>,
    /// `doc:`.
    pub doc: Option<String>,
    /// Its fields.
    pub fields: Vec<FieldDecl>,
}

/// A service: the methods of one exposed actor.
#[derive(Debug, Clone)]
pub struct ServiceDecl {
    /// The name the actor is exposed under.
    pub name: Located<String>,
    /// `doc:`.
    pub doc: Option<String>,
    /// `methods:`.
    pub methods: Vec<MethodDecl>,
    /// `pushes:`.
    pub pushes: Vec<Located<String>>,
    /// `errors:`: errors every method may fail with.
    pub errors: Vec<Located<String>>,
    /// `exclusive: true`: handlers take `&mut self` and run one at a time.
    pub exclusive: Option<Located<String>>,
    /// `deprecated:` (`true` or a reason).
    pub deprecated: Option<String>,
}

/// A method of a service.
#[derive(Debug, Clone)]
pub struct MethodDecl {
    /// Its name.
    pub name: Located<String>,
    /// `doc:`.
    pub doc: Option<String>,
    /// `request:`.
    pub request: Option<Located<String>>,
    /// `reply:`.
    pub reply: Option<Located<String>>,
    /// `stream:`.
    pub stream: Option<Located<String>>,
    /// `errors:`: the errors this method may fail with.
    pub errors: Vec<Located<String>>,
    /// `deprecated:` (`true` or a reason).
    pub deprecated: Option<String>,
}

/// Parses `file`; problems go to `report`. The returned document holds what could
/// be read.
pub fn parse(file: &SourceFile, report: &mut Reporter<'_>) -> Option<Document> {
    // prevent_coercion records which scalars were quoted (`"1"` is a string).
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    let root = match marked_yaml::parse_yaml_with_options(0, &file.text, options) {
        Ok(root) => root,
        Err(error) => {
            load_error(&error, report);
            return None;
        }
    };
    let Some(root) = root.as_mapping() else {
        report.error(
            span_of(&root),
            "a schema is a YAML mapping",
            Some(example_hint()),
        );
        return None;
    };
    let mut document = Document::default();
    for (key, value) in root.iter() {
        match key.as_str() {
            "acton" => document.version = scalar(value, "acton", report),
            "package" => document.package = scalar(value, "package", report),
            "doc" => document.doc = scalar(value, "doc", report).map(|d| d.value),
            "imports" => {
                document.imports = name_list(value, "imports", "imports: [common.yaml]", report);
            }
            "types" => document.types = types(value, report),
            "errors" => document.errors = errors(value, report),
            "services" => document.services = services(value, report),
            other => unknown_key(
                key,
                other,
                "the schema",
                &[
                    "acton", "package", "doc", "imports", "types", "errors", "services",
                ],
                report,
            ),
        }
    }
    if document.version.is_none() {
        report.error(
            Span::new(1, 1, 1),
            "the schema does not say its format version",
            Some("start the file with `acton: 1`".to_owned()),
        );
    }
    Some(document)
}

fn example_hint() -> String {
    "a schema looks like `acton: 1`, then `types:` and `services:` mappings".to_owned()
}

fn load_error(error: &LoadError, report: &mut Reporter<'_>) {
    match error {
        LoadError::DuplicateKey(inner) => {
            let first = span_of_scalar(&inner.prev_key);
            report.error(
                span_of_scalar(&inner.key),
                format!(
                    "`{}` is defined twice (first at line {})",
                    inner.key.as_str(),
                    first.line
                ),
                Some("every name in a mapping must be unique; rename or remove one".to_owned()),
            );
        }
        LoadError::ScanError(marker, scan) => {
            let reason = scan.to_string();
            let reason = reason.split(" at ").next().unwrap_or(&reason).to_owned();
            report.error(
                Span::new(marker.line(), marker.column(), 1),
                format!("this is not valid YAML: {reason}"),
                Some("check indentation, colons and quotes around this position".to_owned()),
            );
        }
        LoadError::TopLevelMustBeMapping(marker) | LoadError::TopLevelMustBeSequence(marker) => {
            report.error(
                Span::new(marker.line(), marker.column(), 1),
                "a schema is a YAML mapping",
                Some(example_hint()),
            );
        }
        LoadError::UnexpectedAnchor(marker)
        | LoadError::UnexpectedTag(marker)
        | LoadError::MappingKeyMustBeScalar(marker) => {
            report.error(
                Span::new(marker.line(), marker.column(), 1),
                "YAML anchors, tags and complex keys are not part of the schema language",
                Some("write the value out in full".to_owned()),
            );
        }
    }
}

/// The position of a node (its first character).
pub(crate) fn span_of(node: &Node) -> Span {
    match node {
        Node::Scalar(scalar) => span_of_scalar(scalar),
        _ => node
            .span()
            .start()
            .map_or(Span::new(1, 1, 1), |m| Span::new(m.line(), m.column(), 1)),
    }
}

fn span_of_scalar(scalar: &MarkedScalarNode) -> Span {
    let width = scalar.as_str().chars().count().max(1);
    scalar.span().start().map_or(Span::new(1, 1, width), |m| {
        Span::new(m.line(), m.column(), width)
    })
}

/// A located string from a scalar key.
fn key_name(key: &MarkedScalarNode) -> Located<String> {
    Located::new(key.as_str().to_owned(), span_of_scalar(key))
}

fn unknown_key(
    key: &MarkedScalarNode,
    name: &str,
    place: &str,
    expected: &[&str],
    report: &mut Reporter<'_>,
) {
    unknown_key_with(key, None, name, place, expected, report);
}

/// As [`unknown_key`], knowing the value: a key without a value inside `{ ... }`
/// is most often the tail of a value that a comma cut off.
fn unknown_key_with(
    key: &MarkedScalarNode,
    value: Option<&Node>,
    name: &str,
    place: &str,
    expected: &[&str],
    report: &mut Reporter<'_>,
) {
    let valueless = matches!(value, Some(Node::Scalar(v)) if v.as_str().is_empty());
    if valueless || name.contains(' ') || name.ends_with('>') || name.ends_with('.') {
        // `{ doc: a, b }` or `{ type: map<string, T> }`: a comma ended the value.
        report.error(
            span_of_scalar(key),
            format!("unexpected `{name}` in {place}: a comma inside `{{ ... }}` ends the value before it"),
            Some("put the value in quotes (`doc: \"a, b\"`, `type: \"map<string, f64>\"`) or write the entry in block style".to_owned()),
        );
        return;
    }
    let suggestion = crate::ident::closest(name, expected.iter().copied())
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default();
    report.error(
        span_of_scalar(key),
        format!("unknown key `{name}` in {place}"),
        Some(format!(
            "{suggestion}expected one of: {}",
            expected.join(", ")
        )),
    );
}

fn scalar(node: &Node, what: &str, report: &mut Reporter<'_>) -> Option<Located<String>> {
    match node {
        Node::Scalar(scalar) => {
            let mut span = span_of_scalar(scalar);
            if !scalar.may_coerce() {
                // Quoted: the text starts after the quote.
                span = span.sub(1, span.width);
            }
            Some(Located::new(scalar.as_str().to_owned(), span))
        }
        other => {
            report.error(
                span_of(other),
                format!("`{what}` must be a single value"),
                None,
            );
            None
        }
    }
}

fn mapping<'n>(
    node: &'n Node,
    what: &str,
    hint: &str,
    report: &mut Reporter<'_>,
) -> Option<&'n MarkedMappingNode> {
    match node {
        Node::Mapping(mapping) => Some(mapping),
        // `key:` with nothing after it reads as an empty scalar: an empty mapping.
        Node::Scalar(scalar) if scalar.as_str().is_empty() => None,
        other => {
            report.error(
                span_of(other),
                format!("{what} must be a mapping"),
                Some(hint.to_owned()),
            );
            None
        }
    }
}

/// `deprecated: true` / `deprecated: "reason"` / `deprecated: false`.
fn deprecation(node: &Node, report: &mut Reporter<'_>) -> Option<String> {
    let value = scalar(node, "deprecated", report)?;
    match value.value.as_str() {
        "false" => None,
        "true" => Some(String::new()),
        _ => Some(value.value),
    }
}

fn types(node: &Node, report: &mut Reporter<'_>) -> Vec<TypeDecl> {
    let Some(types) = mapping(
        node,
        "`types`",
        "write `types:` followed by `Name: { fields: ... }` entries",
        report,
    ) else {
        return Vec::new();
    };
    types
        .iter()
        .filter_map(|(name, body)| type_decl(key_name(name), body, report))
        .collect()
}

fn errors(node: &Node, report: &mut Reporter<'_>) -> Vec<TypeDecl> {
    let Some(errors) = mapping(
        node,
        "`errors`",
        "write `errors:` followed by `Name: { doc: ..., fields: {...} }` entries",
        report,
    ) else {
        return Vec::new();
    };
    errors
        .iter()
        .filter_map(|(name, body)| error_decl(key_name(name), body, report))
        .collect()
}

/// An error: like a struct (`doc`, `fields`, `deprecated`), nothing else.
fn error_decl(name: Located<String>, node: &Node, report: &mut Reporter<'_>) -> Option<TypeDecl> {
    const KEYS: [&str; 4] = ["doc", "fields", "deprecated", "reserved"];
    let hint = "an error is `{ doc: ..., fields: {...} }` (both optional)";
    let mut decl = TypeDecl {
        name: name.clone(),
        doc: None,
        deprecated: None,
        open: None,
        reserved: Vec::new(),
        body: TypeBody::Struct(Vec::new()),
    };
    let Some(body) = mapping(node, &format!("error `{}`", name.value), hint, report) else {
        return matches!(node, Node::Scalar(s) if s.as_str().is_empty()).then_some(decl);
    };
    for (key, value) in body.iter() {
        match key.as_str() {
            "doc" => decl.doc = scalar(value, "doc", report).map(|d| d.value),
            "deprecated" => decl.deprecated = deprecation(value, report),
            "reserved" => {
                decl.reserved = name_list(value, "reserved", "reserved: [old_field]", report);
            }
            "fields" => decl.body = TypeBody::Struct(fields(value, &name.value, report)),
            other => unknown_key(
                key,
                other,
                &format!("error `{}`", name.value),
                &KEYS,
                report,
            ),
        }
    }
    Some(decl)
}

/// A list of names: `[A, B]`.
fn name_list(
    node: &Node,
    what: &str,
    example: &str,
    report: &mut Reporter<'_>,
) -> Vec<Located<String>> {
    match node {
        Node::Sequence(items) => items
            .iter()
            .filter_map(|item| scalar(item, what, report))
            .collect(),
        other => {
            report.error(
                span_of(other),
                format!("`{what}` must be a list of names"),
                Some(format!("write `{example}`")),
            );
            Vec::new()
        }
    }
}

fn type_decl(name: Located<String>, node: &Node, report: &mut Reporter<'_>) -> Option<TypeDecl> {
    const KEYS: [&str; 7] = [
        "doc",
        "fields",
        "enum",
        "union",
        "deprecated",
        "open",
        "reserved",
    ];
    let hint = "a type is `{ fields: {...} }`, `{ enum: [...] }` or `{ union: { tag: ..., variants: {...} } }`";
    let mut decl = TypeDecl {
        name: name.clone(),
        doc: None,
        deprecated: None,
        open: None,
        reserved: Vec::new(),
        body: TypeBody::Struct(Vec::new()),
    };
    let Some(body) = mapping(node, &format!("type `{}`", name.value), hint, report) else {
        return matches!(node, Node::Scalar(s) if s.as_str().is_empty()).then_some(decl);
    };
    let mut kinds = Vec::new();
    for (key, value) in body.iter() {
        match key.as_str() {
            "doc" => decl.doc = scalar(value, "doc", report).map(|d| d.value),
            "deprecated" => decl.deprecated = deprecation(value, report),
            "open" => decl.open = scalar(value, "open", report),
            "reserved" => {
                decl.reserved = name_list(value, "reserved", "reserved: [old_field]", report);
            }
            "fields" => {
                kinds.push(key_name(key));
                decl.body = TypeBody::Struct(fields(value, &name.value, report));
            }
            "enum" => {
                kinds.push(key_name(key));
                decl.body = TypeBody::Enum(variants(value, &name.value, report));
            }
            "union" => {
                kinds.push(key_name(key));
                if let Some(body) = union(value, &name, report) {
                    decl.body = body;
                }
            }
            other => unknown_key(key, other, &format!("type `{}`", name.value), &KEYS, report),
        }
    }
    if kinds.len() > 1 {
        report.error(
            kinds[1].span,
            format!(
                "type `{}` has both `{}` and `{}`",
                name.value, kinds[0].value, kinds[1].value
            ),
            Some(
                "a type is a struct (`fields`), an enum (`enum`) or a union (`union`): pick one"
                    .to_owned(),
            ),
        );
    }
    Some(decl)
}

fn fields(node: &Node, owner: &str, report: &mut Reporter<'_>) -> Vec<FieldDecl> {
    let hint = "write each field as `name: type` or `name: { type: ..., doc: ..., default: ... }`";
    let Some(fields) = mapping(node, &format!("the fields of `{owner}`"), hint, report) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter_map(|(name, value)| field(key_name(name), value, owner, report))
        .collect()
}

fn field(
    name: Located<String>,
    node: &Node,
    owner: &str,
    report: &mut Reporter<'_>,
) -> Option<FieldDecl> {
    const KEYS: [&str; 5] = ["type", "doc", "default", "deprecated", "aliases"];
    match node {
        Node::Scalar(_) => {
            let ty = scalar(node, "type", report)?;
            if ty.value.is_empty() {
                report.error(
                    name.span,
                    format!("field `{}` of `{owner}` has no type", name.value),
                    Some(format!("write `{}: string` (or another type)", name.value)),
                );
                return None;
            }
            let expr = type_expr::parse(&ty, report)?;
            Some(FieldDecl {
                name,
                ty,
                expr,
                doc: None,
                default: None,
                deprecated: None,
                aliases: Vec::new(),
            })
        }
        Node::Mapping(body) => {
            let mut decl = FieldDecl {
                name: name.clone(),
                ty: Located::new(String::new(), name.span),
                expr: TypeExpr::Name {
                    name: String::new(),
                    offset: 0,
                },
                doc: None,
                default: None,
                deprecated: None,
                aliases: Vec::new(),
            };
            let mut typed = false;
            for (key, value) in body.iter() {
                match key.as_str() {
                    "type" => {
                        if let Some(ty) = scalar(value, "type", report) {
                            decl.ty = ty;
                            typed = true;
                        }
                    }
                    "doc" => decl.doc = scalar(value, "doc", report).map(|d| d.value),
                    "default" => {
                        decl.default = Some(Located::new(yaml_value(value), span_of(value)))
                    }
                    "deprecated" => decl.deprecated = deprecation(value, report),
                    "aliases" => {
                        decl.aliases = name_list(value, "aliases", "aliases: [old_name]", report);
                    }
                    other => unknown_key_with(
                        key,
                        Some(value),
                        other,
                        &format!("field `{}`", name.value),
                        &KEYS,
                        report,
                    ),
                }
            }
            if !typed {
                report.error(
                    name.span,
                    format!("field `{}` of `{owner}` has no `type`", name.value),
                    Some("add `type: string` (or another type)".to_owned()),
                );
                return None;
            }
            decl.expr = type_expr::parse(&decl.ty, report)?;
            Some(decl)
        }
        Node::Sequence(_) => {
            report.error(
                span_of(node),
                format!(
                    "field `{}` of `{owner}` must be a type or a mapping",
                    name.value
                ),
                Some("for a list, write `list<T>`".to_owned()),
            );
            None
        }
    }
}

/// A YAML value as JSON: plain scalars become booleans, numbers or null where they
/// read as such; quoted scalars stay strings.
fn yaml_value(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Scalar(scalar) => {
            let text = scalar.as_str();
            if !scalar.may_coerce() {
                return Value::String(text.to_owned());
            }
            match text {
                "null" | "~" | "" => Value::Null,
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    if let Ok(n) = text.parse::<i64>() {
                        Value::from(n)
                    } else if let Ok(n) = text.parse::<u64>() {
                        Value::from(n)
                    } else if let Some(n) = text
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                    {
                        Value::Number(n)
                    } else {
                        Value::String(text.to_owned())
                    }
                }
            }
        }
        Node::Sequence(items) => Value::Array(items.iter().map(yaml_value).collect()),
        Node::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), yaml_value(v)))
                .collect(),
        ),
    }
}

fn variants(node: &Node, owner: &str, report: &mut Reporter<'_>) -> Vec<VariantDecl> {
    match node {
        Node::Sequence(items) => items
            .iter()
            .filter_map(|item| scalar(item, "an enum variant", report))
            .map(|name| VariantDecl {
                name,
                doc: None,
                deprecated: None,
            })
            .collect(),
        Node::Mapping(entries) => entries
            .iter()
            .map(|(name, value)| {
                let name = key_name(name);
                let mut doc = None;
                let mut deprecated = None;
                match value {
                    // `green:` — a value without documentation.
                    Node::Scalar(text) if text.as_str().is_empty() => {}
                    Node::Mapping(fields) => {
                        for (key, field) in fields.iter() {
                            match key.as_str() {
                                "doc" => doc = scalar(field, "doc", report).map(|d| d.value),
                                "deprecated" => deprecated = deprecation(field, report),
                                other => unknown_key(
                                    key,
                                    other,
                                    &format!("enum value `{}`", name.value),
                                    &["doc", "deprecated"],
                                    report,
                                ),
                            }
                        }
                    }
                    other => report.error(
                        span_of(other),
                        format!(
                            "enum value `{}` of `{owner}` is given a value; enum values carry none on the wire",
                            name.value
                        ),
                        Some(format!(
                            "write `{0}:` alone, or `{0}: {{ doc: ... }}`, or list the values: `enum: [{0}, ...]`",
                            name.value
                        )),
                    ),
                }
                VariantDecl {
                    name,
                    doc,
                    deprecated,
                }
            })
            .collect(),
        Node::Scalar(_) => {
            report.error(
                span_of(node),
                format!("the variants of enum `{owner}` must be a list"),
                Some("write `enum: [first, second]`".to_owned()),
            );
            Vec::new()
        }
    }
}

fn union(node: &Node, owner: &Located<String>, report: &mut Reporter<'_>) -> Option<TypeBody> {
    const KEYS: [&str; 2] = ["tag", "variants"];
    let hint = "write `union: { tag: kind, variants: { name: { fields: {...} } } }`";
    let body = mapping(node, &format!("union `{}`", owner.value), hint, report)?;
    let mut tag = None;
    let mut cases = Vec::new();
    for (key, value) in body.iter() {
        match key.as_str() {
            "tag" => tag = scalar(value, "tag", report),
            "variants" => {
                let Some(entries) = mapping(
                    value,
                    &format!("the variants of `{}`", owner.value),
                    hint,
                    report,
                ) else {
                    continue;
                };
                for (name, variant) in entries.iter() {
                    let name = key_name(name);
                    let mut case = UnionVariantDecl {
                        name: name.clone(),
                        doc: None,
                        fields: Vec::new(),
                    };
                    if let Some(body) =
                        mapping(variant, &format!("variant `{}`", name.value), hint, report)
                    {
                        for (key, value) in body.iter() {
                            match key.as_str() {
                                "doc" => case.doc = scalar(value, "doc", report).map(|d| d.value),
                                "fields" => case.fields = fields(value, &name.value, report),
                                other => unknown_key(
                                    key,
                                    other,
                                    &format!("variant `{}`", name.value),
                                    &["doc", "fields"],
                                    report,
                                ),
                            }
                        }
                    }
                    cases.push(case);
                }
            }
            other => unknown_key(
                key,
                other,
                &format!("union `{}`", owner.value),
                &KEYS,
                report,
            ),
        }
    }
    let Some(tag) = tag else {
        report.error(
            owner.span,
            format!("union `{}` has no `tag`", owner.value),
            Some("add `tag: kind` (the field that names the variant)".to_owned()),
        );
        return None;
    };
    Some(TypeBody::Union {
        tag,
        variants: cases,
    })
}

fn services(node: &Node, report: &mut Reporter<'_>) -> Vec<ServiceDecl> {
    let hint = "write `services:` followed by `name: { methods: {...} }` entries";
    let Some(services) = mapping(node, "`services`", hint, report) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, body) in services.iter() {
        const KEYS: [&str; 6] = [
            "doc",
            "methods",
            "pushes",
            "errors",
            "exclusive",
            "deprecated",
        ];
        let name = key_name(name);
        let mut service = ServiceDecl {
            name: name.clone(),
            doc: None,
            methods: Vec::new(),
            pushes: Vec::new(),
            errors: Vec::new(),
            exclusive: None,
            deprecated: None,
        };
        if let Some(body) = mapping(body, &format!("service `{}`", name.value), hint, report) {
            for (key, value) in body.iter() {
                match key.as_str() {
                    "doc" => service.doc = scalar(value, "doc", report).map(|d| d.value),
                    "methods" => service.methods = methods(value, &name.value, report),
                    "pushes" => {
                        service.pushes =
                            name_list(value, "pushes", "pushes: [PriceUpdate]", report);
                    }
                    "errors" => {
                        service.errors = name_list(value, "errors", "errors: [NotFound]", report);
                    }
                    "exclusive" => service.exclusive = scalar(value, "exclusive", report),
                    "deprecated" => service.deprecated = deprecation(value, report),
                    other => unknown_key(
                        key,
                        other,
                        &format!("service `{}`", name.value),
                        &KEYS,
                        report,
                    ),
                }
            }
        }
        out.push(service);
    }
    out
}

fn methods(node: &Node, service: &str, report: &mut Reporter<'_>) -> Vec<MethodDecl> {
    const KEYS: [&str; 6] = ["request", "reply", "stream", "errors", "doc", "deprecated"];
    let hint = "write each method as `name: { request: Req, reply: Resp }` (or `stream:`, or neither for fire-and-forget)";
    let Some(methods) = mapping(node, &format!("the methods of `{service}`"), hint, report) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, body) in methods.iter() {
        let name = key_name(name);
        let mut method = MethodDecl {
            name: name.clone(),
            doc: None,
            request: None,
            reply: None,
            stream: None,
            errors: Vec::new(),
            deprecated: None,
        };
        if let Some(body) = mapping(body, &format!("method `{}`", name.value), hint, report) {
            for (key, value) in body.iter() {
                match key.as_str() {
                    "request" => method.request = scalar(value, "request", report),
                    "reply" => method.reply = scalar(value, "reply", report),
                    "stream" => method.stream = scalar(value, "stream", report),
                    "errors" => {
                        method.errors = name_list(value, "errors", "errors: [NotFound]", report);
                    }
                    "doc" => method.doc = scalar(value, "doc", report).map(|d| d.value),
                    "deprecated" => method.deprecated = deprecation(value, report),
                    other => unknown_key(
                        key,
                        other,
                        &format!("method `{}`", name.value),
                        &KEYS,
                        report,
                    ),
                }
            }
        }
        out.push(method);
    }
    out
}
