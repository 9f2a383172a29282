//! Serving actors to other processes over a Unix domain socket.
//!
//! A request walks through these modules in order: [`server`] accepts the
//! connection and reads frames ([`protocol`] says what they mean, [`codec`] turns
//! their payloads into values); the serving core (`serving`, the same for the
//! NATS bridge and any other transport) admits the request, looks up its target
//! and type, has the [`registry`] decode the message into the type registered
//! under its name and puts it in the exposed actor's mailbox; the actor handles
//! it, and its replies go back through the connection's bounded outbox to the
//! socket. [`client`] is the other end, in Rust. [`config`] holds every limit,
//! [`service`] the glue that generated services are built on.
//!
//! A new transport implements the serving core's `Transport` trait (so that the
//! runtime drains it before its actors stop) and walks its requests through
//! `serving::admission` and `serving::intake`, saying only what is its own:
//! framing, addressing, how answers are written.
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
pub(crate) mod serving;

use std::sync::Arc;

pub use codec::wire;
pub use codec::{CodecError, Format};
pub use config::{IpcConfig, IpcOptions, RateLimitConfig};
pub use registry::{IpcTypeRegistry, RegistryError, ServedSchema};
pub use server::{IpcError, IpcListenerHandle, IpcListenerStats, ShutdownReport};

use crate::actor::ActorHandle;
use crate::runtime::ActorRuntime;

impl ActorRuntime {
    /// The runtime's IPC type registry (shared; register through `&self`).
    pub fn ipc_registry(&self) -> Arc<IpcTypeRegistry> {
        Arc::clone(self.ipc_state().registry())
    }

    /// Makes `handle` reachable over IPC as `name`, for every request from now on
    /// (also while a listener runs). Returns the actor previously exposed under
    /// `name`, which it replaces.
    pub fn ipc_expose(&self, name: &str, handle: ActorHandle) -> Option<ActorHandle> {
        let previous = self.ipc_state().expose(name, handle.clone());
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
        self.ipc_state().hide(name)
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
