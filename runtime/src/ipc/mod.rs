//! Serving actors to other processes over a Unix domain socket.
//!
//! A request walks through these modules in order: [`server`] accepts the
//! connection and reads frames ([`protocol`] says what they mean, [`codec`] turns
//! their payloads into values), the [`registry`] decodes the message into the type
//! registered under its name, the exposed actor handles it, and its replies go
//! back through the connection's bounded outbox to the socket. [`client`] is the
//! other end, in Rust. [`config`] holds every limit, [`service`] the glue that
//! generated services are built on.
//!
//! ```no_run
//! use acton_reactive::prelude::*;
//! use acton_reactive::ipc::IpcConfig;
//!
//! #[acton_message(ipc)]
//! struct Ping;
//!
//! #[acton_main]
//! async fn main() -> anyhow::Result<()> {
//!     let mut runtime = ActonApp::launch();
//!     runtime.ipc_registry().register::<Ping>("Ping");
//!     let mut pinger = runtime.new_actor::<()>();
//!     pinger.act_on::<Ping>(|_actor, ctx| {
//!         let reply = ctx.reply_envelope();
//!         Reply::pending(async move { reply.send(Ping).await })
//!     });
//!     let pinger = pinger.start().await;
//!     runtime.ipc_expose("pinger", pinger);
//!     let listener = runtime
//!         .start_ipc_listener_with_config(IpcConfig::default())
//!         .await?;
//!     // ... serve until asked to stop ...
//!     listener.shutdown().await?;
//!     runtime.shutdown_all().await?;
//!     Ok(())
//! }
//! ```

pub mod client;
pub mod codec;
pub mod config;
pub mod protocol;
pub mod registry;
pub mod server;
pub mod service;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

pub use codec::wire;
pub use codec::{CodecError, Format};
pub use config::{IpcConfig, IpcOptions, RateLimitConfig};
pub use registry::{IpcTypeRegistry, RegistryError, ServedSchema};
pub use server::{IpcError, IpcListenerHandle, IpcListenerStats, ShutdownReport};

use crate::actor::ActorHandle;
use crate::runtime::ActorRuntime;

/// The runtime's IPC state: its registry, the actors exposed by name, and its
/// listeners (drained before the actors stop).
#[derive(Default)]
pub(crate) struct IpcState {
    registry: Arc<IpcTypeRegistry>,
    exposed: RwLock<HashMap<String, ActorHandle>>,
    /// Bumped after every change of `exposed`, so that connections may keep what
    /// they looked up while it stays the same.
    exposures: std::sync::atomic::AtomicU64,
    listeners: Mutex<Vec<Weak<server::listener::ListenerCore>>>,
    /// Woken after every change of `exposed` (the NATS bridge follows them).
    exposures_notice: tokio::sync::Notify,
    #[cfg(feature = "nats")]
    bridges: Mutex<Vec<Weak<crate::nats::bridge::Core>>>,
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

    pub(crate) fn add_listener(&self, listener: &Arc<server::listener::ListenerCore>) {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.retain(|listener| listener.strong_count() > 0);
        listeners.push(Arc::downgrade(listener));
    }

    #[cfg(feature = "nats")]
    pub(crate) fn add_bridge(&self, bridge: &Arc<crate::nats::bridge::Core>) {
        let mut bridges = self.bridges.lock().unwrap_or_else(PoisonError::into_inner);
        bridges.retain(|bridge| bridge.strong_count() > 0);
        bridges.push(Arc::downgrade(bridge));
    }

    /// Completes after the next change of the exposed actors (enable it before
    /// reading them, so that no change goes unseen).
    #[cfg(feature = "nats")]
    pub(crate) fn exposures_changed_notice(&self) -> tokio::sync::futures::Notified<'_> {
        self.exposures_notice.notified()
    }

    /// Drains every running listener (and NATS bridge): their in-flight requests
    /// are answered while the actors still run.
    pub(crate) async fn drain_listeners(&self) {
        #[cfg(feature = "nats")]
        {
            let bridges: Vec<_> = self
                .bridges
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(..)
                .filter_map(|bridge| bridge.upgrade())
                .collect();
            futures_util::future::join_all(bridges.iter().map(|bridge| bridge.shutdown())).await;
        }
        let listeners: Vec<_> = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .filter_map(|listener| listener.upgrade())
            .collect();
        futures_util::future::join_all(
            listeners
                .iter()
                .map(|listener| listener.shutdown_gracefully()),
        )
        .await;
    }

    /// Changes with every `ipc_expose` / `ipc_hide` (read it before a lookup).
    pub(crate) fn exposures(&self) -> u64 {
        self.exposures.load(std::sync::atomic::Ordering::Acquire)
    }

    fn exposures_changed(&self) {
        self.exposures
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.exposures_notice.notify_waiters();
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
        self.ipc_state().exposures_changed();
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
        let hidden = self
            .ipc_state()
            .exposed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        self.ipc_state().exposures_changed();
        hidden
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
