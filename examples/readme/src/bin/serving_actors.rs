//! The README's "Serving actors to other processes", as written: serves
//! `calculator` on /tmp/acton.sock until Ctrl-C.
include!(concat!(env!("OUT_DIR"), "/readme_block_2.rs"));
