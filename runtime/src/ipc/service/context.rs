//! What a generated handler method learns about the request it serves, besides
//! the message: who sent it, until when the client waits, and whether it still
//! does.

use std::time::Instant;

use crate::message::{MessageContext, OutboundEnvelope, PeerCredentials, RequestOrigin};

/// The context of one request: the peer's credentials, the correlation id, the
/// deadline, and a way to learn that the client cancelled or went away.
///
/// Building one allocates nothing: it holds the request's origin and a clone of
/// its reply envelope.
///
/// ```
/// use acton_reactive::ipc::service::RequestContext;
///
/// // Outside IPC (a local call, a test) the context knows nothing and never ends.
/// let ctx = RequestContext::local();
/// assert!(ctx.peer().is_none());
/// assert!(ctx.deadline().is_none());
/// assert!(!ctx.is_cancelled());
/// ```
#[derive(Debug, Clone)]
pub struct RequestContext {
    origin: Option<RequestOrigin>,
    reply: Option<OutboundEnvelope>,
}

impl RequestContext {
    /// The context of the message being handled.
    pub fn of<M>(ctx: &MessageContext<M>) -> Self {
        let reply = ctx.reply_envelope();
        Self {
            origin: ctx.origin().cloned(),
            // Fire-and-forget: nobody waits for an answer, and nobody will cancel.
            reply: (!reply.is_discard()).then_some(reply),
        }
    }

    /// A context for a call made within the process (or a test): no peer, no
    /// deadline, never cancelled.
    pub fn local() -> Self {
        Self {
            origin: None,
            reply: None,
        }
    }

    /// The calling process's credentials, for a request that came over IPC.
    pub fn peer(&self) -> Option<PeerCredentials> {
        self.origin.as_ref().map(RequestOrigin::peer)
    }

    /// The request's correlation id, for a request that came over IPC.
    pub fn correlation_id(&self) -> Option<&str> {
        self.origin.as_ref().map(RequestOrigin::correlation_id)
    }

    /// When the client stops waiting for the answer (or the whole stream).
    pub fn deadline(&self) -> Option<Instant> {
        self.origin.as_ref().and_then(RequestOrigin::deadline)
    }

    /// Whether nobody waits for the answer any more: the client cancelled, went
    /// away, or its deadline passed (for a request-response call, also once it
    /// was answered).
    pub fn is_cancelled(&self) -> bool {
        self.reply.as_ref().is_some_and(OutboundEnvelope::is_closed)
    }

    /// Completes when [`is_cancelled`](Self::is_cancelled) becomes true; never,
    /// for a local context. Race long work against it:
    ///
    /// ```no_run
    /// # async fn work() {}
    /// # async fn demo(ctx: acton_reactive::ipc::service::RequestContext) {
    /// tokio::select! {
    ///     () = work() => {}
    ///     () = ctx.cancelled() => return, // nobody wants the answer
    /// }
    /// # }
    /// ```
    pub async fn cancelled(&self) {
        match &self.reply {
            Some(reply) => reply.closed().await,
            None => std::future::pending().await,
        }
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        Self::local()
    }
}
