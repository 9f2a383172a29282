//! [`ReplyStream`]: the replies to one message, as they arrive.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::ActorHandle;
use crate::error::AskError;
use crate::message::ActonMessage;

/// The replies to a message sent with [`ActorHandle::ask_stream`].
///
/// A [`Stream`] of `Result<R, AskError>`; it ends when the handler has dropped its
/// reply envelope. Dropping the stream tells the handler that nobody listens any
/// more ([`OutboundEnvelope::is_closed`](crate::message::OutboundEnvelope::is_closed)).
pub struct ReplyStream<R> {
    actor: ActorHandle,
    replies: mpsc::Receiver<Box<dyn ActonMessage>>,
    _reply: PhantomData<fn() -> R>,
}

impl<R: ActonMessage> ReplyStream<R> {
    pub(crate) fn new(actor: ActorHandle, replies: mpsc::Receiver<Box<dyn ActonMessage>>) -> Self {
        Self {
            actor,
            replies,
            _reply: PhantomData,
        }
    }

    /// The next reply, or `None` once the handler is done.
    pub async fn next_reply(&mut self) -> Option<Result<R, AskError>> {
        let reply = self.replies.recv().await?;
        Some(self.actor.downcast_reply(reply))
    }
}

impl<R: ActonMessage> Stream for ReplyStream<R> {
    type Item = Result<R, AskError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.replies
            .poll_recv(cx)
            .map(|reply| reply.map(|reply| self.actor.downcast_reply(reply)))
    }
}

impl<R> std::fmt::Debug for ReplyStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyStream")
            .field("actor", &self.actor.name())
            .field("reply_type", &std::any::type_name::<R>())
            .finish()
    }
}
