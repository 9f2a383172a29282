//! Every target's namespaces, built from the naming authority ([`crate::ident`]):
//! two things the schema declares that one target would spell alike, or a schema
//! name that meets a name the generated code already uses, are reported at the
//! schema's position — so an accepted schema never generates broken code.
//!
//! Runs on a schema that passed every other rule: the model and the syntax tree
//! then match item for item (types, fields, variants, services, methods).

use std::collections::HashMap;

use crate::diagnostic::Reporter;
use crate::ident::{python, rust, typescript};
use crate::model::{Schema, TypeDef, TypeKind};
use crate::source::{Located, Span};
use crate::syntax::{Document, TypeBody, TypeDecl};

/// Reports every collision in every target.
pub(super) fn check(schema: &Schema, document: &Document, report: &mut Reporter<'_>) {
    let decls: Vec<&TypeDecl> = document.types.iter().chain(&document.errors).collect();
    let mut checker = Checker {
        schema,
        decls: &decls,
        document,
        collisions: Vec::new(),
        report,
    };
    checker.rust();
    checker.python();
    checker.typescript();
    checker.report_collisions();
}

/// A schema name that meets another name in one or more targets.
struct Collision {
    span: Span,
    what: String,
    /// The schema's other item it meets, or `None` for a name the generated code
    /// keeps for itself.
    other: Option<(String, Span)>,
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
    Schema { what: String, span: Span },
}

/// One scope of one target: a module, a class, a parameter list.
struct Namespace {
    language: &'static str,
    /// Where, for messages: "the module", "`ShopClient`".
    place: String,
    held: HashMap<String, Holder>,
}

impl Namespace {
    fn new(language: &'static str, place: impl Into<String>, generated: &[&str]) -> Self {
        Self {
            language,
            place: place.into(),
            held: generated
                .iter()
                .map(|name| ((*name).to_owned(), Holder::Generated))
                .collect(),
        }
    }
}

struct Checker<'a, 'r> {
    schema: &'a Schema,
    decls: &'a [&'a TypeDecl],
    document: &'a Document,
    /// What collided, gathered over every target and reported once.
    collisions: Vec<Collision>,
    report: &'a mut Reporter<'r>,
}

impl Checker<'_, '_> {
    /// Claims `name` in `namespace` for `what` declared at `span`.
    fn claim(&mut self, namespace: &mut Namespace, name: &str, what: String, span: Span) {
        let key = rust::unraw(name).to_owned();
        let holder = Holder::Schema {
            what: what.clone(),
            span,
        };
        let Some(earlier) = namespace.held.get(&key).cloned() else {
            namespace.held.insert(key, holder);
            return;
        };
        let other = match earlier {
            Holder::Generated => None,
            Holder::Schema { what, span } => Some((what, span)),
        };
        // One message per pair of positions: a type whose name meets another's
        // meets it in its helpers' names too.
        let other_span = other.as_ref().map(|(_, s)| *s);
        let collision = self.collisions.iter_mut().find(|c| {
            c.span == span
                && match (&c.other, other_span) {
                    (Some((_, a)), Some(b)) => *a == b,
                    (None, None) => c.what == what,
                    _ => false,
                }
        });
        let collision = match collision {
            Some(collision) => collision,
            None => {
                self.collisions.push(Collision {
                    span,
                    what,
                    other,
                    spellings: Vec::new(),
                    place: namespace.place.clone(),
                });
                let last = self.collisions.len() - 1;
                &mut self.collisions[last]
            }
        };
        if !collision
            .spellings
            .iter()
            .any(|(language, _)| *language == namespace.language)
        {
            collision.spellings.push((namespace.language, key));
        }
    }

    /// Reports each collision once, naming every language it happens in.
    fn report_collisions(&mut self) {
        for collision in std::mem::take(&mut self.collisions) {
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
            match &collision.other {
                None => self.report.error(
                    collision.span,
                    format!(
                        "{what} would be {spelled}, where {} already has its own `{first}`",
                        collision.place
                    ),
                    Some(
                        "rename it in the schema; docs/schema.md (\"Names in generated code\") lists the names generated code keeps for itself"
                            .to_owned(),
                    ),
                ),
                Some((other, other_span)) => self.report.error(
                    collision.span,
                    format!(
                        "{what} and {other} (line {}) would both be {spelled}",
                        other_span.line
                    ),
                    Some("rename one of them: names that differ only in case or `_` meet once converted to a language's conventions".to_owned()),
                ),
            }
        }
    }

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

    fn rust(&mut self) {
        const LANGUAGE: &str = "Rust";
        let schema = self.schema;
        let mut module = Namespace::new(LANGUAGE, "the module", rust::MODULE_ITEMS);
        for (def, decl) in schema.types.iter().zip(self.decls) {
            let span = decl.name.span;
            self.claim(
                &mut module,
                &rust::type_name(&def.name),
                Self::type_what(def),
                span,
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
                    self.claim(&mut own, &rust::field(&field.name), what.clone(), name.span);
                    if field.default.is_some() {
                        self.claim(
                            &mut module,
                            &rust::default_fn(scope, &field.name),
                            format!("the default of {what}"),
                            name.span,
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
                    self.claim(
                        &mut variants,
                        &rust::variant(variant),
                        format!("value `{variant}` of `{}`", def.name),
                        located.span,
                    );
                }
            }
        }
        for (service, decl) in schema.services.iter().zip(&self.document.services) {
            let span = decl.name.span;
            let what = || format!("service `{}`", service.name);
            self.claim(
                &mut module,
                &rust::handler_trait(&service.name),
                what(),
                span,
            );
            self.claim(&mut module, &rust::client(&service.name), what(), span);
            self.claim(&mut module, &rust::serve_fn(&service.name), what(), span);
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
                let span = located.name.span;
                let what = format!("method `{}.{}`", service.name, method.name);
                let ident = rust::method(&method.name);
                self.claim(&mut handler, &ident, what.clone(), span);
                self.claim(&mut client, &ident, what.clone(), span);
                if !method.errors.is_empty() {
                    let enum_name = rust::method_error_enum(schema, &service.name, &method.name);
                    self.claim(
                        &mut module,
                        &enum_name,
                        format!("the error enum of {what}"),
                        span,
                    );
                    let mut variants = Namespace::new(
                        LANGUAGE,
                        format!("`{enum_name}`"),
                        rust::ERROR_ENUM_VARIANTS,
                    );
                    for error in &method.errors {
                        let def = schema.ty(*error);
                        self.claim(
                            &mut variants,
                            &rust::type_name(&def.name),
                            format!("error `{}`", def.name),
                            self.decls[error.0].name.span,
                        );
                    }
                }
            }
            for (push, located) in service.pushes.iter().zip(&decl.pushes) {
                let def = schema.ty(*push);
                self.claim(
                    &mut client,
                    &rust::subscribe_method(&def.name),
                    format!("the subscription to push `{}`", def.name),
                    located.span,
                );
            }
        }
    }

    fn python(&mut self) {
        const LANGUAGE: &str = "Python";
        let schema = self.schema;
        let shadowed = python::Shadowed::of(schema);
        let mut package = Namespace::new(LANGUAGE, "the package", python::PACKAGE_NAMES);
        let mut types = Namespace::new(LANGUAGE, "`types.py`", python::TYPES_MODULE_NAMES);
        let mut clients = Namespace::new(LANGUAGE, "`client.py`", python::CLIENT_MODULE_NAMES);
        for (def, decl) in schema.types.iter().zip(self.decls) {
            for name in python::type_exports(def) {
                let what = if name == def.name {
                    Self::type_what(def)
                } else {
                    format!("`{name}`, generated for {}", Self::type_what(def))
                };
                self.claim(&mut package, &name, what.clone(), decl.name.span);
                self.claim(&mut types, &name, what, decl.name.span);
            }
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
                        self.claim(
                            &mut members,
                            &python::enum_member(&variant.name),
                            format!("value `{}` of `{}`", variant.name, def.name),
                            located.span,
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
                    self.claim(
                        &mut own,
                        &attribute,
                        format!("field `{}` of `{}`", field.name, def.name),
                        name.span,
                    );
                }
            }
        }
        for (service, decl) in schema.services.iter().zip(&self.document.services) {
            let class = python::client(&service.name);
            let what = format!("service `{}`", service.name);
            self.claim(&mut package, &class, what.clone(), decl.name.span);
            self.claim(&mut clients, &class, what, decl.name.span);
            let mut members =
                Namespace::new(LANGUAGE, format!("`{class}`"), python::CLIENT_MEMBERS);
            for (method, located) in service.methods.iter().zip(&decl.methods) {
                let what = format!("method `{}.{}`", service.name, method.name);
                self.claim(
                    &mut members,
                    &python::method(&method.name, &shadowed),
                    what.clone(),
                    located.name.span,
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
                        self.claim(
                            &mut parameters,
                            &python::parameter(&field.name, &shadowed),
                            format!("field `{}` of `{}`", field.name, request.name),
                            name.span,
                        );
                    }
                }
            }
            for (push, located) in service.pushes.iter().zip(&decl.pushes) {
                let def = schema.ty(*push);
                self.claim(
                    &mut members,
                    &python::subscribe_method(&def.name),
                    format!("the subscription to push `{}`", def.name),
                    located.span,
                );
            }
        }
    }

    fn typescript(&mut self) {
        const LANGUAGE: &str = "TypeScript";
        let schema = self.schema;
        let mut package = Namespace::new(LANGUAGE, "the package", typescript::PACKAGE_NAMES);
        let mut types = Namespace::new(LANGUAGE, "`types.ts`", typescript::TYPES_MODULE_NAMES);
        let mut clients = Namespace::new(LANGUAGE, "`client.ts`", typescript::CLIENT_MODULE_NAMES);
        for (def, decl) in schema.types.iter().zip(self.decls) {
            for name in typescript::type_exports(def) {
                let what = if name == def.name {
                    Self::type_what(def)
                } else {
                    format!("`{name}`, generated for {}", Self::type_what(def))
                };
                self.claim(&mut package, &name, what.clone(), decl.name.span);
                self.claim(&mut types, &name, what, decl.name.span);
            }
        }
        for (service, decl) in schema.services.iter().zip(&self.document.services) {
            let class = typescript::client(&service.name);
            let what = format!("service `{}`", service.name);
            self.claim(&mut package, &class, what.clone(), decl.name.span);
            self.claim(&mut clients, &class, what, decl.name.span);
            let mut members =
                Namespace::new(LANGUAGE, format!("`{class}`"), typescript::CLIENT_MEMBERS);
            for (method, located) in service.methods.iter().zip(&decl.methods) {
                self.claim(
                    &mut members,
                    &typescript::method(&method.name),
                    format!("method `{}.{}`", service.name, method.name),
                    located.name.span,
                );
            }
            for (push, located) in service.pushes.iter().zip(&decl.pushes) {
                let def = schema.ty(*push);
                self.claim(
                    &mut members,
                    &typescript::subscribe_method(&def.name),
                    format!("the subscription to push `{}`", def.name),
                    located.span,
                );
            }
        }
    }
}
