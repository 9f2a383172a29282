//! The shape of a schema file, as types that describe themselves: the source of
//! the JSON Schema of the schema language (`acton-gen language-schema`), which
//! YAML editors use to validate and complete `messages.yaml`. The parser
//! ([`super::parse`]) reads files with their positions; these types mirror what it
//! accepts, key for key (the test below keeps them in step with `docs/schema.md`'s
//! example and the parser's keys).

#![allow(dead_code)] // Only their descriptions are used.

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// An acton schema: message types, errors and services, from which `acton-gen`
/// generates typed code for Rust, Python and TypeScript.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, title = "acton schema")]
pub struct SchemaFile {
    /// The schema format version: `1`.
    #[schemars(range(min = 1, max = 1))]
    acton: u32,
    /// Dotted identifiers (`shop`, `acme.shop`); prefixes every wire type name.
    package: Option<String>,
    /// Documentation of the whole schema.
    doc: Option<String>,
    /// Other schema files whose types this one uses (paths relative to this
    /// file); their types are named by their package, such as `common.Money`.
    imports: Option<Vec<String>>,
    /// Named types: structs (`fields`), enums (`enum`) and tagged unions (`union`).
    types: Option<BTreeMap<String, TypeDecl>>,
    /// The errors methods may fail with (struct-shaped).
    errors: Option<BTreeMap<String, ErrorDecl>>,
    /// Services: the methods of one exposed actor each.
    services: Option<BTreeMap<String, ServiceDecl>>,
}

/// A named type: a struct, an enum or a tagged union.
#[derive(JsonSchema)]
#[serde(untagged)]
enum TypeDecl {
    Enum(EnumDecl),
    Union(UnionDecl),
    Struct(StructDecl),
}

/// `true`, or the reason it is deprecated.
#[derive(JsonSchema)]
#[serde(untagged)]
enum Deprecation {
    Flag(bool),
    Reason(String),
}

/// A struct: named fields (none for a unit message).
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct StructDecl {
    /// Documentation, carried into every target.
    doc: Option<String>,
    /// Marks the type deprecated.
    deprecated: Option<Deprecation>,
    /// Field names that may never be used again.
    reserved: Option<Vec<String>>,
    /// The fields, in order: `name: type` or `name: { type, doc, default, ... }`.
    fields: Option<BTreeMap<String, FieldDecl>>,
}

/// An error: like a struct, travelling only as the failure of a call.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ErrorDecl {
    /// Documentation; its first line is the error's default message.
    doc: Option<String>,
    /// Marks the error deprecated.
    deprecated: Option<Deprecation>,
    /// Field names that may never be used again.
    reserved: Option<Vec<String>>,
    /// The error's fields.
    fields: Option<BTreeMap<String, FieldDecl>>,
}

/// A unit enum, on the wire as the value's name.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct EnumDecl {
    /// Documentation.
    doc: Option<String>,
    /// Marks the type deprecated.
    deprecated: Option<Deprecation>,
    /// Values that may never be used again.
    reserved: Option<Vec<String>>,
    /// Values added later read as `Unknown` instead of failing.
    open: Option<bool>,
    /// The values: a list, or a mapping to `{ doc, deprecated }`.
    #[serde(rename = "enum")]
    values: EnumValues,
}

#[derive(JsonSchema)]
#[serde(untagged)]
enum EnumValues {
    List(Vec<String>),
    Documented(BTreeMap<String, Option<EnumValueDecl>>),
}

/// An enum value's documentation.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct EnumValueDecl {
    /// Documentation.
    doc: Option<String>,
    /// Marks the value deprecated.
    deprecated: Option<Deprecation>,
}

/// A tagged union, internally tagged: `{"kind": "circle", ...fields}`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct UnionDecl {
    /// Documentation.
    doc: Option<String>,
    /// Marks the type deprecated.
    deprecated: Option<Deprecation>,
    /// Variant and field names that may never be used again.
    reserved: Option<Vec<String>>,
    /// Variants added later read as `Unknown` instead of failing.
    open: Option<bool>,
    /// The tag and the variants.
    union: UnionBody,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct UnionBody {
    /// The field that names the variant, such as `kind`.
    tag: String,
    /// The variants, each with its fields.
    variants: BTreeMap<String, VariantDecl>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct VariantDecl {
    /// Documentation.
    doc: Option<String>,
    /// The variant's fields.
    fields: Option<BTreeMap<String, FieldDecl>>,
}

/// A field: its type (`i64`, `list<T>`, `map<string, T>`, `T?`, a type name,
/// `common.Money`), or a mapping with more.
#[derive(JsonSchema)]
#[serde(untagged)]
enum FieldDecl {
    Type(String),
    Detailed(FieldBody),
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct FieldBody {
    /// The type: a scalar (`bool`, `i8`…`u64`, `f32`, `f64`, `string`, `bytes`,
    /// `json`, `timestamp`, `duration`), `list<T>`, `map<string, T>`, `T?`, or a
    /// type name (`common.Money` for an imported one).
    #[serde(rename = "type")]
    ty: String,
    /// Documentation.
    doc: Option<String>,
    /// The value readers use when the field is absent.
    default: Option<serde_json::Value>,
    /// Marks the field deprecated.
    deprecated: Option<Deprecation>,
    /// Former names readers also accept.
    aliases: Option<Vec<String>>,
}

/// A service: the methods of one exposed actor.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ServiceDecl {
    /// Documentation.
    doc: Option<String>,
    /// Marks the service deprecated.
    deprecated: Option<Deprecation>,
    /// Rust handlers take `&mut self` and run one at a time.
    exclusive: Option<bool>,
    /// Errors every method that answers may fail with.
    errors: Option<Vec<String>>,
    /// Types the service broadcasts; clients subscribe to them.
    pushes: Option<Vec<String>>,
    /// The methods: `name: { request: T, reply: R }` (or `stream: S`, or neither
    /// for fire-and-forget).
    methods: Option<BTreeMap<String, MethodDecl>>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct MethodDecl {
    /// The request type, which routes the call to this method.
    request: String,
    /// The reply's type (request-response).
    reply: Option<String>,
    /// The stream items' type (request-stream).
    stream: Option<String>,
    /// The errors this method may fail with.
    errors: Option<Vec<String>>,
    /// Documentation.
    doc: Option<String>,
    /// Marks the method deprecated.
    deprecated: Option<Deprecation>,
}

/// The JSON Schema of the schema language, as pretty JSON.
pub fn language_schema() -> String {
    let schema = schemars::schema_for!(SchemaFile);
    // Keys sorted, whether or not serde_json's `preserve_order` is on somewhere in
    // the build: the file must not depend on how acton-gen was compiled.
    let value = crate::emit::sorted_keys(serde_json::to_value(&schema).unwrap_or_default());
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}
