//! Everything a typical program needs: `use acton_reactive::prelude::*;`.
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! #[acton_message]
//! struct Ping;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime: ActorRuntime = ActonApp::launch();
//! let pinger: ActorHandle = runtime.new_actor::<()>().start().await;
//! pinger.send(Ping).await;
//! runtime.shutdown_all().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

pub use crate::actor::{
    ActorBuilder, ActorConfig, ActorHandle, ActorId, ManagedActor, ReplyStream,
};
pub use crate::broker::Broker;
#[cfg(feature = "ipc")]
pub use crate::common::ipc::{IpcConfig, IpcOptions, IpcTypeRegistry, RateLimitConfig};
pub use crate::error::{AskError, SendError, ShutdownError};
pub use crate::message::{ActonMessage, FutureBox, MessageContext, OutboundEnvelope, Reply};
pub use crate::runtime::{ActonApp, ActorRuntime, RuntimeConfig};
pub use acton_reactive_macros::{acton_actor, acton_main, acton_message};
