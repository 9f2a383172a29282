//! The server side: the listener that places the socket and accepts connections
//! within the limits, and one task per connection that reads frames, dispatches
//! requests to exposed actors and writes their answers.
//!
//! Start it from the runtime ([`ActorRuntime::start_ipc_listener`](crate::runtime::ActorRuntime::start_ipc_listener)
//! and its `_with_config` / `_with_options` forms); the handle it returns reports
//! [`IpcListenerStats`] and shuts the listener down.

mod connection;
mod hub;
mod listener;
mod rate_limit;
mod stats;

pub use listener::{IpcError, IpcListenerHandle, ShutdownReport};
pub use stats::IpcListenerStats;
