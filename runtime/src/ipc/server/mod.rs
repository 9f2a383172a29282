//! The server side: the listener that places the socket and accepts connections
//! within the limits, and one task per connection that reads frames, dispatches
//! requests to exposed actors and writes their answers.
//!
//! A request walks forward through these modules: `listener` accepts the
//! connection (after `socket` placed the socket file), `connection` reads its
//! frames and hands each to its sans-IO state machine, which refuses it or
//! dispatches it to the actor; the handler's replies come back through `reply`
//! into the connection's `outbox`, which the connection's task writes out.
//! Subscriptions live in `hub`.
//!
//! Start it from the runtime ([`ActorRuntime::start_ipc_listener`](crate::runtime::ActorRuntime::start_ipc_listener)
//! and its `_with_config` / `_with_options` forms); the handle it returns reports
//! [`IpcListenerStats`] and shuts the listener down.
//!
//! ```no_run
//! use acton_reactive::prelude::*;
//! use acton_reactive::ipc::{IpcConfig, IpcOptions};
//! use std::time::Duration;
//!
//! # async fn demo(runtime: ActorRuntime) -> anyhow::Result<()> {
//! let listener = runtime
//!     .start_ipc_listener_with_options(
//!         IpcConfig::default(),
//!         IpcOptions::default()
//!             .max_outbound_bytes(1024 * 1024)
//!             .max_connections_per_uid(16)
//!             .max_request_timeout(Duration::from_secs(600)),
//!     )
//!     .await?;
//! println!("{:?}", listener.stats());
//! listener.shutdown().await?;
//! # Ok(()) }
//! ```

mod connection;
mod hub;
pub(crate) mod listener;
mod outbox;
mod reply;
mod socket;
mod stats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use listener::{IpcError, IpcListenerHandle, ShutdownReport};
pub use stats::IpcListenerStats;

use self::hub::SubscriptionHub;
use self::stats::Counters;
use crate::ipc::config::{IpcConfig, IpcOptions};
use crate::ipc::registry::IpcTypeRegistry;
use crate::ipc::serving::admission::TokenBucket;
use crate::runtime::ActorRuntime;
use crate::signal::Signal;

/// What every connection of one listener shares.
pub(crate) struct ListenerShared {
    pub(crate) runtime: ActorRuntime,
    pub(crate) registry: Arc<IpcTypeRegistry>,
    pub(crate) config: IpcConfig,
    pub(crate) options: IpcOptions,
    pub(crate) counters: Arc<Counters>,
    pub(crate) hub: Arc<SubscriptionHub>,
    /// Per user id: connections held, and the shared rate bucket.
    pub(crate) uids: Mutex<HashMap<u32, UidState>>,
    /// Raised when shutdown begins: connections stop reading and drain.
    pub(crate) stop_reading: Signal,
    /// Raised when the drain time is over: in-flight requests end at once.
    pub(crate) cut: Signal,
}

/// What one user id holds across its connections.
#[derive(Default)]
pub(crate) struct UidState {
    pub(crate) connections: usize,
    pub(crate) bucket: Option<Arc<Mutex<TokenBucket>>>,
}

impl ListenerShared {
    /// Counts a connection of `uid` in, if its quota allows; returns the uid's
    /// shared rate bucket (when one is configured), or `Err` at the quota.
    pub(crate) fn admit_uid(&self, uid: u32) -> Result<Option<Arc<Mutex<TokenBucket>>>, usize> {
        let mut uids = self.uids.lock().unwrap_or_else(PoisonError::into_inner);
        let state = uids.entry(uid).or_default();
        if let Some(quota) = self.options.max_connections_per_uid {
            if state.connections >= quota {
                return Err(quota);
            }
        }
        state.connections += 1;
        if state.bucket.is_none() {
            state.bucket = self
                .options
                .rate_limit_per_uid
                .map(|limit| Arc::new(Mutex::new(TokenBucket::new(limit))));
        }
        Ok(state.bucket.clone())
    }

    /// Counts a connection of `uid` out. The uid's rate bucket is kept, so that
    /// reconnecting does not refill it.
    pub(crate) fn release_uid(&self, uid: u32) {
        let mut uids = self.uids.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = uids.get_mut(&uid) {
            state.connections = state.connections.saturating_sub(1);
        }
    }
}
