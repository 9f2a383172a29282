//! Stage 2: located syntax trees → validated, resolved [`Schema`].
//!
//! Every rule of the schema language is checked here, and every violation is
//! reported (with its position and a hint) before the schema is rejected: a user
//! fixes all problems in one round. A schema may import other files; each file is
//! a [`Unit`], checked with its own reporter, and the model holds them all.

mod graph;
mod names;
mod namespaces;
mod resolve;

use std::collections::BTreeMap;

use crate::diagnostic::Reporter;
use crate::ident;
use crate::model::{Schema, TypeDef, TypeIndex};
use crate::source::Span;
use crate::syntax::{Document, TypeDecl};

use graph::{check_recursion, field_spans};
use names::{check_error_fields, check_error_name, check_type_name};
use resolve::Resolver;

/// One schema file, parsed: the root, or a file it imports (directly or not).
#[derive(Debug)]
pub struct Unit {
    /// The file's name, as diagnostics show it.
    pub name: String,
    /// Its syntax tree.
    pub document: Document,
    /// The units it imports directly (indexes into the list of units).
    pub imports: Vec<usize>,
}

/// Checks a single file with no imports (see [`check_units`]).
pub fn check(document: &Document, source: &str, report: &mut Reporter<'_>) -> Option<Schema> {
    if let Some(first) = document.imports.first() {
        report.error(
            first.span,
            "imports are read from files next to the schema",
            Some(
                "load the schema from its file (`acton-gen path/to/schema.yaml`, `load_schema`)"
                    .to_owned(),
            ),
        );
        return None;
    }
    let unit = Unit {
        name: source.to_owned(),
        document: document.clone(),
        imports: Vec::new(),
    };
    check_units(std::slice::from_ref(&unit), std::slice::from_mut(report))
}

/// Checks `units` — every file imported (directly or not) before the files that
/// import it, the root last — each reporting to its own entry of `reports`, and
/// builds one model of them all; `None` when anything was wrong.
pub fn check_units(units: &[Unit], reports: &mut [Reporter<'_>]) -> Option<Schema> {
    let root = units.len().checked_sub(1)?;
    for (i, unit) in units.iter().enumerate() {
        header(unit, i == root, &mut reports[i]);
    }
    packages_are_distinct(units, reports);

    // Every declaration of every file, numbered in order: a file's types, then
    // its errors (types and errors share a namespace per package).
    let mut decls: Vec<&TypeDecl> = Vec::new();
    let mut errors: Vec<bool> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    let mut own_names: Vec<BTreeMap<String, TypeIndex>> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        let report = &mut reports[u];
        let mut names: BTreeMap<String, TypeIndex> = BTreeMap::new();
        let first_error = unit.document.types.len();
        for (i, decl) in unit
            .document
            .types
            .iter()
            .chain(&unit.document.errors)
            .enumerate()
        {
            let is_error = i >= first_error;
            check_type_name(&decl.name, report);
            if is_error {
                check_error_name(&decl.name, report);
                check_error_fields(decl, report);
            }
            let index = TypeIndex(decls.len());
            if let Some(first) = names.insert(decl.name.value.clone(), index) {
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
            decls.push(decl);
            errors.push(is_error);
            owner.push(u);
        }
        own_names.push(names);
    }

    let mut types: Vec<TypeDef> = Vec::with_capacity(decls.len());
    let mut services = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        // What this file can name: its own declarations, and those of the files it
        // imports, qualified by their package.
        let mut names = own_names[u].clone();
        let mut imported = Vec::new();
        for &i in &unit.imports {
            let Some(package) = package_of(&units[i]) else {
                continue;
            };
            for (name, index) in &own_names[i] {
                names.insert(format!("{package}.{name}"), *index);
            }
            imported.push(package.to_owned());
        }
        let resolver = Resolver {
            names: &names,
            decls: &decls,
            errors: &errors,
            imported: &imported,
        };
        let package = package_of(unit);
        let report = &mut reports[u];
        for (index, decl) in decls.iter().enumerate() {
            if owner[index] == u {
                let mut def = resolver.type_def(decl, package, report);
                def.is_error = errors[index];
                def.package = package.map(str::to_owned);
                types.push(def);
            }
        }
        if u == root {
            services = unit
                .document
                .services
                .iter()
                .map(|decl| resolver.service(decl, report))
                .collect();
        } else if let Some(service) = unit.document.services.first() {
            report.error(
                service.name.span,
                "an imported file declares services",
                Some("services belong to the schema that is generated; an imported file shares types and errors: move the service to the root schema".to_owned()),
            );
        }
    }

    let field_spans: Vec<Vec<Span>> = decls.iter().map(|decl| field_spans(decl)).collect();
    for (index, span, message, hint) in check_recursion(&mut types, &field_spans) {
        reports[owner[index]].error(span, message, Some(hint));
    }

    if reports.iter().any(Reporter::has_errors) {
        return None;
    }
    let root_unit = &units[root];
    let schema = Schema {
        source: root_unit.name.clone(),
        package: package_of(root_unit).map(str::to_owned),
        doc: root_unit.document.doc.clone(),
        types,
        services,
        imports: units[..root]
            .iter()
            .filter_map(|unit| {
                Some(crate::model::Import {
                    package: package_of(unit)?.to_owned(),
                    source: unit.name.clone(),
                })
            })
            .collect(),
    };
    // Names last: on a schema that breaks no other rule, the model and the syntax
    // trees match item for item.
    let files: Vec<String> = units.iter().map(|unit| unit.name.clone()).collect();
    namespaces::check(
        &schema,
        &decls,
        &owner,
        &root_unit.document,
        &files,
        reports,
    );
    (!reports.iter().any(Reporter::has_errors)).then_some(schema)
}

fn package_of(unit: &Unit) -> Option<&str> {
    unit.document.package.as_ref().map(|p| p.value.as_str())
}

/// The format version and the package name.
fn header(unit: &Unit, is_root: bool, report: &mut Reporter<'_>) {
    let document = &unit.document;
    if let Some(version) = &document.version {
        if version.value != "1" {
            report.error(
                version.span,
                format!("unsupported schema format version `{}`", version.value),
                Some("this acton-gen reads `acton: 1`".to_owned()),
            );
        }
    }
    match &document.package {
        Some(package) if !package.value.split('.').all(ident::is_identifier) => report.error(
            package.span,
            format!("`{}` is not a package name", package.value),
            Some("use identifiers separated by dots, such as `shop` or `acme.shop`".to_owned()),
        ),
        None if !is_root => report.error(
            Span::new(1, 1, 1),
            "an imported schema has no `package`",
            Some("its types are named by their package where they are used (`common.Money`): add `package: common`".to_owned()),
        ),
        _ => {}
    }
}

/// Two files may not share a package: their types would meet in one module.
fn packages_are_distinct(units: &[Unit], reports: &mut [Reporter<'_>]) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (u, unit) in units.iter().enumerate() {
        let Some(package) = &unit.document.package else {
            continue;
        };
        if let Some(first) = seen.insert(&package.value, &unit.name) {
            reports[u].error(
                package.span,
                format!("package `{}` is also the package of {first}", package.value),
                Some("each file is its own package: rename one".to_owned()),
            );
        }
    }
}
