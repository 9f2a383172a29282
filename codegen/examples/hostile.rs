//! The generative naming test's first half: draws random schemas from hostile
//! identifier sets (keywords of all three languages, names the generated code
//! and its runtimes use, pairs that meet after case conversion) and sorts them.
//!
//! - A rejected schema must be rejected with located diagnostics (a position
//!   inside the file, the offending line, a hint); anything else fails here.
//! - An accepted schema's Rust, Python and TypeScript are written under `--out`;
//!   `scripts/hostile.sh` then compiles them all (clippy -D warnings, mypy
//!   --strict and an import, tsc --strict).
//!
//! ```text
//! cargo run -p acton-codegen --example hostile -- --out target/hostile --count 60 --seed 7
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use acton_codegen::generate::{self, Target};

/// Type names: keywords, runtime and standard-library names, case pairs.
const TYPE_NAMES: &[&str] = &[
    "Type",
    "Class",
    "Self",
    "None",
    "True",
    "Async",
    "Await",
    "Match",
    "Interface",
    "Enum",
    "Connection",
    "Format",
    "ActonError",
    "DeclaredError",
    "ErrorCode",
    "RequestTimeout",
    "Subscription",
    "TypedSubscription",
    "Json",
    "Bytes",
    "Path",
    "Arc",
    "Future",
    "Status",
    "ClientError",
    "IpcClient",
    "Duration",
    "SystemTime",
    "String",
    "Vec",
    "Option",
    "Result",
    "Promise",
    "Record",
    "Date",
    "Error",
    "Any",
    "Final",
    "Timeout",
    "types",
    "client",
    "enum",
    "dataclass",
    "field",
    "int",
    "list",
    "FooBar",
    "Foo_bar",
    "fooBar",
    "Colour",
    "colour",
    "Shape",
    "ShapeCircle",
    "ShapeInit",
    "decodeShape",
    "encodeShape",
    "ColourValues",
    "Point",
    "Request",
    "Reply",
    "Item",
    "Event",
    "Tick",
    "Data",
    "Value",
    "Message",
    "Fields",
    "Wire",
    "Default",
    "Object",
    "Symbol",
    "Number",
    "register_all",
    "serve_kv",
    "KvClient",
    "KvHandler",
    "PingError",
    "Ping",
    "Pong",
    "Query",
    "Answer",
];

/// Field names: keywords, members generated classes have, per-call options.
const FIELD_NAMES: &[&str] = &[
    "type",
    "class",
    "self",
    "self_",
    "from",
    "None",
    "async",
    "await",
    "match",
    "case",
    "def",
    "fn",
    "let",
    "new",
    "constructor",
    "prototype",
    "to_wire",
    "to_wire_",
    "from_wire",
    "WIRE_NAME",
    "TAG",
    "timeout",
    "timeout_",
    "code",
    "message",
    "name",
    "args",
    "cause",
    "stack",
    "value",
    "fields",
    "data",
    "wire",
    "cls",
    "request",
    "options",
    "items",
    "ctx",
    "handler",
    "then",
    "_private",
    "fooBar",
    "foo_bar",
    "FooBar",
    "id",
    "in",
    "is",
    "not",
    "import",
    "mod",
    "crate",
    "super",
    "Self",
    "loop",
    "yield",
    "where",
    "impl",
    "trait",
    "struct",
    "interface",
    "function",
    "var",
    "delete",
    "void",
    "typeof",
    "instanceof",
    "enum",
    "object",
    "string",
    "number",
    "list",
    "dict",
    "int",
    "str",
    "bool",
    "kind",
    "tag",
    "default",
    "null",
    "undefined",
    "__proto__",
    "hasOwnProperty",
    "toString",
    "valueOf",
    "present",
    "types",
    "os",
    "wire_name",
    "retry_after_ms",
    "server_message",
];

/// Method names: client members, keywords, case pairs.
const METHOD_NAMES: &[&str] = &[
    "close",
    "connect",
    "reconnect",
    "connection",
    "new",
    "client",
    "with_timeout",
    "then",
    "check_schema",
    "subscribe_tick",
    "subscribe_point",
    "get",
    "set",
    "call",
    "send",
    "request",
    "stream",
    "find_one",
    "findOne",
    "FindOne",
    "type",
    "match",
    "self",
    "clone",
    "fmt",
    "to_string",
    "delete",
    "default",
    "SERVICE",
    "service",
    "catch",
    "finally",
    "run",
    "ping",
    "add",
    "list",
    "map",
    "constructor",
    "prototype",
    "toString",
    "__init__",
];

/// Enum values and union variants.
const VALUE_NAMES: &[&str] = &[
    "red", "Red", "RED", "green", "none", "None", "self", "Self", "type", "class", "name", "value",
    "values", "mro", "circle", "Circle", "square", "default", "then", "new", "kind", "a_b", "aB",
    "AB", "Status", "unknown", "Unknown",
];

/// Service names: case pairs and module names.
const SERVICE_NAMES: &[&str] = &[
    "kv",
    "kv_store",
    "kvStore",
    "KvStore",
    "types",
    "client",
    "calculator",
    "self",
    "type",
    "runtime",
    "index",
    "shop",
    "desk",
    "connection",
];

const SCALARS: &[&str] = &[
    "bool",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
    "f32",
    "f64",
    "string",
    "bytes",
    "json",
    "timestamp",
    "duration",
];

/// xorshift64*: deterministic from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A hostile name most of the time, a plain one otherwise (so that enough
/// schemas pass to exercise the compilers).
fn name(rng: &mut Rng, hostile: &[&'static str], plain_prefix: &str, i: usize) -> String {
    if rng.chance(35) {
        rng.pick(hostile).to_owned()
    } else {
        format!("{plain_prefix}{i}")
    }
}

/// A YAML key, quoted where YAML would read it as something else.
fn key(name: &str) -> String {
    match name {
        "None" | "True" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" => {
            format!("\"{name}\"")
        }
        _ => name.to_owned(),
    }
}

struct Drawn {
    text: String,
    /// A file the schema imports (its package and text), sometimes.
    import: Option<(String, String)>,
}

/// Package names for imported files: plain ones, and names of the generated
/// files and imports they must not take.
const PACKAGE_NAMES: &[&str] = &[
    "common",
    "units",
    "shared",
    "types",
    "client",
    "runtime",
    "index",
    "schema",
    "service",
    "Path",
    "acme.common",
    "os",
];

fn type_expr(rng: &mut Rng, earlier: &[String], depth: u32) -> String {
    let base = if !earlier.is_empty() && rng.chance(35) {
        earlier[rng.below(earlier.len())].clone()
    } else {
        rng.pick(SCALARS).to_owned()
    };
    match (depth, rng.below(6)) {
        (0, 0) => format!("list<{}>", type_expr(rng, earlier, depth + 1)),
        (0, 1) => format!("map<string, {}>", type_expr(rng, earlier, depth + 1)),
        (_, 2) => format!("{base}?"),
        _ => base,
    }
}

/// An imported file: a package and a few types; returns its text and the
/// qualified names of its types.
fn draw_import(rng: &mut Rng, package: &str) -> (String, Vec<String>) {
    let mut text = format!("acton: 1\npackage: {package}\ntypes:\n");
    let mut names = Vec::new();
    for i in 0..1 + rng.below(3) {
        let type_name = name(rng, TYPE_NAMES, "C", i);
        let _ = writeln!(text, "  {}:", key(&type_name));
        if rng.chance(30) {
            let _ = writeln!(text, "    enum: [a, b]");
        } else {
            let _ = writeln!(text, "    fields:");
            fields(rng, &mut text, &[], "      ");
        }
        names.push(format!("{package}.{type_name}"));
    }
    (text, names)
}

fn draw(rng: &mut Rng) -> Drawn {
    let mut text = String::from("acton: 1\n");
    let mut structs: Vec<String> = Vec::new();
    let mut all: Vec<String> = Vec::new();
    let import = rng.chance(30).then(|| {
        let package = if rng.chance(40) {
            rng.pick(PACKAGE_NAMES)
        } else {
            rng.pick(&["common", "units", "shared", "acme.common"])
        };
        let (imported, names) = draw_import(rng, package);
        all.extend(names);
        text.push_str("imports: [IMPORTED]\n");
        (package.to_owned(), imported)
    });
    text.push_str("types:\n");
    let type_count = 2 + rng.below(5);
    for i in 0..type_count {
        let type_name = name(rng, TYPE_NAMES, "T", i);
        let _ = writeln!(text, "  {}:", key(&type_name));
        match rng.below(5) {
            0 => {
                let values: Vec<String> = (0..1 + rng.below(4))
                    .map(|j| key(&name(rng, VALUE_NAMES, "v", j)))
                    .collect();
                if rng.chance(40) {
                    text.push_str("    open: true\n");
                }
                let _ = writeln!(text, "    enum: [{}]", values.join(", "));
            }
            1 => {
                let tag = if rng.chance(50) {
                    rng.pick(&["kind", "type", "tag", "class", "self"])
                } else {
                    "kind"
                };
                if rng.chance(40) {
                    text.push_str("    open: true\n");
                }
                let _ = writeln!(text, "    union:\n      tag: {}\n      variants:", key(tag));
                for j in 0..1 + rng.below(3) {
                    let _ = writeln!(text, "        {}:", key(&name(rng, VALUE_NAMES, "case", j)));
                    let _ = writeln!(text, "          fields:");
                    fields(rng, &mut text, &all, "            ");
                }
            }
            _ => {
                let _ = writeln!(text, "    fields:");
                fields(rng, &mut text, &all, "      ");
                structs.push(type_name.clone());
            }
        }
        all.push(type_name);
    }
    let mut errors = Vec::new();
    if rng.chance(50) {
        text.push_str("errors:\n");
        for i in 0..1 + rng.below(2) {
            let error = name(rng, TYPE_NAMES, "Failure", i);
            let _ = writeln!(text, "  {}:\n    doc: A failure.\n    fields:", key(&error));
            fields(rng, &mut text, &[], "      ");
            errors.push(error);
        }
    }
    text.push_str("services:\n");
    let mut requests = structs.clone();
    for s in 0..1 + rng.below(2) {
        let _ = writeln!(text, "  {}:", key(&name(rng, SERVICE_NAMES, "service", s)));
        if rng.chance(40) && !all.is_empty() {
            let _ = writeln!(text, "    pushes: [{}]", key(&all[rng.below(all.len())]));
        }
        text.push_str("    methods:\n");
        for m in 0..1 + rng.below(3) {
            let Some(request) = requests.pop() else { break };
            let method = name(rng, METHOD_NAMES, "method", m);
            let answer = match rng.below(3) {
                0 => format!(", reply: {}", key(&all[rng.below(all.len())])),
                1 => format!(", stream: {}", key(&all[rng.below(all.len())])),
                _ => String::new(),
            };
            let errors = if !answer.is_empty() && !errors.is_empty() && rng.chance(60) {
                format!(", errors: [{}]", key(&errors[rng.below(errors.len())]))
            } else {
                String::new()
            };
            let _ = writeln!(
                text,
                "      {}: {{ request: {}{answer}{errors} }}",
                key(&method),
                key(&request)
            );
        }
    }
    Drawn { text, import }
}

fn fields(rng: &mut Rng, text: &mut String, earlier: &[String], indent: &str) {
    let count = rng.below(4);
    if count == 0 {
        let _ = writeln!(text, "{indent}{{}}");
        // `fields:` followed by `{}` on its own line is an empty mapping.
        return;
    }
    for i in 0..count {
        let field = name(rng, FIELD_NAMES, "f", i);
        let ty = type_expr(rng, earlier, 0);
        let default = match ty.as_str() {
            "i64" | "u32" if rng.chance(30) => ", default: 7",
            "string" if rng.chance(30) => ", default: \"x\"",
            "bool" if rng.chance(30) => ", default: true",
            "duration" if rng.chance(30) => ", default: 2.5s",
            _ => "",
        };
        if rng.chance(15) {
            let alias = key(&name(rng, FIELD_NAMES, "old", i));
            let _ = writeln!(
                text,
                "{indent}{}: {{ type: \"{ty}\"{default}, aliases: [{alias}] }}",
                key(&field)
            );
        } else if default.is_empty() {
            let _ = writeln!(text, "{indent}{}: \"{ty}\"", key(&field));
        } else {
            let _ = writeln!(
                text,
                "{indent}{}: {{ type: \"{ty}\"{default} }}",
                key(&field)
            );
        }
    }
}

struct Options {
    out: PathBuf,
    count: usize,
    seed: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        out: PathBuf::from("target/hostile"),
        count: 60,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--out" => options.out = value.into(),
            "--count" => options.count = value.parse().map_err(|e| format!("--count: {e}"))?,
            "--seed" => options.seed = value.parse().map_err(|e| format!("--seed: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("hostile: {error}\nusage: hostile [--out DIR] [--count N] [--seed N]");
            return ExitCode::from(2);
        }
    };
    let _ = std::fs::remove_dir_all(&options.out);
    let mut rng = Rng(options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (mut accepted, mut rejected, mut failures) = (Vec::new(), 0usize, Vec::new());
    for i in 0..options.count {
        let mut drawn = draw(&mut rng);
        let stem = format!("s{i}");
        let file = format!("{stem}.yaml");
        let schema_dir = options.out.join("schemas");
        // The imported file, if any, beside the schema.
        let import_file = format!("{stem}_import.yaml");
        drawn.text = drawn.text.replace("IMPORTED", &import_file);
        let mut texts = vec![(file.clone(), drawn.text.clone())];
        if let Some((_, imported)) = &drawn.import {
            texts.push((import_file.clone(), imported.clone()));
        }
        let written = std::fs::create_dir_all(&schema_dir).and_then(|()| {
            texts
                .iter()
                .try_for_each(|(name, text)| std::fs::write(schema_dir.join(name), text))
        });
        if let Err(error) = written {
            eprintln!("hostile: cannot write {file}: {error}");
            return ExitCode::FAILURE;
        }
        match acton_codegen::load_schema(&schema_dir.join(&file)) {
            Err(diagnostics) => {
                rejected += 1;
                for d in &diagnostics.items {
                    // Each diagnostic is located in the file it names.
                    let lines = texts
                        .iter()
                        .find(|(name, _)| d.file.ends_with(name.as_str()))
                        .map_or(0, |(_, text)| text.lines().count());
                    let located =
                        d.span.line >= 1 && d.span.line <= lines.max(1) && d.span.column >= 1;
                    if !located || d.hint.is_none() || d.source_line.is_empty() && lines > 0 {
                        failures.push(format!(
                            "{file}: a diagnostic without a position or hint:\n{d}\n---\n{}",
                            drawn.text
                        ));
                    }
                    if lines == 0 {
                        failures.push(format!("{file}: a diagnostic names an unknown file:\n{d}"));
                    }
                }
            }
            Ok(schema) => {
                // Each schema is its own Rust module, Python package and npm
                // package, named after the file.
                let files = generate::files(
                    &schema,
                    &[Target::Rust, Target::Python, Target::TypeScript],
                    &stem,
                );
                if let Err(error) = generate::write(&options.out.join(&stem), &files) {
                    eprintln!("hostile: cannot write {stem}: {error}");
                    return ExitCode::FAILURE;
                }
                accepted.push(stem);
            }
        }
    }
    // The Rust modules, for the crate that compiles them (codegen/tests/hostile-crate).
    let mut modules = String::new();
    for stem in &accepted {
        let path = std::path::absolute(
            options
                .out
                .join(stem)
                .join("rust")
                .join(format!("{stem}.rs")),
        )
        .unwrap_or_default();
        let _ = writeln!(
            modules,
            "#[path = {:?}]\npub mod {stem};",
            path.display().to_string()
        );
    }
    let listing = [
        ("modules.rs", modules),
        ("accepted.txt", accepted.join("\n") + "\n"),
    ];
    for (name, text) in listing {
        if let Err(error) = std::fs::write(options.out.join(name), text) {
            eprintln!("hostile: cannot write {name}: {error}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "hostile: seed {}: {} schemas, {} accepted (generated under {}), {rejected} rejected with located diagnostics",
        options.seed,
        options.count,
        accepted.len(),
        options.out.display()
    );
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("{failure}");
        }
        return ExitCode::FAILURE;
    }
    if accepted.len() * 8 < options.count {
        eprintln!("hostile: fewer than an eighth of the schemas were accepted; the compilers would test too little");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
