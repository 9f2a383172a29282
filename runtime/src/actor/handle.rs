//! [`ActorHandle`]: the cloneable address of an actor.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{ParkedHandlers, ReplyStream};
use crate::broker::Broker;
use crate::error::{AskError, SendError};
use crate::message::{ActonMessage, Envelope, Failure, NoHandler, ReplyTarget};
use crate::signal::{Signal, SignalWait};

/// Identifies an actor within its runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(pub(crate) u64);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The address of an actor: send it messages, ask it questions, stop it.
///
/// Cloning is cheap (one reference count). Every clone reaches the same mailbox.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_message]
/// struct Ping;
///
/// # async fn demo() {
/// let mut runtime = ActonApp::launch();
/// let mut echo = runtime.new_actor::<()>();
/// echo.act_on::<Ping>(|_actor, ctx| {
///     let reply = ctx.reply_envelope();
///     Reply::pending(async move { reply.send("pong").await })
/// });
/// let echo: ActorHandle = echo.start().await;
/// let answer: &str = echo.ask(Ping).await.unwrap();
/// assert_eq!(answer, "pong");
/// # runtime.shutdown_all().await.unwrap();
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo());
/// ```
#[derive(Clone)]
pub struct ActorHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    id: ActorId,
    name: String,
    mailbox: mpsc::Sender<Envelope>,
    capacity: usize,
    /// Raised to ask this actor to stop.
    stop: Signal,
    /// Raised to ask every actor of the runtime to stop.
    stop_all: Arc<Signal>,
    /// Raised by the actor's task when it has finished.
    stopped: Signal,
    broker: Broker,
    children: Mutex<Vec<ActorHandle>>,
    /// Handlers waiting for a slow receiver's flow control.
    parked: Arc<ParkedHandlers>,
}

impl ActorHandle {
    pub(crate) fn new(
        id: ActorId,
        name: String,
        mailbox: mpsc::Sender<Envelope>,
        capacity: usize,
        stop_all: Arc<Signal>,
        broker: Broker,
    ) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                id,
                name,
                mailbox,
                capacity,
                stop: Signal::default(),
                stop_all,
                stopped: Signal::default(),
                broker,
                children: Mutex::new(Vec::new()),
                parked: Arc::default(),
            }),
        }
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The actor's id, unique within its runtime.
    pub fn id(&self) -> ActorId {
        self.inner.id
    }

    /// The actor's handlers that wait for a slow receiver (see [`ParkedHandlers`]).
    pub(crate) fn parked(&self) -> &Arc<ParkedHandlers> {
        &self.inner.parked
    }

    /// The capacity of the actor's mailbox.
    pub fn mailbox_capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Sends a message, waiting while the mailbox is full. Replies are discarded.
    ///
    /// A message for an actor that has stopped is dropped and logged; use
    /// [`deliver`](Self::deliver) to learn of it.
    pub async fn send<M: ActonMessage>(&self, message: M) {
        if let Err(error) = self.deliver(message).await {
            tracing::warn!(%error, "message dropped");
        }
    }

    /// Sends a message, waiting while the mailbox is full, and reports whether the
    /// mailbox accepted it.
    ///
    /// # Errors
    /// [`SendError::Stopped`] when the actor has stopped.
    pub async fn deliver<M: ActonMessage>(&self, message: M) -> Result<(), SendError> {
        self.dispatch(Box::new(message), ReplyTarget::Discard).await
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// [`SendError::TargetBusy`] when the mailbox is full, [`SendError::Stopped`]
    /// when the actor has stopped.
    pub fn try_send<M: ActonMessage>(&self, message: M) -> Result<(), SendError> {
        self.try_dispatch(Box::new(message), ReplyTarget::Discard)
    }

    /// Sends a message whose replies go to `reply_to`'s mailbox as ordinary messages.
    ///
    /// # Errors
    /// [`SendError::Stopped`] when this actor has stopped.
    pub async fn send_with_reply_to<M: ActonMessage>(
        &self,
        message: M,
        reply_to: &ActorHandle,
    ) -> Result<(), SendError> {
        self.dispatch(Box::new(message), ReplyTarget::Actor(reply_to.clone()))
            .await
    }

    /// Sends a message and waits for the first reply, of type `R`.
    ///
    /// # Errors
    /// [`AskError::NoReply`] when the handler finished without replying,
    /// [`AskError::NoHandler`] when the actor does not handle the message's type,
    /// [`AskError::UnexpectedReply`] when the reply is not an `R`, and
    /// [`AskError::Send`] when the actor has stopped.
    pub async fn ask<R: ActonMessage>(&self, message: impl ActonMessage) -> Result<R, AskError> {
        let (sender, mut replies) = mpsc::channel(1);
        self.dispatch(Box::new(message), ReplyTarget::Channel(sender))
            .await?;
        match replies.recv().await {
            Some(reply) => self.downcast_reply(reply),
            None => Err(AskError::NoReply {
                actor: self.name().to_owned(),
            }),
        }
    }

    /// [`ask`](Self::ask) with a deadline.
    ///
    /// # Errors
    /// As [`ask`](Self::ask), and [`AskError::Timeout`] when no reply came in time.
    pub async fn ask_timeout<R: ActonMessage>(
        &self,
        message: impl ActonMessage,
        timeout: Duration,
    ) -> Result<R, AskError> {
        tokio::time::timeout(timeout, self.ask(message))
            .await
            .map_err(|_| AskError::Timeout(timeout))?
    }

    /// Sends a message and returns the stream of its replies, of type `R`. The stream
    /// ends when the handler drops its reply envelope.
    ///
    /// `buffer` replies may wait in the stream before the handler's `send` waits.
    ///
    /// # Errors
    /// [`SendError::Stopped`] when the actor has stopped.
    pub async fn ask_stream<R: ActonMessage>(
        &self,
        message: impl ActonMessage,
        buffer: usize,
    ) -> Result<ReplyStream<R>, SendError> {
        let (sender, replies) = mpsc::channel(buffer.max(1));
        self.dispatch(Box::new(message), ReplyTarget::Channel(sender))
            .await?;
        Ok(ReplyStream::new(self.clone(), replies))
    }

    /// Subscribes this actor to broadcasts of `M` on the runtime's broker.
    pub async fn subscribe<M: ActonMessage>(&self) {
        self.inner.broker.subscribe(TypeId::of::<M>(), self);
    }

    /// Ends this actor's subscription to broadcasts of `M`.
    pub async fn unsubscribe<M: ActonMessage>(&self) {
        self.inner.broker.unsubscribe(TypeId::of::<M>(), self.id());
    }

    /// Asks the actor to stop and waits until it has: messages already in its
    /// mailbox are handled first, in-flight handlers finish, its children stop, then
    /// its `before_stop` hook runs.
    pub async fn stop(&self) {
        self.inner.stop.raise();
        self.stopped().await;
    }

    /// Waits until the actor has stopped, without asking it to.
    pub async fn stopped(&self) {
        self.inner.stopped.wait().await;
    }

    /// Whether the actor still accepts messages.
    pub fn is_running(&self) -> bool {
        !self.stop_requested() && !self.inner.mailbox.is_closed()
    }

    pub(crate) fn downcast_reply<R: ActonMessage>(
        &self,
        reply: Box<dyn ActonMessage>,
    ) -> Result<R, AskError> {
        let actual = (*reply).type_name();
        let reply: Box<dyn Any + Send + Sync> = reply;
        match reply.downcast::<R>() {
            Ok(reply) => Ok(*reply),
            Err(other) => match other.downcast::<NoHandler>() {
                Ok(missing) => Err(AskError::NoHandler {
                    actor: missing.actor,
                    message_type: missing.message_type,
                }),
                Err(other) => match other.downcast::<Failure>() {
                    Ok(failure) => Err(AskError::Failed {
                        actor: self.name().to_owned(),
                        code: failure.code().to_owned(),
                        message: failure.message().to_owned(),
                    }),
                    Err(_) => Err(AskError::UnexpectedReply {
                        expected: std::any::type_name::<R>(),
                        actual,
                    }),
                },
            },
        }
    }

    /// Puts a type-erased message into the mailbox, waiting for room.
    pub(crate) async fn dispatch(
        &self,
        message: Box<dyn ActonMessage>,
        reply_to: ReplyTarget,
    ) -> Result<(), SendError> {
        self.inner
            .mailbox
            .send(Envelope::new(message, reply_to))
            .await
            .map_err(|_| self.stopped_error())
    }

    /// Puts a type-erased message into the mailbox if there is room.
    pub(crate) fn try_dispatch(
        &self,
        message: Box<dyn ActonMessage>,
        reply_to: ReplyTarget,
    ) -> Result<(), SendError> {
        use mpsc::error::TrySendError;
        self.inner
            .mailbox
            .try_send(Envelope::new(message, reply_to))
            .map_err(|error| match error {
                TrySendError::Full(_) => SendError::TargetBusy {
                    actor: self.name().to_owned(),
                    capacity: self.inner.capacity,
                },
                TrySendError::Closed(_) => self.stopped_error(),
            })
    }

    /// The mailbox itself, for the IPC connection's bounded wait for room.
    #[cfg(feature = "ipc")]
    pub(crate) fn mailbox(&self) -> &mpsc::Sender<Envelope> {
        &self.inner.mailbox
    }

    fn stopped_error(&self) -> SendError {
        SendError::Stopped {
            actor: self.name().to_owned(),
        }
    }

    /// Whether this actor, or the whole runtime, was asked to stop.
    pub(crate) fn stop_requested(&self) -> bool {
        self.inner.stop.is_raised() || self.inner.stop_all.is_raised()
    }

    /// Completes once this actor, or the whole runtime, is asked to stop.
    pub(crate) fn stop_request(&self) -> StopRequest<'_> {
        StopRequest {
            own: self.inner.stop.wait(),
            all: self.inner.stop_all.wait(),
        }
    }

    pub(crate) fn broker(&self) -> &Broker {
        &self.inner.broker
    }

    pub(crate) fn add_child(&self, child: ActorHandle) {
        self.inner
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(child);
    }

    /// The children started under this actor that are still running.
    pub fn children(&self) -> Vec<ActorHandle> {
        let mut children = self
            .inner
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        children.retain(ActorHandle::is_running);
        children.clone()
    }

    pub(crate) fn take_children(&self) -> Vec<ActorHandle> {
        std::mem::take(
            &mut *self
                .inner
                .children
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    pub(crate) fn mark_stopped(&self) {
        self.inner.stopped.raise();
    }
}

impl PartialEq for ActorHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for ActorHandle {}

impl fmt::Debug for ActorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("running", &self.is_running())
            .finish()
    }
}

/// Completes once an actor, or its whole runtime, is asked to stop: either of two
/// signals. Polled once per message by an actor whose mailbox runs dry, so it is
/// two cheap polls rather than a `select!`.
pub(crate) struct StopRequest<'a> {
    own: SignalWait<'a>,
    all: SignalWait<'a>,
}

impl Future for StopRequest<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Both stay registered while neither is raised.
        if Pin::new(&mut self.own).poll(cx).is_ready()
            || Pin::new(&mut self.all).poll(cx).is_ready()
        {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
