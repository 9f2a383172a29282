//! The build.rs API: output into a directory, and schema problems as one error.

#![allow(clippy::unwrap_used)]

use acton_codegen::{BuildError, Builder};

#[test]
fn compiles_a_schema_into_the_output_directory() {
    let out = std::env::temp_dir().join(format!("acton-builder-{}", std::process::id()));
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/messages.yaml");
    let written = Builder::new()
        .schema(schema)
        .out_dir(&out)
        .compile()
        .unwrap();
    assert_eq!(written, [out.join("messages.rs")]);
    let code = std::fs::read_to_string(&written[0]).unwrap();
    assert!(code.contains("pub struct AddRequest"));
    assert!(
        !code.contains("#!["),
        "no inner attributes: include! must accept it"
    );
}

#[test]
fn schema_problems_come_back_with_every_diagnostic() {
    let dir = std::env::temp_dir().join(format!("acton-builder-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = dir.join("bad.yaml");
    std::fs::write(
        &schema,
        "acton: 1\ntypes:\n  A:\n    fields: { a: Strng, b: intt }\n",
    )
    .unwrap();
    let error = Builder::new()
        .schema(&schema)
        .out_dir(&dir)
        .compile()
        .unwrap_err();
    let BuildError::Schema(diagnostics) = &error else {
        panic!("{error}")
    };
    assert_eq!(diagnostics.len(), 2);
    assert!(
        error
            .to_string()
            .contains("bad.yaml:4:18: error: unknown type `Strng`"),
        "{error}"
    );
    assert!(matches!(
        Builder::new().compile(),
        Err(BuildError::NoSchema)
    ));
}

fn example_schema() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/messages.yaml")
}

#[test]
fn options_shape_the_output() {
    let out = std::env::temp_dir().join(format!("acton-builder-options-{}", std::process::id()));
    let written = Builder::new()
        .schema(example_schema())
        .out_dir(&out)
        .type_attribute("AddResponse", "#[derive(Eq, Hash)]")
        .type_attribute(".", "#[non_exhaustive]")
        .field_attribute("AddRequest.a", "#[doc(alias = \"left\")]")
        .extern_type("HealthStatus", "crate::health::HealthStatus")
        .build_server(false)
        .compile()
        .unwrap();
    let code = std::fs::read_to_string(&written[0]).unwrap();
    assert!(
        code.contains("#[derive(Eq, Hash)]\n#[non_exhaustive]\npub struct AddResponse"),
        "attributes in the order given"
    );
    let schema = acton_codegen::load_schema(std::path::Path::new(example_schema())).unwrap();
    assert_eq!(
        code.matches("#[non_exhaustive]").count(),
        schema.types.len() - 1,
        "`.` is every generated type (all but the mapped one)"
    );
    assert!(code.contains("#[doc(alias = \"left\")]"));
    assert!(
        !code.contains("pub struct HealthStatus"),
        "a mapped type is not generated"
    );
    assert!(code.contains("register::<crate::health::HealthStatus>"));
    assert!(code.contains("pub struct CalculatorClient"));
    assert!(!code.contains("trait CalculatorHandler"), "no server code");

    let server = Builder::new()
        .schema(example_schema())
        .out_dir(out.join("server"))
        .build_client(false)
        .compile()
        .unwrap();
    let code = std::fs::read_to_string(&server[0]).unwrap();
    assert!(code.contains("trait CalculatorHandler") && !code.contains("struct CalculatorClient"));
}

#[test]
fn options_that_name_nothing_or_do_not_parse_are_errors() {
    let dir =
        std::env::temp_dir().join(format!("acton-builder-bad-options-{}", std::process::id()));
    let build = || Builder::new().schema(example_schema()).out_dir(&dir);
    let error = build()
        .type_attribute("AddReqest", "#[derive(Hash)]")
        .compile()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "type `AddReqest` is not in the schemas; did you mean `AddRequest`?"
    );
    let error = build()
        .field_attribute("AddRequest.c", "#[doc = \"x\"]")
        .compile()
        .unwrap_err();
    assert!(
        matches!(error, BuildError::UnknownPath { what: "field", .. }),
        "{error}"
    );
    let error = build()
        .type_attribute("AddRequest", "derive(Hash)")
        .compile()
        .unwrap_err();
    assert!(
        error.to_string().contains("is not a Rust attribute"),
        "{error}"
    );
    let error = build()
        .extern_type("DivisionByZero", "crate::Zero")
        .compile()
        .unwrap_err();
    assert!(
        error.to_string().contains("errors are always generated"),
        "{error}"
    );
    let error = build()
        .extern_type("AddRequest", "not a path")
        .compile()
        .unwrap_err();
    assert!(error.to_string().contains("not a Rust path"), "{error}");
}

/// `docs/acton-schema.json`, which YAML editors use (schema/messages.yaml points
/// to it), is what `acton-gen language-schema` prints, and names the keys the
/// parser accepts.
#[test]
fn the_schema_language_json_schema_is_in_sync() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/acton-schema.json");
    let checked_in = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        checked_in,
        acton_codegen::language_schema(),
        "run `cargo run -p acton-codegen -- language-schema > docs/acton-schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&checked_in).unwrap();
    let keys: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["acton", "doc", "errors", "imports", "package", "services", "types"]
    );
    assert_eq!(schema["required"], serde_json::json!(["acton"]));
    let field = &schema["$defs"]["FieldBody"]["properties"];
    for key in ["type", "doc", "default", "deprecated", "aliases"] {
        assert!(field.get(key).is_some(), "field key {key}");
    }
}
