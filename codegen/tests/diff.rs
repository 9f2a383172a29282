//! `acton-gen diff`: each kind of change is classified as compatible or breaking,
//! and the command's exit status lets CI guard a published schema.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::process::Command;

use acton_codegen::diff::{compare, Change, Severity};
use acton_codegen::parse_schema;

const BASE: &str = "acton: 1
types:
  AddRequest:
    fields:
      a: i64
      b: { type: i64, default: 0 }
      note: string?
  AddResponse:
    fields: { sum: i64 }
  Level:
    enum: [debug, info]
  Shape:
    union:
      tag: kind
      variants:
        circle: { fields: { radius: f64 } }
        square: { fields: { side: f64 } }
  PriceUpdate:
    fields: { price: f64 }
errors:
  NotFound:
    fields: { key: string }
  Invalid: {}
services:
  calculator:
    methods:
      add: { request: AddRequest, reply: AddResponse, errors: [NotFound] }
    pushes: [PriceUpdate]
";

fn changes(edit: impl Fn(&str) -> String) -> Vec<Change> {
    let old = parse_schema("old.yaml", BASE).unwrap();
    let text = edit(BASE);
    let new = parse_schema("new.yaml", &text).unwrap_or_else(|d| panic!("{d}\n{text}"));
    compare(&old, &new)
}

struct Case {
    /// The edit that turns the base schema into the new one.
    replace: &'static str,
    with: &'static str,
    severity: Severity,
    /// A fragment of the one change reported.
    reported: &'static str,
}

const fn case(
    replace: &'static str,
    with: &'static str,
    severity: Severity,
    reported: &'static str,
) -> Case {
    Case {
        replace,
        with,
        severity,
        reported,
    }
}

const NOTE: &str = "      note: string?\n";

const CASES: &[Case] = {
    use Severity::{Breaking, Compatible};
    &[
        // Fields.
        case(
            NOTE,
            "      note: string?\n      tag: string?\n",
            Compatible,
            "type AddRequest field tag: was added",
        ),
        case(
            NOTE,
            "      note: string?\n      scale: { type: i32, default: 1 }\n",
            Compatible,
            "field scale: was added",
        ),
        case(
            NOTE,
            "      note: string?\n      c: i64\n",
            Breaking,
            "field c: was added as required",
        ),
        case(
            "      a: i64\n",
            "",
            Breaking,
            "field a: was removed; old readers require it",
        ),
        case(NOTE, "", Compatible, "field note: was removed"),
        case(
            "      a: i64\n",
            "      a: i32\n",
            Breaking,
            "changed type from `i64` to `i32`",
        ),
        case(
            "      a: i64\n",
            "      a: i64?\n",
            Breaking,
            "from `i64` to `i64?`",
        ),
        case(
            "      b: { type: i64, default: 0 }\n",
            "      b: i64\n",
            Breaking,
            "field b: lost its default",
        ),
        case(
            "      a: i64\n",
            "      a: { type: i64, default: 1 }\n",
            Compatible,
            "gained the default `1`",
        ),
        case(
            "default: 0",
            "default: 5",
            Compatible,
            "default changed from `0` to `5`",
        ),
        case(
            NOTE,
            "      note: { type: string?, deprecated: use a tag }\n",
            Compatible,
            "field note: was deprecated",
        ),
        case(
            "      note: string?\n",
            "      remark: { type: string?, aliases: [note] }\n",
            Compatible,
            "field note: was renamed to `remark`; readers accept the old name",
        ),
        case(
            "      a: i64\n",
            "      first: { type: i64, aliases: [a] }\n",
            Breaking,
            "old readers still require `a`",
        ),
        case(
            "    enum: [debug, info]",
            "    open: true\n    enum: [debug, info]",
            Compatible,
            "type Level: was opened",
        ),
        case(
            "enum: [debug, info]",
            "enum: { debug: { deprecated: true }, info: }",
            Compatible,
            "value debug: was deprecated",
        ),
        case(
            "errors: [NotFound] }",
            "errors: [NotFound], deprecated: use sum }",
            Compatible,
            "method add: was deprecated",
        ),
        case(
            "  calculator:\n",
            "  calculator:\n    deprecated: true\n",
            Compatible,
            "service calculator: was deprecated",
        ),
        // Types, enums, unions.
        case(
            "  PriceUpdate:\n",
            "  Extra:\n    fields: { x: i32 }\n  PriceUpdate:\n",
            Compatible,
            "type Extra: was added",
        ),
        case(
            "    enum: [debug, info]\n",
            "    fields: { name: string }\n",
            Breaking,
            "type Level: changed from an enum to a struct",
        ),
        case(
            "[debug, info]",
            "[debug, info, warn]",
            Breaking,
            "type Level value warn: was added; old readers reject it",
        ),
        case(
            "[debug, info]",
            "[info]",
            Breaking,
            "type Level value debug: was removed",
        ),
        case(
            "        square: { fields: { side: f64 } }\n",
            "        square: { fields: { side: f64 } }\n        dot: {}\n",
            Breaking,
            "type Shape variant dot: was added",
        ),
        case(
            "{ radius: f64 }",
            "{ radius: f64, label: string? }",
            Compatible,
            "type Shape variant circle field label: was added",
        ),
        case(
            "tag: kind",
            "tag: type",
            Breaking,
            "tag field was renamed from `kind` to `type`",
        ),
        case(
            "acton: 1\n",
            "acton: 1\npackage: shop\n",
            Breaking,
            "package: changed from none to `shop`",
        ),
        // Services, methods, broadcasts.
        case(
            "reply: AddResponse",
            "stream: AddResponse",
            Breaking,
            "method add: answer changed from a reply of `AddResponse` to a stream of `AddResponse`",
        ),
        case(
            "    pushes:",
            "      shape: { request: Shape }\n    pushes:",
            Compatible,
            "service calculator method shape: was added",
        ),
        case(
            "    pushes: [PriceUpdate]\n",
            "",
            Breaking,
            "no longer broadcasts `PriceUpdate`",
        ),
        // Errors.
        case(
            "errors: [NotFound]",
            "errors: [NotFound, Invalid]",
            Compatible,
            "method add: may now fail with `Invalid`",
        ),
        case(
            "errors: [NotFound]",
            "errors: []",
            Breaking,
            "method add: no longer declares the error `NotFound`",
        ),
        case(
            "fields: { key: string }",
            "fields: { key: string, similar: { type: list<string>, default: [] } }",
            Compatible,
            "error NotFound field similar: was added",
        ),
        case(
            "fields: { key: string }",
            "fields: { key: i64 }",
            Breaking,
            "error NotFound field key: changed type from `string` to `i64`",
        ),
        case(
            "  Invalid: {}\n",
            "",
            Breaking,
            "error Invalid: was removed",
        ),
    ]
};

#[test]
fn each_change_is_classified() {
    for case in CASES {
        assert!(BASE.contains(case.replace), "{}", case.reported);
        let found = changes(|s| s.replacen(case.replace, case.with, 1));
        assert_eq!(found.len(), 1, "{}: {found:#?}", case.reported);
        let text = found[0].to_string();
        assert_eq!(found[0].severity, case.severity, "{text}");
        assert!(
            text.contains(case.reported),
            "`{}` not in: {text}",
            case.reported
        );
    }
}

#[test]
fn an_unchanged_schema_has_no_changes_even_with_new_docs() {
    assert!(changes(|s| s.to_owned()).is_empty());
    let documented =
        changes(|s| s.replace("  AddResponse:\n", "  AddResponse:\n    doc: The sum.\n"));
    assert!(documented.is_empty(), "{documented:#?}");
}

#[test]
fn breaking_changes_say_what_to_do_where_there_is_a_way() {
    let added_required = changes(|s| s.replace(NOTE, "      note: string?\n      c: i64\n"));
    assert!(added_required[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("default"));
    // Replacing a method reports the removal and the addition.
    let replaced = changes(|s| {
        s.replace(
            "      add: { request: AddRequest, reply: AddResponse, errors: [NotFound] }\n",
            "      shape: { request: Shape }\n",
        )
    });
    let text: Vec<String> = replaced.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 2, "{text:#?}");
    assert!(
        text[0].starts_with("breaking: service calculator method add: was removed"),
        "{text:#?}"
    );
    assert!(
        text[1].starts_with("compatible: service calculator method shape: was added"),
        "{text:#?}"
    );
}

#[test]
fn the_command_exits_non_zero_on_a_breaking_change_only() {
    let dir = std::env::temp_dir().join(format!("acton-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("old.yaml");
    let compatible = dir.join("compatible.yaml");
    let breaking = dir.join("breaking.yaml");
    let broken = dir.join("broken.yaml");
    std::fs::write(&old, BASE).unwrap();
    std::fs::write(
        &compatible,
        BASE.replace(
            "      note: string?\n",
            "      note: string?\n      tag: string?\n",
        ),
    )
    .unwrap();
    std::fs::write(&breaking, BASE.replace("      a: i64\n", "")).unwrap();
    std::fs::write(&broken, "acton: 1\ntypes:\n  A: { fields: { a: nope } }\n").unwrap();
    let run = |new: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_acton-gen"))
            .arg("diff")
            .arg(&old)
            .arg(new)
            .output()
            .unwrap()
    };

    let same = run(&old);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&same.stdout),
        "no changes on the wire\n"
    );

    let fine = run(&compatible);
    assert_eq!(fine.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&fine.stdout).contains("1 change: 0 breaking, 1 compatible"));

    let bad = run(&breaking);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("breaking: type AddRequest field a: was removed"),
        "{out}"
    );
    assert!(out.contains("hint: keep the field"), "{out}");

    // An invalid schema is reported with its position, and is neither verdict.
    let invalid = run(&broken);
    assert_eq!(invalid.status.code(), Some(2));
    let err = String::from_utf8_lossy(&invalid.stderr);
    assert!(err.contains("broken.yaml:3:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn open_enums_and_unions_take_new_values_compatibly_and_may_not_close() {
    let open = BASE
        .replace(
            "    enum: [debug, info]",
            "    open: true\n    enum: [debug, info]",
        )
        .replace("    union:\n", "    open: true\n    union:\n");
    let old = parse_schema("old.yaml", &open).unwrap();
    let compare_with = |text: &str| {
        let new = parse_schema("new.yaml", text).unwrap_or_else(|d| panic!("{d}\n{text}"));
        compare(&old, &new)
    };
    let added = compare_with(
        &open
            .replace("enum: [debug, info]", "enum: [debug, info, warn]")
            .replace(
                "        square: { fields: { side: f64 } }\n",
                "        square: { fields: { side: f64 } }\n        hexagon: {}\n",
            ),
    );
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(added.iter().all(|c| !c.is_breaking()), "{added:?}");
    assert!(added[0]
        .to_string()
        .contains("value warn: was added; old readers take it as `Unknown`"));
    assert!(added[1].to_string().contains("variant hexagon: was added"));
    let closed = compare_with(&open.replace("    open: true\n    enum:", "    enum:"));
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(closed[0].is_breaking() && closed[0].to_string().contains("was closed"));
}

#[test]
fn a_reserved_name_never_comes_back() {
    let reserving = BASE.replace("      note: string?\n", "");
    let reserving = reserving.replacen(
        "  AddRequest:\n",
        "  AddRequest:\n    reserved: [note]\n",
        1,
    );
    let old = parse_schema("old.yaml", &reserving).unwrap();
    let new = parse_schema("new.yaml", BASE).unwrap();
    let changes = compare(&old, &new);
    assert!(
        changes
            .iter()
            .any(|c| c.is_breaking() && c.to_string().contains("uses `note` again")),
        "{changes:?}"
    );
}
