//! Names in the generated Python package.

use std::collections::BTreeSet;

use super::snake_case;
use crate::model::{Schema, TypeDef, TypeKind};

/// Python's hard keywords: a field named like one is the attribute `name_`.
const HARD_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Members every generated message class defines: a field named like one is the
/// attribute `name_`.
pub const MESSAGE_MEMBERS: &[&str] = &["to_wire", "from_wire", "WIRE_NAME", "TAG"];

/// Names the package (`__init__.py`) exports whatever the schema says, and its
/// modules.
pub const PACKAGE_NAMES: &[&str] = &[
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
    "types",
    "client",
];

/// The package's own modules: an imported package's module may not take their
/// names.
pub const MODULE_FILES: &[&str] = &["types", "client", "_runtime", "_nats"];

/// The file (in the package) of `package`'s types: `types.py` for the root
/// schema's, `{alias}.py` for an imported package's.
pub fn module_file(package: Option<&str>, root: Option<&str>) -> String {
    match package {
        Some(package) if Some(package) != root => format!("{}.py", super::module_alias(package)),
        _ => "types.py".to_owned(),
    }
}

/// Names `types.py` imports (every one it may import, so that what a schema may
/// be called does not depend on which helpers it happens to use), and the
/// builtins its code calls.
pub const TYPES_MODULE_NAMES: &[&str] = &[
    "annotations",
    "enum",
    "dataclass",
    "field",
    "datetime",
    "timedelta",
    "Any",
    "ClassVar",
    "Self",
    "TypeAlias",
    "ActonError",
    "DeclaredError",
    "decode_bool",
    "decode_bytes",
    "decode_float",
    "decode_int",
    "decode_json",
    "decode_str",
    "decode_timestamp",
    "decode_duration",
    "encode_timestamp",
    "encode_duration",
    "expect_mapping",
    "field_of",
    "list_of",
    "list_to",
    "map_of",
    "map_to",
    "optional_of",
    "optional_to",
    "required",
    "to_wire",
    "Unknown",
    "bool",
    "bytes",
    "dict",
    "float",
    "int",
    "isinstance",
    "list",
    "object",
    "str",
    "super",
    "type",
];

/// Names the bodies of generated classes use outside their methods: in
/// annotations (which mypy reads in the class's scope) and default values.
pub const CLASS_BODY_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "dict",
    "float",
    "int",
    "list",
    "str",
    "object",
    "datetime",
    "timedelta",
    "Any",
    "ClassVar",
    "Self",
    "TypeAlias",
    "field",
    "os",
    "types",
    "AsyncGenerator",
    "Final",
    "Timeout",
    "DEFAULT_TIMEOUT",
    "TypedSubscription",
    "Connection",
    "Format",
    "Unknown",
];

/// Names `client.py` imports.
pub const CLIENT_MODULE_NAMES: &[&str] = &[
    "annotations",
    "os",
    "warnings",
    "datetime",
    "timedelta",
    "AsyncGenerator",
    "Final",
    "types",
    "DEFAULT_TIMEOUT",
    "Connection",
    "Format",
    "Timeout",
    "TypedSubscription",
    "Unknown",
    "present",
];

/// Members of every generated client besides the schema's methods.
pub const CLIENT_MEMBERS: &[&str] = &[
    "SERVICE",
    "connection",
    "connect",
    "close",
    "reconnect",
    "check_schema",
    "connect_nats",
];

/// Parameters and local variables of every generated client method besides the
/// request's fields: a field named like one is the parameter `name_`.
pub const METHOD_PARAMETERS: &[&str] = &["self", "timeout", "request", "answer", "item"];

/// A type's class: the schema's name.
pub fn class(name: &str) -> String {
    name.to_owned()
}

/// A union variant's class: `{Union}{Variant}`.
pub fn variant_class(union: &str, variant: &str) -> String {
    super::variant_class(union, variant)
}

/// The function decoding a union from its wire form: `decode_{union}`.
pub fn decode_fn(union: &str) -> String {
    format!("decode_{}", snake_case(union))
}

/// The names the bodies of generated classes refer to without qualification
/// ([`CLASS_BODY_NAMES`] and the schema's own classes). A field or method named like one would shadow it inside the
/// class (`dict: dict[str, int]` makes the next `dict[...]` mean the field), so
/// it takes a trailing `_`.
#[derive(Debug, Clone, Default)]
pub struct Shadowed(BTreeSet<String>);

impl Shadowed {
    /// The names of `schema`'s classes and of everything generated code imports.
    pub fn of(schema: &Schema) -> Self {
        let mut names: BTreeSet<String> =
            CLASS_BODY_NAMES.iter().map(|n| (*n).to_owned()).collect();
        names.extend(schema.types.iter().flat_map(type_exports));
        names.extend(
            schema
                .imports
                .iter()
                .map(|import| super::module_alias(&import.package)),
        );
        Self(names)
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// A field's attribute: its wire name, with a trailing `_` where that is a hard
/// keyword, a member every message class has, or a name the class body uses.
pub fn attribute(field: &str, shadowed: &Shadowed) -> String {
    if HARD_KEYWORDS.contains(&field)
        || MESSAGE_MEMBERS.contains(&field)
        || shadowed.contains(field)
    {
        format!("{field}_")
    } else {
        field.to_owned()
    }
}

/// An error's field: its attribute, which is also a keyword parameter of the
/// exception's `__init__`, so `self` becomes `self_`.
pub fn error_attribute(field: &str, shadowed: &Shadowed) -> String {
    let name = attribute(field, shadowed);
    if name == "self" {
        format!("{name}_")
    } else {
        name
    }
}

/// A field's keyword parameter in a client method: its attribute, with a
/// trailing `_` where that is one of the method's own names ([`METHOD_PARAMETERS`]).
pub fn parameter(field: &str, shadowed: &Shadowed) -> String {
    let name = attribute(field, shadowed);
    if METHOD_PARAMETERS.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// A client method: `snake_case`, with a trailing `_` where that is a keyword or
/// a name the class body uses.
pub fn method(name: &str, shadowed: &Shadowed) -> String {
    attribute(&snake_case(name), shadowed)
}

/// An enum value's member: `UPPER_SNAKE_CASE`.
pub fn enum_member(value: &str) -> String {
    snake_case(value).to_ascii_uppercase()
}

/// A service's client class: `{Service}Client`.
pub fn client(service: &str) -> String {
    super::client_class(service)
}

/// The client method subscribing to a pushed type: `subscribe_{type}`.
pub fn subscribe_method(push: &str) -> String {
    format!("subscribe_{}", snake_case(push))
}

/// The package of a schema: its `package` (dots become `_`), else the file stem.
pub fn package(package: Option<&str>, stem: &str) -> String {
    package.map_or_else(|| stem.to_owned(), |p| p.replace('.', "_"))
}

/// The names a type declares in `types.py` (and the package exports): its class,
/// and for a union its variants' classes and its decoder.
pub fn type_exports(def: &TypeDef) -> Vec<String> {
    let mut exported = vec![class(&def.name)];
    if let TypeKind::Union { variants, .. } = &def.kind {
        exported.extend(variants.iter().map(|v| variant_class(&def.name, &v.name)));
        exported.push(decode_fn(&def.name));
    }
    exported
}
