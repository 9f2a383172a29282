//! How long generating every target takes for a schema of 1,000 types, beside the
//! time to merely parse the same YAML (the floor) in the same run.
//!
//! `cargo bench -p acton-codegen --bench generate [-- --types N --rounds R]`

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use acton_codegen::generate::{self, Target};

fn synthetic_schema(types: usize) -> String {
    let mut yaml = String::from("acton: 1\npackage: big\ntypes:\n");
    for i in 0..types {
        match i % 10 {
            0 => {
                let _ = writeln!(
                    yaml,
                    "  Kind{i}:\n    doc: An enum.\n    enum: [alpha, beta, gamma, delta]"
                );
            }
            1 => {
                let _ = writeln!(
                    yaml,
                    "  Union{i}:\n    union:\n      tag: kind\n      variants:\n        one: {{ fields: {{ a: i64, b: string? }} }}\n        two: {{ fields: {{ c: list<f64> }} }}"
                );
            }
            _ => {
                let _ = writeln!(
                    yaml,
                    "  Message{i}:\n    doc: Message number {i}.\n    fields:"
                );
                let _ = writeln!(yaml, "      id: {{ type: u64, doc: The id. }}");
                let _ = writeln!(yaml, "      name: string");
                let _ = writeln!(yaml, "      score: {{ type: f64, default: 1.5 }}");
                let _ = writeln!(yaml, "      tags: list<string>");
                let _ = writeln!(yaml, "      attributes: \"map<string, i64>\"");
                let _ = writeln!(yaml, "      payload: bytes?");
                if i >= 10 {
                    let mut previous = i - 8;
                    if previous % 10 < 2 {
                        previous += 2; // a struct, not the enum or union
                    }
                    let _ = writeln!(yaml, "      previous: Message{previous}?");
                    let _ = writeln!(yaml, "      kind: Kind{}", (i / 10) * 10);
                }
            }
        }
    }
    yaml.push_str("services:\n  big:\n    methods:\n");
    for i in (2..types).step_by(10) {
        let _ = writeln!(
            yaml,
            "      call{i}: {{ request: Message{i}, reply: Message{} }}",
            i + 1
        );
    }
    yaml
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
    };
    let types: usize = value("--types").unwrap_or(1000);
    let rounds: usize = value("--rounds").unwrap_or(9);
    let yaml = synthetic_schema(types);

    let targets = [
        ("Rust", Target::Rust),
        ("Python", Target::Python),
        ("TypeScript", Target::TypeScript),
        ("JSON Schema", Target::JsonSchema),
        ("docs", Target::Docs),
    ];
    let mut parse_only = Vec::new();
    let mut check = Vec::new();
    let mut document = Vec::new();
    let mut each: Vec<Vec<Duration>> = targets.iter().map(|_| Vec::new()).collect();
    let mut total = Vec::new();
    let mut output_bytes = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let node = marked_yaml::parse_yaml(0, &yaml).expect("valid YAML");
        parse_only.push(start.elapsed());
        drop(node);

        let schema = acton_codegen::parse_schema("big.yaml", &yaml).expect("valid schema");
        let start = Instant::now();
        let text = generate::schema_document_text(&schema);
        let fingerprint = generate::schema_fingerprint(&schema);
        document.push(start.elapsed());
        drop((text, fingerprint, schema));

        for ((_, target), samples) in targets.iter().zip(&mut each) {
            let schema = acton_codegen::parse_schema("big.yaml", &yaml).expect("valid schema");
            let emit_start = Instant::now();
            let files = generate::files(&schema, &[*target], "big");
            samples.push(emit_start.elapsed());
            drop(files);
        }

        // What `acton-gen schema.yaml` does: parse, check, every target.
        let start = Instant::now();
        let schema = match acton_codegen::parse_schema("big.yaml", &yaml) {
            Ok(schema) => schema,
            Err(diagnostics) => panic!("the synthetic schema is invalid:\n{diagnostics}"),
        };
        check.push(start.elapsed());
        let files = generate::files(&schema, &Target::ALL, "big");
        total.push(start.elapsed());
        output_bytes = files.iter().map(|f| f.contents.len()).sum();
    }
    println!("acton-gen on a schema of {types} types ({} KiB of YAML, {} KiB generated), median of {rounds}", yaml.len() / 1024, output_bytes / 1024);
    let row = |label: &str, samples: Vec<Duration>| {
        println!(
            "  {label:<36} {:>7.1} ms",
            median(samples).as_secs_f64() * 1e3
        );
    };
    row("YAML parse alone (floor)", parse_only);
    row("parse + check (model)", check);
    row("schema document + fingerprint", document);
    for ((label, _), samples) in targets.iter().zip(each) {
        row(&format!("{label}, alone"), samples);
    }
    row("all targets, end to end", total);
}
