//! The reference-docs target: one Markdown page describing every service, method
//! and type as it appears on the wire — what a client author in any language
//! reads before writing a call.
//!
//! Every service and type gets a stable anchor (`service-<name>`, `type-<name>`),
//! so other documents can link to `messages.md#type-AddRequest`. Text from the
//! schema is escaped for table cells (pipes, line breaks) and never interpreted
//! as HTML.

use std::fmt::Write as _;

use super::GeneratedFile;
use crate::model::{
    EnumVariant, Field, Method, MethodKind, Schema, Service, TypeDef, TypeKind, TypeRef,
};

/// Generates `<stem>.md`.
pub fn generate(schema: &Schema, file_stem: &str) -> GeneratedFile {
    GeneratedFile {
        path: format!("{file_stem}.md").into(),
        contents: render(schema, file_stem),
    }
}

/// The reference page.
pub fn render(schema: &Schema, file_stem: &str) -> String {
    let mut page = Page::default();
    page.line(&format!("<!-- {} -->", super::banner(schema)));
    page.blank();
    page.line(&format!("# `{file_stem}`: services and message types"));
    page.blank();
    if let Some(doc) = &schema.doc {
        page.paragraph(doc);
    }
    page.paragraph(&introduction(schema));

    if !schema.services.is_empty() {
        page.line("## Services");
        page.blank();
        for service in &schema.services {
            page.line(&format!(
                "- [`{0}`](#service-{0}){1}",
                service.name,
                summary_suffix(service.doc.as_deref())
            ));
        }
        page.blank();
        diagram(&mut page, schema);
        for service in &schema.services {
            service_section(&mut page, schema, service);
        }
    }

    if schema.types.iter().any(|def| !def.is_error) {
        page.line("## Types");
        page.blank();
        for def in schema.types.iter().filter(|def| !def.is_error) {
            type_section(&mut page, schema, def);
        }
    }
    if schema.types.iter().any(|def| def.is_error) {
        page.line("## Errors");
        page.blank();
        page.paragraph(
            "A call that fails with a declared error is answered with an ERROR frame (a \
             failed final STREAM frame for a stream) whose `error_code` is the error's wire \
             name and whose `payload` holds its fields. Any call may also fail with a \
             protocol error code (`TIMEOUT`, `RATE_LIMITED`, ...).",
        );
        for def in schema.types.iter().filter(|def| def.is_error) {
            type_section(&mut page, schema, def);
        }
    }
    page.finish()
}

fn introduction(schema: &Schema) -> String {
    let mut text = String::from(
        "Every call is a frame on the Unix socket (see the wire protocol): the request's \
         `target` is the service name and its `message_type` the request type's wire name.",
    );
    if let Some(package) = &schema.package {
        let _ = write!(
            text,
            " Wire names carry the package prefix `{package}.` (`{package}.{}`).",
            schema.types.first().map_or("Type", |t| t.name.as_str())
        );
    }
    text.push_str(
        " Fields that are optional or have a default may be left out; readers ignore \
         fields they do not know. `bytes` is a base64 string in JSON and binary in \
         MessagePack.",
    );
    text
}

/// A Mermaid diagram of the services: each method with what it takes and gives,
/// and each broadcast (GitHub and most Markdown viewers draw it).
fn diagram(page: &mut Page, schema: &Schema) {
    page.line("```mermaid");
    page.line("flowchart LR");
    page.line("  client([client])");
    for service in &schema.services {
        let id = format!("service_{}", service.name);
        page.line(&format!("  subgraph {id}[\"service {}\"]", service.name));
        for method in &service.methods {
            let request = &schema.ty(method.request).wire_name;
            let label = match method.kind {
                MethodKind::Reply(reply) => {
                    format!(
                        "{}: {request} → {}",
                        method.name,
                        schema.ty(reply).wire_name
                    )
                }
                MethodKind::Stream(item) => format!(
                    "{}: {request} → stream of {}",
                    method.name,
                    schema.ty(item).wire_name
                ),
                MethodKind::FireAndForget => format!("{}: {request}, fire-and-forget", method.name),
            };
            page.line(&format!("    {id}_{}[\"{label}\"]", method.name));
        }
        page.line("  end");
        page.line(&format!("  client --> {id}"));
        for push in &service.pushes {
            page.line(&format!(
                "  {id} -. \"push {}\" .-> client",
                schema.ty(*push).wire_name
            ));
        }
    }
    page.line("```");
    page.blank();
}

fn service_section(page: &mut Page, schema: &Schema, service: &Service) {
    page.line(&format!(
        "### <a id=\"service-{0}\"></a>Service `{0}`",
        service.name
    ));
    page.blank();
    if let Some(doc) = &service.doc {
        page.paragraph(doc);
    }
    if let Some(reason) = &service.deprecated {
        page.paragraph(&deprecation(reason));
    }
    if service.methods.is_empty() {
        page.paragraph("It has no methods.");
    } else {
        page.line("| method | kind | request | answer | errors |");
        page.line("|---|---|---|---|---|");
        for method in &service.methods {
            let (kind, answer) = match method.kind {
                MethodKind::Reply(reply) => {
                    ("request–response", type_link(schema, schema.ty(reply)))
                }
                MethodKind::Stream(item) => (
                    "request–stream",
                    format!("stream of {}", type_link(schema, schema.ty(item))),
                ),
                MethodKind::FireAndForget => (
                    "fire-and-forget",
                    "`{\"status\": \"delivered\"}`".to_owned(),
                ),
            };
            let errors = if method.errors.is_empty() {
                "—".to_owned()
            } else {
                method
                    .errors
                    .iter()
                    .map(|e| type_link(schema, schema.ty(*e)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            page.line(&format!(
                "| `{}` | {kind} | {} | {answer} | {errors} |",
                method.name,
                type_link(schema, schema.ty(method.request)),
            ));
        }
        page.blank();
        let described = |m: &&Method| m.doc.is_some() || m.deprecated.is_some();
        for method in service.methods.iter().filter(described) {
            let mut text = method.doc.as_deref().map(inline).unwrap_or_default();
            if let Some(reason) = &method.deprecated {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&inline(&deprecation(reason)));
            }
            page.line(&format!("- `{}`: {text}", method.name));
        }
        if service.methods.iter().any(|m| described(&m)) {
            page.blank();
        }
    }
    if !service.pushes.is_empty() {
        let pushes: Vec<String> = service
            .pushes
            .iter()
            .map(|p| type_link(schema, schema.ty(*p)))
            .collect();
        page.paragraph(&format!(
            "Broadcasts, which clients receive as PUSH frames after subscribing to the \
             type's wire name: {}.",
            pushes.join(", ")
        ));
    }
}

fn type_section(page: &mut Page, schema: &Schema, def: &TypeDef) {
    page.line(&format!(
        "### <a id=\"type-{0}\"></a>`{0}`",
        def.qualified_name(schema)
    ));
    page.blank();
    let kind = match &def.kind {
        TypeKind::Struct { .. } if def.is_error => {
            "error (the `error_code` of an ERROR frame)".to_owned()
        }
        TypeKind::Struct { fields } if fields.is_empty() => "unit message".to_owned(),
        TypeKind::Struct { .. } => "struct".to_owned(),
        TypeKind::Enum { .. } if def.open => {
            "open enum (a string on the wire; values added later read as `Unknown`)".to_owned()
        }
        TypeKind::Enum { .. } => "enum (a string on the wire)".to_owned(),
        TypeKind::Union { tag, .. } if def.open => {
            format!("open tagged union (tag field `{tag}`; variants added later read as `Unknown`)")
        }
        TypeKind::Union { tag, .. } => format!("tagged union (tag field `{tag}`)"),
    };
    page.paragraph(&format!("Wire name `{}` · {kind}", def.wire_name));
    if let Some(reason) = &def.deprecated {
        page.paragraph(&deprecation(reason));
    }
    if let Some(doc) = &def.doc {
        page.paragraph(doc);
    }
    match &def.kind {
        TypeKind::Struct { fields } if fields.is_empty() && def.is_error => {
            page.paragraph("No fields.");
        }
        TypeKind::Struct { fields } if fields.is_empty() => {
            page.paragraph("No fields: `null` or `{}` on the wire.");
        }
        TypeKind::Struct { fields } => field_table(page, schema, fields),
        TypeKind::Enum { variants } => enum_table(page, variants),
        TypeKind::Union { tag, variants } => {
            for variant in variants {
                page.line(&format!("#### `{tag}: \"{}\"`", variant.name));
                page.blank();
                if let Some(doc) = &variant.doc {
                    page.paragraph(doc);
                }
                if variant.fields.is_empty() {
                    page.paragraph("No other fields.");
                } else {
                    field_table(page, schema, &variant.fields);
                }
            }
        }
    }
}

fn field_table(page: &mut Page, schema: &Schema, fields: &[Field]) {
    page.line("| field | type | presence | description |");
    page.line("|---|---|---|---|");
    for field in fields {
        let presence = match (&field.ty, &field.default) {
            (_, Some(default)) => format!(
                "default `{}`",
                super::canonical_json(default).replace('|', "\\|")
            ),
            (TypeRef::Optional(_), None) => "optional".to_owned(),
            _ => "required".to_owned(),
        };
        let mut description = field.doc.as_deref().map(inline).unwrap_or_default();
        if let Some(reason) = &field.deprecated {
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str(&inline(&deprecation(reason)));
        }
        page.line(&format!(
            "| `{}` | {} | {presence} | {description} |",
            field.name,
            type_ref(schema, &field.ty)
        ));
    }
    page.blank();
}

fn enum_table(page: &mut Page, variants: &[EnumVariant]) {
    page.line("| value | description |");
    page.line("|---|---|");
    for variant in variants {
        let mut text = variant.doc.as_deref().map(inline).unwrap_or_default();
        if let Some(reason) = &variant.deprecated {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&inline(&deprecation(reason)));
        }
        page.line(&format!("| `\"{}\"` | {text} |", variant.name));
    }
    page.blank();
}

fn deprecation(reason: &str) -> String {
    if reason.is_empty() {
        "**Deprecated.**".to_owned()
    } else {
        format!("**Deprecated:** {reason}")
    }
}

/// A type expression as the schema writes it, linked to the section of the
/// named type it mentions.
fn type_ref(schema: &Schema, ty: &TypeRef) -> String {
    let text = ty.schema_text(schema);
    match ty.named() {
        Some(index) => format!(
            "[`{text}`](#type-{})",
            schema.ty(index).qualified_name(schema)
        ),
        None => format!("`{text}`"),
    }
}

fn type_link(schema: &Schema, def: &TypeDef) -> String {
    format!("[`{0}`](#type-{0})", def.qualified_name(schema))
}

/// ` — <first line of doc>`, for lists.
fn summary_suffix(doc: Option<&str>) -> String {
    doc.and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(|line| format!(" — {}", escape(line)))
        .unwrap_or_default()
}

/// Schema text made safe for one table cell or list item.
fn inline(text: &str) -> String {
    let lines: Vec<String> = text
        .trim()
        .lines()
        .map(|l| escape(l.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ").replace('|', "\\|")
}

/// Schema text with HTML disabled: `<`, `>` and `&` outside code spans are shown
/// as written (inside backticks Markdown already shows them literally).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '&' if !in_code => out.push_str("&amp;"),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A Markdown document under construction, with blank lines never doubled.
#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    fn line(&mut self, line: &str) {
        self.text.push_str(line.trim_end());
        self.text.push('\n');
    }

    fn blank(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }

    /// Schema text as a paragraph (its own line breaks kept, HTML disabled).
    fn paragraph(&mut self, text: &str) {
        for line in text.trim().lines() {
            self.line(&escape(line));
        }
        self.blank();
    }

    fn finish(mut self) -> String {
        while self.text.ends_with("\n\n") {
            self.text.pop();
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, inline};

    #[test]
    fn schema_text_cannot_break_a_table_or_inject_html() {
        assert_eq!(
            inline("a | b\n  <script> & more\n"),
            "a \\| b &lt;script&gt; &amp; more"
        );
    }

    #[test]
    fn code_spans_are_left_as_written() {
        assert_eq!(
            escape("returns `Vec<u8>` or <none>"),
            "returns `Vec<u8>` or &lt;none&gt;"
        );
    }
}
