//! `acton-gen new NAME`: a working project from one command — a schema with one
//! service, a `build.rs` using the [`Builder`](crate::Builder), a server
//! `main.rs`, and the generated Python and TypeScript clients.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::generate::{self, Target};

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a crate name.
    #[error("`{0}` is not a project name: use lowercase letters, digits, `-` and `_`, starting with a letter (such as `my-service`)")]
    Name(String),
    /// The directory exists and is not empty.
    #[error("{0} already exists and is not empty: choose another name or remove it")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The new schema did not check (a bug of the templates).
    #[error("the new project's schema does not check:\n{0}")]
    Schema(#[from] crate::Diagnostics),
}

/// Where the new project takes acton from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A checkout of acton: `runtime/` and `codegen/` under this directory.
    Checkout(PathBuf),
    /// Published versions.
    Version(String),
}

impl Source {
    /// This acton-gen's own checkout, when it still exists; else the published
    /// version of this acton-gen.
    pub fn here() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if root.join("runtime").join("Cargo.toml").is_file() {
            Self::Checkout(std::fs::canonicalize(&root).unwrap_or(root))
        } else {
            Self::Version(env!("CARGO_PKG_VERSION").to_owned())
        }
    }

    fn dependency(&self, crate_dir: &str) -> String {
        match self {
            Self::Checkout(root) => {
                let path = root.join(crate_dir).display().to_string();
                format!("path = {}", json!(path))
            }
            Self::Version(version) => format!("version = {}", json!(version)),
        }
    }
}

/// Writes the project `name` into `parent/name`; returns the files written.
///
/// # Errors
/// See [`ScaffoldError`].
pub fn new_project(
    parent: &Path,
    name: &str,
    source: &Source,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ScaffoldError::Name(name.to_owned()));
    }
    let dir = parent.join(name);
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::Exists(dir));
    }
    let module = name.replace('-', "_");
    let schema_stem = module.clone();
    let data = json!({
        "crate_name": name,
        "module": module,
        "package": module,
        "schema_stem": schema_stem,
        "title": format!("The {name} service."),
        "runtime_dep": source.dependency("runtime"),
        "codegen_dep": source.dependency("codegen"),
        "default_socket": format!("/tmp/{name}.sock"),
    });
    let registry = crate::emit::templates(&[
        ("cargo", include_str!("../templates/project/Cargo.toml.hbs")),
        ("build", include_str!("../templates/project/build.rs.hbs")),
        (
            "schema",
            include_str!("../templates/project/schema.yaml.hbs"),
        ),
        ("main", include_str!("../templates/project/main.rs.hbs")),
        ("readme", include_str!("../templates/project/README.md.hbs")),
        (
            "gitignore",
            include_str!("../templates/project/gitignore.hbs"),
        ),
    ]);
    let render = |template: &str| crate::emit::render(&registry, template, &data);
    let schema_file = format!("schema/{schema_stem}.yaml");
    let mut files: Vec<(String, String)> = vec![
        ("Cargo.toml".into(), render("cargo")),
        ("build.rs".into(), render("build")),
        (schema_file.clone(), render("schema")),
        ("src/main.rs".into(), render("main")),
        ("README.md".into(), render("readme")),
        (".gitignore".into(), render("gitignore")),
    ];
    // The clients, generated now from the schema just written.
    let schema = crate::parse_schema(&schema_file, &files[2].1)?;
    for file in generate::files(&schema, &[Target::Python, Target::TypeScript], &schema_stem) {
        files.push((
            Path::new("clients").join(&file.path).display().to_string(),
            file.contents,
        ));
    }
    let mut written = Vec::new();
    for (path, contents) in files {
        let path = dir.join(path);
        let write = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, contents));
        write.map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
