//! [`ActorBuilder`]: an actor under construction.

use std::any::TypeId;
use std::fmt;

use tokio::sync::mpsc;

use super::core::ActorCore;
use super::handler::{act_fn, mutate_fn, Handler, HandlerTable, HookFn};
use super::{ActorHandle, HandlerOutput, ManagedActor};
use crate::message::{ActonMessage, Envelope, FutureBox, MessageContext};
use crate::runtime::ActorRuntime;

/// Settings of one actor; what is not set comes from the runtime's
/// [`RuntimeConfig`](crate::runtime::RuntimeConfig).
///
/// ```
/// use acton_reactive::prelude::*;
///
/// # async fn demo() {
/// let runtime = ActonApp::launch();
/// let builder = runtime.new_actor_with_config::<u32>(
///     ActorConfig::new("counter").mailbox_capacity(16),
/// );
/// assert_eq!(builder.handle().mailbox_capacity(), 16);
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ActorConfig {
    pub(crate) name: Option<String>,
    pub(crate) mailbox_capacity: Option<usize>,
    pub(crate) max_concurrent_handlers: Option<usize>,
}

impl ActorConfig {
    /// Settings for an actor named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// How many messages the mailbox holds before `send` waits and `try_send` fails
    /// with `TargetBusy` (at least 1).
    #[must_use]
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = Some(capacity.max(1));
        self
    }

    /// How many `act_on` futures may run at once before the actor stops taking
    /// messages (at least 1).
    #[must_use]
    pub fn max_concurrent_handlers(mut self, limit: usize) -> Self {
        self.max_concurrent_handlers = Some(limit.max(1));
        self
    }
}

/// An actor under construction: register its handlers and hooks, then
/// [`start`](Self::start) it.
///
/// Its [`handle`](Self::handle) exists already, so the actor can be subscribed to
/// broadcasts or handed to others before it starts; messages sent before the start
/// wait in its mailbox.
pub struct ActorBuilder<S> {
    /// The actor's initial state.
    pub model: S,
    runtime: ActorRuntime,
    handle: ActorHandle,
    mailbox: mpsc::Receiver<Envelope>,
    handlers: HandlerTable<S>,
    after_start: Option<HookFn<S>>,
    before_stop: Option<HookFn<S>>,
    parent: Option<ActorHandle>,
    max_concurrent: usize,
}

impl<S: Send + 'static> ActorBuilder<S> {
    pub(crate) fn new(
        runtime: ActorRuntime,
        model: S,
        handle: ActorHandle,
        mailbox: mpsc::Receiver<Envelope>,
        max_concurrent: usize,
        parent: Option<ActorHandle>,
    ) -> Self {
        Self {
            model,
            runtime,
            handle,
            mailbox,
            handlers: HandlerTable::default(),
            after_start: None,
            before_stop: None,
            parent,
            max_concurrent,
        }
    }

    /// The handle the actor will have once started.
    pub fn handle(&self) -> &ActorHandle {
        &self.handle
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        self.handle.name()
    }

    /// Handles messages of type `M` with exclusive, mutable access to the state.
    ///
    /// Such handlers run one at a time, in mailbox order; the future one returns is
    /// awaited before the next message is taken. Registering a second handler for `M`
    /// replaces the first.
    pub fn mutate_on<M>(
        &mut self,
        handler: impl for<'a> Fn(&'a mut ManagedActor<S>, &'a mut MessageContext<M>) -> FutureBox
            + Send
            + 'static,
    ) -> &mut Self
    where
        M: ActonMessage,
    {
        self.handlers
            .insert(TypeId::of::<M>(), Handler::Mutate(mutate_fn(handler)));
        self
    }

    /// Handles messages of type `M` with shared, read-only access to the state.
    ///
    /// The handler's body runs in mailbox order; the futures it returns run
    /// concurrently with each other and with later messages. Registering a second
    /// handler for `M` replaces the first.
    pub fn act_on<M>(
        &mut self,
        handler: impl for<'a> Fn(&'a ManagedActor<S>, &'a mut MessageContext<M>) -> FutureBox
            + Send
            + 'static,
    ) -> &mut Self
    where
        M: ActonMessage,
    {
        self.handlers
            .insert(TypeId::of::<M>(), Handler::Act(act_fn(handler)));
        self
    }

    /// Runs once when the actor starts, before its first message.
    pub fn after_start<R: HandlerOutput>(
        &mut self,
        hook: impl FnOnce(&mut ManagedActor<S>) -> R + Send + 'static,
    ) -> &mut Self {
        self.after_start = Some(Box::new(move |actor| hook(actor).into_future_box()));
        self
    }

    /// Runs once when the actor stops, after its last message and its children.
    pub fn before_stop<R: HandlerOutput>(
        &mut self,
        hook: impl FnOnce(&mut ManagedActor<S>) -> R + Send + 'static,
    ) -> &mut Self {
        self.before_stop = Some(Box::new(move |actor| hook(actor).into_future_box()));
        self
    }

    /// Starts the actor's message loop and returns its handle.
    ///
    /// An actor started while its runtime shuts down stops at once, after handling
    /// what its mailbox already holds.
    pub async fn start(self) -> ActorHandle {
        let Self {
            model,
            runtime,
            handle,
            mailbox,
            handlers,
            after_start,
            before_stop,
            parent,
            max_concurrent,
        } = self;
        if let Some(parent) = parent {
            parent.add_child(handle.clone());
        }
        let core = ActorCore {
            actor: ManagedActor::new(model, handle.clone(), runtime.clone()),
            handlers,
            mailbox,
            after_start,
            before_stop,
            max_concurrent,
        };
        runtime.spawn_actor(handle.clone(), core.run());
        handle
    }
}

impl<S: fmt::Debug> fmt::Debug for ActorBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorBuilder")
            .field("name", &self.handle.name())
            .field("model", &self.model)
            .field("handlers", &self.handlers.len())
            .finish_non_exhaustive()
    }
}
