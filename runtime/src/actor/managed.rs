//! The view of a running actor that its handlers and hooks receive.

use std::fmt;

use super::{ActorBuilder, ActorHandle, ActorId};
use crate::broker::Broker;
use crate::runtime::ActorRuntime;

/// A running actor as its handlers see it: its state (`model`) and its surroundings.
pub struct ManagedActor<S> {
    /// The actor's state. Handlers registered with `mutate_on` may change it.
    pub model: S,
    handle: ActorHandle,
    runtime: ActorRuntime,
}

impl<S> ManagedActor<S> {
    pub(crate) fn new(model: S, handle: ActorHandle, runtime: ActorRuntime) -> Self {
        Self {
            model,
            handle,
            runtime,
        }
    }

    /// A handle to this actor, for example to send itself a message later.
    pub fn handle(&self) -> &ActorHandle {
        &self.handle
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        self.handle.name()
    }

    /// The actor's id, unique within its runtime.
    pub fn id(&self) -> ActorId {
        self.handle.id()
    }

    /// The runtime the actor runs in.
    pub fn runtime(&self) -> &ActorRuntime {
        &self.runtime
    }

    /// The runtime's broker, to broadcast messages.
    pub fn broker(&self) -> Broker {
        self.runtime.broker()
    }

    /// Builds a child actor, stopped together with this one. Start it with
    /// [`ActorBuilder::start`].
    pub fn new_child<C: Default + Send + 'static>(&self, name: &str) -> ActorBuilder<C> {
        self.runtime.new_child_actor(&self.handle, name)
    }
}

impl<S: fmt::Debug> fmt::Debug for ManagedActor<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedActor")
            .field("name", &self.handle.name())
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}
