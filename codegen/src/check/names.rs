//! Name rules: what a type, error or field may be called, so that every target
//! language can spell it.

use crate::diagnostic::Reporter;
use crate::ident;
use crate::model::Scalar;
use crate::source::Located;
use crate::syntax::{TypeBody, TypeDecl};

pub(super) fn check_type_name(name: &Located<String>, report: &mut Reporter<'_>) {
    let text = &name.value;
    if !ident::is_identifier(text) {
        report.error(
            name.span,
            format!("`{text}` is not a valid type name"),
            Some("type names start with a letter and hold only letters, digits and `_` (such as `AddRequest`)".to_owned()),
        );
        return;
    }
    if Scalar::from_name(text).is_some() || matches!(text.as_str(), "list" | "map") {
        report.error(
            name.span,
            format!("`{text}` is a built-in type and cannot be redefined"),
            Some("choose another name".to_owned()),
        );
        return;
    }
    let languages = ident::reserved_in(text);
    if !languages.is_empty() {
        report.error(
            name.span,
            format!(
                "type name `{text}` is a reserved word in {}",
                languages.join(", ")
            ),
            Some(format!(
                "rename it, for example `{}Message`",
                ident::upper_camel_case(text)
            )),
        );
    } else if ident::RESERVED_TYPE_NAMES.contains(&text.as_str()) {
        report.error(
            name.span,
            format!("type name `{text}` would shadow a type the generated code uses"),
            Some(format!("rename it, for example `{text}Message`")),
        );
    }
}

/// The error codes of the protocol (docs/protocol.md): an error may not take one
/// of their names, which clients already give a meaning.
const PROTOCOL_ERROR_CODES: [&str; 17] = [
    "UNKNOWN_MESSAGE_TYPE",
    "ACTOR_NOT_FOUND",
    "SERIALIZATION_ERROR",
    "TARGET_BUSY",
    "CONNECTION_CLOSED",
    "PROTOCOL_ERROR",
    "IO_ERROR",
    "TIMEOUT",
    "RATE_LIMITED",
    "SHUTTING_DOWN",
    "CONNECTION_LIMIT_REACHED",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "STREAM_ERROR",
    "ACCESS_DENIED",
    "LIMIT_EXCEEDED",
    "UNIMPLEMENTED",
    "INTERNAL",
];

/// Members every generated exception class has (Python's `ActonError`,
/// TypeScript's `ActonError` and `Error`, and the generated classes' own): an
/// error's field may not take one of their names.
const EXCEPTION_MEMBERS: &[&str] = &[
    "code",
    "message",
    "name",
    "stack",
    "cause",
    "args",
    "serverMessage",
    "server_message",
    "wireName",
    "WIRE_NAME",
    "fromFailure",
    "from_failure",
    "toWire",
    "to_wire",
    "with_traceback",
    "add_note",
    "retryAfterMs",
    "retry_after_ms",
    // Object.prototype's, which a TypeScript class field would override.
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

pub(super) fn check_error_fields(decl: &TypeDecl, report: &mut Reporter<'_>) {
    let TypeBody::Struct(fields) = &decl.body else {
        return;
    };
    for field in fields {
        if EXCEPTION_MEMBERS.contains(&field.name.value.as_str()) {
            report.error(
                field.name.span,
                format!(
                    "field `{}` of error `{}` would hide a member every error already has",
                    field.name.value, decl.name.value
                ),
                Some(format!(
                    "errors are exceptions in Python and TypeScript, whose `code`, `message`, `name`, ... are taken: rename it, for example `{}_value`",
                    field.name.value
                )),
            );
        }
    }
}

pub(super) fn check_error_name(name: &Located<String>, report: &mut Reporter<'_>) {
    let text = name.value.as_str();
    if PROTOCOL_ERROR_CODES.contains(&text) {
        report.error(
            name.span,
            format!("error `{text}` has the name of a protocol error code"),
            Some(format!(
                "clients already read `{text}` as the protocol's own error; choose another name, such as `{}Error`",
                ident::upper_camel_case(&text.to_lowercase())
            )),
        );
    }
}
