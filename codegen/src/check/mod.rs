//! Stage 2: located syntax tree → validated, resolved [`Schema`].
//!
//! Every rule of the schema language is checked here, and every violation is
//! reported (with its position and a hint) before the schema is rejected: a user
//! fixes all problems in one round.

mod graph;
mod names;
mod namespaces;
mod resolve;

use std::collections::HashMap;

use crate::diagnostic::Reporter;
use crate::ident;
use crate::model::{Schema, TypeDef, TypeIndex};
use crate::source::Span;
use crate::syntax::{Document, TypeDecl};

use graph::{check_recursion, field_spans};
use names::{check_error_fields, check_error_name, check_type_name};
use resolve::Resolver;

/// Checks `document` and builds the model; `None` when anything was wrong (the
/// problems are in `report`).
pub fn check(document: &Document, source: &str, report: &mut Reporter<'_>) -> Option<Schema> {
    if let Some(version) = &document.version {
        if version.value != "1" {
            report.error(
                version.span,
                format!("unsupported schema format version `{}`", version.value),
                Some("this acton-gen reads `acton: 1`".to_owned()),
            );
        }
    }
    if let Some(package) = &document.package {
        if !package.value.split('.').all(ident::is_identifier) {
            report.error(
                package.span,
                format!("`{}` is not a package name", package.value),
                Some("use identifiers separated by dots, such as `shop` or `acme.shop`".to_owned()),
            );
        }
    }

    // Types and errors share one namespace: errors are numbered after the types.
    let decls: Vec<&TypeDecl> = document.types.iter().chain(&document.errors).collect();
    let first_error = document.types.len();
    let mut names: HashMap<&str, TypeIndex> = HashMap::new();
    for (i, decl) in decls.iter().enumerate() {
        check_type_name(&decl.name, report);
        if i >= first_error {
            check_error_name(&decl.name, report);
            check_error_fields(decl, report);
        }
        if let Some(first) = names.insert(decl.name.value.as_str(), TypeIndex(i)) {
            let first = decls[first.0];
            report.error(
                decl.name.span,
                format!(
                    "`{}` is declared twice (first on line {})",
                    decl.name.value, first.name.span.line
                ),
                Some("types and errors share one namespace: rename one of them".to_owned()),
            );
        }
    }
    let resolver = Resolver {
        names: &names,
        decls: &decls,
        first_error,
    };

    let package = document.package.as_ref().map(|p| p.value.as_str());
    let mut types: Vec<TypeDef> = decls
        .iter()
        .enumerate()
        .map(|(i, decl)| {
            let mut def = resolver.type_def(decl, package, report);
            def.is_error = i >= first_error;
            def
        })
        .collect();
    let field_spans: Vec<Vec<Span>> = decls.iter().map(|decl| field_spans(decl)).collect();
    check_recursion(&mut types, &field_spans, report);

    let services = document
        .services
        .iter()
        .map(|decl| resolver.service(decl, report))
        .collect();

    if report.has_errors() {
        return None;
    }
    let schema = Schema {
        source: source.to_owned(),
        package: document.package.as_ref().map(|p| p.value.clone()),
        doc: document.doc.clone(),
        types,
        services,
    };
    // Names last: on a schema that breaks no other rule, the model and the syntax
    // tree match item for item.
    namespaces::check(&schema, document, report);
    (!report.has_errors()).then_some(schema)
}
