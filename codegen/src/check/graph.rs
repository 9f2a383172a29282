//! The type graph: types that contain themselves. A cycle through required fields
//! is an infinite value (rejected); an optional field on a cycle is marked
//! `recursive`, for the targets that must box it (after prost's `message_graph`).

use std::collections::BTreeMap;

use crate::model::{Field, TypeDef, TypeIndex, TypeKind, TypeRef};
use crate::source::Span;
use crate::syntax::{TypeBody, TypeDecl};

pub(super) fn field_spans(decl: &TypeDecl) -> Vec<Span> {
    match &decl.body {
        TypeBody::Struct(fields) => fields.iter().map(|f| f.name.span).collect(),
        TypeBody::Union { variants, .. } => variants
            .iter()
            .flat_map(|v| v.fields.iter().map(|f| f.name.span))
            .collect(),
        TypeBody::Enum(_) => Vec::new(),
    }
}

/// A problem found in the type graph: the type's index, where, what, and a hint.
pub(super) type GraphProblem = (usize, Span, String, String);

/// Finds types that contain themselves without indirection (an infinite value),
/// and marks optional fields on a cycle as recursive (to be boxed).
pub(super) fn check_recursion(types: &mut [TypeDef], spans: &[Vec<Span>]) -> Vec<GraphProblem> {
    let mut problems = Vec::new();
    // Edges: type -> (field position, target, through an optional?).
    let edges: Vec<Vec<(usize, TypeIndex, bool)>> = types
        .iter()
        .map(|def| {
            all_fields(def)
                .enumerate()
                .filter_map(|(i, field)| match &field.ty {
                    TypeRef::Named(target) => Some((i, *target, false)),
                    TypeRef::Optional(inner) => match &**inner {
                        TypeRef::Named(target) => Some((i, *target, true)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .collect();
    let reaches = |from: TypeIndex, to: TypeIndex, required_only: bool| -> bool {
        let mut seen = vec![false; types.len()];
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            if std::mem::replace(&mut seen[node.0], true) {
                continue;
            }
            for (_, target, optional) in &edges[node.0] {
                if !(required_only && *optional) {
                    stack.push(*target);
                }
            }
        }
        false
    };
    let mut reported: BTreeMap<usize, ()> = BTreeMap::new();
    let mut recursive: Vec<(usize, usize)> = Vec::new();
    for (owner, out) in edges.iter().enumerate() {
        for (position, target, optional) in out {
            if *optional {
                if reaches(*target, TypeIndex(owner), false) {
                    recursive.push((owner, *position));
                }
            } else if reaches(*target, TypeIndex(owner), true)
                && reported.insert(owner, ()).is_none()
            {
                let span = spans
                    .get(owner)
                    .and_then(|s| s.get(*position))
                    .copied()
                    .unwrap_or_default();
                problems.push((
                    owner,
                    span,
                    format!("type `{}` contains itself through this field: a value of it would be infinite", types[owner].name),
                    "break the cycle with an optional (`T?`) or a list (`list<T>`)".to_owned(),
                ));
            }
        }
    }
    for (owner, position) in recursive {
        if let Some(field) = all_fields_mut(&mut types[owner]).nth(position) {
            field.recursive = true;
        }
    }
    problems
}

fn all_fields(def: &TypeDef) -> Box<dyn Iterator<Item = &Field> + '_> {
    match &def.kind {
        TypeKind::Struct { fields } => Box::new(fields.iter()),
        TypeKind::Union { variants, .. } => Box::new(variants.iter().flat_map(|v| v.fields.iter())),
        TypeKind::Enum { .. } => Box::new(std::iter::empty()),
    }
}

fn all_fields_mut(def: &mut TypeDef) -> Box<dyn Iterator<Item = &mut Field> + '_> {
    match &mut def.kind {
        TypeKind::Struct { fields } => Box::new(fields.iter_mut()),
        TypeKind::Union { variants, .. } => {
            Box::new(variants.iter_mut().flat_map(|v| v.fields.iter_mut()))
        }
        TypeKind::Enum { .. } => Box::new(std::iter::empty()),
    }
}
