//! Names in the generated Rust module.

use super::{snake_case, upper_camel_case, RUST_KEYWORDS};
use crate::model::Schema;

/// Names the generated module imports or defines whatever the schema says: a
/// schema name that becomes one of them is rejected.
pub const MODULE_ITEMS: &[&str] = &[
    "BTreeMap",
    "Future",
    "Path",
    "Arc",
    "ClientError",
    "IpcClient",
    "service",
    "ActorHandle",
    "ActorRuntime",
    "TypedStream",
    "Subscription",
    "IpcTypeRegistry",
    "Deserialize",
    "Serialize",
    "Bytes",
    "Json",
    "register_all",
    "SCHEMA",
    "SCHEMA_FINGERPRINT",
];

/// Members of every generated client besides the schema's methods.
pub const CLIENT_MEMBERS: &[&str] = &[
    "SERVICE",
    "connect",
    "new",
    "client",
    "with_timeout",
    "check_schema",
    "connect_nats",
    // derive(Clone, Debug): a method of the same name would hide the trait's.
    "clone",
    "clone_from",
    "fmt",
];

/// The variant every method's error enum has besides the declared errors.
pub const ERROR_ENUM_VARIANTS: &[&str] = &["Status"];

/// An identifier as Rust spells it: a keyword becomes a raw identifier
/// (`r#type`), except those that cannot be raw, which take a trailing `_`.
pub fn escape(name: &str) -> String {
    if matches!(name, "self" | "Self" | "crate" | "super") {
        format!("{name}_")
    } else if RUST_KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

/// The name without a raw identifier's `r#`: two names collide when these are
/// equal.
pub fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// A type (struct, enum, union or error): `UpperCamelCase`.
pub fn type_name(name: &str) -> String {
    escape(&upper_camel_case(name))
}

/// A variant of an enum or union: `UpperCamelCase`.
pub fn variant(name: &str) -> String {
    escape(&upper_camel_case(name))
}

/// A field: `snake_case`.
pub fn field(name: &str) -> String {
    escape(&snake_case(name))
}

/// A method of a handler trait and of a client: `snake_case`.
pub fn method(name: &str) -> String {
    escape(&snake_case(name))
}

/// A service's handler trait: `{Service}Handler`.
pub fn handler_trait(service: &str) -> String {
    format!("{}Handler", upper_camel_case(service))
}

/// A service's client: `{Service}Client`.
pub fn client(service: &str) -> String {
    super::client_class(service)
}

/// The function that serves a service: `serve_{service}`.
pub fn serve_fn(service: &str) -> String {
    format!("serve_{}", snake_case(service))
}

/// The client method subscribing to a pushed type: `subscribe_{type}`.
pub fn subscribe_method(push: &str) -> String {
    format!("subscribe_{}", snake_case(push))
}

/// The function giving a field's default: `default_{scope}_{field}`, where the
/// scope is the type (or `{union}_{variant}`).
pub fn default_fn(scope: &str, field: &str) -> String {
    format!(
        "default_{}_{}",
        snake_case(scope),
        snake_case(field).trim_start_matches('_')
    )
}

/// The error enum of a method: `{Method}Error`, or `{Service}{Method}Error` when
/// `shared` (another method with errors, in any service, has the same
/// `{Method}Error`, or a type or an import of the module takes that name:
/// `client` fails with `{Service}ClientError`, not `ClientError`).
pub fn error_enum(service: &str, method: &str, shared: bool) -> String {
    let short = format!("{}Error", upper_camel_case(method));
    if shared {
        format!("{}{short}", upper_camel_case(service))
    } else {
        short
    }
}

/// The error enum of `service`'s method `method` in `schema` (see [`error_enum`]).
pub fn method_error_enum(schema: &Schema, service: &str, method: &str) -> String {
    let short = error_enum(service, method, false);
    let shared = schema
        .services
        .iter()
        .flat_map(|s| &s.methods)
        .filter(|m| !m.errors.is_empty() && error_enum("", &m.name, false) == short)
        .count()
        > 1;
    let taken = MODULE_ITEMS.contains(&short.as_str())
        || schema.types.iter().any(|def| type_name(&def.name) == short);
    error_enum(service, method, shared || taken)
}
