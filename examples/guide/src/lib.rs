//! The code of the IPC Setup guide, compiled as written: the basic setup program is
//! `src/bin/basic_setup.rs`; every other snippet sits in `tests/snippets.rs`, inside
//! a function that provides what the snippet assumes (a runtime, a registry, a
//! handle) and runs it.
