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
