//! The example schema's types, services and clients, as `acton-gen` generates them
//! from `schema/messages.yaml` (the generated code is `messages.rs`; this wrapper
//! only makes a crate of it).

include!("messages.rs");
