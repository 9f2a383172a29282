//! The table of bad schemas: each must be rejected with the expected message, at
//! the expected `line:column`, with a hint.

use acton_codegen::parse_schema;

struct Case {
    name: &'static str,
    schema: &'static str,
    /// `line:column` of the (first) diagnostic.
    at: &'static str,
    /// A fragment of its message.
    message: &'static str,
    /// A fragment of its hint.
    hint: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "a field takes a reserved name",
        schema: "acton: 1\ntypes:\n  A:\n    reserved: [gone]\n    fields: { gone: i64 }\n",
        at: "5:15",
        message: "`gone` is reserved in `A` (line 4) and may not be used again",
        hint: "choose another name",
    },
    Case {
        name: "an alias that is another field's name",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: i64\n      b: { type: i64, aliases: [a] }\n",
        at: "6:33",
        message: "alias `a` of field `b` of `A` is the name of a field",
        hint: "remove one",
    },
    Case {
        name: "open on a struct",
        schema: "acton: 1\ntypes:\n  A:\n    open: true\n    fields: { a: i64 }\n",
        at: "4:11",
        message: "`open` applies to enums and unions; `A` is a struct",
        hint: "structs are always open",
    },
    Case {
        name: "open is not a boolean",
        schema: "acton: 1\ntypes:\n  A:\n    open: yes\n    enum: [a]\n",
        at: "4:11",
        message: "`open` is `true` or `false`, not `yes`",
        hint: "Unknown",
    },
    Case {
        name: "an open enum's value named like its Unknown case",
        schema: "acton: 1\ntypes:\n  A:\n    open: true\n    enum: [known, unknown]\n",
        at: "5:19",
        message: "value `unknown` of `A` would be `Unknown` in the generated Rust, where enum `A` already has its own `Unknown`",
        hint: "rename it",
    },
    Case {
        name: "two types that meet in Rust's case",
        schema: "acton: 1\ntypes:\n  FooBar: {}\n  Foo_bar: {}\n",
        at: "4:3",
        message: "type `Foo_bar` and type `FooBar` (line 3) would both be `FooBar` in the generated Rust",
        hint: "rename one of them",
    },
    Case {
        name: "enum values equal after case conversion",
        schema: "acton: 1\ntypes:\n  Colour: { enum: [red, Red] }\n",
        at: "3:25",
        message: "value `Red` of `Colour` and value `red` of `Colour` (line 3) would both be `Red` in Rust, `RED` in Python",
        hint: "rename one of them",
    },
    Case {
        name: "a type named like a runtime export",
        schema: "acton: 1\ntypes:\n  Format: {}\n",
        at: "3:3",
        message: "type `Format` would be `Format` in the generated Python and TypeScript, where the package already has its own `Format`",
        hint: "Names in generated code",
    },
    Case {
        name: "a type named like a module the generated code uses",
        schema: "acton: 1\ntypes:\n  types: {}\n",
        at: "3:3",
        message: "type `types` would be `types` in the generated Python",
        hint: "rename it",
    },
    Case {
        name: "a method named like a client member",
        schema: "acton: 1\ntypes:\n  A: {}\nservices:\n  s:\n    methods:\n      reconnect: { request: A }\n",
        at: "7:7",
        message: "method `s.reconnect` would be `reconnect` in the generated Python and TypeScript, where `SClient` already has its own `reconnect`",
        hint: "rename it",
    },
    Case {
        name: "a method beside the subscription to a push",
        schema: "acton: 1\ntypes:\n  A: {}\n  Tick: {}\nservices:\n  s:\n    pushes: [Tick]\n    methods:\n      subscribe_tick: { request: A }\n",
        at: "7:14",
        message: "the subscription to push `Tick` and method `s.subscribe_tick` (line 9) would both be",
        hint: "rename one of them",
    },
    Case {
        name: "services equal after case conversion",
        schema: "acton: 1\ntypes:\n  A: {}\n  B: {}\nservices:\n  kv_store:\n    methods: { a: { request: A } }\n  kvStore:\n    methods: { b: { request: B } }\n",
        at: "8:3",
        message: "service `kvStore` and service `kv_store` (line 6) would both be",
        hint: "rename one of them",
    },
    Case {
        name: "a union variant's class equal to another type",
        schema: "acton: 1\ntypes:\n  ShapeCircle: {}\n  Shape:\n    union:\n      tag: kind\n      variants: { circle: {} }\n",
        at: "4:3",
        message: "`ShapeCircle`, generated for type `Shape` and type `ShapeCircle` (line 3) would both be `ShapeCircle`",
        hint: "rename one of them",
    },
    Case {
        name: "a field that meets the mangled name of another",
        schema: "acton: 1\ntypes:\n  A:\n    fields: { class: i64, class_: i64 }\n",
        at: "4:27",
        message: "field `class_` of `A` and field `class` of `A` (line 4) would both be `class_` in the generated Python",
        hint: "rename one of them",
    },
    Case {
        name: "fields equal after case conversion",
        schema: "acton: 1\ntypes:\n  A:\n    fields: { fooBar: i64, foo_bar: i64 }\n",
        at: "4:28",
        message: "field `foo_bar` of `A` and field `fooBar` of `A` (line 4) would both be `foo_bar` in the generated Rust",
        hint: "rename one of them",
    },
    Case {
        name: "a request field that meets a method's parameter",
        schema: "acton: 1\ntypes:\n  A:\n    fields: { timeout: f64, timeout_: f64 }\nservices:\n  s:\n    methods: { m: { request: A } }\n",
        at: "4:29",
        message: "would both be `timeout_` in the generated Python",
        hint: "rename one of them",
    },
    Case {
        name: "an enum value given a value in the mapping form",
        schema: "acton: 1\ntypes:\n  Colour:\n    enum: { red: 1, green: }\n",
        at: "4:18",
        message: "enum value `red` of `Colour` is given a value",
        hint: "`red: { doc: ... }`",
    },
    Case {
        name: "an unknown key on an enum value",
        schema: "acton: 1\ntypes:\n  Colour:\n    enum:\n      red: { docs: Red. }\n",
        at: "5:14",
        message: "unknown key `docs`",
        hint: "did you mean `doc`?",
    },
    Case {
        name: "an error named like a protocol error code",
        schema: "acton: 1\nerrors:\n  TIMEOUT: {}\n",
        at: "3:3",
        message: "error `TIMEOUT` has the name of a protocol error code",
        hint: "choose another name",
    },
    Case {
        name: "an error and a type of the same name",
        schema: "acton: 1\ntypes:\n  NotFound: {}\nerrors:\n  NotFound: {}\n",
        at: "5:3",
        message: "`NotFound` is declared twice (first on line 3)",
        hint: "share one namespace",
    },
    Case {
        name: "an error used as a field type",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      why: Missing?\nerrors:\n  Missing: {}\n",
        at: "5:12",
        message: "`Missing` is an error, not a type",
        hint: "list it in a method's or service's `errors:`",
    },
    Case {
        name: "an error used as a reply",
        schema: "acton: 1\ntypes:\n  A: {}\nerrors:\n  Missing: {}\nservices:\n  s:\n    methods:\n      m: { request: A, reply: Missing }\n",
        at: "9:31",
        message: "`Missing` is an error, not a type",
        hint: "errors:",
    },
    Case {
        name: "a type listed as an error",
        schema: "acton: 1\ntypes:\n  A: {}\n  B: {}\nservices:\n  s:\n    methods:\n      m: { request: A, reply: B, errors: [B] }\n",
        at: "8:43",
        message: "`B` is a type, not an error",
        hint: "declare it under `errors:`",
    },
    Case {
        name: "an unknown error",
        schema: "acton: 1\ntypes:\n  A: {}\nservices:\n  s:\n    errors: [Nope]\n    methods:\n      m: { request: A, reply: A }\n",
        at: "6:14",
        message: "unknown error `Nope`",
        hint: "top-level `errors:`",
    },
    Case {
        name: "an error listed twice",
        schema: "acton: 1\ntypes:\n  A: {}\nerrors:\n  E: {}\nservices:\n  s:\n    methods:\n      m: { request: A, reply: A, errors: [E, E] }\n",
        at: "9:46",
        message: "`E` is listed twice",
        hint: "remove one",
    },
    Case {
        name: "a fire-and-forget method with errors",
        schema: "acton: 1\ntypes:\n  A: {}\nerrors:\n  E: {}\nservices:\n  s:\n    methods:\n      m: { request: A, errors: [E] }\n",
        at: "9:33",
        message: "fire-and-forget method `m` cannot fail with an error",
        hint: "give it a `reply`",
    },
    Case {
        name: "an error field named like an exception member",
        schema: "acton: 1\nerrors:\n  E:\n    fields:\n      message: string\n",
        at: "5:7",
        message: "field `message` of error `E` would hide a member",
        hint: "rename it",
    },
    Case {
        name: "exclusive is a boolean",
        schema: "acton: 1\ntypes:\n  A: {}\nservices:\n  s:\n    exclusive: sometimes\n    methods:\n      m: { request: A }\n",
        at: "6:16",
        message: "`exclusive` is `true` or `false`",
        hint: "&mut self",
    },
    Case {
        name: "YAML syntax error",
        schema: "acton: 1\ntypes:\n  A: { fields: { a: i64 }\n",
        at: "4:1",
        message: "not valid YAML",
        hint: "indentation",
    },
    Case {
        name: "missing format version",
        schema: "types:\n  A: {}\n",
        at: "1:1",
        message: "does not say its format version",
        hint: "acton: 1",
    },
    Case {
        name: "unsupported format version",
        schema: "acton: 2\n",
        at: "1:8",
        message: "unsupported schema format version `2`",
        hint: "acton: 1",
    },
    Case {
        name: "unknown top-level key",
        schema: "acton: 1\ntypez: {}\n",
        at: "2:1",
        message: "unknown key `typez`",
        hint: "did you mean `types`?",
    },
    Case {
        name: "unknown type reference",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: list<Strng>\n",
        at: "5:15",
        message: "unknown type `Strng`",
        hint: "did you mean `string`?",
    },
    Case {
        name: "a type name from another language",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: int\n",
        at: "5:10",
        message: "unknown type `int`",
        hint: "did you mean `i64`?",
    },
    Case {
        name: "duplicate type",
        schema: "acton: 1\ntypes:\n  A: {}\n  A: {}\n",
        at: "4:3",
        message: "`A` is defined twice (first at line 3)",
        hint: "unique",
    },
    Case {
        name: "duplicate field",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: i64\n      a: string\n",
        at: "6:7",
        message: "`a` is defined twice",
        hint: "unique",
    },
    Case {
        name: "type name is not an identifier",
        schema: "acton: 1\ntypes:\n  2Fast: {}\n",
        at: "3:3",
        message: "`2Fast` is not a valid type name",
        hint: "start with a letter",
    },
    Case {
        name: "field name is not an identifier",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      my-field: i64\n",
        at: "5:7",
        message: "`my-field` is not a valid field name",
        hint: "letters, digits",
    },
    Case {
        name: "type name is a Rust keyword",
        schema: "acton: 1\ntypes:\n  Self: {}\n",
        at: "3:3",
        message: "reserved word in Rust",
        hint: "rename it",
    },
    Case {
        name: "type name is a Python keyword",
        schema: "acton: 1\ntypes:\n  None: {}\n",
        at: "3:3",
        message: "reserved word in Python",
        hint: "NoneMessage",
    },
    Case {
        name: "type name is a TypeScript keyword",
        schema: "acton: 1\ntypes:\n  interface: {}\n",
        at: "3:3",
        message: "reserved word in TypeScript",
        hint: "InterfaceMessage",
    },
    Case {
        name: "type name shadows a type generated code uses",
        schema: "acton: 1\ntypes:\n  Promise: {}\n",
        at: "3:3",
        message: "would shadow a type the generated code uses",
        hint: "PromiseMessage",
    },
    Case {
        name: "method name is a keyword in Python and TypeScript",
        schema: "acton: 1\ntypes:\n  A: {}\nservices:\n  s:\n    methods:\n      class: { request: A }\n",
        at: "7:7",
        message: "reserved word in Python, TypeScript",
        hint: "class_item",
    },
    Case {
        name: "recursion without indirection",
        schema: "acton: 1\ntypes:\n  A:\n    fields: { b: B }\n  B:\n    fields: { a: A }\n",
        at: "4:15",
        message: "type `A` contains itself",
        hint: "optional (`T?`) or a list",
    },
    Case {
        name: "one request type for two methods",
        schema: "acton: 1\ntypes:\n  A: {}\n  B: {}\nservices:\n  s:\n    methods:\n      one: { request: A, reply: B }\n      two: { request: A }\n",
        at: "9:23",
        message: "`A` is already the request of another method of `s` (line 8)",
        hint: "its own request type",
    },
    Case {
        name: "push type never declared",
        schema: "acton: 1\ntypes:\n  A: {}\nservices:\n  s:\n    pushes: [PriceUpdat]\n",
        at: "6:14",
        message: "unknown type `PriceUpdat`",
        hint: "declare it",
    },
    Case {
        name: "reply and stream together",
        schema: "acton: 1\ntypes:\n  A: {}\n  B: {}\nservices:\n  s:\n    methods:\n      m: { request: A, reply: B, stream: B }\n",
        at: "8:42",
        message: "has both `reply` and `stream`",
        hint: "not both",
    },
    Case {
        name: "default out of range",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: { type: u8, default: 300 }\n",
        at: "5:31",
        message: "default `300` does not fit the field's type: out of the range of u8",
        hint: "remove `default`",
    },
    Case {
        name: "map with non-string keys",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: map<i64, string>\n",
        at: "5:14",
        message: "map keys must be `string`, not `i64`",
        hint: "map<string, T>",
    },
    Case {
        name: "malformed type expression",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: list<string\n",
        at: "5:21",
        message: "expected `>`, found the end",
        hint: "list<T>",
    },
    Case {
        name: "union tag collides with a field",
        schema: "acton: 1\ntypes:\n  S:\n    union:\n      tag: kind\n      variants:\n        c: { fields: { kind: string } }\n",
        at: "7:24",
        message: "has the name of the union's tag",
        hint: "rename the field",
    },
    Case {
        name: "enum variant listed twice",
        schema: "acton: 1\ntypes:\n  E:\n    enum: [buy, sell, buy]\n",
        at: "4:23",
        message: "variant `buy` is listed twice",
        hint: "remove one",
    },
    Case {
        name: "a comma inside a flow mapping",
        schema: "acton: 1\ntypes:\n  A:\n    fields:\n      a: { type: string, doc: one, two }\n",
        at: "5:36",
        message: "a comma inside `{ ... }` ends the value",
        hint: "quotes",
    },
    Case {
        name: "a type with two kinds",
        schema: "acton: 1\ntypes:\n  A:\n    fields: {}\n    enum: [x]\n",
        at: "5:5",
        message: "has both `fields` and `enum`",
        hint: "pick one",
    },
    Case {
        name: "a scalar used as a message",
        schema: "acton: 1\ntypes:\n  A: {}\nservices:\n  s:\n    methods:\n      m: { request: A, reply: string }\n",
        at: "7:31",
        message: "unknown type `string`",
        hint: "messages are named types",
    },
];

#[test]
fn every_bad_schema_gets_its_message_position_and_hint() {
    assert!(CASES.len() >= 15);
    let mut failures = Vec::new();
    for case in CASES {
        let diagnostics = match parse_schema("bad.yaml", case.schema) {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.name));
                continue;
            }
            Err(diagnostics) => diagnostics,
        };
        let first = &diagnostics.items[0];
        let at = format!("{}:{}", first.span.line, first.span.column);
        let hint = first.hint.clone().unwrap_or_default();
        if at != case.at || !first.message.contains(case.message) || !hint.contains(case.hint) {
            failures.push(format!(
                "{}:\n  expected {} `{}` (hint `{}`)\n  got      {at} `{}` (hint `{hint}`)",
                case.name, case.at, case.message, case.hint, first.message
            ));
        }
        // The rendering names the file and position and points at the text.
        let shown = diagnostics.to_string();
        assert!(
            shown.starts_with(&format!("bad.yaml:{at}: error: ")),
            "{shown}"
        );
        assert!(
            shown.contains(" | ") && shown.contains('^') && shown.contains("= help: "),
            "{shown}"
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let schema = "acton: 1\ntypes:\n  A:\n    fields:\n      a: Strng\n      b: map<i64, f64>\n  Self: {}\nservices:\n  s:\n    pushes: [Nope]\n";
    let diagnostics = parse_schema("bad.yaml", schema).unwrap_err();
    let lines: Vec<usize> = diagnostics.items.iter().map(|d| d.span.line).collect();
    assert_eq!(lines, [5, 6, 7, 10], "{diagnostics}");
    assert!(diagnostics.to_string().ends_with("4 errors in the schema"));
}

#[test]
fn keywords_as_field_names_are_fine_and_keep_their_wire_names() {
    let schema = "acton: 1\ntypes:\n  A:\n    fields:\n      type: string\n      class: i64\n      async: bool\n";
    let schema = parse_schema("ok.yaml", schema).unwrap();
    let acton_codegen::model::TypeKind::Struct { fields } = &schema.types[0].kind else {
        panic!("a struct")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["type", "class", "async"]);
}

#[test]
fn recursion_through_an_optional_or_a_list_is_allowed() {
    let schema =
        "acton: 1\ntypes:\n  Node:\n    fields:\n      next: Node?\n      children: list<Node>\n";
    let schema = parse_schema("ok.yaml", schema).unwrap();
    let acton_codegen::model::TypeKind::Struct { fields } = &schema.types[0].kind else {
        panic!("a struct")
    };
    assert!(
        fields[0].recursive,
        "the optional self-reference is marked for boxing"
    );
    assert!(!fields[1].recursive, "a list is indirection already");
}

#[test]
fn the_example_schema_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/messages.yaml");
    let schema = acton_codegen::load_schema(std::path::Path::new(path)).unwrap();
    assert_eq!(schema.services.len(), 3);
    assert!(schema.types.iter().any(|t| t.name == "PriceUpdate"));
}
