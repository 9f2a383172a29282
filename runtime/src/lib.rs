//! # acton-reactive
//!
//! An actor runtime on Tokio whose actors other processes can reach over a Unix
//! domain socket (wire protocol v2, compatible with the `acton-reactive` crate on
//! crates.io).
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! #[acton_message]
//! struct Add { a: i64, b: i64 }
//!
//! #[acton_main]
//! async fn main() -> anyhow::Result<()> {
//!     let mut runtime = ActonApp::launch();
//!
//!     let mut calculator = runtime.new_actor_with_name::<()>("calculator");
//!     calculator.act_on::<Add>(|_actor, ctx| {
//!         let sum = ctx.message().a + ctx.message().b;
//!         let reply = ctx.reply_envelope();
//!         Reply::pending(async move { reply.send(sum).await })
//!     });
//!     let calculator = calculator.start().await;
//!
//!     let sum: i64 = calculator.ask(Add { a: 2, b: 3 }).await?;
//!     assert_eq!(sum, 5);
//!
//!     runtime.shutdown_all().await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Where things are
//! - [`runtime`]: [`ActonApp`](runtime::ActonApp) and [`ActorRuntime`](runtime::ActorRuntime);
//! - [`actor`]: building, running and addressing actors;
//! - [`message`]: messages, handler contexts and replies;
//! - [`broker`]: publish/subscribe by message type;
//! - [`error`]: one error type per operation.

pub mod actor;
pub mod broker;
pub mod common;
pub mod error;
pub mod message;
pub mod prelude;
pub mod runtime;
mod signal;

/// The IPC layer (feature `ipc`); also reachable as `acton_reactive::common::ipc`.
#[cfg(feature = "ipc")]
pub use common::ipc;

/// Paths used by the macros' expansions; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use tokio;
}
