//! Diagnostics: what is wrong in a schema, where (`file:line:column`, the line and a
//! caret under the offending text) and what to do about it.

use std::fmt;

use crate::source::{SourceFile, Span};

/// One problem in a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as named on the command line.
    pub file: String,
    /// Where.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The offending line, for display.
    pub source_line: String,
}

impl Diagnostic {
    /// `file:line:column`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.span.line, self.span.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.span.line.to_string();
        let gutter = " ".repeat(number.len());
        writeln!(f, "{}: error: {}", self.location(), self.message)?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {}", self.source_line)?;
        let indent: String = self
            .source_line
            .chars()
            .take(self.span.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(
            f,
            "{gutter} | {indent}{}",
            "^".repeat(self.span.width.max(1))
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{gutter} = help: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a schema; the schema is rejected when there is any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// The problems, in file order.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Sorts the problems by position and removes repeats.
    pub fn finish(mut self) -> Self {
        self.items
            .sort_by(|a, b| (a.span, &a.message).cmp(&(b.span, &b.message)));
        self.items.dedup();
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{item}")?;
        }
        let n = self.items.len();
        write!(
            f,
            "\n\n{n} error{} in the schema",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Reporter<'a> {
    file: &'a SourceFile,
    found: Diagnostics,
}

impl<'a> Reporter<'a> {
    /// A reporter for `file`.
    pub fn new(file: &'a SourceFile) -> Self {
        Self {
            file,
            found: Diagnostics::default(),
        }
    }

    /// Records a problem at `span`.
    pub fn error(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        self.found.items.push(Diagnostic {
            file: self.file.name.clone(),
            span,
            message: message.into(),
            hint,
            source_line: self.file.line(span.line).to_owned(),
        });
    }

    /// Whether a problem was recorded.
    pub fn has_errors(&self) -> bool {
        !self.found.is_empty()
    }

    /// Everything recorded.
    pub fn finish(self) -> Diagnostics {
        self.found.finish()
    }
}
