//! What the Python and TypeScript emitters share: the recursion that builds the
//! conversions between a language's values and their wire form (each target only
//! says what its helpers are called), and the record of what a module imports,
//! kept as the code that needs it is built — never found by searching the output.

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::model::{Scalar, TypeIndex, TypeRef};

/// The runtime's combinators of a target: decoders and encoders of lists, maps
/// and optionals, each built from the conversion of the element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Combinators {
    pub list_of: &'static str,
    pub map_of: &'static str,
    pub optional_of: &'static str,
    pub list_to: &'static str,
    pub map_to: &'static str,
    pub optional_to: &'static str,
}

/// What a target calls its conversions.
pub(crate) trait Dialect {
    /// Its combinators.
    const COMBINATORS: Combinators;

    /// The decoder of a scalar: a runtime helper (`decode_int`).
    fn scalar_decoder(&self, scalar: Scalar) -> &'static str;

    /// The encoder of a scalar (a runtime helper), if its values need one.
    fn scalar_encoder(&self, scalar: Scalar) -> Option<&'static str>;

    /// The decoder of a named type, as this module names it (`Money.from_wire`,
    /// `common.decodeMoney`).
    fn named_decoder(&self, index: TypeIndex) -> String;

    /// The encoder of a named type, as this module names it.
    fn named_encoder(&self, index: TypeIndex, imports: &Imports) -> String;
}

/// A decoder (a callable expression) of `ty`.
pub(crate) fn decoder<D: Dialect>(dialect: &D, imports: &Imports, ty: &TypeRef) -> String {
    let combine = |combinator: &'static str, inner: &TypeRef| {
        format!(
            "{}({})",
            imports.runtime(combinator),
            decoder(dialect, imports, inner)
        )
    };
    match ty {
        TypeRef::Scalar(scalar) => imports.runtime(dialect.scalar_decoder(*scalar)),
        TypeRef::List(inner) => combine(D::COMBINATORS.list_of, inner),
        TypeRef::Map(inner) => combine(D::COMBINATORS.map_of, inner),
        TypeRef::Optional(inner) => combine(D::COMBINATORS.optional_of, inner),
        TypeRef::Named(index) => dialect.named_decoder(*index),
    }
}

/// An encoder (a callable expression) of `ty`, or `None` when its values go on
/// the wire as they are.
pub(crate) fn encoder<D: Dialect>(dialect: &D, imports: &Imports, ty: &TypeRef) -> Option<String> {
    let combine = |combinator: &'static str, inner: &TypeRef| {
        encoder(dialect, imports, inner).map(|e| format!("{}({e})", imports.runtime(combinator)))
    };
    match ty {
        TypeRef::Scalar(scalar) => dialect
            .scalar_encoder(*scalar)
            .map(|name| imports.runtime(name)),
        TypeRef::List(inner) => combine(D::COMBINATORS.list_to, inner),
        TypeRef::Map(inner) => combine(D::COMBINATORS.map_to, inner),
        TypeRef::Optional(inner) => combine(D::COMBINATORS.optional_to, inner),
        TypeRef::Named(index) => Some(dialect.named_encoder(*index, imports)),
    }
}

/// What a module imports: the runtime's names and other generated modules,
/// recorded when the code that uses them is built.
#[derive(Debug, Default)]
pub(crate) struct Imports {
    runtime: RefCell<BTreeSet<String>>,
    modules: RefCell<BTreeSet<String>>,
}

impl Imports {
    /// `name` from the runtime, recorded; returns it.
    pub fn runtime(&self, name: &str) -> String {
        self.runtime.borrow_mut().insert(name.to_owned());
        name.to_owned()
    }

    /// Records `name` from the runtime when `used`.
    pub fn runtime_if(&self, used: bool, name: &str) {
        if used {
            self.runtime(name);
        }
    }

    /// The generated module `alias` (an imported package's), recorded.
    pub fn module(&self, alias: &str) {
        self.modules.borrow_mut().insert(alias.to_owned());
    }

    /// The runtime names used, sorted.
    pub fn runtime_names(&self) -> Vec<String> {
        self.runtime.borrow().iter().cloned().collect()
    }

    /// The generated modules used, sorted.
    pub fn modules(&self) -> Vec<String> {
        self.modules.borrow().iter().cloned().collect()
    }
}
