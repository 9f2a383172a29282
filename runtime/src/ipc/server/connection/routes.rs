//! What a connection's last request resolved — its target actor and its message
//! type — kept while nothing is exposed, hidden or registered. A connection
//! usually sends the same few requests; this spares it the shared tables' locks
//! and hashing on each one. A change anywhere (the tables' generations) empties
//! it before the next lookup.

use std::sync::Arc;

use crate::actor::ActorHandle;
use crate::ipc::registry::{IpcTypeRegistry, Registration};
use crate::ipc::IpcState;

#[derive(Default)]
pub(crate) struct Routes {
    exposures: u64,
    registrations: u64,
    target: Option<(Box<str>, ActorHandle)>,
    message_type: Option<(Box<str>, Arc<Registration>)>,
}

impl Routes {
    /// The actor exposed as `name`.
    pub(crate) fn target(&mut self, ipc: &IpcState, name: &str) -> Option<ActorHandle> {
        // Read before the lookup: a change after it empties the cache next time.
        let generation = ipc.exposures();
        if generation != self.exposures {
            self.exposures = generation;
            self.target = None;
        }
        if let Some((cached, handle)) = &self.target {
            if **cached == *name {
                return Some(handle.clone());
            }
        }
        let handle = ipc.exposed(name)?;
        self.target = Some((name.into(), handle.clone()));
        Some(handle)
    }

    /// The type registered as `name`.
    pub(crate) fn message_type(
        &mut self,
        registry: &IpcTypeRegistry,
        name: &str,
    ) -> Option<Arc<Registration>> {
        let generation = registry.generation();
        if generation != self.registrations {
            self.registrations = generation;
            self.message_type = None;
        }
        if let Some((cached, registration)) = &self.message_type {
            if **cached == *name {
                return Some(Arc::clone(registration));
            }
        }
        let registration = registry.by_name(name)?;
        self.message_type = Some((name.into(), Arc::clone(&registration)));
        Some(registration)
    }
}
