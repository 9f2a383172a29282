//! The naming authority: every identifier generated code declares is decided
//! here, once per target, and nowhere else.
//!
//! Emitters ask [`rust`], [`python`] and [`typescript`] for the name of each
//! thing they write (a type, a field, a method, a helper), and the checker asks
//! the same functions to build each target's namespaces and report collisions at
//! the schema's `file:line:column`. Because both sides ask one authority, a schema
//! the checker accepts cannot generate two declarations with the same name.
//!
//! Where a name is taken by the language (a keyword) or by a member every
//! generated class has, the authority *mangles* it in a documented, stable way
//! (`r#type` in Rust, `class_` in Python); where two of the schema's own names
//! would meet, or a schema name would meet a name the generated code imports, the
//! checker *rejects* the schema (docs/schema.md, "Names in generated code").
//!
//! For example, `rust::field("type")` is `r#type`, `python::attribute("class")`
//! is `class_`, a field `self` is the Python parameter `self_`, and the method
//! `find_one` is `findOne` in TypeScript (the tests below).

mod case;
pub mod python;
pub mod rust;
pub mod typescript;
mod words;

pub use case::{
    closest, is_field_identifier, is_identifier, lower_camel_case, snake_case, upper_camel_case,
};
pub use words::{reserved_in, RESERVED_TYPE_NAMES, RUST_KEYWORDS};

/// The class (Python) or interface (TypeScript) of a union's variant:
/// `{Union}{Variant}` (`ShapeCircle`).
pub fn variant_class(union: &str, variant: &str) -> String {
    format!("{union}{}", upper_camel_case(variant))
}

/// The module an imported package's types live in, in every language: the
/// package with `_` for its dots (`acme.common` → `acme_common`).
pub fn module_alias(package: &str) -> String {
    package.replace('.', "_")
}

/// The client class of a service in every language: `{Service}Client`
/// (`KvStoreClient`).
pub fn client_class(service: &str) -> String {
    format!("{}Client", upper_camel_case(service))
}

#[cfg(test)]
mod tests {
    use super::{python, rust, typescript};

    #[test]
    fn each_target_spells_names_its_way() {
        let none = python::Shadowed::default();
        assert_eq!(rust::field("type"), "r#type");
        assert_eq!(rust::field("self"), "self_");
        assert_eq!(rust::type_name("price_feed"), "PriceFeed");
        assert_eq!(python::attribute("class", &none), "class_");
        assert_eq!(python::parameter("self", &none), "self_");
        assert_eq!(python::enum_member("dark_red"), "DARK_RED");
        assert_eq!(typescript::method("find_one"), "findOne");
        assert_eq!(super::module_alias("acme.common"), "acme_common");
    }
}
