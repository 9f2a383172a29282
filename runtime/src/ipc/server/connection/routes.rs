//! What a connection's last request resolved — its target actor and its message
//! type — kept while nothing is exposed, hidden or registered. A connection
//! usually sends the same few requests; this spares it the shared tables' locks
//! and hashing on each one. A change anywhere (the tables' generations) empties
//! it before the next lookup.

use std::sync::Arc;

use crate::actor::ActorHandle;
use crate::ipc::registry::{IpcTypeRegistry, Registration};
use crate::ipc::serving::IpcState;

#[derive(Default)]
pub(crate) struct Routes {
    exposures: u64,
    registrations: u64,
    target: Option<(Box<str>, ActorHandle)>,
    message_type: Option<(Box<str>, Arc<Registration>)>,
}

/// Which lookup of a request's route failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// No actor is exposed under the target's name.
    Target,
    /// No type is registered under the message type's name.
    MessageType,
}

impl Routes {
    /// The actor exposed as `target` and the type registered as `message_type`,
    /// borrowed: a request takes no reference of its own on either (they are
    /// shared by every connection, and counting references to them from every
    /// core would bounce their counts between the cores).
    pub(crate) fn resolve(
        &mut self,
        ipc: &IpcState,
        registry: &IpcTypeRegistry,
        target: &str,
        message_type: &str,
    ) -> Result<(&ActorHandle, &Registration), Miss> {
        self.refresh_target(ipc, target).ok_or(Miss::Target)?;
        self.refresh_message_type(registry, message_type)
            .ok_or(Miss::MessageType)?;
        match (&self.target, &self.message_type) {
            (Some((_, handle)), Some((_, registration))) => Ok((handle, registration)),
            (None, _) => Err(Miss::Target),
            (_, None) => Err(Miss::MessageType),
        }
    }

    /// Makes the cached target `name`'s actor; `None` when nothing is exposed so.
    fn refresh_target(&mut self, ipc: &IpcState, name: &str) -> Option<()> {
        // Read before the lookup: a change after it empties the cache next time.
        let generation = ipc.exposures();
        if generation != self.exposures {
            self.exposures = generation;
            self.target = None;
        }
        if matches!(&self.target, Some((cached, _)) if **cached == *name) {
            return Some(());
        }
        let handle = ipc.exposed(name)?;
        self.target = Some((name.into(), handle));
        Some(())
    }

    /// Makes the cached message type `name`'s registration; `None` when no type
    /// is registered so.
    fn refresh_message_type(&mut self, registry: &IpcTypeRegistry, name: &str) -> Option<()> {
        let generation = registry.generation();
        if generation != self.registrations {
            self.registrations = generation;
            self.message_type = None;
        }
        if matches!(&self.message_type, Some((cached, _)) if **cached == *name) {
            return Some(());
        }
        let registration = registry.by_name(name)?;
        self.message_type = Some((name.into(), registration));
        Some(())
    }
}
