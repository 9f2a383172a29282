//! Golden files: the output of every target for `tests/everything.yaml`, a schema
//! that uses every feature. A reviewer sees what a change does to generated code
//! in the diff of `tests/snapshots/`; `tests/snapshot-crate` compiles the Rust one
//! (with clippy's -D warnings in the test command).
//!
//! After a deliberate change: `ACTON_BLESS=1 cargo test -p acton-codegen --test snapshots`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use acton_codegen::generate::{self, GeneratedFile, Target};
use acton_codegen::Builder;

#[test]
fn every_target_matches_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut schema = acton_codegen::load_schema(&root.join("everything.yaml")).unwrap();
    // Named relative to the repository, so the output does not depend on where
    // it is checked out.
    schema.source = "codegen/tests/everything.yaml".to_owned();
    for import in &mut schema.imports {
        let file = Path::new(&import.source).file_name().unwrap();
        import.source = format!("codegen/tests/{}", file.to_string_lossy());
    }
    let mut files = generate::files(&schema, &Target::ALL, "everything");
    // The Builder's options, compiled by tests/snapshot-crate too: a client-only
    // module with a type mapped to an existing Rust type and extra attributes, and
    // a server-only module. (The Builder is given the schema relative to this
    // crate, as a build script would; its banner names it so.)
    let built = std::env::temp_dir().join(format!("acton-snapshot-{}", std::process::id()));
    let builder = || Builder::new().schema("tests/everything.yaml");
    let client_only = builder()
        .out_dir(built.join("client_only"))
        .build_server(false)
        .extern_type("Pong", "crate::pong::Pong")
        .type_attribute("Lookup", "#[derive(Eq, Hash)]")
        .field_attribute("Shape.circle.radius", "#[doc(alias = \"r\")]");
    let server_only = builder()
        .out_dir(built.join("server_only"))
        .build_client(false);
    for (stem, build) in [("client_only", client_only), ("server_only", server_only)] {
        let written = build.compile().unwrap();
        files.push(GeneratedFile {
            path: Path::new("rust").join(format!("{stem}.rs")),
            contents: std::fs::read_to_string(&written[0]).unwrap(),
        });
    }
    let snapshots = root.join("snapshots");
    if std::env::var_os("ACTON_BLESS").is_some() {
        generate::write(&snapshots, &files).unwrap();
    }
    let mut stale = Vec::new();
    for file in &files {
        let path = snapshots.join(&file.path);
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != file.contents {
            let diff = similar::TextDiff::from_lines(&expected, &file.contents);
            let shown = diff
                .unified_diff()
                .context_radius(2)
                .header("snapshot", "generated")
                .to_string();
            stale.push(format!("--- {}\n{shown}", file.path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "generated output changed in {} file(s):\n{}\nreview, then bless with ACTON_BLESS=1",
        stale.len(),
        stale.join("\n")
    );
}
