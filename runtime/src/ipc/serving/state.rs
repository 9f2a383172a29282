//! The runtime's IPC state, shared by every transport: the type registry, the
//! actors exposed by name, and the running transports (drained before the actors
//! stop).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use super::transport::Transport;
use crate::actor::ActorHandle;
use crate::ipc::registry::IpcTypeRegistry;

/// See the [module](self).
#[derive(Default)]
pub(crate) struct IpcState {
    registry: Arc<IpcTypeRegistry>,
    exposed: RwLock<HashMap<String, ActorHandle>>,
    /// Bumped after every change of `exposed`, so that connections may keep what
    /// they looked up while it stays the same.
    exposures: AtomicU64,
    /// Woken after every change of `exposed` (the NATS bridge follows them).
    exposures_notice: tokio::sync::Notify,
    transports: Mutex<Vec<Weak<dyn Transport>>>,
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

    /// Registers a running transport, to be drained by [`drain_transports`](Self::drain_transports).
    pub(crate) fn add_transport(&self, transport: Weak<dyn Transport>) {
        let mut transports = self
            .transports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        transports.retain(|transport| transport.strong_count() > 0);
        transports.push(transport);
    }

    /// Drains every running transport at once: their in-flight requests are
    /// answered while the actors still run.
    pub(crate) async fn drain_transports(&self) {
        let transports: Vec<Arc<dyn Transport>> = self
            .transports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .filter_map(|transport| transport.upgrade())
            .collect();
        futures_util::future::join_all(transports.iter().map(|transport| transport.drain())).await;
    }

    /// Completes after the next change of the exposed actors (enable it before
    /// reading them, so that no change goes unseen).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn exposures_changed_notice(&self) -> tokio::sync::futures::Notified<'_> {
        self.exposures_notice.notified()
    }

    /// Changes with every `ipc_expose` / `ipc_hide` (read it before a lookup).
    pub(crate) fn exposures(&self) -> u64 {
        self.exposures.load(Ordering::Acquire)
    }

    /// Exposes `handle` as `name`; returns the actor it replaces.
    pub(crate) fn expose(&self, name: &str, handle: ActorHandle) -> Option<ActorHandle> {
        let previous = self
            .exposed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), handle);
        self.exposures_changed();
        previous
    }

    /// Hides the actor exposed as `name`; returns it.
    pub(crate) fn hide(&self, name: &str) -> Option<ActorHandle> {
        let hidden = self
            .exposed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        self.exposures_changed();
        hidden
    }

    fn exposures_changed(&self) {
        self.exposures.fetch_add(1, Ordering::AcqRel);
        self.exposures_notice.notify_waiters();
    }

    pub(crate) fn exposed(&self, name: &str) -> Option<ActorHandle> {
        self.exposed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every exposed actor, sorted by name.
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
