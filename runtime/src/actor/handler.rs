//! Type erasure of handlers: a table from message type to the closure that handles it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::ManagedActor;
use crate::message::{ActonMessage, Envelope, FutureBox, MessageContext, OutboundEnvelope, Reply};

/// What a lifecycle hook may return: `()` when it is done, or a [`FutureBox`] built
/// with [`Reply::pending`] / [`Reply::ready`] when work remains.
pub trait HandlerOutput: Send + 'static {
    /// The future that finishes the handler's work.
    fn into_future_box(self) -> FutureBox;
}

impl HandlerOutput for () {
    fn into_future_box(self) -> FutureBox {
        Reply::ready()
    }
}

impl HandlerOutput for FutureBox {
    fn into_future_box(self) -> FutureBox {
        self
    }
}

pub(crate) type MutateFn<S> = Box<dyn Fn(&mut ManagedActor<S>, Envelope) -> FutureBox + Send>;
pub(crate) type ActFn<S> = Box<dyn Fn(&ManagedActor<S>, Envelope) -> FutureBox + Send>;
pub(crate) type HookFn<S> = Box<dyn FnOnce(&mut ManagedActor<S>) -> FutureBox + Send>;

/// A registered handler: exclusive (`mutate_on`) or shared (`act_on`).
pub(crate) enum Handler<S> {
    Mutate(MutateFn<S>),
    Act(ActFn<S>),
}

pub(crate) type HandlerTable<S> = HashMap<TypeId, Handler<S>, BuildHasherDefault<TypeIdHasher>>;

/// Splits an envelope into the typed context a handler expects.
///
/// The table is keyed by `TypeId`, so the downcast cannot fail for an envelope that
/// was routed through it; should it ever, the message is dropped (and its reply
/// path with it) rather than handed to the wrong handler.
pub(crate) fn into_context<M: ActonMessage>(envelope: Envelope) -> Option<MessageContext<M>> {
    let Envelope {
        message,
        reply_to,
        origin,
    } = envelope;
    let message: Box<dyn Any + Send + Sync> = message;
    let message = message.downcast::<M>().ok()?;
    Some(MessageContext::new(
        *message,
        OutboundEnvelope::new(reply_to),
        origin,
    ))
}

pub(crate) fn mutate_fn<S, M, F>(handler: F) -> MutateFn<S>
where
    S: Send + 'static,
    M: ActonMessage,
    F: for<'a> Fn(&'a mut ManagedActor<S>, &'a mut MessageContext<M>) -> FutureBox + Send + 'static,
{
    Box::new(move |actor, envelope| match into_context::<M>(envelope) {
        Some(mut context) => handler(actor, &mut context),
        None => Reply::ready(),
    })
}

pub(crate) fn act_fn<S, M, F>(handler: F) -> ActFn<S>
where
    S: Send + 'static,
    M: ActonMessage,
    F: for<'a> Fn(&'a ManagedActor<S>, &'a mut MessageContext<M>) -> FutureBox + Send + 'static,
{
    Box::new(move |actor, envelope| match into_context::<M>(envelope) {
        Some(mut context) => handler(actor, &mut context),
        None => Reply::ready(),
    })
}

/// `TypeId`s are already hashes; feeding them through SipHash only costs time on the
/// path every message takes.
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_ne_bytes(word);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = self.0.rotate_left(5) ^ value;
    }
}
