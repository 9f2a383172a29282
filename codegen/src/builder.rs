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
//!
//! What `prost-build` and `tonic-build` users reach for is here too: extra
//! attributes per type or field, client-only or server-only output, and schema
//! types mapped to Rust types that already exist.
//!
//! ```no_run
//! # fn main() -> Result<(), acton_codegen::BuildError> {
//! acton_codegen::Builder::new()
//!     .schema("schema/messages.yaml")
//!     .type_attribute("AddResponse", "#[derive(Eq, Hash)]")
//!     .field_attribute("AddRequest.a", "#[doc(alias = \"left\")]")
//!     .extern_type("HealthStatus", "crate::health::HealthStatus")
//!     .build_server(false) // a client program
//!     .compile()?;
//! # Ok(())
//! # }
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
    /// An attribute, field or extern path names nothing in the schemas.
    #[error("{what} `{path}` is not in the schemas{hint}")]
    UnknownPath {
        /// What the path should name: "type", "field".
        what: &'static str,
        /// The path as given.
        path: String,
        /// `; did you mean ...?`, or nothing.
        hint: String,
    },
    /// An attribute does not parse as Rust attributes (`#[derive(Hash)]`).
    #[error("`{attribute}` is not a Rust attribute (such as `#[derive(Hash)]`): {message}")]
    Attribute {
        /// The attribute as given.
        attribute: String,
        /// What the parser said.
        message: String,
    },
    /// A Rust path given for `extern_type` does not parse, or names an error.
    #[error("extern type `{schema_type}` → `{rust_path}`: {message}")]
    ExternType {
        /// The schema type.
        schema_type: String,
        /// The Rust path.
        rust_path: String,
        /// What is wrong.
        message: String,
    },
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
#[derive(Debug, Clone)]
pub struct Builder {
    schemas: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    type_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    extern_types: Vec<(String, String)>,
    client: bool,
    server: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            schemas: Vec::new(),
            out_dir: None,
            type_attributes: Vec::new(),
            field_attributes: Vec::new(),
            extern_types: Vec::new(),
            client: true,
            server: true,
        }
    }
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

    /// Puts `attribute` (`"#[derive(Eq, Hash)]"`) on the type `path` (a schema
    /// type's name, or `"."` for every type).
    #[must_use]
    pub fn type_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Puts `attribute` on the field `path`: `"Type.field"`, or
    /// `"Union.variant.field"` for a union's.
    #[must_use]
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Maps the schema type `schema_type` to the existing Rust type `rust_path`
    /// (`"crate::money::Money"`): it is not generated; the generated code refers
    /// to it and registers it under the wire name. It must (de)serialize as the
    /// schema says, and be `Clone + Debug + PartialEq` like the generated types.
    #[must_use]
    pub fn extern_type(
        mut self,
        schema_type: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_types
            .push((schema_type.into(), rust_path.into()));
        self
    }

    /// Whether to generate the typed clients (default `true`).
    #[must_use]
    pub fn build_client(mut self, yes: bool) -> Self {
        self.client = yes;
        self
    }

    /// Whether to generate the handler traits and `serve_*` functions (default
    /// `true`).
    #[must_use]
    pub fn build_server(mut self, yes: bool) -> Self {
        self.server = yes;
        self
    }

    /// The emitter's options, checked against the schemas' names.
    fn options(&self, schemas: &[crate::Schema]) -> Result<emit::rust::Options, BuildError> {
        let type_names: Vec<&str> = schemas
            .iter()
            .flat_map(|s| s.types.iter().map(|t| t.name.as_str()))
            .collect();
        let mut field_paths: Vec<String> = Vec::new();
        for schema in schemas {
            for def in &schema.types {
                match &def.kind {
                    crate::model::TypeKind::Struct { fields } => field_paths
                        .extend(fields.iter().map(|f| format!("{}.{}", def.name, f.name))),
                    crate::model::TypeKind::Union { variants, .. } => {
                        for variant in variants {
                            field_paths.extend(
                                variant
                                    .fields
                                    .iter()
                                    .map(|f| format!("{}.{}.{}", def.name, variant.name, f.name)),
                            );
                        }
                    }
                    crate::model::TypeKind::Enum { .. } => {}
                }
            }
        }
        let unknown = |what: &'static str, path: &str, known: Vec<&str>| {
            let hint = crate::ident::closest(path, known)
                .map(|close| format!("; did you mean `{close}`?"))
                .unwrap_or_default();
            BuildError::UnknownPath {
                what,
                path: path.to_owned(),
                hint,
            }
        };
        let mut options = emit::rust::Options {
            client: self.client,
            server: self.server,
            ..emit::rust::Options::default()
        };
        for (path, attribute) in &self.type_attributes {
            if path != "." && !type_names.contains(&path.as_str()) {
                return Err(unknown("type", path, type_names.clone()));
            }
            options
                .type_attributes
                .push((path.clone(), parse_attribute(attribute)?));
        }
        for (path, attribute) in &self.field_attributes {
            if !field_paths.contains(path) {
                return Err(unknown(
                    "field",
                    path,
                    field_paths.iter().map(String::as_str).collect(),
                ));
            }
            options
                .field_attributes
                .push((path.clone(), parse_attribute(attribute)?));
        }
        for (schema_type, rust_path) in &self.extern_types {
            let def = schemas
                .iter()
                .flat_map(|s| &s.types)
                .find(|t| &t.name == schema_type)
                .ok_or_else(|| unknown("type", schema_type, type_names.clone()))?;
            let problem = if def.is_error {
                Some("errors are always generated (their enums and impls need them)".to_owned())
            } else {
                syn::parse_str::<syn::Path>(rust_path)
                    .err()
                    .map(|e| format!("not a Rust path: {e}"))
            };
            if let Some(message) = problem {
                return Err(BuildError::ExternType {
                    schema_type: schema_type.clone(),
                    rust_path: rust_path.clone(),
                    message,
                });
            }
            options
                .extern_types
                .insert(schema_type.clone(), rust_path.clone());
        }
        Ok(options)
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
            .clone()
            .or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from))
            .ok_or(BuildError::NoOutDir)?;
        let mut schemas = Vec::new();
        for path in &self.schemas {
            println!("cargo:rerun-if-changed={}", path.display());
            let schema = crate::load_schema(path)?;
            // Imported files too: a change to one changes the generated code.
            for import in &schema.imports {
                println!("cargo:rerun-if-changed={}", import.source);
            }
            schemas.push(schema);
        }
        let options = self.options(&schemas)?;
        let mut written = Vec::new();
        for (path, schema) in self.schemas.iter().zip(&schemas) {
            let file = emit::rust::generate_with(schema, &stem_of(path), &options);
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

/// Outer attributes (`#[derive(Hash)]`, several allowed) as tokens.
fn parse_attribute(text: &str) -> Result<proc_macro2::TokenStream, BuildError> {
    use syn::parse::Parser;
    let error = |message: String| BuildError::Attribute {
        attribute: text.to_owned(),
        message,
    };
    let attributes = syn::Attribute::parse_outer
        .parse_str(text)
        .map_err(|e| error(e.to_string()))?;
    if attributes.is_empty() {
        return Err(error("no attribute in it".to_owned()));
    }
    Ok(quote::quote! { #(#attributes)* })
}
