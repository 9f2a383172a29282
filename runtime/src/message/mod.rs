//! Messages and the paths they travel.
//!
//! Every value sent to an actor is an [`ActonMessage`]: any `'static` type that is
//! `Send + Sync + Debug`. A message travels in an envelope that also carries where
//! replies go ([`OutboundEnvelope`]); a handler receives both through its
//! [`MessageContext`] and returns a [`Reply`]-built future.
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! // Any `Send + Sync + Debug + 'static` type is a message; the attribute derives
//! // what it needs (add `ipc` for types that cross the socket).
//! #[acton_message]
//! struct Greet { name: String }
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime = ActonApp::launch();
//! let mut greeter = runtime.new_actor::<()>();
//! greeter.act_on::<Greet>(|_actor, ctx| {
//!     let text = format!("hello, {}", ctx.message().name);
//!     let reply = ctx.reply_envelope();
//!     Reply::pending(async move { reply.send(text).await })
//! });
//! let greeter = greeter.start().await;
//! let text: String = greeter.ask(Greet { name: "Ada".into() }).await?;
//! assert_eq!(text, "hello, Ada");
//! runtime.shutdown_all().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

mod context;
mod failure;
mod origin;
mod reply;

use std::any::Any;
use std::fmt;

pub use context::MessageContext;
pub use failure::Failure;
pub use origin::{PeerCredentials, RequestOrigin};
pub use reply::{FutureBox, OutboundEnvelope, Reply};
pub(crate) use reply::{NoHandler, ReplyTarget};
#[cfg(feature = "ipc")]
pub(crate) use reply::{Offer, ReplySink, SinkRef};

/// A value that can be sent to an actor.
///
/// Implemented for every `'static` type that is `Send + Sync + Debug`;
/// [`#[acton_message]`](crate::prelude::acton_message) derives what a struct or enum
/// needs. Messages that cross the IPC socket also need serde's traits
/// (`#[acton_message(ipc)]`).
pub trait ActonMessage: Any + Send + Sync + fmt::Debug {
    /// The Rust name of the message's type, for diagnostics.
    fn type_name(&self) -> &'static str;
}

impl<T: Any + Send + Sync + fmt::Debug> ActonMessage for T {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// A type-erased message on its way to an actor's mailbox.
pub(crate) struct Envelope {
    pub(crate) message: Box<dyn ActonMessage>,
    pub(crate) reply_to: ReplyTarget,
    /// Where it came from, when another process sent it.
    pub(crate) origin: Option<RequestOrigin>,
}

impl Envelope {
    pub(crate) fn new(message: Box<dyn ActonMessage>, reply_to: ReplyTarget) -> Self {
        Self {
            message,
            reply_to,
            origin: None,
        }
    }

    /// An envelope for a message another process sent.
    #[cfg_attr(not(feature = "ipc"), allow(dead_code))]
    pub(crate) fn from_peer(
        message: Box<dyn ActonMessage>,
        reply_to: ReplyTarget,
        origin: RequestOrigin,
    ) -> Self {
        Self {
            message,
            reply_to,
            origin: Some(origin),
        }
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("message", &self.message)
            .field("reply_to", &self.reply_to)
            .finish()
    }
}
