//! Actors: build one ([`ActorBuilder`]), run it ([`ManagedActor`] is what its
//! handlers see), and talk to it ([`ActorHandle`]).
//!
//! An actor owns a piece of state (its *model*) and a bounded mailbox. Handlers
//! registered with [`ActorBuilder::mutate_on`] get exclusive, mutable access to the
//! model and run one at a time in mailbox order: the future a mutating handler
//! returns is awaited before the next message is taken. Handlers registered with
//! [`ActorBuilder::act_on`] get shared access; the futures they return run
//! concurrently with each other and with later messages.

mod builder;
mod core;
mod handle;
mod handler;
mod managed;
mod parked;
mod stream;

pub use builder::{ActorBuilder, ActorConfig};
pub use handle::{ActorHandle, ActorId};
pub use handler::HandlerOutput;
pub use managed::ManagedActor;
pub(crate) use parked::ParkedHandlers;
pub use stream::ReplyStream;
