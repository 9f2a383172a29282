//! The Rust generated from random hostile schemas, one module each (see
//! `codegen/examples/hostile.rs` and `scripts/hostile.sh`).

include!(concat!(env!("OUT_DIR"), "/modules.rs"));
