//! Type expressions as written in a schema: `i64`, `list<T>`, `map<string, T>`,
//! `T?`, `common.Money`. Parsed here, resolved to [`crate::model::TypeRef`] by
//! the checker.
//! `map<string, list<Point>>?` parses to an optional map whose values are lists,
//! and prints back as written (the tests below).

use std::fmt;

use crate::diagnostic::Reporter;
use crate::source::Located;

/// A type expression before resolution; offsets are byte offsets into the text
/// the expression was parsed from, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    /// A scalar or a named type (`i64`, `Point`, `common.Money`).
    Name {
        /// The name as written.
        name: String,
        /// Where it starts.
        offset: usize,
    },
    /// `list<T>`.
    List(Box<TypeExpr>),
    /// `map<K, T>` (the checker allows only `string` keys).
    Map {
        /// The key type's name.
        key: String,
        /// Where the key starts.
        key_offset: usize,
        /// The value type.
        value: Box<TypeExpr>,
    },
    /// `T?`.
    Optional {
        /// The inner type.
        inner: Box<TypeExpr>,
        /// Where the `?` is.
        offset: usize,
    },
}

impl fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name { name, .. } => f.write_str(name),
            Self::List(inner) => write!(f, "list<{inner}>"),
            Self::Map { key, value, .. } => write!(f, "map<{key}, {value}>"),
            Self::Optional { inner, .. } => write!(f, "{inner}?"),
        }
    }
}

/// Why a text is not a type expression: where (byte offset, width) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// How many bytes it spans.
    pub width: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses a whole type expression.
///
/// # Errors
/// The text is not a type expression (or has text after one).
pub fn parse_text(text: &str) -> Result<TypeExpr, ParseError> {
    let mut parser = TypeParser { text, at: 0 };
    let ty = parser.expression()?;
    parser.skip_spaces();
    if parser.at < text.len() {
        return Err(ParseError {
            offset: parser.at,
            width: text.len() - parser.at,
            message: "unexpected text after the type".to_owned(),
        });
    }
    Ok(ty)
}

/// Parses a field's type, reporting a located error when it is not one.
pub(crate) fn parse(text: &Located<String>, report: &mut Reporter<'_>) -> Option<TypeExpr> {
    match parse_text(&text.value) {
        Ok(ty) => Some(ty),
        Err(error) => {
            let hint = if text.value.starts_with("map<") && !text.value.contains(',') {
                "inside `{ ... }` a comma ends the value: quote the type (`\"map<string, T>\"`) or write the field in block style"
            } else {
                "types are scalars (`i64`, `string`, ...), `list<T>`, `map<string, T>`, `T?` or type names"
            };
            report.error(
                text.span.sub(error.offset, error.width.max(1)),
                format!("`{}` is not a type: {}", text.value, error.message),
                Some(hint.to_owned()),
            );
            None
        }
    }
}

/// `expr := base '?'?` — `base := list<expr> | map<name, expr> | name`.
struct TypeParser<'a> {
    text: &'a str,
    at: usize,
}

impl TypeParser<'_> {
    fn skip_spaces(&mut self) {
        while self.text[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn expression(&mut self) -> Result<TypeExpr, ParseError> {
        let mut ty = self.base()?;
        self.skip_spaces();
        while self.text[self.at..].starts_with('?') {
            ty = TypeExpr::Optional {
                inner: Box::new(ty),
                offset: self.at,
            };
            self.at += 1;
            self.skip_spaces();
        }
        Ok(ty)
    }

    fn name(&mut self) -> Result<(String, usize), ParseError> {
        self.skip_spaces();
        let start = self.at;
        let len = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .count();
        if len == 0 {
            let found = self.text[start..]
                .chars()
                .next()
                .map_or("the end".to_owned(), |c| format!("`{c}`"));
            return Err(ParseError {
                offset: start,
                width: 1,
                message: format!("expected a type name, found {found}"),
            });
        }
        self.at += len;
        Ok((self.text[start..start + len].to_owned(), start))
    }

    fn expect(&mut self, token: char) -> Result<(), ParseError> {
        self.skip_spaces();
        if self.text[self.at..].starts_with(token) {
            self.at += 1;
            Ok(())
        } else {
            let found = self.text[self.at..]
                .chars()
                .next()
                .map_or("the end".to_owned(), |c| format!("`{c}`"));
            Err(ParseError {
                offset: self.at,
                width: 1,
                message: format!("expected `{token}`, found {found}"),
            })
        }
    }

    fn base(&mut self) -> Result<TypeExpr, ParseError> {
        let (name, offset) = self.name()?;
        self.skip_spaces();
        let generic = self.text[self.at..].starts_with('<');
        match (name.as_str(), generic) {
            ("list", true) => {
                self.expect('<')?;
                let inner = self.expression()?;
                self.expect('>')?;
                Ok(TypeExpr::List(Box::new(inner)))
            }
            ("map", true) => {
                self.expect('<')?;
                let (key, key_offset) = self.name()?;
                self.expect(',')?;
                let value = self.expression()?;
                self.expect('>')?;
                Ok(TypeExpr::Map {
                    key,
                    key_offset,
                    value: Box::new(value),
                })
            }
            ("list" | "map", false) => Err(ParseError {
                offset,
                width: name.len(),
                message: format!("`{name}` needs its element type, such as `{name}<...>`"),
            }),
            (_, true) => Err(ParseError {
                offset: self.at,
                width: 1,
                message: format!("`{name}` takes no type parameters"),
            }),
            _ => Ok(TypeExpr::Name { name, offset }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_text, TypeExpr};

    #[test]
    fn expressions_parse_and_print_back() {
        let parsed = parse_text("map<string, list<Point>>?").expect("a type expression");
        assert_eq!(parsed.to_string(), "map<string, list<Point>>?");
        assert!(matches!(parsed, TypeExpr::Optional { .. }));
        assert_eq!(
            parse_text("list<common.Money>").map(|t| t.to_string()),
            Ok("list<common.Money>".to_owned())
        );
        let error = parse_text("list<i64").expect_err("unclosed");
        assert_eq!(
            (error.offset, error.message.as_str()),
            (8, "expected `>`, found the end")
        );
    }
}
