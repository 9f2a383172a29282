//! Schema evolution: every difference between two versions of a schema, classified
//! as compatible or breaking for peers still built from the old one.
//!
//! A change is breaking when an old client or an old server, talking to a peer
//! built from the new schema, could fail on something the other side sends or
//! fail to get something it relies on. The rules follow from the wire encoding:
//! unknown fields are ignored, absent optional fields are `null`, absent defaulted
//! fields take their default, and enum values and union tags must be known.
//!
//! ```
//! use acton_codegen::{diff, parse_schema};
//!
//! let old = parse_schema("old.yaml", "acton: 1\ntypes:\n  A:\n    fields: { x: i32 }\n").unwrap();
//! let new = parse_schema(
//!     "new.yaml",
//!     "acton: 1\ntypes:\n  A:\n    fields: { x: i32, y: { type: i32, default: 0 } }\n",
//! )
//! .unwrap();
//! let changes = diff::compare(&old, &new);
//! assert_eq!(changes.len(), 1);
//! assert!(!changes[0].is_breaking());
//! ```

use std::fmt;

use crate::model::{
    EnumVariant, Field, Method, MethodKind, Schema, Service, TypeDef, TypeKind, TypeRef,
};

/// Whether a change can break a peer built from the old schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Old and new peers keep understanding each other.
    Compatible,
    /// An old client or server can fail against a new one.
    Breaking,
}

/// One difference between two versions of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Compatible or breaking.
    pub severity: Severity,
    /// What changed: `type AddRequest`, `service calculator method add`, ...
    pub subject: String,
    /// How it changed, and for a breaking change why it breaks.
    pub what: String,
    /// For a breaking change: how to make it compatible, when there is a way.
    pub hint: Option<String>,
}

impl Change {
    /// Whether the change can break an old peer.
    pub fn is_breaking(&self) -> bool {
        self.severity == Severity::Breaking
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Compatible => "compatible",
            Severity::Breaking => "breaking",
        };
        write!(f, "{label}: {}: {}", self.subject, self.what)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every change from `old` to `new`, in the order of the old schema, then what
/// the new one adds.
pub fn compare(old: &Schema, new: &Schema) -> Vec<Change> {
    let mut diff = Diff {
        old,
        new,
        changes: Vec::new(),
    };
    diff.package();
    diff.types();
    diff.services();
    diff.changes
}

struct Diff<'a> {
    old: &'a Schema,
    new: &'a Schema,
    changes: Vec<Change>,
}

impl Diff<'_> {
    fn push(&mut self, severity: Severity, subject: &str, what: String, hint: Option<&str>) {
        self.changes.push(Change {
            severity,
            subject: subject.to_owned(),
            what,
            hint: hint.map(str::to_owned),
        });
    }

    fn breaking(&mut self, subject: &str, what: String, hint: Option<&str>) {
        self.push(Severity::Breaking, subject, what, hint);
    }

    fn compatible(&mut self, subject: &str, what: String) {
        self.push(Severity::Compatible, subject, what, None);
    }

    fn package(&mut self) {
        if self.old.package != self.new.package {
            let show =
                |p: &Option<String>| p.as_deref().map_or("none".to_owned(), |p| format!("`{p}`"));
            self.breaking(
                "package",
                format!(
                    "changed from {} to {}: every wire type name changes with it",
                    show(&self.old.package),
                    show(&self.new.package)
                ),
                Some("keep the package; start a new schema for a new package"),
            );
        }
    }

    fn types(&mut self) {
        for old_def in &self.old.types {
            let name = old_def.qualified_name(self.old);
            let subject = format!("{} {name}", noun(old_def));
            match self
                .new
                .types
                .iter()
                .find(|t| t.qualified_name(self.new) == name)
            {
                None => self.breaking(
                    &subject,
                    "was removed; old peers still send or expect it".to_owned(),
                    Some("keep the type and mark it `deprecated:` instead"),
                ),
                Some(new_def) => self.type_changes(&subject, old_def, new_def),
            }
        }
        for new_def in &self.new.types {
            let name = new_def.qualified_name(self.new);
            if !self
                .old
                .types
                .iter()
                .any(|t| t.qualified_name(self.old) == name)
            {
                self.compatible(&format!("{} {name}", noun(new_def)), "was added".to_owned());
            }
        }
    }

    fn type_changes(&mut self, subject: &str, old_def: &TypeDef, new_def: &TypeDef) {
        if old_def.deprecated.is_none() && new_def.deprecated.is_some() {
            self.compatible(subject, "was deprecated".to_owned());
        }
        if old_def.is_error != new_def.is_error {
            self.breaking(
                subject,
                format!("changed from {} to {}", noun(old_def), noun(new_def)),
                Some("errors travel only as failures, types only as messages: declare a new one"),
            );
            return;
        }
        self.reserved_reuse(subject, old_def, new_def);
        match (old_def.open, new_def.open) {
            (false, true) => self.compatible(
                subject,
                "was opened; readers now take values added later as `Unknown`".to_owned(),
            ),
            (true, false) => self.breaking(
                subject,
                "was closed; values added later, which peers built from the open schema may send, now fail to decode".to_owned(),
                Some("keep it open"),
            ),
            _ => {}
        }
        match (&old_def.kind, &new_def.kind) {
            (TypeKind::Struct { fields: old }, TypeKind::Struct { fields: new }) => {
                self.fields(subject, old, new);
            }
            (TypeKind::Enum { variants: old }, TypeKind::Enum { variants: new }) => {
                self.enum_variants(subject, old, new, old_def.open);
            }
            (
                TypeKind::Union {
                    tag: old_tag,
                    variants: old,
                },
                TypeKind::Union {
                    tag: new_tag,
                    variants: new,
                },
            ) => {
                if old_tag != new_tag {
                    self.breaking(
                        subject,
                        format!("its tag field was renamed from `{old_tag}` to `{new_tag}`"),
                        None,
                    );
                }
                for variant in old {
                    let variant_subject = format!("{subject} variant {}", variant.name);
                    match new.iter().find(|v| v.name == variant.name) {
                        None => self.breaking(
                            &variant_subject,
                            "was removed; old peers still send it".to_owned(),
                            None,
                        ),
                        Some(new_variant) => {
                            self.fields(&variant_subject, &variant.fields, &new_variant.fields);
                        }
                    }
                }
                for variant in new {
                    if old.iter().any(|v| v.name == variant.name) {
                        continue;
                    }
                    let variant_subject = format!("{subject} variant {}", variant.name);
                    if old_def.open {
                        self.compatible(
                            &variant_subject,
                            "was added; old readers take it as `Unknown` (the union is open)"
                                .to_owned(),
                        );
                    } else {
                        self.breaking(
                            &variant_subject,
                            "was added; old peers reject a value with this tag".to_owned(),
                            Some("update every reader before any writer sends it, or declare the union `open: true` first"),
                        );
                    }
                }
            }
            _ => self.breaking(
                subject,
                format!(
                    "changed from {} to {}",
                    kind_name(&old_def.kind),
                    kind_name(&new_def.kind)
                ),
                None,
            ),
        }
    }

    /// A name the old schema reserved that the new one uses again.
    fn reserved_reuse(&mut self, subject: &str, old_def: &TypeDef, new_def: &TypeDef) {
        let names: Vec<&str> = match &new_def.kind {
            TypeKind::Struct { fields } => fields.iter().map(|f| f.name.as_str()).collect(),
            TypeKind::Enum { variants } => variants.iter().map(|v| v.name.as_str()).collect(),
            TypeKind::Union { variants, .. } => variants
                .iter()
                .flat_map(|v| {
                    std::iter::once(v.name.as_str()).chain(v.fields.iter().map(|f| f.name.as_str()))
                })
                .collect(),
        };
        for name in names {
            if old_def.reserved.iter().any(|r| r == name) {
                self.breaking(
                    subject,
                    format!("uses `{name}` again, which it had reserved; old peers read it with its old meaning"),
                    Some("choose another name; a reserved name never comes back"),
                );
            }
        }
    }

    fn fields(&mut self, subject: &str, old: &[Field], new: &[Field]) {
        for old_field in old {
            let field_subject = format!("{subject} field {}", old_field.name);
            let renamed = new.iter().find(|f| {
                f.aliases.contains(&old_field.name) && !new.iter().any(|g| g.name == old_field.name)
            });
            if let Some(new_field) = renamed {
                self.renamed(&field_subject, old_field, new_field);
                continue;
            }
            let Some(new_field) = new.iter().find(|f| f.name == old_field.name) else {
                if old_field.may_be_absent() {
                    self.compatible(
                        &field_subject,
                        "was removed; old readers did not need it (optional or defaulted)"
                            .to_owned(),
                    );
                } else {
                    self.breaking(
                        &field_subject,
                        "was removed; old readers require it".to_owned(),
                        Some("keep the field (mark it `deprecated:`), or first give it a default"),
                    );
                }
                continue;
            };
            self.field_changes(&field_subject, old_field, new_field);
        }
        for new_field in new {
            let renamed = new_field
                .aliases
                .iter()
                .any(|alias| old.iter().any(|f| &f.name == alias));
            if renamed || old.iter().any(|f| f.name == new_field.name) {
                continue;
            }
            let field_subject = format!("{subject} field {}", new_field.name);
            if new_field.may_be_absent() {
                self.compatible(
                    &field_subject,
                    "was added (optional or defaulted)".to_owned(),
                );
            } else {
                self.breaking(
                    &field_subject,
                    "was added as required; old writers do not send it".to_owned(),
                    Some("give it a `default:` or make it optional (`T?`)"),
                );
            }
        }
    }

    /// A field renamed with its old name kept as an alias: new readers take both
    /// names; old readers know only the old one.
    fn renamed(&mut self, subject: &str, old: &Field, new: &Field) {
        if old.may_be_absent() {
            self.compatible(
                subject,
                format!(
                    "was renamed to `{}`; readers accept the old name (an alias)",
                    new.name
                ),
            );
        } else {
            self.breaking(
                subject,
                format!(
                    "was renamed to `{}`; new readers accept the old name, but old readers still require `{}`",
                    new.name, old.name
                ),
                Some("first give it a default or make it optional, in a release every reader takes"),
            );
        }
        self.field_changes(subject, old, new);
    }

    fn field_changes(&mut self, subject: &str, old: &Field, new: &Field) {
        let old_type = type_text(self.old, &old.ty);
        let new_type = type_text(self.new, &new.ty);
        if old_type != new_type {
            let hint = match (&old.ty, &new.ty) {
                (TypeRef::Optional(_), _) | (_, TypeRef::Optional(_)) => {
                    "optional and required differ on the wire: old readers or writers disagree on absence"
                }
                _ => "add a new field with the new type and deprecate this one",
            };
            self.breaking(
                subject,
                format!("changed type from `{old_type}` to `{new_type}`"),
                Some(hint),
            );
            return;
        }
        match (&old.default, &new.default) {
            (Some(_), None) if !matches!(new.ty, TypeRef::Optional(_)) => self.breaking(
                subject,
                "lost its default; old writers may leave it out".to_owned(),
                Some("keep the default"),
            ),
            (None, Some(default)) => self.compatible(
                subject,
                format!(
                    "gained the default `{}`",
                    crate::emit::canonical_json(default)
                ),
            ),
            (Some(before), Some(after)) if before != after => self.compatible(
                subject,
                format!(
                    "default changed from `{}` to `{}`: old and new readers fill in different values",
                    crate::emit::canonical_json(before),
                    crate::emit::canonical_json(after)
                ),
            ),
            _ => {}
        }
        if old.deprecated.is_none() && new.deprecated.is_some() {
            self.compatible(subject, "was deprecated".to_owned());
        }
    }

    fn enum_variants(
        &mut self,
        subject: &str,
        old: &[EnumVariant],
        new: &[EnumVariant],
        old_open: bool,
    ) {
        for variant in old {
            if !new.iter().any(|v| v.name == variant.name) {
                self.breaking(
                    &format!("{subject} value {}", variant.name),
                    "was removed; old peers still send it".to_owned(),
                    None,
                );
            }
        }
        for variant in new {
            let before = old.iter().find(|v| v.name == variant.name);
            if before.is_some_and(|b| b.deprecated.is_none()) && variant.deprecated.is_some() {
                self.compatible(
                    &format!("{subject} value {}", variant.name),
                    "was deprecated".to_owned(),
                );
            }
            if before.is_some() {
                continue;
            }
            let value_subject = format!("{subject} value {}", variant.name);
            if old_open {
                self.compatible(
                    &value_subject,
                    "was added; old readers take it as `Unknown` (the enum is open)".to_owned(),
                );
            } else {
                self.breaking(
                    &value_subject,
                    "was added; old readers reject it".to_owned(),
                    Some("update every reader before any writer sends it, or declare the enum `open: true` first"),
                );
            }
        }
    }

    fn services(&mut self) {
        for old_service in &self.old.services {
            let subject = format!("service {}", old_service.name);
            match self
                .new
                .services
                .iter()
                .find(|s| s.name == old_service.name)
            {
                None => self.breaking(
                    &subject,
                    "was removed; old clients still call it".to_owned(),
                    None,
                ),
                Some(new_service) => self.service_changes(&subject, old_service, new_service),
            }
        }
        for new_service in &self.new.services {
            if !self.old.services.iter().any(|s| s.name == new_service.name) {
                self.compatible(
                    &format!("service {}", new_service.name),
                    "was added".to_owned(),
                );
            }
        }
    }

    fn service_changes(&mut self, subject: &str, old: &Service, new: &Service) {
        if old.deprecated.is_none() && new.deprecated.is_some() {
            self.compatible(subject, "was deprecated".to_owned());
        }
        for old_method in &old.methods {
            let method_subject = format!("{subject} method {}", old_method.name);
            match new.methods.iter().find(|m| m.name == old_method.name) {
                None => self.breaking(
                    &method_subject,
                    "was removed; old clients still call it".to_owned(),
                    None,
                ),
                Some(new_method) => self.method_changes(&method_subject, old_method, new_method),
            }
        }
        for new_method in &new.methods {
            if !old.methods.iter().any(|m| m.name == new_method.name) {
                self.compatible(
                    &format!("{subject} method {}", new_method.name),
                    "was added".to_owned(),
                );
            }
        }
        let old_pushes: Vec<&str> = old
            .pushes
            .iter()
            .map(|p| self.old.ty(*p).name.as_str())
            .collect();
        let new_pushes: Vec<&str> = new
            .pushes
            .iter()
            .map(|p| self.new.ty(*p).name.as_str())
            .collect();
        for name in &old_pushes {
            if !new_pushes.contains(name) {
                self.breaking(
                    subject,
                    format!("no longer broadcasts `{name}`; old subscribers wait for it"),
                    None,
                );
            }
        }
        for name in &new_pushes {
            if !old_pushes.contains(name) {
                self.compatible(subject, format!("now broadcasts `{name}`"));
            }
        }
    }

    fn method_changes(&mut self, subject: &str, old: &Method, new: &Method) {
        if old.deprecated.is_none() && new.deprecated.is_some() {
            self.compatible(subject, "was deprecated".to_owned());
        }
        let old_request = &self.old.ty(old.request).name;
        let new_request = &self.new.ty(new.request).name;
        if old_request != new_request {
            self.breaking(
                subject,
                format!("request changed from `{old_request}` to `{new_request}`; old clients send the old one"),
                Some("add a new method for the new request type"),
            );
        }
        let old_kind = method_kind(self.old, old.kind);
        let new_kind = method_kind(self.new, new.kind);
        if old_kind != new_kind {
            self.breaking(
                subject,
                format!(
                    "answer changed from {old_kind} to {new_kind}; old clients expect the old one"
                ),
                Some("add a new method instead"),
            );
        }
        let old_errors: Vec<&str> = old
            .errors
            .iter()
            .map(|e| self.old.ty(*e).name.as_str())
            .collect();
        let new_errors: Vec<&str> = new
            .errors
            .iter()
            .map(|e| self.new.ty(*e).name.as_str())
            .collect();
        for name in &old_errors {
            if !new_errors.contains(name) {
                self.breaking(
                    subject,
                    format!("no longer declares the error `{name}`; code written against the old schema handles it by name"),
                    Some("keep declaring it: a method may declare an error it no longer sends"),
                );
            }
        }
        for name in &new_errors {
            if !old_errors.contains(name) {
                self.compatible(
                    subject,
                    format!("may now fail with `{name}`; old clients see it as an error code and a message"),
                );
            }
        }
    }
}

/// What a declaration is called in a change's subject.
fn noun(def: &TypeDef) -> &'static str {
    if def.is_error {
        "error"
    } else {
        "type"
    }
}

fn kind_name(kind: &TypeKind) -> &'static str {
    match kind {
        TypeKind::Struct { .. } => "a struct",
        TypeKind::Enum { .. } => "an enum",
        TypeKind::Union { .. } => "a tagged union",
    }
}

fn method_kind(schema: &Schema, kind: MethodKind) -> String {
    match kind {
        MethodKind::Reply(reply) => format!("a reply of `{}`", schema.ty(reply).name),
        MethodKind::Stream(item) => format!("a stream of `{}`", schema.ty(item).name),
        MethodKind::FireAndForget => "fire-and-forget".to_owned(),
    }
}

/// A type expression as the schema writes it, comparable across two schemas.
fn type_text(schema: &Schema, ty: &TypeRef) -> String {
    ty.schema_text(schema)
}
