//! The README's "The runtime in one screen", as written.
include!(concat!(env!("OUT_DIR"), "/readme_block_1.rs"));
