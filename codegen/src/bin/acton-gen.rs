//! `acton-gen`: generate typed code from an acton schema.
//!
//! ```text
//! acton-gen schema/messages.yaml                  # every target into generated/
//! acton-gen schema/messages.yaml --out gen --target rust
//! acton-gen schema/messages.yaml --check          # CI: fail if generated/ is stale
//! acton-gen validate schema/messages.yaml         # only check the schema
//! acton-gen diff old.yaml schema/messages.yaml    # CI: fail on breaking changes
//! acton-gen new my-service                        # a new project that builds and serves
//! acton-gen language-schema > docs/acton-schema.json  # for YAML editors
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use acton_codegen::generate::{self, Target};
use clap::{Parser, Subcommand};

/// Generate Rust, Python, TypeScript and JSON Schema from an acton schema.
#[derive(Debug, Parser)]
#[command(name = "acton-gen", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    generate: GenerateArgs,
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// The schema file (by convention `schema/messages.yaml`).
    schema: Option<PathBuf>,

    /// Where to write: each target goes into a subdirectory (`rust/`, ...).
    #[arg(long, default_value = "generated")]
    out: PathBuf,

    /// Comma-separated targets (default: every target this build supports).
    #[arg(long, value_delimiter = ',')]
    target: Vec<Target>,

    /// Write nothing; exit with 1 and name every file that differs from what
    /// would be generated.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a schema and report every problem, without generating anything.
    Validate {
        /// The schema file.
        schema: PathBuf,
    },
    /// Classify every change between two versions of a schema as compatible or
    /// breaking for peers built from the old one; exit with 1 on a breaking change.
    Diff {
        /// The old (published) schema.
        old: PathBuf,
        /// The new schema.
        new: PathBuf,
    },
    /// Print the JSON Schema of the schema language, which YAML editors use to
    /// validate and complete schemas (see `# yaml-language-server: $schema=` in
    /// schema/messages.yaml).
    LanguageSchema,
    /// Create a new project: a schema with one service, build.rs, a server and
    /// the Python and TypeScript clients (`cd NAME && cargo run`).
    New {
        /// The project's name (a directory of that name is created).
        name: String,
        /// A checkout of acton to depend on (default: this acton-gen's own, or
        /// the published version when it is gone).
        #[arg(long)]
        acton: Option<PathBuf>,
        /// Where to create it (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Validate { schema }) => match acton_codegen::load_schema(&schema) {
            Ok(model) => {
                println!(
                    "{}: valid ({} types, {} services)",
                    schema.display(),
                    model.types.len(),
                    model.services.len()
                );
                ExitCode::SUCCESS
            }
            Err(diagnostics) => {
                eprintln!("{diagnostics}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Diff { old, new }) => run_diff(&old, &new),
        Some(Command::LanguageSchema) => {
            print!("{}", acton_codegen::language_schema());
            ExitCode::SUCCESS
        }
        Some(Command::New { name, acton, dir }) => {
            use acton_codegen::scaffold::{new_project, Source};
            let source = acton.map_or_else(Source::here, Source::Checkout);
            match new_project(&dir, &name, &source) {
                Ok(written) => {
                    println!(
                        "created {} ({} files)",
                        dir.join(&name).display(),
                        written.len()
                    );
                    println!("next: cd {} && cargo run", dir.join(&name).display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("acton-gen: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        None => run_generate(cli.generate),
    }
}

fn run_diff(old_path: &std::path::Path, new_path: &std::path::Path) -> ExitCode {
    let (old, new) = match (
        acton_codegen::load_schema(old_path),
        acton_codegen::load_schema(new_path),
    ) {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            for diagnostics in [old.err(), new.err()].into_iter().flatten() {
                eprintln!("{diagnostics}");
            }
            return ExitCode::from(2);
        }
    };
    let changes = acton_codegen::diff::compare(&old, &new);
    if changes.is_empty() {
        println!("no changes on the wire");
        return ExitCode::SUCCESS;
    }
    for change in &changes {
        println!("{change}");
    }
    let breaking = changes.iter().filter(|c| c.is_breaking()).count();
    let noun = if changes.len() == 1 {
        "change"
    } else {
        "changes"
    };
    println!(
        "{} {noun}: {breaking} breaking, {} compatible",
        changes.len(),
        changes.len() - breaking
    );
    if breaking > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run_generate(args: GenerateArgs) -> ExitCode {
    let Some(schema_path) = args.schema else {
        eprintln!("acton-gen: give the schema file, such as `acton-gen schema/messages.yaml` (see --help)");
        return ExitCode::from(2);
    };
    let schema = match acton_codegen::load_schema(&schema_path) {
        Ok(schema) => schema,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::FAILURE;
        }
    };
    let targets = if args.target.is_empty() {
        Target::ALL.to_vec()
    } else {
        args.target
    };
    let files = generate::files(&schema, &targets, &generate::stem_of(&schema_path));
    if args.check {
        let stale = generate::stale(&args.out, &files);
        if stale.is_empty() {
            println!("{} generated files are up to date", files.len());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "these generated files differ from what {} generates:",
            schema_path.display()
        );
        for path in &stale {
            eprintln!("  {}", path.display());
        }
        eprintln!(
            "run `acton-gen {} --out {}` and commit the result",
            schema_path.display(),
            args.out.display()
        );
        return ExitCode::FAILURE;
    }
    match generate::write(&args.out, &files) {
        Ok(written) => {
            for path in &written {
                println!("wrote {}", path.display());
            }
            if written.is_empty() {
                println!("{} generated files were already up to date", files.len());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "acton-gen: cannot write into {}: {error}",
                args.out.display()
            );
            ExitCode::FAILURE
        }
    }
}
