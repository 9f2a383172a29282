//! Serving actors to other processes over a Unix domain socket.
//!
//! - [`IpcTypeRegistry`]: wire type names ↔ Rust types (`runtime.ipc_registry()`);
//! - exposure: `runtime.ipc_expose(name, handle)` / `ipc_hide(name)`;
//! - [`protocol`]: frames and messages of protocol v2;
//! - [`Format`]: JSON and MessagePack payloads.

pub mod client;
pub mod config;
mod connection;
pub mod format;
mod hub;
mod listener;
mod msgpack;
mod outbound;
pub mod protocol;
mod rate_limit;
pub mod registry;
mod request;
pub mod service;
mod stats;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

pub use config::{IpcConfig, IpcOptions, RateLimitConfig};
pub use format::{CodecError, Format};
pub use listener::{IpcError, IpcListenerHandle, ShutdownReport};
pub use registry::{IpcTypeRegistry, RegistryError};
pub use stats::IpcListenerStats;

use crate::actor::ActorHandle;
use crate::runtime::ActorRuntime;

/// The runtime's IPC state: its registry and the actors exposed by name.
#[derive(Default)]
pub(crate) struct IpcState {
    registry: Arc<IpcTypeRegistry>,
    exposed: RwLock<HashMap<String, ActorHandle>>,
}

impl std::fmt::Debug for IpcState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcState")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl IpcState {
    pub(crate) fn registry(&self) -> &Arc<IpcTypeRegistry> {
        &self.registry
    }

    pub(crate) fn exposed(&self, name: &str) -> Option<ActorHandle> {
        self.exposed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    pub(crate) fn exposed_actors(&self) -> Vec<(String, ActorHandle)> {
        let mut actors: Vec<(String, ActorHandle)> = self
            .exposed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, handle)| (name.clone(), handle.clone()))
            .collect();
        actors.sort_by(|a, b| a.0.cmp(&b.0));
        actors
    }
}

impl ActorRuntime {
    /// The runtime's IPC type registry (shared; register through `&self`).
    pub fn ipc_registry(&self) -> Arc<IpcTypeRegistry> {
        Arc::clone(self.ipc_state().registry())
    }

    /// Makes `handle` reachable over IPC as `name`, for every request from now on
    /// (also while a listener runs). Returns the actor previously exposed under
    /// `name`, which it replaces.
    pub fn ipc_expose(&self, name: &str, handle: ActorHandle) -> Option<ActorHandle> {
        let previous = self
            .ipc_state()
            .exposed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), handle.clone());
        if let Some(previous) = &previous {
            if previous != &handle {
                tracing::warn!(
                    name,
                    previous = previous.name(),
                    now = handle.name(),
                    "IPC name now reaches another actor"
                );
            }
        }
        previous
    }

    /// Makes the actor exposed as `name` unreachable over IPC (it keeps running).
    /// Returns it, if there was one.
    pub fn ipc_hide(&self, name: &str) -> Option<ActorHandle> {
        self.ipc_state()
            .exposed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
    }

    /// The names actors are exposed under, sorted.
    pub fn ipc_exposed_names(&self) -> Vec<String> {
        self.ipc_state()
            .exposed_actors()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }
}
