//! Paths shared with the published `acton-reactive` crate, so that code written
//! against it (for example `use acton_reactive::common::ipc::IpcConfig;`) compiles.

#[cfg(feature = "ipc")]
pub mod ipc;
