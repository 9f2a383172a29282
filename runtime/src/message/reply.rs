//! Replies: the [`OutboundEnvelope`] a handler answers through, and [`Reply`], the
//! helpers that build a handler's return value.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "ipc")]
use std::sync::atomic::{self, AtomicUsize, Ordering};
#[cfg(feature = "ipc")]
use std::sync::Arc;

use tokio::sync::mpsc;

use super::ActonMessage;
use crate::actor::ActorHandle;
use crate::error::SendError;

/// What every handler returns: a boxed future that finishes the handler's work.
///
/// The future is `'static`: it cannot borrow the actor's state, so read (or change)
/// the state in the handler's body and move what the future needs into it. Build it
/// with [`Reply::ready`] or [`Reply::pending`].
pub type FutureBox = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Builders for a handler's return value.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_message]
/// struct Increment;
///
/// #[acton_message]
/// struct Get;
///
/// # async fn demo() {
/// let mut runtime = ActonApp::launch();
/// let mut counter = runtime.new_actor::<u64>();
/// counter
///     .mutate_on::<Increment>(|actor, _ctx| {
///         actor.model += 1;
///         Reply::ready() // nothing asynchronous left to do
///     })
///     .act_on::<Get>(|actor, ctx| {
///         let count = actor.model;
///         let reply = ctx.reply_envelope();
///         Reply::pending(async move { reply.send(count).await })
///     });
/// let counter = counter.start().await;
/// counter.send(Increment).await;
/// assert_eq!(counter.ask::<u64>(Get).await.unwrap(), 1);
/// # runtime.shutdown_all().await.unwrap();
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Reply;

impl Reply {
    /// A handler whose work is done: nothing left to await. Does not allocate.
    #[must_use]
    pub fn ready() -> FutureBox {
        Box::pin(std::future::ready(()))
    }

    /// A handler that finishes asynchronously, typically by sending replies.
    pub fn pending<F>(future: F) -> FutureBox
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Box::pin(future)
    }
}

/// Where the replies to one message go.
#[derive(Clone)]
pub(crate) enum ReplyTarget {
    /// Nobody listens: replies are dropped.
    Discard,
    /// Replies are delivered to an actor's mailbox as ordinary messages.
    Actor(ActorHandle),
    /// Replies are collected by a waiting requester (`ask`, a stream, the IPC layer).
    /// The requester sees the end of the replies once every sender is dropped.
    Channel(mpsc::Sender<Box<dyn ActonMessage>>),
    /// Replies go into a receiver shared by many requests (an IPC connection);
    /// the end is announced when the last [`SinkRef`] on the sink goes.
    #[cfg(feature = "ipc")]
    Sink(SinkRef),
}

/// What a [`ReplySink`] does with a reply offered to it.
#[cfg(feature = "ipc")]
pub(crate) enum Offer {
    /// Taken: it is on its way.
    Taken,
    /// Nobody wants replies any more (the request ended, the client left).
    Closed,
    /// The receiver is behind: wait for [`ReplySink::room`] with `need`, then
    /// offer the reply again.
    Behind { need: usize },
}

/// The reply path of one request into a receiver that serves many (an IPC
/// connection). Offering never waits on the receiver; the replies end when the
/// last [`SinkRef`] on the sink goes (its handler let go of every envelope).
#[cfg(feature = "ipc")]
pub(crate) trait ReplySink: Send + Sync {
    /// How many [`SinkRef`]s hold the sink: counted apart from the `Arc`'s own
    /// count, because the receiver holds the sink too.
    fn holders(&self) -> &AtomicUsize;
    /// The last [`SinkRef`] went: the replies end (a stream ends; a call that
    /// got no answer fails).
    fn finish(&self);
    /// Takes one reply (encoding it at once), or says the receiver is behind.
    fn offer(&self, reply: &dyn ActonMessage) -> Offer;
    /// Completes when a reply of `need` bytes may be taken, or the sink closed.
    fn room(&self, need: usize) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// The target actor has no handler for the message: the request fails.
    fn no_handler(&self, notice: NoHandler);
    /// Whether replies offered now would be refused.
    fn is_closed(&self) -> bool;
    /// Completes once the request has ended (answered, cancelled, timed out, or
    /// its client went away).
    fn closed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// A reply envelope's hold on a [`ReplySink`]. Cloning it adds a holder; when
/// the last holder is dropped the sink is told ([`ReplySink::finish`]). The sink
/// is the request's own shared state, so a request's reply path takes no
/// allocation of its own.
#[cfg(feature = "ipc")]
pub(crate) struct SinkRef(Arc<dyn ReplySink>);

#[cfg(feature = "ipc")]
impl SinkRef {
    /// A new holder of `sink`.
    pub(crate) fn new(sink: Arc<dyn ReplySink>) -> Self {
        // As `Arc::clone`: a new holder is made from an existing reference, so
        // no ordering is needed.
        sink.holders().fetch_add(1, Ordering::Relaxed);
        Self(sink)
    }
}

#[cfg(feature = "ipc")]
impl Clone for SinkRef {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.0))
    }
}

#[cfg(feature = "ipc")]
impl Drop for SinkRef {
    fn drop(&mut self) {
        // As `Arc`'s drop: every holder's use of the sink happens before the
        // last one finishes it.
        if self.0.holders().fetch_sub(1, Ordering::Release) == 1 {
            atomic::fence(Ordering::Acquire);
            self.0.finish();
        }
    }
}

#[cfg(feature = "ipc")]
impl std::ops::Deref for SinkRef {
    type Target = dyn ReplySink;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for ReplyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Discard => f.write_str("Discard"),
            Self::Actor(handle) => f.debug_tuple("Actor").field(&handle.name()).finish(),
            Self::Channel(_) => f.write_str("Channel"),
            #[cfg(feature = "ipc")]
            Self::Sink(_) => f.write_str("Sink"),
        }
    }
}

/// Sent on a reply channel when the target actor has no handler for the message's
/// type, so that the requester can tell "no handler" from "handled, no reply".
#[derive(Debug, Clone)]
pub(crate) struct NoHandler {
    pub(crate) actor: String,
    pub(crate) message_type: &'static str,
}

/// The path from a handler back to whoever sent the message it handles.
///
/// Obtained from [`MessageContext::reply_envelope`](crate::message::MessageContext::reply_envelope).
/// Cloning is cheap; the replies end when every clone has been dropped.
#[derive(Clone, Debug)]
pub struct OutboundEnvelope {
    target: ReplyTarget,
}

impl OutboundEnvelope {
    pub(crate) fn new(target: ReplyTarget) -> Self {
        Self { target }
    }

    /// Sends one reply, waiting while the receiver's buffer is full.
    ///
    /// A reply nobody waits for any more (the requester hung up, timed out, or the
    /// message was sent without a reply path) is dropped; use [`deliver`](Self::deliver)
    /// to learn of it, for example to stop producing a stream early.
    pub async fn send<M: ActonMessage>(&self, message: M) {
        if let Err(error) = self.deliver(message).await {
            tracing::debug!(%error, "reply dropped");
        }
    }

    /// Sends one reply and reports whether it reached its receiver.
    ///
    /// # Errors
    /// [`SendError::ReplyClosed`] when nobody waits for replies any more,
    /// [`SendError::Stopped`] when the replies go to an actor that has stopped.
    pub async fn deliver<M: ActonMessage>(&self, message: M) -> Result<(), SendError> {
        match &self.target {
            ReplyTarget::Discard => Err(SendError::ReplyClosed),
            ReplyTarget::Actor(handle) => handle.deliver(message).await,
            ReplyTarget::Channel(sender) => sender
                .send(Box::new(message))
                .await
                .map_err(|_| SendError::ReplyClosed),
            #[cfg(feature = "ipc")]
            // Offered by reference: a sink encodes the reply at once, so it is
            // never boxed.
            ReplyTarget::Sink(sink) => loop {
                match sink.offer(&message) {
                    Offer::Taken => return Ok(()),
                    Offer::Closed => return Err(SendError::ReplyClosed),
                    // Flow control: a stream whose client reads slowly waits
                    // here (parked: it holds none of the actor's slots).
                    Offer::Behind { need } => sink.room(need).await,
                }
            },
        }
    }

    /// Completes once replies sent would be dropped: the requester hung up, its
    /// deadline passed, or (over IPC) the client cancelled or went away. A handler
    /// can race its work against it to stop early.
    pub async fn closed(&self) {
        match &self.target {
            ReplyTarget::Discard => {}
            ReplyTarget::Actor(handle) => handle.stopped().await,
            ReplyTarget::Channel(sender) => sender.closed().await,
            #[cfg(feature = "ipc")]
            ReplyTarget::Sink(sink) => sink.closed().await,
        }
    }

    /// Whether replies go nowhere by design (the message was sent without a
    /// reply path), as opposed to a requester that stopped listening.
    #[cfg_attr(not(feature = "ipc"), allow(dead_code))]
    pub(crate) fn is_discard(&self) -> bool {
        matches!(self.target, ReplyTarget::Discard)
    }

    /// Whether replies sent now would be dropped.
    pub fn is_closed(&self) -> bool {
        match &self.target {
            ReplyTarget::Discard => true,
            ReplyTarget::Actor(handle) => !handle.is_running(),
            ReplyTarget::Channel(sender) => sender.is_closed(),
            #[cfg(feature = "ipc")]
            ReplyTarget::Sink(sink) => sink.is_closed(),
        }
    }
}

#[cfg(all(test, feature = "ipc"))]
mod tests {
    use super::*;

    /// A sink that counts how often it was finished.
    #[derive(Default)]
    struct Counting {
        holders: AtomicUsize,
        finished: AtomicUsize,
    }

    impl ReplySink for Counting {
        fn holders(&self) -> &AtomicUsize {
            &self.holders
        }
        fn finish(&self) {
            assert_eq!(
                self.holders.load(Ordering::SeqCst),
                0,
                "finished while held"
            );
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
        fn offer(&self, _reply: &dyn ActonMessage) -> Offer {
            Offer::Taken
        }
        fn room(&self, _need: usize) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            Box::pin(std::future::ready(()))
        }
        fn no_handler(&self, _notice: NoHandler) {}
        fn is_closed(&self) -> bool {
            false
        }
        fn closed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            Box::pin(std::future::ready(()))
        }
    }

    #[test]
    fn the_sink_is_finished_once_when_its_last_holder_goes() {
        let sink = Arc::new(Counting::default());
        let first = OutboundEnvelope::new(ReplyTarget::Sink(SinkRef::new(
            Arc::clone(&sink) as Arc<dyn ReplySink>
        )));
        let second = first.clone();
        let third = second.clone();
        assert_eq!(sink.holders.load(Ordering::SeqCst), 3);
        drop(second);
        drop(first);
        assert_eq!(
            sink.finished.load(Ordering::SeqCst),
            0,
            "one holder is left"
        );
        drop(third);
        assert_eq!(sink.finished.load(Ordering::SeqCst), 1);
        assert_eq!(sink.holders.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn holders_on_many_threads_finish_the_sink_once() {
        for _ in 0..50 {
            let sink = Arc::new(Counting::default());
            let held = SinkRef::new(Arc::clone(&sink) as Arc<dyn ReplySink>);
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let mine = held.clone();
                    std::thread::spawn(move || {
                        let copies: Vec<SinkRef> = (0..100).map(|_| mine.clone()).collect();
                        drop(copies);
                    })
                })
                .collect();
            drop(held);
            for thread in threads {
                thread.join().expect("no panic");
            }
            assert_eq!(sink.finished.load(Ordering::SeqCst), 1);
        }
    }
}
