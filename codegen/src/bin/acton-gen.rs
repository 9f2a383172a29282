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
    match acton_codegen::load_schema(&cli.schema) {
        Ok(schema) => {
            println!(
                "{}: {} types, {} services",
                cli.schema.display(),
                schema.types.len(),
                schema.services.len()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            ExitCode::FAILURE
        }
    }
}
