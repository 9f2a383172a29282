//! The example calls of the generated READMEs: which methods they show, and a
//! value for each field a caller must give. The READMEs' code blocks are run
//! against a live server by `tests/readme/run_blocks.py`, so the values are ones a
//! server accepts for any simple field, and a method whose request needs anything
//! richer is not shown.

use serde_json::{json, Value};

use crate::model::{Field, Method, MethodKind, Scalar, Schema, Service, TypeKind, TypeRef};

/// The methods and the push a generated README shows, each with the fields its
/// call must give.
#[derive(Debug)]
pub(crate) struct Examples<'a> {
    /// The service whose client the examples use (the schema's first).
    pub service: &'a Service,
    /// A request-response method, and its required fields with example values.
    pub reply: Option<Call<'a>>,
    /// A request-stream method.
    pub stream: Option<Call<'a>>,
    /// A service broadcasting a type, and that type (the first such service).
    pub push: Option<(&'a Service, crate::model::TypeIndex)>,
}

/// One example call.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    /// The method.
    pub method: &'a Method,
    /// Each field the caller must give, with its value.
    pub arguments: Vec<(&'a Field, Value)>,
}

/// The examples for `schema`, or `None` without a service.
pub(crate) fn examples(schema: &Schema) -> Option<Examples<'_>> {
    let service = schema.services.first()?;
    let call = |stream: bool| {
        service
            .methods
            .iter()
            .filter(|m| m.deprecated.is_none())
            .filter(|m| matches!(m.kind, MethodKind::Stream(_)) == stream)
            .filter(|m| !matches!(m.kind, MethodKind::FireAndForget))
            .find_map(|method| {
                Some(Call {
                    method,
                    arguments: required_arguments(schema, method)?,
                })
            })
    };
    let push = schema
        .services
        .iter()
        .filter(|s| s.deprecated.is_none())
        .find_map(|s| s.pushes.first().map(|p| (s, *p)));
    Some(Examples {
        service,
        reply: call(false),
        stream: call(true),
        push,
    })
}

/// Example values for the fields of `method`'s request that have neither a
/// default nor `?`; `None` when the request is not a struct or a field has no
/// simple example.
fn required_arguments<'a>(
    schema: &'a Schema,
    method: &'a Method,
) -> Option<Vec<(&'a Field, Value)>> {
    let TypeKind::Struct { fields } = &schema.ty(method.request).kind else {
        return None;
    };
    fields
        .iter()
        .filter(|f| !f.may_be_absent())
        .map(|field| Some((field, example_value(&field.ty)?)))
        .collect()
}

/// A small valid value of `ty`, as the schema writes defaults.
fn example_value(ty: &TypeRef) -> Option<Value> {
    match ty {
        TypeRef::Scalar(scalar) => match scalar {
            Scalar::Bool => Some(json!(true)),
            Scalar::I8
            | Scalar::I16
            | Scalar::I32
            | Scalar::I64
            | Scalar::U8
            | Scalar::U16
            | Scalar::U32
            | Scalar::U64 => Some(json!(1)),
            Scalar::F32 | Scalar::F64 => Some(json!(1.5)),
            Scalar::String => Some(json!("example")),
            // Each would need an import in the example.
            Scalar::Bytes | Scalar::Json | Scalar::Timestamp | Scalar::Duration => None,
        },
        TypeRef::List(_) => Some(json!([])),
        TypeRef::Map(_) => Some(json!({})),
        TypeRef::Optional(_) => Some(Value::Null),
        // A named type would need an import in the example.
        TypeRef::Named(_) => None,
    }
}
