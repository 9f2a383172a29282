//! Which targets to generate, and writing (or checking) the files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::emit;
pub use crate::emit::GeneratedFile;
use crate::model::Schema;

/// A target language or format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Rust types, registry wiring, handler traits and clients: `rust/<stem>.rs`.
    Rust,
    /// JSON Schema of every type: `jsonschema/<stem>.schema.json`.
    JsonSchema,
    /// A pip-installable package with dataclasses and asyncio clients: `python/`.
    Python,
    /// An npm package with interfaces and promise-based clients: `typescript/`.
    TypeScript,
    /// A Markdown reference of every service, method and type: `docs/<stem>.md`.
    Docs,
}

impl Target {
    /// Every target this build can generate.
    pub const ALL: [Target; 5] = [
        Target::Rust,
        Target::Python,
        Target::TypeScript,
        Target::JsonSchema,
        Target::Docs,
    ];

    /// The target's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::JsonSchema => "jsonschema",
            Self::Python => "python",
            Self::TypeScript => "typescript",
            Self::Docs => "docs",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "unknown target `{text}` (this acton-gen generates: {})",
                    known.join(", ")
                )
            })
    }
}

/// Every file `targets` produce for `schema`, paths relative to the output
/// directory (each target in its own subdirectory).
pub fn files(schema: &Schema, targets: &[Target], stem: &str) -> Vec<GeneratedFile> {
    // Built once, by the first target that embeds it.
    let served = emit::document::LazyServed::new(schema);
    let one = |target: &Target| -> Vec<GeneratedFile> {
        let (dir, files) = match target {
            Target::Rust => (
                "rust",
                vec![emit::rust::generate_served(
                    schema,
                    stem,
                    &emit::rust::Options::default(),
                    &served,
                )],
            ),
            Target::Python => (
                "python",
                emit::python::generate_served(schema, stem, &served),
            ),
            Target::TypeScript => (
                "typescript",
                emit::typescript::generate_served(schema, stem, &served),
            ),
            Target::JsonSchema => ("jsonschema", vec![emit::jsonschema::generate(schema, stem)]),
            Target::Docs => ("docs", vec![emit::markdown::generate(schema, stem)]),
        };
        files
            .into_iter()
            .map(|mut file| {
                file.path = Path::new(dir).join(&file.path);
                file
            })
            .collect()
    };
    // A target named twice is generated once.
    let mut unique: Vec<Target> = Vec::with_capacity(targets.len());
    for target in targets {
        if !unique.contains(target) {
            unique.push(*target);
        }
    }
    let targets = unique.as_slice();
    if targets.len() < 2 {
        return targets.iter().flat_map(one).collect();
    }
    // Each target on a thread of its own: the system shares them out over the
    // cores, whichever target is the longest. The files come out in the order
    // of `targets`.
    std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .iter()
            .map(|target| scope.spawn(move || one(target)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The checked schema as a JSON document (`acton-schema/1`): what DISCOVER
/// serves and `actonctl` reads.
pub fn schema_document(schema: &Schema) -> serde_json::Value {
    emit::document::document(schema)
}

/// [`schema_document`] as the canonical JSON text (compact, keys sorted) that
/// generated code embeds and DISCOVER serves.
pub fn schema_document_text(schema: &Schema) -> String {
    emit::document::document_text(schema)
}

/// The fingerprint of `schema`'s wire contract (`fnv1a64:...`).
pub fn schema_fingerprint(schema: &Schema) -> String {
    emit::document::fingerprint(schema)
}

/// The stem generated files are named after: the schema file's stem.
pub fn stem_of(schema_path: &Path) -> String {
    schema_path
        .file_stem()
        .and_then(|s| s.to_str())
        .map_or_else(|| "messages".to_owned(), |s| s.replace(['.', '-'], "_"))
}

/// Writes `files` under `out`, creating directories; returns the paths written
/// (unchanged files are not rewritten).
///
/// # Errors
/// The first file-system error.
pub fn write(out: &Path, files: &[GeneratedFile]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for file in files {
        let path = out.join(&file.path);
        if std::fs::read_to_string(&path).is_ok_and(|current| current == file.contents) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &file.contents)?;
        written.push(path);
    }
    Ok(written)
}

/// The files under `out` that differ from (or lack) what would be generated.
pub fn stale(out: &Path, files: &[GeneratedFile]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|file| out.join(&file.path))
        .zip(files)
        .filter(|(path, file)| {
            std::fs::read_to_string(path).map_or(true, |current| current != file.contents)
        })
        .map(|(path, _)| path)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_in_the_order_of_the_targets_each_target_once() {
        let yaml = "acton: 1\npackage: p\ntypes:\n  A:\n    fields: { x: i64 }\n";
        let schema = crate::parse_schema("p.yaml", yaml).expect("valid");
        let dirs = |targets: &[Target]| -> Vec<String> {
            let mut dirs: Vec<String> = files(&schema, targets, "p")
                .iter()
                .filter_map(|file| file.path.iter().next())
                .map(|dir| dir.to_string_lossy().into_owned())
                .collect();
            dirs.dedup();
            dirs
        };
        assert_eq!(
            dirs(&[Target::Docs, Target::Rust, Target::JsonSchema]),
            ["docs", "rust", "jsonschema"]
        );
        let twice = files(&schema, &[Target::Rust, Target::Rust], "p");
        assert_eq!(
            twice.len(),
            1,
            "{:?}",
            twice.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
    }
}
