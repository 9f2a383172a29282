//! The `build.rs` API, in the manner of `prost-build`: generate the Rust code of a
//! schema into `OUT_DIR` and pull it in with `include!`.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     acton_codegen::Builder::new()
//!         .schema("schema/messages.yaml")
//!         .compile()?;
//!     Ok(())
//! }
//! ```
//!
//! ```text
//! // src/lib.rs
//! pub mod messages {
//!     include!(concat!(env!("OUT_DIR"), "/messages.rs"));
//! }
//! ```

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostics;
use crate::emit;
use crate::generate::stem_of;

/// Why [`Builder::compile`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No schema was given.
    #[error("no schema to compile: call `.schema(\"schema/messages.yaml\")`")]
    NoSchema,
    /// Neither `out_dir` nor the `OUT_DIR` of a build script is set.
    #[error("OUT_DIR is not set: call compile() from a build script, or set .out_dir(...)")]
    NoOutDir,
    /// A schema has problems (all of them are listed).
    #[error("{0}")]
    Schema(#[from] Diagnostics),
    /// Writing the generated file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Generates Rust code from schemas, for `build.rs`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    schemas: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
}

impl Builder {
    /// A builder with nothing to compile yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a schema; its code goes to `<out_dir>/<file stem>.rs`.
    #[must_use]
    pub fn schema(mut self, path: impl AsRef<Path>) -> Self {
        self.schemas.push(path.as_ref().to_path_buf());
        self
    }

    /// Writes into `dir` instead of `OUT_DIR`.
    #[must_use]
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Generates every schema's code, and tells Cargo to run the build script again
    /// when a schema changes.
    ///
    /// # Errors
    /// See [`BuildError`]; schema problems carry every diagnostic.
    pub fn compile(self) -> Result<Vec<PathBuf>, BuildError> {
        if self.schemas.is_empty() {
            return Err(BuildError::NoSchema);
        }
        let out_dir = self
            .out_dir
            .or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from))
            .ok_or(BuildError::NoOutDir)?;
        let mut written = Vec::new();
        for path in &self.schemas {
            println!("cargo:rerun-if-changed={}", path.display());
            let schema = crate::load_schema(path)?;
            let file = emit::rust::generate(&schema, &stem_of(path));
            let target = out_dir.join(&file.path);
            std::fs::create_dir_all(&out_dir)
                .and_then(|()| std::fs::write(&target, &file.contents))
                .map_err(|source| BuildError::Write {
                    path: target.clone(),
                    source,
                })?;
            written.push(target);
        }
        Ok(written)
    }
}
