//! The schema compiler of acton: reads a schema (`schema/messages.yaml`) and emits
//! typed code for every side of the wire.
//!
//! The pipeline has one job per stage: the syntax layer reads the text into a
//! located syntax tree (the shape of the YAML, positions kept); the checker turns
//! it into a validated, resolved [`model::Schema`] (every rule, every error
//! reported at once with `file:line:column`, the line, a caret and a hint); the
//! emitters see only the model. A build script uses the [`Builder`]; tools use
//! [`load_schema`], [`generate`] and [`diff`].
//!
//! ```
//! let schema = acton_codegen::parse_schema(
//!     "messages.yaml",
//!     "acton: 1\ntypes:\n  Ping: {}\n  Pong:\n    fields: { at: u64 }\n",
//! )
//! .expect("a valid schema");
//! assert_eq!(schema.types.len(), 2);
//! ```

// The public API is what a build script and the `acton-gen` command need: the
// `Builder`, loading and checking a schema (with its diagnostics), the model to
// inspect it, generating files, and comparing two schemas. The stages inside
// (syntax, checks, naming, emitters) are private, free to change.
mod builder;
mod check;
mod diagnostic;
pub mod diff;
mod emit;
pub mod generate;
mod ident;
mod load;
pub mod model;
pub mod scaffold;
mod source;
mod syntax;

use std::path::Path;

pub use builder::{BuildError, Builder};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::Schema;
pub use source::Span;

use diagnostic::Reporter;
use source::SourceFile;

/// The JSON Schema of the schema language (what a schema file may hold), for YAML
/// editors: `acton-gen language-schema`, checked in as `docs/acton-schema.json`.
pub fn language_schema() -> String {
    syntax::shape::language_schema()
}

/// Parses and checks schema text; `name` is how diagnostics refer to the file.
///
/// # Errors
/// Every problem found, as [`Diagnostics`].
pub fn parse_schema(name: &str, text: &str) -> Result<Schema, Diagnostics> {
    let file = SourceFile::new(name, text);
    let mut report = Reporter::new(&file);
    let document = syntax::parse(&file, &mut report);
    let schema = document.and_then(|document| check::check(&document, name, &mut report));
    match schema {
        Some(schema) if !report.has_errors() => Ok(schema),
        _ => Err(report.finish()),
    }
}

/// Reads and checks a schema file, and every file it imports (`imports:`, paths
/// relative to the importing file).
///
/// # Errors
/// A file cannot be read, imports make a cycle, or a schema has problems (all of
/// them, file by file).
pub fn load_schema(path: &Path) -> Result<Schema, Diagnostics> {
    load::load(path)
}
