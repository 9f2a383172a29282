//! Reserved words of the target languages, and the names of their standard
//! libraries that generated code relies on.

/// Rust keywords (strict and reserved), which become raw identifiers (`r#type`).
pub const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Python keywords and soft keywords, and the builtins generated code relies on.
pub const PYTHON_RESERVED: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case", "type",
];

/// TypeScript reserved words and strict-mode reserved words.
pub const TYPESCRIPT_RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "as",
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "yield",
    "any",
    "boolean",
    "number",
    "string",
    "symbol",
    "type",
    "unknown",
    "never",
    "object",
    "bigint",
    "undefined",
];

/// Names a generated *type* may not take: the types generated code refers to in
/// each language (a schema type named `String` would shadow Rust's).
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    // Rust
    "Self",
    "String",
    "Vec",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Box",
    "HashMap",
    "BTreeMap",
    "Value",
    "Serialize",
    "Deserialize",
    "Clone",
    "Debug",
    "Default",
    "PartialEq",
    "Send",
    "Sync",
    "Sized",
    "Copy",
    "Drop",
    "Fn",
    "Iterator",
    "Future",
    "Stream",
    "Error",
    // Python
    "Any",
    "Optional",
    "List",
    "Dict",
    "Enum",
    "Union",
    "Literal",
    "bytes",
    "int",
    "float",
    "str",
    "bool",
    "dict",
    "list",
    "object",
    "dataclass",
    "field",
    // TypeScript
    "Array",
    "Record",
    "Map",
    "Set",
    "Promise",
    "Uint8Array",
    "Date",
    "Object",
    "Function",
    "Symbol",
    "Number",
    "Boolean",
    "BigInt",
    "AsyncIterable",
    "AsyncIterator",
    "Partial",
    "Readonly",
];

/// Which target languages reserve `name` as a word (keyword or soft keyword).
pub fn reserved_in(name: &str) -> Vec<&'static str> {
    let mut languages = Vec::new();
    if RUST_KEYWORDS.contains(&name) {
        languages.push("Rust");
    }
    if PYTHON_RESERVED.contains(&name) {
        languages.push("Python");
    }
    if TYPESCRIPT_RESERVED.contains(&name) {
        languages.push("TypeScript");
    }
    languages
}
