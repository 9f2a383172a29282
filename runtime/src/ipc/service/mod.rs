//! Building blocks of generated services: a typed stream sink, and the glue that
//! turns a handler method into an `act_on` handler.
//!
//! Generated code calls these; they are public so that hand-written services can
//! do the same.
//!
//! ```
//! use std::sync::Arc;
//! use acton_reactive::prelude::*;
//! use acton_reactive::ipc::service::{on_reply, on_stream, StreamSink};
//!
//! #[acton_message(ipc)]
//! struct Square(i64);
//!
//! #[acton_message(ipc)]
//! struct CountTo(u32);
//!
//! struct Maths;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime = ActonApp::launch();
//! let maths = Arc::new(Maths);
//! let mut actor = runtime.new_actor::<()>();
//! on_reply(&mut actor, &maths, |_maths, Square(n)| async move { Square(n * n) });
//! on_stream(&mut actor, &maths, |_maths, CountTo(n), sink: StreamSink<CountTo>| async move {
//!     for i in 0..n {
//!         if sink.send(CountTo(i)).await.is_err() {
//!             return; // nobody reads any more
//!         }
//!     }
//! });
//! let actor = actor.start().await;
//! let Square(nine) = actor.ask(Square(3)).await?;
//! assert_eq!(nine, 9);
//! runtime.shutdown_all().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

mod context;
mod status;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

pub use self::context::RequestContext;
pub use self::status::{IntoFailure, Status};
use crate::actor::ActorBuilder;
use crate::error::SendError;
pub use crate::message::Failure;
use crate::message::{ActonMessage, OutboundEnvelope, Reply};

/// The items of a request-stream, typed. The stream ends when the sink is dropped
/// (when the handler returns).
pub struct StreamSink<T> {
    reply: OutboundEnvelope,
    _item: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for StreamSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSink")
            .field("item", &std::any::type_name::<T>())
            .field("closed", &self.reply.is_closed())
            .finish()
    }
}

impl<T: ActonMessage> StreamSink<T> {
    /// A sink sending through `reply`.
    pub fn new(reply: OutboundEnvelope) -> Self {
        Self {
            reply,
            _item: PhantomData,
        }
    }

    /// Sends one item, waiting while the client is behind.
    ///
    /// # Errors
    /// [`SendError::ReplyClosed`] once nobody reads the stream (the client left, or
    /// the stream's deadline passed): stop producing.
    pub async fn send(&self, item: T) -> Result<(), SendError> {
        self.reply.deliver(item).await
    }

    /// Whether nobody reads the stream any more.
    pub fn is_closed(&self) -> bool {
        self.reply.is_closed()
    }
}

/// Handles `M` with `call`, whose result is the reply.
pub fn on_reply<H, M, R, F, Fut>(actor: &mut ActorBuilder<()>, handler: &Arc<H>, call: F)
where
    H: Send + Sync + 'static,
    M: ActonMessage + Clone,
    R: ActonMessage,
    F: Fn(Arc<H>, M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let handler = Arc::clone(handler);
    actor.act_on::<M>(move |_actor, ctx| {
        let reply = ctx.reply_envelope();
        let work = call(Arc::clone(&handler), ctx.message().clone());
        Reply::pending(async move { reply.send(work.await).await })
    });
}

/// Handles `M` with `call`, which sends items into a [`StreamSink`].
pub fn on_stream<H, M, T, F, Fut>(actor: &mut ActorBuilder<()>, handler: &Arc<H>, call: F)
where
    H: Send + Sync + 'static,
    M: ActonMessage + Clone,
    T: ActonMessage,
    F: Fn(Arc<H>, M, StreamSink<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::clone(handler);
    actor.act_on::<M>(move |_actor, ctx| {
        let sink = StreamSink::new(ctx.reply_envelope());
        Reply::pending(call(Arc::clone(&handler), ctx.message().clone(), sink))
    });
}

/// Handles `M` with `call`, which returns nothing (fire-and-forget).
pub fn on_message<H, M, F, Fut>(actor: &mut ActorBuilder<()>, handler: &Arc<H>, call: F)
where
    H: Send + Sync + 'static,
    M: ActonMessage + Clone,
    F: Fn(Arc<H>, M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::clone(handler);
    actor.act_on::<M>(move |_actor, ctx| {
        Reply::pending(call(Arc::clone(&handler), ctx.message().clone()))
    });
}

/// Sends a call's outcome: its reply, or its failure.
async fn answer<R: ActonMessage, E: IntoFailure>(reply: OutboundEnvelope, outcome: Result<R, E>) {
    match outcome {
        Ok(value) => reply.send(value).await,
        Err(error) => reply.send(error.into_failure()).await,
    }
}

/// Ends a stream with its handler's failure, if it failed.
async fn end_stream<E: IntoFailure>(reply: OutboundEnvelope, outcome: Result<(), E>) {
    if let Err(error) = outcome {
        reply.send(error.into_failure()).await;
    }
}

/// Handles `M` with `call`, which gets the request's context and answers with a
/// reply or fails with an error (a declared error enum, or a [`Status`]).
/// Calls run concurrently (`act_on`).
pub fn on_call<H, M, R, E, F, Fut>(actor: &mut ActorBuilder<()>, handler: &Arc<H>, call: F)
where
    H: Send + Sync + 'static,
    M: ActonMessage + Clone,
    R: ActonMessage,
    E: IntoFailure + Send + 'static,
    F: Fn(Arc<H>, RequestContext, M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let handler = Arc::clone(handler);
    actor.act_on::<M>(move |_actor, ctx| {
        let reply = ctx.reply_envelope();
        let work = call(
            Arc::clone(&handler),
            RequestContext::of(ctx),
            ctx.message().clone(),
        );
        Reply::pending(async move { answer(reply, work.await).await })
    });
}

/// Handles `M` with `call`, which sends items into a [`StreamSink`] and may end
/// the stream with an error.
pub fn on_stream_call<H, M, T, E, F, Fut>(actor: &mut ActorBuilder<()>, handler: &Arc<H>, call: F)
where
    H: Send + Sync + 'static,
    M: ActonMessage + Clone,
    T: ActonMessage,
    E: IntoFailure + Send + 'static,
    F: Fn(Arc<H>, RequestContext, M, StreamSink<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    let handler = Arc::clone(handler);
    actor.act_on::<M>(move |_actor, ctx| {
        let reply = ctx.reply_envelope();
        let sink = StreamSink::new(reply.clone());
        let work = call(
            Arc::clone(&handler),
            RequestContext::of(ctx),
            ctx.message().clone(),
            sink,
        );
        Reply::pending(async move { end_stream(reply, work.await).await })
    });
}

/// Handles `M` with `call`, which gets the request's context and returns
/// nothing (fire-and-forget).
pub fn on_message_call<H, M, F, Fut>(actor: &mut ActorBuilder<()>, handler: &Arc<H>, call: F)
where
    H: Send + Sync + 'static,
    M: ActonMessage + Clone,
    F: Fn(Arc<H>, RequestContext, M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::clone(handler);
    actor.act_on::<M>(move |_actor, ctx| {
        Reply::pending(call(
            Arc::clone(&handler),
            RequestContext::of(ctx),
            ctx.message().clone(),
        ))
    });
}

/// A handler of an exclusive service: one call at a time, with `&mut` access.
pub type Exclusive<H> = Arc<Mutex<H>>;

/// [`on_call`] for an exclusive service: calls run one at a time, in arrival
/// order (`mutate_on`), each with the handler's `&mut` (the lock is never
/// contended: the actor runs one such call at a time).
pub fn on_call_exclusive<H, M, R, E, F, Fut>(
    actor: &mut ActorBuilder<()>,
    handler: &Exclusive<H>,
    call: F,
) where
    H: Send + 'static,
    M: ActonMessage + Clone,
    R: ActonMessage,
    E: IntoFailure + Send + 'static,
    F: Fn(OwnedMutexGuard<H>, RequestContext, M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let handler = Arc::clone(handler);
    let call = Arc::new(call);
    actor.mutate_on::<M>(move |_actor, ctx| {
        let reply = ctx.reply_envelope();
        let (handler, call) = (Arc::clone(&handler), Arc::clone(&call));
        let (context, message) = (RequestContext::of(ctx), ctx.message().clone());
        Reply::pending(async move {
            let handler = handler.lock_owned().await;
            answer(reply, call(handler, context, message).await).await;
        })
    });
}

/// [`on_stream_call`] for an exclusive service.
pub fn on_stream_call_exclusive<H, M, T, E, F, Fut>(
    actor: &mut ActorBuilder<()>,
    handler: &Exclusive<H>,
    call: F,
) where
    H: Send + 'static,
    M: ActonMessage + Clone,
    T: ActonMessage,
    E: IntoFailure + Send + 'static,
    F: Fn(OwnedMutexGuard<H>, RequestContext, M, StreamSink<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    let handler = Arc::clone(handler);
    let call = Arc::new(call);
    actor.mutate_on::<M>(move |_actor, ctx| {
        let reply = ctx.reply_envelope();
        let sink = StreamSink::new(reply.clone());
        let (handler, call) = (Arc::clone(&handler), Arc::clone(&call));
        let (context, message) = (RequestContext::of(ctx), ctx.message().clone());
        Reply::pending(async move {
            let handler = handler.lock_owned().await;
            end_stream(reply, call(handler, context, message, sink).await).await;
        })
    });
}

/// [`on_message_call`] for an exclusive service.
pub fn on_message_call_exclusive<H, M, F, Fut>(
    actor: &mut ActorBuilder<()>,
    handler: &Exclusive<H>,
    call: F,
) where
    H: Send + 'static,
    M: ActonMessage + Clone,
    F: Fn(OwnedMutexGuard<H>, RequestContext, M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::clone(handler);
    let call = Arc::new(call);
    actor.mutate_on::<M>(move |_actor, ctx| {
        let (handler, call) = (Arc::clone(&handler), Arc::clone(&call));
        let (context, message) = (RequestContext::of(ctx), ctx.message().clone());
        Reply::pending(async move {
            let handler = handler.lock_owned().await;
            call(handler, context, message).await;
        })
    });
}

/// Wraps a handler for an exclusive service (see [`on_call_exclusive`]).
pub fn exclusive<H>(handler: H) -> Exclusive<H> {
    Arc::new(Mutex::new(handler))
}

/// What the default body of a generated fire-and-forget handler method does:
/// there is nobody to answer, so it logs that the method is not implemented.
pub fn warn_unimplemented(method: &str) {
    tracing::warn!(
        method,
        "a fire-and-forget message arrived for a method this server does not implement"
    );
}
