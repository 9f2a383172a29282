//! Whether a client built from one schema can talk to a server serving another:
//! the rules of `acton-gen diff`, from the client's side, over the schema
//! documents (`acton-schema/1`) the two carry. Generated clients call it from
//! `check_schema()`.
//!
//! ```
//! use acton_reactive::ipc::client::schema_check::{compare, Compatibility};
//! use serde_json::json;
//!
//! let client = json!({"format": "acton-schema/1", "types": [
//!     {"wire_name": "A", "name": "A", "kind": "struct", "fields": [{"name": "x", "type": "i64", "has_default": false}]}
//! ], "services": [{"name": "s", "methods": [{"name": "m", "kind": "reply", "request": "A", "answer": "A", "errors": []}], "pushes": []}]});
//! let mut server = client.clone();
//! server["types"][0]["fields"][0]["type"] = json!("string");
//! let check = compare(&client, &server, &["s"]);
//! assert_eq!(check.status, Compatibility::Incompatible);
//! assert_eq!(check.differences, ["type A field x: is string on the server, i64 here"]);
//! ```

use std::collections::BTreeSet;

use serde_json::Value;

use crate::ipc::codec::{CodecError, Format};
use crate::ipc::protocol::IpcDiscoverResponse;

/// How well a client fits a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    /// Every call the client makes works as it expects.
    Compatible,
    /// Some of the client's methods are missing on the server; the others work.
    Degraded,
    /// Some calls would fail or be misread.
    Incompatible,
    /// The server serves no schema (such as a server of the published crate).
    Unknown,
}

/// The answer of a schema check: the verdict and what differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchemaCheck {
    /// The verdict.
    pub status: Compatibility,
    /// Each difference, as a sentence (`service s method m: missing on the server`).
    pub differences: Vec<String>,
}

impl SchemaCheck {
    /// A server that serves no schema.
    pub fn unknown() -> Self {
        Self {
            status: Compatibility::Unknown,
            differences: vec!["the server serves no schema".to_owned()],
        }
    }
}

struct Findings {
    incompatible: Vec<String>,
    degraded: Vec<String>,
    compatible: Vec<String>,
}

/// How a discovery answer's schema fits the client's (`document`, with its
/// `fingerprint`) for `services`: unknown when the server serves none,
/// compatible when the fingerprints agree, else [`compare`]'s verdict.
///
/// # Errors
/// A client document that is not JSON.
pub fn check(
    answer: IpcDiscoverResponse,
    document: &str,
    fingerprint: &str,
    services: &[&str],
) -> Result<SchemaCheck, CodecError> {
    let Some(served) = answer.schema else {
        return Ok(SchemaCheck::unknown());
    };
    if answer.schema_fingerprint.as_deref() == Some(fingerprint) {
        return Ok(SchemaCheck {
            status: Compatibility::Compatible,
            differences: Vec::new(),
        });
    }
    let own: Value = serde_json::from_str(document).map_err(|error| CodecError::Invalid {
        format: Format::Json,
        reason: format!("the client's schema document: {error}"),
    })?;
    Ok(compare(&own, &served, services))
}

/// Compares the client's schema document with the server's, for the client's
/// `services`.
pub fn compare(client: &Value, server: &Value, services: &[&str]) -> SchemaCheck {
    let mut found = Findings {
        incompatible: Vec::new(),
        degraded: Vec::new(),
        compatible: Vec::new(),
    };
    let mut used: BTreeSet<String> = BTreeSet::new();
    for &name in services {
        let (Some(ours), theirs) = (
            find(client, "services", "name", name),
            find(server, "services", "name", name),
        ) else {
            continue;
        };
        let subject = format!("service {name}");
        let Some(theirs) = theirs else {
            found
                .incompatible
                .push(format!("{subject}: missing on the server"));
            continue;
        };
        for method in array(ours, "methods") {
            let method_name = text(method, "name");
            let subject = format!("{subject} method {method_name}");
            for key in ["request", "answer"] {
                if let Some(wire) = method.get(key).and_then(Value::as_str) {
                    used.insert(wire.to_owned());
                }
            }
            for error in array(method, "errors") {
                used.extend(error.as_str().map(str::to_owned));
            }
            let Some(served) = array(theirs, "methods")
                .iter()
                .find(|m| text(m, "name") == method_name)
            else {
                found
                    .degraded
                    .push(format!("{subject}: missing on the server"));
                continue;
            };
            for key in ["kind", "request", "answer"] {
                let (a, b) = (method.get(key), served.get(key));
                if a != b {
                    found.incompatible.push(format!(
                        "{subject}: its {key} is {} on the server, {} here",
                        shown(b),
                        shown(a)
                    ));
                }
            }
        }
        for served in array(theirs, "methods") {
            let method_name = text(served, "name");
            if !array(ours, "methods")
                .iter()
                .any(|m| text(m, "name") == method_name)
            {
                found.compatible.push(format!(
                    "{subject} method {method_name}: offered by the server, unknown here"
                ));
            }
        }
        for push in array(ours, "pushes") {
            used.extend(push.as_str().map(str::to_owned));
        }
    }
    // Every type the client's calls carry, through their fields.
    let mut pending: Vec<String> = used.iter().cloned().collect();
    while let Some(wire) = pending.pop() {
        let Some(ours) = find(client, "types", "wire_name", &wire) else {
            continue;
        };
        for field in fields_everywhere(ours) {
            for named in named_types(text(field, "type")) {
                if used.insert(named.clone()) {
                    pending.push(named);
                }
            }
        }
    }
    for wire in &used {
        let Some(ours) = find(client, "types", "wire_name", wire) else {
            continue;
        };
        compare_type(
            ours,
            find(server, "types", "wire_name", wire),
            wire,
            &mut found,
        );
    }
    let status = if !found.incompatible.is_empty() {
        Compatibility::Incompatible
    } else if !found.degraded.is_empty() {
        Compatibility::Degraded
    } else {
        Compatibility::Compatible
    };
    let mut differences = found.incompatible;
    differences.extend(found.degraded);
    differences.extend(found.compatible);
    SchemaCheck {
        status,
        differences,
    }
}

fn compare_type(ours: &Value, theirs: Option<&Value>, wire: &str, found: &mut Findings) {
    let subject = format!("type {wire}");
    let Some(theirs) = theirs else {
        found
            .incompatible
            .push(format!("{subject}: unknown to the server"));
        return;
    };
    let kind = text(ours, "kind");
    if kind != text(theirs, "kind") {
        found.incompatible.push(format!(
            "{subject}: is a {} on the server, a {kind} here",
            text(theirs, "kind")
        ));
        return;
    }
    match kind {
        "enum" => {
            let open = ours.get("open") == Some(&Value::Bool(true));
            names_compared(
                &subject,
                "value",
                array(ours, "values"),
                array(theirs, "values"),
                open,
                found,
            );
        }
        "union" => {
            let open = ours.get("open") == Some(&Value::Bool(true));
            let (a, b) = (array(ours, "variants"), array(theirs, "variants"));
            names_compared(&subject, "variant", a, b, open, found);
            for variant in a {
                if let Some(served) = b.iter().find(|v| text(v, "name") == text(variant, "name")) {
                    let subject = format!("{subject} variant {}", text(variant, "name"));
                    fields_compared(
                        &subject,
                        array(variant, "fields"),
                        array(served, "fields"),
                        found,
                    );
                }
            }
        }
        _ => fields_compared(
            &subject,
            array(ours, "fields"),
            array(theirs, "fields"),
            found,
        ),
    }
}

/// Enum values or union variants: one the client lacks is readable only when
/// the type is open; one the server lacks may be sent to it.
fn names_compared(
    subject: &str,
    what: &str,
    ours: &[Value],
    theirs: &[Value],
    open: bool,
    found: &mut Findings,
) {
    for served in theirs {
        let name = text(served, "name");
        if !ours.iter().any(|v| text(v, "name") == name) {
            let message = format!("{subject} {what} {name}: sent by the server, unknown here");
            if open {
                found
                    .compatible
                    .push(format!("{message} (read as Unknown)"));
            } else {
                found.incompatible.push(message);
            }
        }
    }
    for own in ours {
        let name = text(own, "name");
        if !theirs.iter().any(|v| text(v, "name") == name) {
            found
                .incompatible
                .push(format!("{subject} {what} {name}: unknown to the server"));
        }
    }
}

fn fields_compared(subject: &str, ours: &[Value], theirs: &[Value], found: &mut Findings) {
    let may_be_absent = |f: &Value| {
        f.get("has_default") == Some(&Value::Bool(true)) || text(f, "type").ends_with('?')
    };
    for own in ours {
        let name = text(own, "name");
        let field = format!("{subject} field {name}");
        match theirs.iter().find(|f| text(f, "name") == name) {
            None if may_be_absent(own) => found.compatible.push(format!(
                "{field}: unknown to the server (may be absent here)"
            )),
            None => found
                .incompatible
                .push(format!("{field}: unknown to the server, required here")),
            Some(served) if text(served, "type") != text(own, "type") => {
                found.incompatible.push(format!(
                    "{field}: is {} on the server, {} here",
                    text(served, "type"),
                    text(own, "type")
                ))
            }
            Some(_) => {}
        }
    }
    for served in theirs {
        let name = text(served, "name");
        if ours.iter().any(|f| text(f, "name") == name) {
            continue;
        }
        let field = format!("{subject} field {name}");
        if may_be_absent(served) {
            found
                .compatible
                .push(format!("{field}: added on the server (may be absent)"));
        } else {
            found
                .incompatible
                .push(format!("{field}: required by the server, unknown here"));
        }
    }
}

fn find<'v>(document: &'v Value, list: &str, key: &str, name: &str) -> Option<&'v Value> {
    array(document, list)
        .iter()
        .find(|item| text(item, key) == name)
}

fn array<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "nothing".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// Fields of a struct or error, or of every variant of a union.
fn fields_everywhere(def: &Value) -> Vec<&Value> {
    let mut fields: Vec<&Value> = array(def, "fields").iter().collect();
    for variant in array(def, "variants") {
        fields.extend(array(variant, "fields"));
    }
    fields
}

/// The named types of a type text (`list<shop.Point>?` → `shop.Point`).
fn named_types(type_text: &str) -> Vec<String> {
    const SCALARS: [&str; 16] = [
        "bool",
        "i8",
        "i16",
        "i32",
        "i64",
        "u8",
        "u16",
        "u32",
        "u64",
        "f32",
        "f64",
        "string",
        "bytes",
        "json",
        "timestamp",
        "duration",
    ];
    type_text
        .split(['<', '>', ',', '?', ' '])
        .filter(|part| {
            !part.is_empty() && !matches!(*part, "list" | "map") && !SCALARS.contains(part)
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"format": "acton-schema/1", "types": [
            {"wire_name": "Req", "name": "Req", "kind": "struct", "fields": [
                {"name": "level", "type": "Level", "has_default": false},
                {"name": "note", "type": "string?", "has_default": false}
            ]},
            {"wire_name": "Level", "name": "Level", "kind": "enum", "open": false, "values": [{"name": "low"}, {"name": "high"}]},
            {"wire_name": "Unused", "name": "Unused", "kind": "struct", "fields": []}
        ], "services": [{"name": "s", "methods": [
            {"name": "a", "kind": "reply", "request": "Req", "answer": "Req", "errors": []},
            {"name": "b", "kind": "fire_and_forget", "request": "Req", "answer": null, "errors": []}
        ], "pushes": []}]})
    }

    fn check(edit: impl Fn(&mut Value)) -> SchemaCheck {
        let mut server = base();
        edit(&mut server);
        compare(&base(), &server, &["s"])
    }

    #[test]
    fn each_kind_of_difference_gets_its_verdict() {
        assert_eq!(check(|_| {}).status, Compatibility::Compatible);
        let missing = check(|s| {
            s["services"][0]["methods"]
                .as_array_mut()
                .into_iter()
                .for_each(|m| {
                    m.remove(1);
                });
        });
        assert_eq!(missing.status, Compatibility::Degraded);
        assert_eq!(
            missing.differences,
            ["service s method b: missing on the server"]
        );
        let gone = check(|s| s["services"] = json!([]));
        assert_eq!(gone.status, Compatibility::Incompatible);
        let value = check(|s| {
            s["types"][1]["values"]
                .as_array_mut()
                .into_iter()
                .for_each(|v| v.push(json!({"name": "mid"})));
        });
        assert_eq!(value.status, Compatibility::Incompatible);
        assert_eq!(
            value.differences,
            ["type Level value mid: sent by the server, unknown here"]
        );
        let optional = check(|s| {
            s["types"][0]["fields"]
                .as_array_mut()
                .into_iter()
                .for_each(|f| {
                    f.push(json!({"name": "extra", "type": "i64?", "has_default": false}))
                });
        });
        assert_eq!(optional.status, Compatibility::Compatible);
        assert_eq!(
            optional.differences,
            ["type Req field extra: added on the server (may be absent)"]
        );
        let required = check(|s| {
            s["types"][0]["fields"]
                .as_array_mut()
                .into_iter()
                .for_each(|f| {
                    f.push(json!({"name": "extra", "type": "i64", "has_default": false}))
                });
        });
        assert_eq!(required.status, Compatibility::Incompatible);
        let offered = check(|s| {
            s["services"][0]["methods"].as_array_mut().into_iter().for_each(|m| m.push(json!({"name": "c", "kind": "reply", "request": "Unused", "answer": "Unused", "errors": []})));
        });
        assert_eq!(offered.status, Compatibility::Compatible);
        assert_eq!(
            offered.differences,
            ["service s method c: offered by the server, unknown here"]
        );
        // A type the client does not use does not count.
        let unused = check(|s| s["types"][2]["kind"] = json!("enum"));
        assert_eq!(unused.status, Compatibility::Compatible);
    }

    #[test]
    fn an_open_enum_takes_new_values() {
        let mut client = base();
        client["types"][1]["open"] = json!(true);
        let mut server = client.clone();
        server["types"][1]["values"]
            .as_array_mut()
            .into_iter()
            .for_each(|v| v.push(json!({"name": "mid"})));
        let check = compare(&client, &server, &["s"]);
        assert_eq!(check.status, Compatibility::Compatible);
        assert_eq!(
            check.differences,
            ["type Level value mid: sent by the server, unknown here (read as Unknown)"]
        );
    }
}
