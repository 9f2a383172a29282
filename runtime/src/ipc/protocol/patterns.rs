//! Subscription patterns: which broadcast type names a pattern selects. Shared by
//! the server (which filters broadcasts) and the client (which routes pushes).

/// `*` matches every name, `prefix*` every name that starts with `prefix`, and any
/// other pattern only itself.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn patterns_match_by_prefix_or_exactly() {
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("price.*", "price.Update"));
        assert!(!pattern_matches("price.*", "prices.Update"));
        assert!(pattern_matches("PriceUpdate", "PriceUpdate"));
        assert!(!pattern_matches("PriceUpdate", "PriceUpdates"));
    }
}
