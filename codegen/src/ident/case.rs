//! Identifier syntax and case conversion, shared by every target.

/// Whether `name` is a plain identifier: a letter, then letters, digits or `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a field-style identifier: may also start with `_`.
pub fn is_field_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().any(|c| c.is_ascii_alphanumeric())
}

/// `snake_case` of an identifier in any case.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let previous = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (previous.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `UpperCamelCase` of an identifier in any case.
pub fn upper_camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `lowerCamelCase` of an identifier in any case.
pub fn lower_camel_case(name: &str) -> String {
    let upper = upper_camel_case(name);
    let mut chars = upper.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => upper,
    }
}

/// The candidate closest to `name` (by edit distance, ignoring case), if close
/// enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lowered = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lowered, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_convert_both_ways() {
        assert_eq!(snake_case("AddRequest"), "add_request");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("priceV2"), "price_v2");
        assert_eq!(upper_camel_case("price_feed"), "PriceFeed");
        assert_eq!(upper_camel_case("kv"), "Kv");
        assert_eq!(lower_camel_case("kv_store"), "kvStore");
    }

    #[test]
    fn identifiers_and_reserved_words() {
        assert!(is_identifier("AddRequest") && !is_identifier("2fast") && !is_identifier("a-b"));
        assert!(is_field_identifier("_private") && !is_field_identifier("_"));
        assert_eq!(
            crate::ident::reserved_in("type"),
            ["Rust", "Python", "TypeScript"]
        );
        assert_eq!(crate::ident::reserved_in("class"), ["Python", "TypeScript"]);
        assert!(crate::ident::reserved_in("price").is_empty());
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(closest("feilds", ["doc", "fields", "enum"]), Some("fields"));
        assert_eq!(closest("strng", ["string", "bytes"]), Some("string"));
        assert_eq!(closest("completely", ["doc", "fields"]), None);
    }
}
