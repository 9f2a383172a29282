//! The schema compiler of acton: parses `schema/messages.yaml` and emits typed code.
//!
//! The schema front end and the emitters arrive with the code-generation issue; this
//! crate holds their place in the workspace.
