//! Names in the generated TypeScript package.

use super::{lower_camel_case, snake_case};
use crate::model::{TypeDef, TypeKind};

/// Names `index.ts` exports whatever the schema says.
pub const PACKAGE_NAMES: &[&str] = &[
    "ActonError",
    "Connection",
    "ConnectionClosed",
    "DeclaredError",
    "ERROR_CODES",
    "Format",
    "RateLimited",
    "RequestTimeout",
    "Subscription",
    "TypedSubscription",
    "AnyErrorCode",
    "CallOptions",
    "ConnectOptions",
    "ErrorCode",
    "Json",
    "Push",
    "SchemaCheck",
    "Unknown",
    "NatsConnection",
    "NatsConnectOptions",
    "NATS_HEADERS",
];

/// The package's own modules: an imported package's module may not take their
/// names.
pub const MODULE_FILES: &[&str] = &["types", "client", "runtime", "index", "schema", "nats"];

/// The file (in `src/`) of `package`'s types: `types.ts` for the root schema's,
/// `{alias}.ts` for an imported package's.
pub fn module_file(package: Option<&str>, root: Option<&str>) -> String {
    match package {
        Some(package) if Some(package) != root => format!("{}.ts", super::module_alias(package)),
        _ => "types.ts".to_owned(),
    }
}

/// Names `types.ts` imports (every one it may import), and the globals its code
/// uses.
pub const TYPES_MODULE_NAMES: &[&str] = &[
    "ActonError",
    "DeclaredError",
    "decodeBigInt",
    "decodeBool",
    "decodeBytes",
    "decodeFloat",
    "decodeInt",
    "decodeJson",
    "decodeString",
    "decodeTimestamp",
    "decodeDuration",
    "encodeTimestamp",
    "encodeDuration",
    "expectRecord",
    "fieldOf",
    "isPresent",
    "listOf",
    "listTo",
    "mapOf",
    "mapTo",
    "optionalOf",
    "optionalTo",
    "required",
    "Json",
    "Unknown",
];

/// Names `client.ts` imports.
pub const CLIENT_MODULE_NAMES: &[&str] = &[
    "Connection",
    "NatsConnection",
    "NatsConnectOptions",
    "TypedSubscription",
    "CallOptions",
    "ConnectOptions",
    "SchemaCheck",
    "SCHEMA",
    "SCHEMA_FINGERPRINT",
    "types",
];

/// Members of every generated client besides the schema's methods.
pub const CLIENT_MEMBERS: &[&str] = &[
    "SERVICE",
    "constructor",
    "connection",
    "connect",
    "close",
    "reconnect",
    "checkSchema",
    "connectNats",
    // A client with a `then` method is a thenable: `await` would call it.
    "then",
];

/// A type: the schema's name.
pub fn type_name(name: &str) -> String {
    name.to_owned()
}

/// The type of what a constructor of `name` accepts (defaults optional):
/// `{Type}Init`.
pub fn init_type(name: &str) -> String {
    format!("{name}Init")
}

/// The function decoding a type from its wire form: `decode{Type}`.
pub fn decode_fn(name: &str) -> String {
    format!("decode{name}")
}

/// The function encoding a type into its wire form: `encode{Type}`.
pub fn encode_fn(name: &str) -> String {
    format!("encode{name}")
}

/// The constant listing an enum's values: `{Enum}Values`.
pub fn values_const(name: &str) -> String {
    format!("{name}Values")
}

/// A union variant's interface: `{Union}{Variant}`.
pub fn variant_type(union: &str, variant: &str) -> String {
    super::variant_class(union, variant)
}

/// A field's property: its wire name.
pub fn property(field: &str) -> String {
    field.to_owned()
}

/// A client method: `lowerCamelCase`.
pub fn method(name: &str) -> String {
    lower_camel_case(&snake_case(name))
}

/// A service's client class: `{Service}Client`.
pub fn client(service: &str) -> String {
    super::client_class(service)
}

/// The client method subscribing to a pushed type: `subscribe{Type}`.
pub fn subscribe_method(push: &str) -> String {
    format!("subscribe{push}")
}

/// The names a type declares in `types.ts` (and the package exports): its own
/// first, then its helpers; a union's variants after it.
pub fn type_exports(def: &TypeDef) -> Vec<String> {
    let name = type_name(&def.name);
    let helpers = |name: String| {
        let mut names = vec![init_type(&name), encode_fn(&name), decode_fn(&name)];
        names.insert(0, name);
        names
    };
    match &def.kind {
        _ if def.is_error => vec![name],
        TypeKind::Enum { .. } => {
            let values = values_const(&name);
            let (encode, decode) = (encode_fn(&name), decode_fn(&name));
            vec![name, values, encode, decode]
        }
        TypeKind::Struct { .. } => helpers(name),
        TypeKind::Union { variants, .. } => {
            let mut exported = helpers(name.clone());
            for variant in variants {
                exported.extend(helpers(variant_type(&name, &variant.name)));
            }
            exported
        }
    }
}
