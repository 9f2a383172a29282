//! Actors: build one ([`ActorBuilder`]), run it ([`ManagedActor`] is what its
//! handlers see), and talk to it ([`ActorHandle`]).
//!
//! An actor owns a piece of state (its *model*) and a bounded mailbox. Handlers
//! registered with [`ActorBuilder::mutate_on`] get exclusive, mutable access to the
//! model and run one at a time in mailbox order: the future a mutating handler
//! returns is awaited before the next message is taken. Handlers registered with
//! [`ActorBuilder::act_on`] get shared access; the futures they return run
//! concurrently with each other and with later messages.
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! #[acton_message]
//! struct Increment(u64);
//!
//! #[acton_message]
//! struct Total;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime = ActonApp::launch();
//! let mut counter = runtime.new_actor::<u64>();
//! counter
//!     .mutate_on::<Increment>(|actor, ctx| {
//!         actor.model += ctx.message().0;
//!         Reply::ready()
//!     })
//!     .act_on::<Total>(|actor, ctx| {
//!         let total = actor.model;
//!         let reply = ctx.reply_envelope();
//!         Reply::pending(async move { reply.send(total).await })
//!     });
//! let counter: ActorHandle = counter.start().await;
//! counter.send(Increment(2)).await;
//! counter.send(Increment(3)).await;
//! assert_eq!(counter.ask::<u64>(Total).await?, 5);
//! runtime.shutdown_all().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

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
#[cfg(feature = "ipc")]
pub(crate) use handler::TypeIdHasher;
pub use managed::ManagedActor;
pub(crate) use parked::ParkedHandlers;
pub use stream::ReplyStream;
