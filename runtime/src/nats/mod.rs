//! Serving the exposed actors over NATS (feature `nats`), for programs spread over
//! several machines or run as several replicas.
//!
//! The bridge serves every actor exposed with
//! [`ipc_expose`](crate::runtime::ActorRuntime::ipc_expose) — the same actors,
//! registry and schema as the Unix socket — on one request subject per service and
//! message type, `{prefix}.{service}.{MessageType}`. Replicas (several processes
//! with the same prefix) share the requests through a NATS queue group. Broadcasts
//! of registered types are published on `{prefix}.push.{MessageType}`, and NATS's
//! own tooling lists the services (`nats micro ls`). Subjects, headers and
//! payloads are specified in docs/nats.md; [`layout`] holds their names.
//!
//! ```no_run
//! use acton_reactive::prelude::*;
//! use acton_reactive::nats::NatsConfig;
//!
//! #[acton_message(ipc)]
//! struct Ping;
//!
//! #[acton_main]
//! async fn main() -> anyhow::Result<()> {
//!     let mut runtime = ActonApp::launch();
//!     runtime.ipc_registry().register::<Ping>("Ping");
//!     let mut pinger = runtime.new_actor::<()>();
//!     pinger.act_on::<Ping>(|_actor, ctx| {
//!         let reply = ctx.reply_envelope();
//!         Reply::pending(async move { reply.send(Ping).await })
//!     });
//!     runtime.ipc_expose("pinger", pinger.start().await);
//!     // Requests to `desk.pinger.Ping` now reach the actor.
//!     let bridge = runtime
//!         .start_nats_bridge(NatsConfig::new("nats://127.0.0.1:4222").prefix("desk"))
//!         .await?;
//!     // ... serve until asked to stop ...
//!     bridge.shutdown().await;
//!     runtime.shutdown_all().await?;
//!     Ok(())
//! }
//! ```

pub(crate) mod bridge;
mod config;
pub mod layout;
mod micro;
mod publisher;
mod pushes;
mod replies;
mod stats;

pub use bridge::NatsBridge;
pub use config::NatsConfig;
pub use stats::NatsBridgeStats;

/// Why a NATS connection did not come back to itself in [`round_trip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoundTrip {
    /// The connection is closed.
    Closed,
    /// Nothing came back within the wait.
    TimedOut,
}

/// Returns once the NATS server has taken everything `client` sent before — a
/// message to itself has come back (`flush` only writes it out) — or after `wait`.
/// The bridge calls it before it says it serves, the client before a subscription
/// counts as made.
pub(crate) async fn round_trip(
    client: &async_nats::Client,
    wait: std::time::Duration,
) -> Result<(), RoundTrip> {
    use futures_util::StreamExt;
    let probe = client.new_inbox();
    let mut echo = client
        .subscribe(probe.clone())
        .await
        .map_err(|_| RoundTrip::Closed)?;
    client
        .publish(probe, bytes::Bytes::new())
        .await
        .map_err(|_| RoundTrip::Closed)?;
    match tokio::time::timeout(wait, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(RoundTrip::Closed),
        Err(_) => Err(RoundTrip::TimedOut),
    }
}

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The configuration cannot work (a prefix that is not a subject, say).
    #[error("invalid NATS bridge configuration: {0}")]
    Config(String),
    /// The NATS server could not be reached, or refused the connection.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The server address(es) given.
        url: String,
        /// What the NATS client reported.
        source: async_nats::ConnectError,
    },
    /// A subscription could not be made (a permissions violation, say).
    #[error("cannot subscribe to `{subject}` on NATS: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What the NATS client reported.
        reason: String,
    },
}
