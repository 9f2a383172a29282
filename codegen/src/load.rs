//! Reading a schema file and every file it imports (`imports: [common.yaml]`,
//! relative to the importing file), then checking them together.
//!
//! Each file is read once however many files import it; a cycle of imports, a
//! file that cannot be read, and every problem in every file are reported at once,
//! each at its `file:line:column`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::check::{self, Unit};
use crate::diagnostic::{Diagnostics, Reporter};
use crate::model::Schema;
use crate::source::{Located, SourceFile, Span};
use crate::syntax::{self, Document};

/// Reads `path` and its imports, and checks them.
pub(crate) fn load(path: &Path) -> Result<Schema, Diagnostics> {
    let mut loader = Loader::default();
    let root = loader.visit(path, path.display().to_string(), None);
    loader.finish(root)
}

#[derive(Default)]
struct Loader {
    /// Every file read, by id (in the order they were first met).
    files: Vec<SourceFile>,
    /// Each file's syntax tree (`None` when it does not parse).
    documents: Vec<Option<Document>>,
    /// Each file's imports, as file ids.
    imports: Vec<Vec<usize>>,
    /// Problems found while reading, per file id.
    found: Vec<Diagnostics>,
    /// Files by canonical path.
    ids: HashMap<PathBuf, usize>,
    /// The files being read, outermost first (to find cycles).
    reading: Vec<usize>,
    /// File ids, each after the files it imports.
    order: Vec<usize>,
}

impl Loader {
    /// Reads the file at `path` (shown as `shown`), imported from `site` (the
    /// importing file and where it names this one); returns its id.
    fn visit(
        &mut self,
        path: &Path,
        shown: String,
        site: Option<(usize, &Located<String>)>,
    ) -> Option<usize> {
        let canonical = std::fs::canonicalize(path);
        if let Some(id) = canonical
            .as_ref()
            .ok()
            .and_then(|c| self.ids.get(c))
            .copied()
        {
            if let Some((importer, import)) = site {
                if self.reading.contains(&id) {
                    self.error(
                        importer,
                        import.span,
                        format!("importing `{}` makes a cycle: it imports this file, directly or not", import.value),
                        "a file cannot use types of a file that uses its own: move the shared types to a third file both import",
                    );
                    return None;
                }
            }
            return Some(id);
        }
        let text = canonical.and_then(|_| std::fs::read_to_string(path));
        let text = match text {
            Ok(text) => text,
            Err(error) => {
                match site {
                    Some((importer, import)) => self.error(
                        importer,
                        import.span,
                        format!(
                            "cannot read the imported schema `{}`: {error}",
                            import.value
                        ),
                        "imports are paths relative to the importing file",
                    ),
                    None => {
                        let id = self.add(SourceFile::new(shown, ""), None);
                        self.error(
                            id,
                            Span::new(1, 1, 1),
                            format!("cannot read the schema: {error}"),
                            "check the path",
                        );
                    }
                }
                return None;
            }
        };
        let file = SourceFile::new(shown.clone(), text);
        let (document, found) = {
            let mut report = Reporter::new(&file);
            let document = syntax::parse(&file, &mut report);
            (document, report.finish())
        };
        let id = self.add(file, document);
        self.found[id] = found;
        if let Ok(canonical) = std::fs::canonicalize(path) {
            self.ids.insert(canonical, id);
        }
        self.reading.push(id);
        let imports: Vec<Located<String>> = self.documents[id]
            .as_ref()
            .map(|d| d.imports.clone())
            .unwrap_or_default();
        let mut imported = Vec::new();
        for import in &imports {
            let next = path
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .join(&import.value);
            let next_shown = Path::new(&shown)
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .join(&import.value)
                .display()
                .to_string();
            if let Some(child) = self.visit(&next, next_shown, Some((id, import))) {
                if imported.contains(&child) {
                    self.error(
                        id,
                        import.span,
                        format!("`{}` is imported twice", import.value),
                        "remove one",
                    );
                } else {
                    imported.push(child);
                }
            }
        }
        self.imports[id] = imported;
        self.reading.pop();
        self.order.push(id);
        Some(id)
    }

    fn add(&mut self, file: SourceFile, document: Option<Document>) -> usize {
        self.files.push(file);
        self.documents.push(document);
        self.imports.push(Vec::new());
        self.found.push(Diagnostics::default());
        self.files.len() - 1
    }

    fn error(&mut self, id: usize, span: Span, message: String, hint: &str) {
        let mut report = Reporter::new(&self.files[id]);
        report.error(span, message, Some(hint.to_owned()));
        self.found[id].items.extend(report.finish().items);
    }

    /// Checks every file that parsed, the root last, and gathers the problems
    /// of all of them, file by file.
    fn finish(mut self, root: Option<usize>) -> Result<Schema, Diagnostics> {
        let parsed = self.documents.iter().all(Option::is_some);
        let mut schema = None;
        if let (Some(root), true, true) =
            (root, parsed, self.found.iter().all(Diagnostics::is_empty))
        {
            debug_assert_eq!(self.order.last(), Some(&root));
            let position: HashMap<usize, usize> = self
                .order
                .iter()
                .enumerate()
                .map(|(p, id)| (*id, p))
                .collect();
            let units: Vec<Unit> = self
                .order
                .iter()
                .map(|&id| Unit {
                    name: self.files[id].name.clone(),
                    document: self.documents[id].clone().unwrap_or_default(),
                    imports: self.imports[id].iter().map(|i| position[i]).collect(),
                })
                .collect();
            let mut reports: Vec<Reporter<'_>> = self
                .order
                .iter()
                .map(|&id| Reporter::new(&self.files[id]))
                .collect();
            schema = check::check_units(&units, &mut reports);
            let found: Vec<Diagnostics> = reports.into_iter().map(Reporter::finish).collect();
            for (&id, found) in self.order.iter().zip(found) {
                self.found[id].items.extend(found.items);
            }
        }
        match schema {
            Some(schema) if self.found.iter().all(Diagnostics::is_empty) => Ok(schema),
            _ => {
                // The imported files' problems first, each file's in order.
                let mut all = Diagnostics::default();
                let mut ids: Vec<usize> = self.order.clone();
                ids.extend((0..self.files.len()).filter(|id| !self.order.contains(id)));
                for id in ids {
                    all.items
                        .extend(std::mem::take(&mut self.found[id]).finish().items);
                }
                Err(all)
            }
        }
    }
}
