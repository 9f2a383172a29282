//! What a handler receives besides its actor: the message and the reply path.

use super::{OutboundEnvelope, RequestOrigin};

/// The context of one message being handled.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_message]
/// struct Greet { name: String }
///
/// # async fn demo() {
/// let mut runtime = ActonApp::launch();
/// let mut greeter = runtime.new_actor::<()>();
/// greeter.act_on::<Greet>(|_actor, ctx| {
///     let greeting = format!("hello, {}", ctx.message().name);
///     let reply = ctx.reply_envelope();
///     Reply::pending(async move { reply.send(greeting).await })
/// });
/// let greeter = greeter.start().await;
/// let answer: String = greeter.ask(Greet { name: "Ada".into() }).await.unwrap();
/// assert_eq!(answer, "hello, Ada");
/// # runtime.shutdown_all().await.unwrap();
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo());
/// ```
#[derive(Debug)]
pub struct MessageContext<M> {
    message: M,
    reply: OutboundEnvelope,
    origin: Option<RequestOrigin>,
}

impl<M> MessageContext<M> {
    pub(crate) fn new(message: M, reply: OutboundEnvelope, origin: Option<RequestOrigin>) -> Self {
        Self {
            message,
            reply,
            origin,
        }
    }

    /// Where the message came from, when another process sent it over IPC: the
    /// peer's credentials, the correlation id and the deadline.
    pub fn origin(&self) -> Option<&RequestOrigin> {
        self.origin.as_ref()
    }

    /// The message being handled.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// The path back to whoever sent the message: an `ask`, an IPC client, or an
    /// actor that asked for replies.
    ///
    /// Each call returns a clone. A handler may send any number of replies (that is
    /// how a stream is produced); the reply stream ends once every clone has been
    /// dropped. A message sent without a reply path (plain `send`) gets an envelope
    /// whose replies are discarded.
    pub fn reply_envelope(&self) -> OutboundEnvelope {
        self.reply.clone()
    }
}
