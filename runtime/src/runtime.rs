//! [`ActonApp`] launches an [`ActorRuntime`]: the home of every actor, the broker,
//! and (with the `ipc` feature) the IPC registry and listener.
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime = ActonApp::launch();
//! let actor = runtime.new_actor_with_name::<()>("worker").start().await;
//! assert_eq!(actor.name(), "worker");
//! assert_eq!(runtime.actor_count(), 1);
//! runtime.shutdown_all().await?;
//! assert_eq!(runtime.actor_count(), 0);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::actor::{ActorBuilder, ActorConfig, ActorHandle, ActorId};
use crate::broker::Broker;
use crate::error::ShutdownError;
use crate::signal::Signal;

/// Entry point: launches a runtime.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_main]
/// async fn main() -> anyhow::Result<()> {
///     let mut runtime = ActonApp::launch();
///     let counter = runtime.new_actor::<u64>().start().await;
///     assert!(counter.is_running());
///     runtime.shutdown_all().await?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ActonApp;

impl ActonApp {
    /// Launches a runtime with the default [`RuntimeConfig`].
    ///
    /// A plain call: nothing is spawned until the first actor starts, so it may be
    /// called before or inside a Tokio runtime.
    #[must_use]
    pub fn launch() -> ActorRuntime {
        Self::launch_with(RuntimeConfig::default())
    }

    /// [`launch`](Self::launch), for code written against the `async` form.
    pub async fn launch_async() -> ActorRuntime {
        Self::launch()
    }

    /// Launches a runtime with the given settings.
    #[must_use]
    pub fn launch_with(config: RuntimeConfig) -> ActorRuntime {
        ActorRuntime {
            inner: Arc::new(RuntimeInner {
                config,
                broker: Broker::default(),
                stop: Arc::new(Signal::default()),
                kill: Arc::new(Signal::default()),
                tracker: TaskTracker::new(),
                next_id: AtomicU64::new(1),
                #[cfg(feature = "ipc")]
                ipc: crate::ipc::serving::IpcState::default(),
            }),
        }
    }
}

/// Settings of a runtime.
///
/// ```
/// use acton_reactive::prelude::*;
/// use std::time::Duration;
///
/// let runtime = ActonApp::launch_with(
///     RuntimeConfig::default()
///         .mailbox_capacity(1024)
///         .shutdown_timeout(Duration::from_secs(5)),
/// );
/// assert_eq!(runtime.config().default_mailbox_capacity(), 1024);
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    mailbox_capacity: usize,
    max_concurrent_handlers: usize,
    shutdown_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            mailbox_capacity: 256,
            max_concurrent_handlers: 1024,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl RuntimeConfig {
    /// Default mailbox capacity of new actors (default 256, at least 1).
    #[must_use]
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }

    /// Default bound on the `act_on` futures an actor runs at once (default 1024).
    #[must_use]
    pub fn max_concurrent_handlers(mut self, limit: usize) -> Self {
        self.max_concurrent_handlers = limit.max(1);
        self
    }

    /// How long [`ActorRuntime::shutdown_all`] waits for actors to finish before it
    /// cancels them (default 30 s).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The default mailbox capacity.
    pub fn default_mailbox_capacity(&self) -> usize {
        self.mailbox_capacity
    }

    /// The shutdown timeout.
    pub fn default_shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}

/// A running actor system. Cloning is cheap; every clone is the same system.
#[derive(Clone)]
pub struct ActorRuntime {
    inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    config: RuntimeConfig,
    broker: Broker,
    /// Raised to ask every actor to stop gracefully.
    stop: Arc<Signal>,
    /// Raised when the shutdown timeout expires: actor tasks end at once.
    kill: Arc<Signal>,
    tracker: TaskTracker,
    next_id: AtomicU64,
    #[cfg(feature = "ipc")]
    ipc: crate::ipc::serving::IpcState,
}

impl ActorRuntime {
    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Builds an actor with a default state and a generated name.
    pub fn new_actor<S: Default + Send + 'static>(&self) -> ActorBuilder<S> {
        self.new_actor_with_config(ActorConfig::default())
    }

    /// Builds an actor with a default state and the given name.
    pub fn new_actor_with_name<S: Default + Send + 'static>(
        &self,
        name: impl Into<String>,
    ) -> ActorBuilder<S> {
        self.new_actor_with_config(ActorConfig::new(name))
    }

    /// Builds an actor with a default state and the given settings.
    pub fn new_actor_with_config<S: Default + Send + 'static>(
        &self,
        config: ActorConfig,
    ) -> ActorBuilder<S> {
        self.build(config, None)
    }

    /// Builds a child of `parent`, named `parent/name`. The child stops when its
    /// parent stops (before the parent's `before_stop` hook runs).
    pub fn new_child_actor<S: Default + Send + 'static>(
        &self,
        parent: &ActorHandle,
        name: &str,
    ) -> ActorBuilder<S> {
        let config = ActorConfig::new(format!("{}/{name}", parent.name()));
        self.build(config, Some(parent.clone()))
    }

    fn build<S: Default + Send + 'static>(
        &self,
        config: ActorConfig,
        parent: Option<ActorHandle>,
    ) -> ActorBuilder<S> {
        let id = ActorId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let name = config
            .name
            .unwrap_or_else(|| format!("{}-{}", short_type_name::<S>(), id.0));
        let capacity = config
            .mailbox_capacity
            .unwrap_or(self.inner.config.mailbox_capacity);
        let max_concurrent = config
            .max_concurrent_handlers
            .unwrap_or(self.inner.config.max_concurrent_handlers);
        let (sender, mailbox) = mpsc::channel(capacity);
        let handle = ActorHandle::new(
            id,
            name,
            sender,
            capacity,
            Arc::clone(&self.inner.stop),
            self.inner.broker.clone(),
        );
        ActorBuilder::new(
            self.clone(),
            S::default(),
            handle,
            mailbox,
            max_concurrent,
            parent,
        )
    }

    /// The runtime's broker.
    pub fn broker(&self) -> Broker {
        self.inner.broker.clone()
    }

    /// How many actors are running (started and not yet stopped).
    pub fn actor_count(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Whether [`shutdown_all`](Self::shutdown_all) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.stop.is_raised()
    }

    /// Stops every actor gracefully and waits until all have stopped.
    ///
    /// IPC listeners are drained first (feature `ipc`): they stop taking requests
    /// and answer those in flight, within their drain time, while every actor
    /// still runs. Then every message a mailbox accepted before this call is
    /// handled, in-flight handlers finish and `before_stop` hooks run. Actors still running after the
    /// [shutdown timeout](RuntimeConfig::shutdown_timeout) are cancelled and reported.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] when some actors had to be cancelled.
    pub async fn shutdown_all(&mut self) -> Result<(), ShutdownError> {
        // IPC listeners drain first, while the actors that answer them still run.
        #[cfg(feature = "ipc")]
        self.inner.ipc.drain_transports().await;
        self.inner.stop.raise();
        self.inner.tracker.close();
        let timeout = self.inner.config.shutdown_timeout;
        if tokio::time::timeout(timeout, self.inner.tracker.wait())
            .await
            .is_ok()
        {
            return Ok(());
        }
        let stragglers = self.inner.tracker.len();
        tracing::error!(
            stragglers,
            ?timeout,
            "actors still busy at the shutdown timeout; cancelling them"
        );
        self.inner.kill.raise();
        self.inner.tracker.wait().await;
        Err(ShutdownError::Timeout {
            stragglers,
            timeout,
        })
    }

    /// Raised when the runtime begins to shut down.
    #[cfg(feature = "ipc")]
    pub(crate) fn stop_signal(&self) -> &Arc<Signal> {
        &self.inner.stop
    }

    #[cfg(feature = "ipc")]
    pub(crate) fn ipc_state(&self) -> &crate::ipc::serving::IpcState {
        &self.inner.ipc
    }

    /// Runs an actor's loop on the runtime's task tracker.
    pub(crate) fn spawn_actor(
        &self,
        handle: ActorHandle,
        run: impl Future<Output = ()> + Send + 'static,
    ) {
        let kill = self.inner.kill.clone();
        self.inner.tracker.spawn(async move {
            tokio::select! {
                outcome = AssertUnwindSafe(run).catch_unwind() => {
                    if outcome.is_err() {
                        tracing::error!(actor = handle.name(), "actor loop panicked");
                    }
                }
                () = kill.wait() => {
                    tracing::warn!(actor = handle.name(), "actor cancelled at the shutdown timeout");
                }
            }
            // The loop (and with it the mailbox) is gone: no message can be accepted
            // any more, so it is now true to say the actor has stopped.
            handle.broker().unsubscribe_all(handle.id());
            handle.mark_stopped();
        });
    }
}

impl std::fmt::Debug for ActorRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorRuntime")
            .field("actors", &self.actor_count())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}

fn short_type_name<S>() -> String {
    let full = std::any::type_name::<S>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}
