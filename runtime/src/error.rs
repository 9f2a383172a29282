//! The errors of the actor runtime, one type per operation.
//!
//! ```
//! use acton_reactive::prelude::*;
//! use acton_reactive::error::AskError;
//!
//! #[acton_message]
//! struct Unknown;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime = ActonApp::launch();
//! let idle = runtime.new_actor::<()>().start().await;
//! // Nobody handles `Unknown`: the question fails with a typed error.
//! let answer = idle.ask::<u32>(Unknown).await;
//! assert!(matches!(answer, Err(AskError::NoHandler { .. })));
//! runtime.shutdown_all().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::time::Duration;

/// A message could not be handed to an actor (or a reply to its receiver).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The actor's mailbox is full. Returned by the non-waiting `try_send`; `send`
    /// waits for room instead.
    #[error("actor `{actor}` is busy: its mailbox of {capacity} messages is full; retry later or use `send`, which waits for room")]
    TargetBusy {
        /// The actor's name.
        actor: String,
        /// The mailbox's capacity.
        capacity: usize,
    },
    /// The actor has stopped (or is stopping) and accepts no more messages.
    #[error("actor `{actor}` has stopped and accepts no more messages")]
    Stopped {
        /// The actor's name.
        actor: String,
    },
    /// Nobody waits for this reply any more: the requester hung up, timed out, or
    /// the message was sent without a reply path.
    #[error("nobody waits for this reply any more")]
    ReplyClosed,
}

/// An [`ask`](crate::actor::ActorHandle::ask) got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The request could not be delivered.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The handler finished (dropped its reply envelope) without replying.
    #[error("actor `{actor}` handled the message without replying")]
    NoReply {
        /// The actor's name.
        actor: String,
    },
    /// The handler answered with a [`Failure`](crate::message::Failure).
    #[error("actor `{actor}` failed: {code}: {message}")]
    Failed {
        /// The actor's name.
        actor: String,
        /// The failure's code.
        code: String,
        /// The failure's message.
        message: String,
    },
    /// The actor has no handler for the message's type.
    #[error("actor `{actor}` has no handler for `{message_type}`; register one with `act_on` or `mutate_on`")]
    NoHandler {
        /// The actor's name.
        actor: String,
        /// The Rust type of the message.
        message_type: &'static str,
    },
    /// The reply had another type than the one asked for.
    #[error("expected a reply of type `{expected}`, got `{actual}`")]
    UnexpectedReply {
        /// The type the caller asked for.
        expected: &'static str,
        /// The type the handler sent.
        actual: &'static str,
    },
    /// No reply came within the deadline.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

/// [`shutdown_all`](crate::runtime::ActorRuntime::shutdown_all) could not stop every
/// actor gracefully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShutdownError {
    /// Some actors were still busy when the shutdown timeout expired; they were
    /// cancelled, their pending handlers dropped.
    #[error("{stragglers} actor(s) were still running after {timeout:?} and were cancelled")]
    Timeout {
        /// How many actors had to be cancelled.
        stragglers: usize,
        /// The shutdown timeout that expired.
        timeout: Duration,
    },
}
