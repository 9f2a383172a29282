//! Every target's namespaces, built from the naming authority ([`crate::ident`]):
//! two things the schema declares that one target would spell alike, or a schema
//! name that meets a name the generated code already uses, are reported at the
//! schema's position — so an accepted schema never generates broken code.
//!
//! Runs on a schema that passed every other rule: the model and the syntax tree
//! then match item for item (types, fields, variants, services, methods).

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::Reporter;
use crate::ident::{python, rust, typescript};
use crate::model::{Schema, TypeDef, TypeKind};
use crate::source::{Located, Span};
use crate::syntax::{Document, TypeBody, TypeDecl};

/// Reports every collision in every target: `decls` are every file's
/// declarations (by type index), `owner` the unit each comes from, `root` the
/// root schema's syntax tree (its services), `files` the units' names.
pub(super) fn check(
    schema: &Schema,
    decls: &[&TypeDecl],
    owner: &[usize],
    root: &Document,
    files: &[String],
    reports: &mut [Reporter<'_>],
) {
    let root_unit = reports.len().saturating_sub(1);
    let checker = |target: Target| {
        let mut checker = Checker {
            schema,
            decls,
            owner,
            document: root,
            root: root_unit,
            collisions: Vec::new(),
        };
        match target {
            Target::Rust => checker.rust(),
            Target::Python => checker.python(),
            Target::TypeScript => checker.typescript(),
        }
        checker.collisions
    };
    // The three targets' namespaces are independent: a large schema's are built
    // at once, then their collisions merged in the targets' order.
    let each = if schema.types.len() < parallel_from() {
        [
            checker(Target::Rust),
            checker(Target::Python),
            checker(Target::TypeScript),
        ]
    } else {
        std::thread::scope(|scope| {
            let python = scope.spawn(|| checker(Target::Python));
            let typescript = scope.spawn(|| checker(Target::TypeScript));
            let rust = checker(Target::Rust);
            let join = |handle: std::thread::ScopedJoinHandle<'_, Vec<Collision>>| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            [rust, join(python), join(typescript)]
        })
    };
    let mut collisions = Vec::new();
    for collision in each.into_iter().flatten() {
        let Collision {
            at,
            what,
            other,
            spellings,
            place,
        } = collision;
        for (language, spelling) in spellings {
            record(
                &mut collisions,
                at,
                what.clone(),
                other.clone(),
                &place,
                language,
                spelling,
            );
        }
    }
    report_collisions(collisions, files, reports);
}

/// The targets whose namespaces are checked.
#[derive(Clone, Copy)]
enum Target {
    Rust,
    Python,
    TypeScript,
}

/// Schemas with this many types have their targets' namespaces built at once.
const PARALLEL_FROM: usize = 200;

#[cfg(not(test))]
fn parallel_from() -> usize {
    PARALLEL_FROM
}

// Tests set it per thread, to check one schema both ways.
#[cfg(test)]
thread_local! {
    static PARALLEL_FROM_IN_TEST: std::cell::Cell<usize> = const { std::cell::Cell::new(PARALLEL_FROM) };
}

#[cfg(test)]
fn parallel_from() -> usize {
    PARALLEL_FROM_IN_TEST.with(std::cell::Cell::get)
}

/// Adds one language's `spelling` of a collision to `collisions`: one entry per
/// pair of positions (a type whose name meets another's meets it in its helpers'
/// names too), each language named once.
fn record(
    collisions: &mut Vec<Collision>,
    at: Place,
    what: String,
    other: Option<(String, Place)>,
    place: &str,
    language: &'static str,
    spelling: String,
) {
    let other_at = other.as_ref().map(|(_, s)| *s);
    let existing = collisions.iter().position(|c| {
        c.at == at
            && match (&c.other, other_at) {
                (Some((_, a)), Some(b)) => *a == b,
                (None, None) => c.what == what,
                _ => false,
            }
    });
    let index = existing.unwrap_or_else(|| {
        collisions.push(Collision {
            at,
            what,
            other,
            spellings: Vec::new(),
            place: place.to_owned(),
        });
        collisions.len() - 1
    });
    let collision = &mut collisions[index];
    if !collision.spellings.iter().any(|(l, _)| *l == language) {
        collision.spellings.push((language, spelling));
    }
}

/// Where a name was written: which file (unit), and where in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    unit: usize,
    span: Span,
}

/// A schema name that meets another name in one or more targets.
struct Collision {
    at: Place,
    what: String,
    /// The schema's other item it meets, or `None` for a name the generated code
    /// keeps for itself.
    other: Option<(String, Place)>,
    /// Each language it happens in, with the name both would have there.
    spellings: Vec<(&'static str, String)>,
    /// Where (in the first language), for a name the generated code keeps.
    place: String,
}

/// Who holds a name in a namespace.
#[derive(Clone)]
enum Holder {
    /// The generated code itself (an import, a runtime export, a member every
    /// class has).
    Generated,
    /// Something the schema declares, described (`type \`Foo\``), and where.
    Schema { what: String, at: Place },
}

/// One scope of one target: a module, a class, a parameter list.
struct Namespace<'n> {
    language: &'static str,
    /// Where, for messages: "the module", "`ShopClient`".
    place: String,
    /// The names the generated code keeps for itself there (looked through only
    /// when a name is not held yet: most scopes are a class of a few fields).
    generated: Vec<&'n str>,
    held: HashMap<String, Holder>,
}

impl<'n> Namespace<'n> {
    fn new(language: &'static str, place: impl Into<String>, generated: &[&'n str]) -> Self {
        Self::with(language, place, generated.iter().copied())
    }

    fn with(
        language: &'static str,
        place: impl Into<String>,
        generated: impl IntoIterator<Item = &'n str>,
    ) -> Self {
        Self {
            language,
            place: place.into(),
            generated: generated.into_iter().collect(),
            held: HashMap::new(),
        }
    }

    /// Who holds `name` already, if anyone.
    fn holder(&self, name: &str) -> Option<Holder> {
        self.held
            .get(name)
            .cloned()
            .or_else(|| self.generated.contains(&name).then_some(Holder::Generated))
    }
}

struct Checker<'a> {
    schema: &'a Schema,
    decls: &'a [&'a TypeDecl],
    owner: &'a [usize],
    document: &'a Document,
    root: usize,
    /// What collided in this checker's target.
    collisions: Vec<Collision>,
}

impl Checker<'_> {
    /// Where the type at `index` writes `span`.
    fn at(&self, index: usize, span: Span) -> Place {
        Place {
            unit: self.owner[index],
            span,
        }
    }

    /// Where the root schema writes `span` (its services).
    fn in_root(&self, span: Span) -> Place {
        Place {
            unit: self.root,
            span,
        }
    }

    /// Claims `name` in `namespace` for `what` declared `at`.
    fn claim(&mut self, namespace: &mut Namespace, name: &str, what: String, at: Place) {
        let key = rust::unraw(name).to_owned();
        let holder = Holder::Schema {
            what: what.clone(),
            at,
        };
        let Some(earlier) = namespace.holder(&key) else {
            namespace.held.insert(key, holder);
            return;
        };
        let other = match earlier {
            Holder::Generated => None,
            Holder::Schema { what, at } => Some((what, at)),
        };
        record(
            &mut self.collisions,
            at,
            what,
            other,
            &namespace.place,
            namespace.language,
            key,
        );
    }
}

/// Reports each collision once, naming every language it happens in.
fn report_collisions(collisions: Vec<Collision>, files: &[String], reports: &mut [Reporter<'_>]) {
    for collision in collisions {
        let languages: Vec<&str> = collision.spellings.iter().map(|(l, _)| *l).collect();
        let languages = match languages.as_slice() {
            [one] => (*one).to_owned(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => continue,
        };
        let first = &collision.spellings[0].1;
        let spelled = if collision.spellings.iter().all(|(_, s)| s == first) {
            format!("`{first}` in the generated {languages}")
        } else {
            let each: Vec<String> = collision
                .spellings
                .iter()
                .map(|(language, spelling)| format!("`{spelling}` in {language}"))
                .collect();
            each.join(", ")
        };
        let what = &collision.what;
        let report = &mut reports[collision.at.unit];
        match &collision.other {
                None => report.error(
                    collision.at.span,
                    format!(
                        "{what} would be {spelled}, where {} already has its own `{first}`",
                        collision.place
                    ),
                    Some(
                        "rename it in the schema; docs/schema.md (\"Names in generated code\") lists the names generated code keeps for itself"
                            .to_owned(),
                    ),
                ),
                Some((other, other_at)) => report.error(
                    collision.at.span,
                    format!(
                        "{what} and {other} ({}line {}) would both be {spelled}",
                        if other_at.unit == collision.at.unit {
                            String::new()
                        } else {
                            format!("{} ", files[other_at.unit])
                        },
                        other_at.span.line
                    ),
                    Some("rename one of them: names that differ only in case or `_` meet once converted to a language's conventions".to_owned()),
                ),
            }
    }
}

impl Checker<'_> {
    fn type_what(def: &TypeDef) -> String {
        if def.is_error {
            format!("error `{}`", def.name)
        } else {
            format!("type `{}`", def.name)
        }
    }

    /// Every field of a declaration, with the model field's name (the syntax tree
    /// and the model agree item for item).
    fn field_spans(decl: &TypeDecl) -> Vec<Vec<&Located<String>>> {
        match &decl.body {
            TypeBody::Struct(fields) => vec![fields.iter().map(|f| &f.name).collect()],
            TypeBody::Union { variants, .. } => variants
                .iter()
                .map(|v| v.fields.iter().map(|f| &f.name).collect())
                .collect(),
            TypeBody::Enum(_) => Vec::new(),
        }
    }

    fn variant_spans(decl: &TypeDecl) -> Vec<&Located<String>> {
        match &decl.body {
            TypeBody::Enum(variants) => variants.iter().map(|v| &v.name).collect(),
            TypeBody::Union { variants, .. } => variants.iter().map(|v| &v.name).collect(),
            TypeBody::Struct(_) => Vec::new(),
        }
    }

    /// The module alias of every imported package (`acme.common` → `acme_common`).
    fn aliases(&self) -> Vec<String> {
        self.schema
            .imports
            .iter()
            .map(|import| crate::ident::module_alias(&import.package))
            .collect()
    }

    /// Each imported package's module alias, claimed in `namespace` at the
    /// imported file's `package:`.
    fn claim_aliases(&mut self, namespace: &mut Namespace) {
        for import in &self.schema.imports {
            let Some(index) = self
                .schema
                .types
                .iter()
                .position(|t| t.package.as_deref() == Some(import.package.as_str()))
            else {
                continue;
            };
            let at = self.at(index, Span::new(1, 1, 1));
            self.claim(
                namespace,
                &crate::ident::module_alias(&import.package),
                format!("the module of package `{}`", import.package),
                at,
            );
        }
    }

    fn rust(&mut self) {
        const LANGUAGE: &str = "Rust";
        let schema = self.schema;
        let aliases = self.aliases();
        // One module per package: the root's, and one per imported file.
        let mut modules: BTreeMap<Option<String>, Namespace> = BTreeMap::new();
        let module_items = || {
            rust::MODULE_ITEMS
                .iter()
                .copied()
                .chain(aliases.iter().map(String::as_str))
        };
        for (index, (def, decl)) in schema.types.iter().zip(self.decls).enumerate() {
            let mut module = modules.remove(&def.package).unwrap_or_else(|| {
                Namespace::with(
                    LANGUAGE,
                    module_place(def.package.as_deref()),
                    module_items(),
                )
            });
            let at = self.at(index, decl.name.span);
            self.claim(
                &mut module,
                &rust::type_name(&def.name),
                Self::type_what(def),
                at,
            );
            // Fields, and the functions giving their defaults.
            let scopes: Vec<(String, &[crate::model::Field])> = match &def.kind {
                TypeKind::Struct { fields } => vec![(def.name.clone(), fields.as_slice())],
                TypeKind::Union { variants, .. } => variants
                    .iter()
                    .map(|v| (format!("{}_{}", def.name, v.name), v.fields.as_slice()))
                    .collect(),
                TypeKind::Enum { .. } => Vec::new(),
            };
            for ((scope, fields), spans) in scopes.iter().zip(Self::field_spans(decl)) {
                let mut own = Namespace::new(LANGUAGE, format!("`{}`", def.name), &[]);
                for (field, name) in fields.iter().zip(spans) {
                    let what = format!("field `{}` of `{}`", field.name, def.name);
                    let at = self.at(index, name.span);
                    self.claim(&mut own, &rust::field(&field.name), what.clone(), at);
                    if field.default.is_some() {
                        self.claim(
                            &mut module,
                            &rust::default_fn(scope, &field.name),
                            format!("the default of {what}"),
                            at,
                        );
                    }
                }
            }
            if !matches!(def.kind, TypeKind::Struct { .. }) {
                // An open type's generated `Unknown` case.
                let generated: &[&str] = if def.open { &["Unknown"] } else { &[] };
                let mut variants =
                    Namespace::new(LANGUAGE, format!("enum `{}`", def.name), generated);
                let names: Vec<&str> = match &def.kind {
                    TypeKind::Enum { variants } => {
                        variants.iter().map(|v| v.name.as_str()).collect()
                    }
                    TypeKind::Union { variants, .. } => {
                        variants.iter().map(|v| v.name.as_str()).collect()
                    }
                    TypeKind::Struct { .. } => Vec::new(),
                };
                for (variant, located) in names.iter().zip(Self::variant_spans(decl)) {
                    let at = self.at(index, located.span);
                    self.claim(
                        &mut variants,
                        &rust::variant(variant),
                        format!("value `{variant}` of `{}`", def.name),
                        at,
                    );
                }
            }
            modules.insert(def.package.clone(), module);
        }
        let mut module = modules.remove(&schema.package).unwrap_or_else(|| {
            Namespace::with(
                LANGUAGE,
                module_place(schema.package.as_deref()),
                module_items(),
            )
        });
        // The imported packages' modules live in the root's.
        let mut root_module = Namespace::new(LANGUAGE, "the module", rust::MODULE_ITEMS);
        self.claim_aliases(&mut root_module);
        for (service, decl) in schema.services.iter().zip(&self.document.services) {
            let at = self.in_root(decl.name.span);
            let what = || format!("service `{}`", service.name);
            self.claim(&mut module, &rust::handler_trait(&service.name), what(), at);
            self.claim(&mut module, &rust::client(&service.name), what(), at);
            self.claim(&mut module, &rust::serve_fn(&service.name), what(), at);
            let mut handler = Namespace::new(
                LANGUAGE,
                format!("`{}`", rust::handler_trait(&service.name)),
                &[],
            );
            let mut client = Namespace::new(
                LANGUAGE,
                format!("`{}`", rust::client(&service.name)),
                rust::CLIENT_MEMBERS,
            );
            for (method, located) in service.methods.iter().zip(&decl.methods) {
                let at = self.in_root(located.name.span);
                let what = format!("method `{}.{}`", service.name, method.name);
                let ident = rust::method(&method.name);
                self.claim(&mut handler, &ident, what.clone(), at);
                self.claim(&mut client, &ident, what.clone(), at);
                if !method.errors.is_empty() {
                    let enum_name = rust::method_error_enum(schema, &service.name, &method.name);
                    self.claim(
                        &mut module,
                        &enum_name,
                        format!("the error enum of {what}"),
                        at,
                    );
                    let mut variants = Namespace::new(
                        LANGUAGE,
                        format!("`{enum_name}`"),
                        rust::ERROR_ENUM_VARIANTS,
                    );
                    for error in &method.errors {
                        let def = schema.ty(*error);
                        let at = self.at(error.0, self.decls[error.0].name.span);
                        self.claim(
                            &mut variants,
                            &rust::type_name(&def.name),
                            format!("error `{}`", def.name),
                            at,
                        );
                    }
                }
            }
            for (push, located) in service.pushes.iter().zip(&decl.pushes) {
                let def = schema.ty(*push);
                let at = self.in_root(located.span);
                self.claim(
                    &mut client,
                    &rust::subscribe_method(&def.name),
                    format!("the subscription to push `{}`", def.name),
                    at,
                );
            }
        }
    }

    fn python(&mut self) {
        const LANGUAGE: &str = "Python";
        let schema = self.schema;
        let shadowed = python::Shadowed::of(schema);
        let aliases = self.aliases();
        // The package exports the root's types, the clients and the imported
        // packages' modules; its files are modules too.
        let mut package = Namespace::new(LANGUAGE, "the package", python::PACKAGE_NAMES);
        self.claim_aliases(&mut package);
        // An imported package's module is imported by name into the package's
        // modules: it may not take a name any of them uses.
        let mut files = Namespace::with(
            LANGUAGE,
            "the package's modules",
            python::MODULE_FILES
                .iter()
                .chain(python::TYPES_MODULE_NAMES)
                .chain(python::CLIENT_MODULE_NAMES)
                .copied(),
        );
        self.claim_aliases(&mut files);
        let mut modules: BTreeMap<Option<String>, Namespace> = BTreeMap::new();
        let module_names = || {
            python::TYPES_MODULE_NAMES
                .iter()
                .copied()
                .chain(aliases.iter().map(String::as_str))
        };
        for (index, (def, decl)) in schema.types.iter().zip(self.decls).enumerate() {
            let mut module = modules.remove(&def.package).unwrap_or_else(|| {
                let file = python::module_file(def.package.as_deref(), schema.package.as_deref());
                Namespace::with(LANGUAGE, format!("`{file}`"), module_names())
            });
            let at = self.at(index, decl.name.span);
            for name in python::type_exports(def) {
                let what = if name == def.name {
                    Self::type_what(def)
                } else {
                    format!("`{name}`, generated for {}", Self::type_what(def))
                };
                if !def.is_imported(schema) {
                    self.claim(&mut package, &name, what.clone(), at);
                }
                self.claim(&mut module, &name, what, at);
            }
            modules.insert(def.package.clone(), module);
            let classes: Vec<(String, &[crate::model::Field])> = match &def.kind {
                TypeKind::Struct { fields } => vec![(python::class(&def.name), fields.as_slice())],
                TypeKind::Union { variants, .. } => variants
                    .iter()
                    .map(|v| {
                        (
                            python::variant_class(&def.name, &v.name),
                            v.fields.as_slice(),
                        )
                    })
                    .collect(),
                TypeKind::Enum { variants } => {
                    let mut members = Namespace::new(LANGUAGE, format!("`{}`", def.name), &[]);
                    for (variant, located) in variants.iter().zip(Self::variant_spans(decl)) {
                        let at = self.at(index, located.span);
                        self.claim(
                            &mut members,
                            &python::enum_member(&variant.name),
                            format!("value `{}` of `{}`", variant.name, def.name),
                            at,
                        );
                    }
                    Vec::new()
                }
            };
            for ((class, fields), spans) in classes.iter().zip(Self::field_spans(decl)) {
                let mut own = Namespace::new(
                    LANGUAGE,
                    format!("`{class}`"),
                    if def.is_error {
                        &[]
                    } else {
                        python::MESSAGE_MEMBERS
                    },
                );
                for (field, name) in fields.iter().zip(spans) {
                    let attribute = if def.is_error {
                        python::error_attribute(&field.name, &shadowed)
                    } else {
                        python::attribute(&field.name, &shadowed)
                    };
                    let at = self.at(index, name.span);
                    self.claim(
                        &mut own,
                        &attribute,
                        format!("field `{}` of `{}`", field.name, def.name),
                        at,
                    );
                }
            }
        }
        let mut clients = Namespace::with(
            LANGUAGE,
            "`client.py`",
            python::CLIENT_MODULE_NAMES
                .iter()
                .copied()
                .chain(aliases.iter().map(String::as_str)),
        );
        for (service, decl) in schema.services.iter().zip(&self.document.services) {
            let class = python::client(&service.name);
            let what = format!("service `{}`", service.name);
            let at = self.in_root(decl.name.span);
            self.claim(&mut package, &class, what.clone(), at);
            self.claim(&mut clients, &class, what, at);
            let mut members =
                Namespace::new(LANGUAGE, format!("`{class}`"), python::CLIENT_MEMBERS);
            for (method, located) in service.methods.iter().zip(&decl.methods) {
                let what = format!("method `{}.{}`", service.name, method.name);
                let at = self.in_root(located.name.span);
                self.claim(
                    &mut members,
                    &python::method(&method.name, &shadowed),
                    what.clone(),
                    at,
                );
                // The request's fields are the method's keyword parameters.
                let request = schema.ty(method.request);
                if let TypeKind::Struct { fields } = &request.kind {
                    let mut parameters = Namespace::new(
                        LANGUAGE,
                        format!(
                            "the parameters of `{class}.{}`",
                            python::method(&method.name, &shadowed)
                        ),
                        python::METHOD_PARAMETERS,
                    );
                    for (field, name) in fields
                        .iter()
                        .zip(Self::field_spans(self.decls[method.request.0]).concat())
                    {
                        let at = self.at(method.request.0, name.span);
                        self.claim(
                            &mut parameters,
                            &python::parameter(&field.name, &shadowed),
                            format!("field `{}` of `{}`", field.name, request.name),
                            at,
                        );
                    }
                }
            }
            for (push, located) in service.pushes.iter().zip(&decl.pushes) {
                let def = schema.ty(*push);
                let at = self.in_root(located.span);
                self.claim(
                    &mut members,
                    &python::subscribe_method(&def.name),
                    format!("the subscription to push `{}`", def.name),
                    at,
                );
            }
        }
    }

    fn typescript(&mut self) {
        const LANGUAGE: &str = "TypeScript";
        let schema = self.schema;
        let aliases = self.aliases();
        let mut package = Namespace::new(LANGUAGE, "the package", typescript::PACKAGE_NAMES);
        self.claim_aliases(&mut package);
        let mut files = Namespace::with(
            LANGUAGE,
            "the package's modules",
            typescript::MODULE_FILES
                .iter()
                .chain(typescript::TYPES_MODULE_NAMES)
                .chain(typescript::CLIENT_MODULE_NAMES)
                .copied(),
        );
        self.claim_aliases(&mut files);
        let mut modules: BTreeMap<Option<String>, Namespace> = BTreeMap::new();
        let module_names = || {
            typescript::TYPES_MODULE_NAMES
                .iter()
                .copied()
                .chain(aliases.iter().map(String::as_str))
        };
        for (index, (def, decl)) in schema.types.iter().zip(self.decls).enumerate() {
            let mut module = modules.remove(&def.package).unwrap_or_else(|| {
                let file =
                    typescript::module_file(def.package.as_deref(), schema.package.as_deref());
                Namespace::with(LANGUAGE, format!("`{file}`"), module_names())
            });
            let at = self.at(index, decl.name.span);
            for name in typescript::type_exports(def) {
                let what = if name == def.name {
                    Self::type_what(def)
                } else {
                    format!("`{name}`, generated for {}", Self::type_what(def))
                };
                if !def.is_imported(schema) {
                    self.claim(&mut package, &name, what.clone(), at);
                }
                self.claim(&mut module, &name, what, at);
            }
            modules.insert(def.package.clone(), module);
        }
        let mut clients = Namespace::with(
            LANGUAGE,
            "`client.ts`",
            typescript::CLIENT_MODULE_NAMES
                .iter()
                .copied()
                .chain(aliases.iter().map(String::as_str)),
        );
        for (service, decl) in schema.services.iter().zip(&self.document.services) {
            let class = typescript::client(&service.name);
            let what = format!("service `{}`", service.name);
            let at = self.in_root(decl.name.span);
            self.claim(&mut package, &class, what.clone(), at);
            self.claim(&mut clients, &class, what, at);
            let mut members =
                Namespace::new(LANGUAGE, format!("`{class}`"), typescript::CLIENT_MEMBERS);
            for (method, located) in service.methods.iter().zip(&decl.methods) {
                let at = self.in_root(located.name.span);
                self.claim(
                    &mut members,
                    &typescript::method(&method.name),
                    format!("method `{}.{}`", service.name, method.name),
                    at,
                );
            }
            for (push, located) in service.pushes.iter().zip(&decl.pushes) {
                let def = schema.ty(*push);
                let at = self.in_root(located.span);
                self.claim(
                    &mut members,
                    &typescript::subscribe_method(&def.name),
                    format!("the subscription to push `{}`", def.name),
                    at,
                );
            }
        }
    }
}

/// How messages name the module of `package`.
fn module_place(package: Option<&str>) -> String {
    match package {
        Some(package) => format!("the module of package `{package}`"),
        None => "the module".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::PARALLEL_FROM_IN_TEST;

    /// The diagnostics of `yaml`, its namespaces checked one after the other or at once.
    fn diagnostics(yaml: &str, parallel: bool) -> String {
        PARALLEL_FROM_IN_TEST.with(|cell| cell.set(if parallel { 0 } else { usize::MAX }));
        let result = crate::parse_schema("collide.yaml", yaml);
        PARALLEL_FROM_IN_TEST.with(|cell| cell.set(super::PARALLEL_FROM));
        match result {
            Ok(_) => panic!("the schema has collisions"),
            Err(diagnostics) => diagnostics.to_string(),
        }
    }

    #[test]
    fn targets_checked_at_once_report_what_one_after_the_other_reports() {
        // Collisions in one language, in two, in all three, and with names the
        // generated code keeps: merged, each pair is reported once, its languages
        // in the targets' order.
        let yaml = r#"acton: 1
package: collide
types:
  FooBar: { fields: { a: i64 } }
  Foo_bar: { fields: { a: i64 } }
  Colour:
    enum: [red, Red]
  Fields:
    fields:
      fooBar: i64
      foo_bar: i64
      to_dict: string
  Shape:
    union:
      tag: kind
      variants:
        circle: { fields: { r: f64 } }
  ShapeCircle: { fields: { r: f64 } }
services:
  kv_store:
    methods:
      get: { request: FooBar, reply: Fields }
  kvStore:
    methods:
      put: { request: FooBar, reply: Fields }
"#;
        let one_after_the_other = diagnostics(yaml, false);
        let at_once = diagnostics(yaml, true);
        assert_eq!(one_after_the_other, at_once);
        for expected in [
            "would both be `FooBar` in the generated Rust",
            "would both be `Red` in Rust, `RED` in Python",
            "service `kvStore` and service `kv_store`",
            "field `foo_bar` of `Fields` and field `fooBar` of `Fields`",
        ] {
            assert!(at_once.contains(expected), "{expected}\n{at_once}");
        }
    }
}
