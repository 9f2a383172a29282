//! The generated Rust for `codegen/tests/everything.yaml`, compiled (and linted).

include!("../snapshots/rust/everything.rs");
