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

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::actor::ActorBuilder;
use crate::error::SendError;
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
