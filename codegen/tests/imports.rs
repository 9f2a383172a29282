//! Schemas made of several files: `imports: [common.yaml]`, each file's package a
//! module in every target, and every problem reported in the file it is in.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use acton_codegen::load_schema;

/// Writes `files` (name, text) into a fresh directory; returns it.
fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acton-imports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

const COMMON: &str = "acton: 1\npackage: common\ntypes:\n  Money:\n    fields: { cents: i64 }\nerrors:\n  Gone: {}\n";

#[test]
fn imported_types_are_named_by_package_and_keep_their_wire_names() {
    let dir = project(
        "ok",
        &[
            ("shared/common.yaml", COMMON),
            (
                "shop.yaml",
                "acton: 1\npackage: shop\nimports: [shared/common.yaml]\ntypes:\n  Money:\n    fields: { note: string }\n  Buy:\n    fields: { price: common.Money, local: Money }\nservices:\n  s:\n    methods:\n      buy: { request: Buy, reply: common.Money, errors: [common.Gone] }\n",
            ),
        ],
    );
    let schema = load_schema(&dir.join("shop.yaml")).unwrap();
    let wire: Vec<&str> = schema.types.iter().map(|t| t.wire_name.as_str()).collect();
    assert_eq!(
        wire,
        ["common.Money", "common.Gone", "shop.Money", "shop.Buy"]
    );
    assert_eq!(schema.imports.len(), 1);
    assert!(schema.imports[0].source.ends_with("shared/common.yaml"));
    let files =
        acton_codegen::generate::files(&schema, &acton_codegen::generate::Target::ALL, "shop");
    let path = |p: &str| files.iter().any(|f| f.path == Path::new(p));
    assert!(path("python/shop/common.py") && path("typescript/src/common.ts"));
    let rust = &files
        .iter()
        .find(|f| f.path == Path::new("rust/shop.rs"))
        .unwrap()
        .contents;
    assert!(rust.contains("pub mod common {") && rust.contains("pub price: common::Money,"));
}

/// The first problem found loading `root` of `files`: `file:line:col` and message.
fn first_problem(name: &str, files: &[(&str, &str)], root: &str) -> (String, String) {
    let dir = project(name, files);
    let diagnostics = load_schema(&dir.join(root)).unwrap_err();
    let first = &diagnostics.items[0];
    let file = Path::new(&first.file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    (
        format!("{file}:{}:{}", first.span.line, first.span.column),
        first.message.clone(),
    )
}

#[test]
fn problems_are_reported_in_the_file_they_are_in() {
    let (at, message) = first_problem(
        "cycle",
        &[
            ("a.yaml", "acton: 1\npackage: a\nimports: [b.yaml]\n"),
            ("b.yaml", "acton: 1\npackage: b\nimports: [a.yaml]\n"),
        ],
        "a.yaml",
    );
    assert_eq!(at, "b.yaml:3:11");
    assert!(message.contains("makes a cycle"), "{message}");

    let (at, message) = first_problem(
        "missing",
        &[("a.yaml", "acton: 1\nimports: [nope.yaml]\n")],
        "a.yaml",
    );
    assert_eq!(at, "a.yaml:2:11");
    assert!(
        message.contains("cannot read the imported schema `nope.yaml`"),
        "{message}"
    );

    let (at, message) = first_problem(
        "no-package",
        &[
            ("a.yaml", "acton: 1\nimports: [b.yaml]\n"),
            ("b.yaml", "acton: 1\ntypes:\n  X: {}\n"),
        ],
        "a.yaml",
    );
    assert_eq!(at, "b.yaml:1:1");
    assert!(message.contains("has no `package`"), "{message}");

    let (at, message) = first_problem(
        "not-imported",
        &[(
            "a.yaml",
            "acton: 1\ntypes:\n  X:\n    fields: { m: common.Money }\n",
        )],
        "a.yaml",
    );
    assert_eq!(at, "a.yaml:4:18");
    assert!(message.contains("unknown type `common.Money`"), "{message}");

    let (at, message) = first_problem(
        "services",
        &[
            ("a.yaml", "acton: 1\nimports: [b.yaml]\n"),
            ("b.yaml", "acton: 1\npackage: b\ntypes:\n  X: {}\nservices:\n  s:\n    methods: { m: { request: X } }\n"),
        ],
        "a.yaml",
    );
    assert_eq!(at, "b.yaml:6:3");
    assert!(
        message.contains("an imported file declares services"),
        "{message}"
    );

    let (at, message) = first_problem(
        "same-package",
        &[
            ("a.yaml", "acton: 1\nimports: [b.yaml, c.yaml]\n"),
            ("b.yaml", COMMON),
            ("c.yaml", COMMON),
        ],
        "a.yaml",
    );
    assert_eq!(at, "c.yaml:2:10");
    assert!(
        message.contains("package `common` is also the package of"),
        "{message}"
    );

    let (at, message) = first_problem(
        "module-name",
        &[
            ("a.yaml", "acton: 1\nimports: [b.yaml]\n"),
            ("b.yaml", "acton: 1\npackage: types\ntypes:\n  X: {}\n"),
        ],
        "a.yaml",
    );
    assert_eq!(at, "b.yaml:1:1");
    assert!(
        message.contains("the module of package `types`"),
        "{message}"
    );
}

#[test]
fn text_schemas_cannot_import() {
    let error = acton_codegen::parse_schema("a.yaml", "acton: 1\nimports: [b.yaml]\n").unwrap_err();
    assert!(
        error.items[0]
            .message
            .contains("imports are read from files"),
        "{error}"
    );
}
