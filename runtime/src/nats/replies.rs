//! The way back from a handler to its NATS caller: one [`NatsReplies`] per request
//! in flight, shared by the bridge (which may end it: deadline, shutdown) and the
//! handler's reply envelopes (each a [`SinkRef`](crate::message::SinkRef) on it).
//! As on the socket, whoever ends the request first publishes its last message,
//! under one lock per request, so a request is answered exactly once and a
//! stream's messages keep their order.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_nats::{HeaderMap, Subject};
use bytes::Bytes;

use super::layout;
use super::publisher::{Outgoing, Publisher};
use super::stats::{Counters, Endpoint};
use crate::actor::ParkedHandlers;
use crate::ipc::protocol::ErrorCode;
use crate::ipc::registry::{IpcTypeRegistry, Outbound};
use crate::ipc::Format;
use crate::message::{ActonMessage, Failure, NoHandler, Offer, ReplySink};
use crate::signal::Signal;

/// What every request's replies need, shared by the whole bridge.
#[derive(Debug)]
pub(crate) struct ReplyPath {
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) registry: Arc<IpcTypeRegistry>,
    /// The largest payload the NATS server takes.
    pub(crate) max_payload: usize,
    pub(crate) counters: Arc<Counters>,
}

/// How a caller's request is answered: its reply subject, format and kind.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) reply: Subject,
    pub(crate) format: Format,
    pub(crate) stream: bool,
}

impl Caller {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(layout::FORMAT, layout::format_name(self.format));
        headers
    }

    fn message(&self, headers: HeaderMap, payload: Bytes) -> Outgoing {
        Outgoing {
            subject: self.reply.clone(),
            headers,
            payload,
        }
    }

    /// The one answer of a call, or an item of a stream (`sequence`).
    pub(crate) fn answer(&self, sequence: Option<u32>, payload: Bytes) -> Outgoing {
        let mut headers = self.headers();
        if let Some(sequence) = sequence {
            headers.insert(layout::SEQUENCE, sequence.to_string());
        }
        self.message(headers, payload)
    }

    /// The clean end of a stream of `sequence` items.
    pub(crate) fn end(&self, sequence: u32) -> Outgoing {
        let mut headers = self.headers();
        headers.insert(layout::SEQUENCE, sequence.to_string());
        headers.insert(layout::FINAL, "true");
        self.message(headers, Bytes::new())
    }

    /// A failure: the request's last message, `details` its payload (a declared
    /// error's fields), after `sequence` items of a stream.
    pub(crate) fn failure(
        &self,
        sequence: u32,
        code: &str,
        message: &str,
        details: Option<Bytes>,
    ) -> Outgoing {
        let mut headers = self.headers();
        headers.insert(layout::ERROR, layout::header_text(message));
        headers.insert(layout::ERROR_CODE, layout::header_text(code));
        if self.stream {
            headers.insert(layout::SEQUENCE, sequence.to_string());
            headers.insert(layout::FINAL, "true");
        }
        self.message(headers, details.unwrap_or_default())
    }
}

#[derive(Debug, Default)]
struct State {
    ended: bool,
    /// Stream items published so far.
    sequence: u32,
}

/// One request's replies.
pub(crate) struct NatsReplies {
    caller: Caller,
    state: Mutex<State>,
    path: Arc<ReplyPath>,
    parked: Arc<ParkedHandlers>,
    endpoint: Arc<Endpoint>,
    started: Instant,
    /// Raised when the request ends, whoever ends it.
    ended: Signal,
    /// The handler's reply envelopes holding the request (see
    /// [`SinkRef`](crate::message::SinkRef)).
    holders: AtomicUsize,
}

impl std::fmt::Debug for NatsReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsReplies")
            .field("reply", &self.caller.reply)
            .field("stream", &self.caller.stream)
            .finish_non_exhaustive()
    }
}

impl NatsReplies {
    pub(crate) fn new(
        caller: Caller,
        path: Arc<ReplyPath>,
        parked: Arc<ParkedHandlers>,
        endpoint: Arc<Endpoint>,
    ) -> Self {
        Self {
            caller,
            state: Mutex::new(State::default()),
            path,
            parked,
            endpoint,
            started: Instant::now(),
            ended: Signal::default(),
            holders: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_stream(&self) -> bool {
        self.caller.stream
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.lock().ended
    }

    /// Completes once the request has ended.
    pub(crate) async fn wait_end(&self) {
        self.ended.wait().await;
    }

    /// Publishes `last` and ends the request; `error` is `(code, message)` for a
    /// failure.
    fn end_with(&self, state: &mut State, last: Outgoing, error: Option<(&str, &str)>) {
        state.ended = true;
        self.ended.raise();
        if error.is_some() {
            Counters::add(&self.path.counters.errors, 1);
        }
        self.path.publisher.force(last);
        self.endpoint.ended(
            self.started.elapsed(),
            error.map(|(code, message)| format!("{code}: {message}")),
        );
    }

    /// Ends the request without publishing anything: its caller gave up on it.
    pub(crate) fn abandon(&self) {
        let mut state = self.lock();
        if !state.ended {
            state.ended = true;
            self.ended.raise();
            self.endpoint.ended(
                self.started.elapsed(),
                Some("CANCELLED: the caller gave up".to_owned()),
            );
        }
    }

    /// The subject its answers go to.
    pub(crate) fn reply_subject(&self) -> &Subject {
        &self.caller.reply
    }

    /// Ends the request with a failure unless it has ended; returns whether this
    /// call ended it.
    pub(crate) fn fail(&self, code: ErrorCode, message: &str) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        let last = self
            .caller
            .failure(state.sequence, code.as_str(), message, None);
        self.end_with(&mut state, last, Some((code.as_str(), message)));
        true
    }

    /// Encodes a reply's value alone; a panic in its `Serialize` is an error like
    /// any other.
    fn encode(&self, value: &dyn ActonMessage) -> Result<Bytes, String> {
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.path
                .registry
                .encode(value, self.caller.format, Outbound::Body)
        }));
        let bytes = match encoded {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => return Err(error.to_string()),
            Err(_) => return Err(format!("encoding `{}` panicked", value.type_name())),
        };
        if bytes.len() > self.path.max_payload {
            return Err(format!(
                "the reply has {} bytes, above the {} bytes the NATS server takes in one message",
                bytes.len(),
                self.path.max_payload
            ));
        }
        Ok(Bytes::from(bytes))
    }

    fn fail_locked(&self, state: &mut State, code: &str, message: &str) {
        let last = self.caller.failure(state.sequence, code, message, None);
        self.end_with(state, last, Some((code, message)));
    }

    fn offer_failure(&self, failure: &Failure) -> Offer {
        let mut state = self.lock();
        if state.ended {
            return Offer::Closed;
        }
        let details = match failure.details().map(|details| self.encode(details)) {
            None => None,
            Some(Ok(details)) => Some(details),
            Some(Err(error)) => {
                tracing::warn!(%error, code = failure.code(), "the details of an error could not be encoded; sending it without them");
                None
            }
        };
        let last = self
            .caller
            .failure(state.sequence, failure.code(), failure.message(), details);
        self.end_with(&mut state, last, Some((failure.code(), failure.message())));
        Offer::Taken
    }

    fn offer_item(&self, reply: &dyn ActonMessage) -> Offer {
        if self.path.publisher.is_closed() {
            return Offer::Closed;
        }
        if !self.path.publisher.has_room(0) {
            return Offer::Behind { need: 0 };
        }
        let mut state = self.lock();
        if state.ended {
            return Offer::Closed;
        }
        match self.encode(reply) {
            Ok(payload) => {
                let item = self.caller.answer(Some(state.sequence), payload);
                match self.path.publisher.offer(item) {
                    Ok(()) => {
                        state.sequence = state.sequence.saturating_add(1);
                        Offer::Taken
                    }
                    // The room to wait for is what `offer` measures.
                    Err(item) => Offer::Behind {
                        need: item.weight(),
                    },
                }
            }
            Err(message) => {
                self.fail_locked(&mut state, ErrorCode::SerializationError.as_str(), &message);
                Offer::Closed
            }
        }
    }
}

/// The reply envelopes' end of a request: `ReplyTarget::Sink` holds it through
/// [`SinkRef`](crate::message::SinkRef)s; when the handler's last one goes, the
/// request ends.
impl ReplySink for NatsReplies {
    fn holders(&self) -> &AtomicUsize {
        &self.holders
    }

    /// The handler let go of its reply envelope: a stream ends, a call that got
    /// no answer fails.
    fn finish(&self) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        if self.caller.stream {
            let end = self.caller.end(state.sequence);
            self.end_with(&mut state, end, None);
        } else {
            self.fail_locked(
                &mut state,
                ErrorCode::IoError.as_str(),
                "the handler finished without replying",
            );
        }
    }

    fn offer(&self, reply: &dyn ActonMessage) -> Offer {
        if let Some(failure) = (reply as &dyn std::any::Any).downcast_ref::<Failure>() {
            return self.offer_failure(failure);
        }
        if self.caller.stream {
            return self.offer_item(reply);
        }
        let encoded = self.encode(reply);
        let mut state = self.lock();
        if state.ended {
            return Offer::Closed;
        }
        match encoded {
            Ok(payload) => {
                let last = self.caller.answer(None, payload);
                self.end_with(&mut state, last, None);
            }
            Err(message) => {
                self.fail_locked(&mut state, ErrorCode::SerializationError.as_str(), &message);
            }
        }
        Offer::Taken
    }

    fn room(&self, need: usize) -> Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let _parked = self.parked.park();
            self.path.publisher.wait_room(need).await;
        })
    }

    fn no_handler(&self, notice: NoHandler) {
        let mut state = self.lock();
        if !state.ended {
            let message = format!(
                "actor `{}` has no handler for `{}`",
                notice.actor, notice.message_type
            );
            self.fail_locked(&mut state, ErrorCode::UnknownMessageType.as_str(), &message);
        }
    }

    fn is_closed(&self) -> bool {
        self.has_ended()
    }

    fn closed(&self) -> Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.ended.wait())
    }
}
