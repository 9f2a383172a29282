//! Positions in schema files.

use std::fmt;

/// Where something is in a schema file: 1-based line and column, and how many
/// characters it covers (at least 1 when shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Characters covered.
    pub width: usize,
}

impl Span {
    /// A span of `width` characters at `line:column`.
    pub fn new(line: usize, column: usize, width: usize) -> Self {
        Self {
            line: line.max(1),
            column: column.max(1),
            width,
        }
    }

    /// The span `offset` characters further right, `width` wide (for a part of a
    /// one-line scalar).
    pub fn sub(self, offset: usize, width: usize) -> Self {
        Self::new(self.line, self.column + offset, width)
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Located<T> {
    /// Pairs `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// A schema file's name and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as given).
    pub name: String,
    /// The file's text.
    pub text: String,
}

impl SourceFile {
    /// A file named `name` with `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The text of 1-based line `line` (without its end-of-line).
    pub fn line(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}
