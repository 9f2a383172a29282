//! `acton-gen`: generate typed code from an acton schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Generate Rust, Python, TypeScript and JSON Schema from an acton schema.
#[derive(Debug, Parser)]
#[command(name = "acton-gen", version)]
struct Cli {
    /// The schema file (by convention `schema/messages.yaml`).
    schema: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    eprintln!(
        "acton-gen: code generation is not implemented yet (schema: {})",
        cli.schema.display()
    );
    ExitCode::FAILURE
}
