//! The way back from a handler to its client: one [`RequestReplies`] per request
//! in flight, shared by the connection (which may end it: deadline, shutdown, the
//! client gone) and by the handler's reply envelopes (each a
//! [`SinkRef`](crate::message::SinkRef) on it).
//!
//! Replies are encoded here, in the handler's task, and appended to the
//! connection's [`Outbox`]: a handler never waits on a socket. Whoever ends a
//! request first — its answer, its handler dropping the envelope, its deadline —
//! writes its last frame; everything after is refused, under one lock per request,
//! so a request is answered exactly once and a stream's frames keep their order.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::outbox::{Ended, Lane, Outbox};
use super::stats::Counters;
use crate::actor::ParkedHandlers;
use crate::ipc::codec::frames::{failure_frame, final_stream_frame};
use crate::ipc::codec::recycle_frame;
use crate::ipc::protocol::ErrorCode;
use crate::ipc::registry::{IpcTypeRegistry, Outbound};
use crate::ipc::Format;
use crate::message::{ActonMessage, Failure, NoHandler, Offer, ReplySink};
use crate::signal::Signal;
use smol_str::SmolStr;

/// How a request ended, for its tracing span: `ok`, an error code, or
/// `abandoned` (nobody listens any more; nothing was written).
const ANSWERED: &str = "ok";
const ABANDONED: &str = "abandoned";

#[derive(Debug, Default)]
struct ReplyState {
    ended: bool,
    /// STREAM frames written so far.
    sequence: u32,
}

/// What every frame answering one request needs, shared by its connection and its
/// handler's reply envelope.
pub(crate) struct RequestReplies {
    pub(crate) correlation_id: SmolStr,
    /// Unique per request of the connection.
    pub(crate) serial: u64,
    pub(crate) format: Format,
    pub(crate) stream: bool,
    state: Mutex<ReplyState>,
    path: Arc<ReplyPath>,
    /// The target actor's parked handlers, for a stream only: only a stream's
    /// handler ever waits for room (an answer is taken or fails at once), so a
    /// call does not touch a count that every core's connections share.
    parked: Option<Arc<ParkedHandlers>>,
    span: tracing::Span,
    started: Option<Instant>,
    /// Raised when the request ends, whoever ends it.
    ended: Signal,
    /// The handler's reply envelopes holding the request (see
    /// [`SinkRef`](crate::message::SinkRef)).
    holders: AtomicUsize,
}

impl std::fmt::Debug for RequestReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestReplies")
            .field("correlation_id", &self.correlation_id)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Where a connection's replies go: one per connection, shared by its requests
/// (each request holds one reference, on the connection's own count, rather than
/// one on each of the listener-wide registry and counters, which every core's
/// connections would contend on).
pub(crate) struct ReplyPath {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) registry: Arc<IpcTypeRegistry>,
    pub(crate) counters: Arc<Counters>,
}

impl RequestReplies {
    pub(crate) fn new(
        correlation_id: SmolStr,
        serial: u64,
        format: Format,
        stream: bool,
        path: Arc<ReplyPath>,
        parked: Option<Arc<ParkedHandlers>>,
        span: tracing::Span,
    ) -> Self {
        let started = (!span.is_disabled()).then(Instant::now);
        Self {
            correlation_id,
            serial,
            format,
            stream,
            state: Mutex::new(ReplyState::default()),
            path,
            parked,
            span,
            started,
            ended: Signal::default(),
            holders: AtomicUsize::new(0),
        }
    }

    fn mark_ended(&self, state: &mut ReplyState) {
        state.ended = true;
        self.ended.raise();
    }

    fn ended(&self) -> Ended {
        Ended {
            correlation_id: self.correlation_id.clone(),
            serial: self.serial,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ReplyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the request has ended.
    pub(crate) fn has_ended(&self) -> bool {
        // Raised with `state.ended`, under the lock; read without it.
        self.ended.is_raised()
    }

    /// Ends the request with a failure (an ERROR frame, or a failed final STREAM
    /// frame), unless it has already ended. The connection calls this (deadline,
    /// shutdown) and removes the request itself. Returns whether this call ended it.
    pub(crate) fn fail(&self, code: ErrorCode, message: String) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        self.mark_ended(&mut state);
        let frame = self.failure_frame(state.sequence, code.as_str(), message);
        drop(state);
        Counters::add(&self.path.counters.errors, 1);
        self.path.outbox.force(&frame);
        self.record(code.as_str());
        true
    }

    /// Ends the request without writing anything: its client is gone.
    pub(crate) fn abandon(&self) {
        let mut state = self.lock();
        if !state.ended {
            self.mark_ended(&mut state);
            drop(state);
            self.record(ABANDONED);
        }
    }

    fn failure_frame(&self, sequence: u32, code: &str, message: String) -> bytes::Bytes {
        failure_frame(
            self.format,
            &self.correlation_id,
            self.stream,
            sequence,
            code,
            message,
        )
    }

    /// Ends the request from the handler's side with `frame` (its last), so that
    /// the connection frees its slot.
    fn end_with(&self, state: &mut ReplyState, frame: &[u8], outcome: &str) {
        self.mark_ended(state);
        if outcome != ANSWERED {
            Counters::add(&self.path.counters.errors, 1);
        }
        self.path.outbox.force_end(frame, self.ended());
        self.record(outcome);
    }

    fn fail_from_handler(&self, state: &mut ReplyState, code: ErrorCode, message: String) {
        let frame = self.failure_frame(state.sequence, code.as_str(), message);
        self.end_with(state, &frame, code.as_str());
    }

    /// A failure the handler sent (a declared error or a `Status`): the request
    /// ends with it, its details in the frame's `payload`.
    fn offer_failure(&self, failure: &Failure) -> Offer {
        let mut state = self.lock();
        if state.ended {
            return Offer::Closed;
        }
        let plain = |state: &ReplyState| {
            self.failure_frame(state.sequence, failure.code(), failure.message().to_owned())
        };
        let frame = match failure.details() {
            None => plain(&state),
            Some(details) => {
                let shape = Outbound::Failure {
                    correlation_id: &self.correlation_id,
                    code: failure.code(),
                    message: failure.message(),
                    sequence: self.stream.then_some(state.sequence),
                };
                match self.encode(details, shape) {
                    Ok(frame) => frame.into(),
                    Err(error) => {
                        tracing::warn!(parent: &self.span, %error, code = failure.code(), "the details of an error could not be encoded; sending it without them");
                        plain(&state)
                    }
                }
            }
        };
        self.end_with(&mut state, &frame, failure.code());
        Offer::Taken
    }

    fn record(&self, outcome: &str) {
        if let Some(started) = self.started {
            self.span.record("outcome", outcome);
            self.span
                .record("duration_us", started.elapsed().as_micros() as u64);
            tracing::debug!(parent: &self.span, outcome, "request ended");
        }
    }

    /// Encodes a reply; a panic in the type's `Serialize` is an error like any other.
    fn encode(&self, reply: &dyn ActonMessage, shape: Outbound<'_>) -> Result<Vec<u8>, String> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.path.registry.encode(reply, self.format, shape)
        })) {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "encoding the reply `{}` panicked",
                reply.type_name()
            )),
        }
    }

    /// The answer of a request-response call: taken at once, or the call fails.
    fn offer_answer(&self, reply: &dyn ActonMessage) -> Offer {
        if self.has_ended() {
            return Offer::Closed;
        }
        let encoded = self.encode(
            reply,
            Outbound::Response {
                correlation_id: &self.correlation_id,
            },
        );
        let mut state = self.lock();
        if state.ended {
            return Offer::Closed;
        }
        match encoded {
            Ok(frame) => {
                if self
                    .path
                    .outbox
                    .offer_end(Lane::Answer, &frame, self.ended())
                {
                    self.mark_ended(&mut state);
                    self.record(ANSWERED);
                } else if self.path.outbox.is_closed() {
                    self.mark_ended(&mut state);
                    drop(state);
                    self.record(ABANDONED);
                    return Offer::Closed;
                } else {
                    Counters::add(&self.path.counters.answers_over_budget, 1);
                    let message = format!(
                        "the answer ({} bytes) does not fit the connection's outbound buffer: the client is not reading its answers",
                        frame.len()
                    );
                    self.fail_from_handler(&mut state, ErrorCode::LimitExceeded, message);
                }
                recycle_frame(frame);
            }
            Err(message) => {
                Counters::add(&self.path.counters.answers_unencodable, 1);
                self.fail_from_handler(&mut state, ErrorCode::SerializationError, message);
            }
        }
        Offer::Taken
    }

    /// One stream item: taken, or `Behind` while the client is behind (the
    /// handler waits for room and offers it again).
    fn offer_item(&self, reply: &dyn ActonMessage) -> Offer {
        if !self.path.outbox.has_room(0) {
            return Offer::Behind { need: 0 };
        }
        let mut state = self.lock();
        if state.ended || self.path.outbox.is_closed() {
            return Offer::Closed;
        }
        let encoded = self.encode(
            reply,
            Outbound::Stream {
                correlation_id: &self.correlation_id,
                sequence: state.sequence,
            },
        );
        match encoded {
            Ok(frame) => {
                let offer = if self.path.outbox.offer(Lane::Flow, &frame) {
                    state.sequence = state.sequence.saturating_add(1);
                    Offer::Taken
                } else if self.path.outbox.is_closed() {
                    Offer::Closed
                } else {
                    Offer::Behind { need: frame.len() }
                };
                recycle_frame(frame);
                offer
            }
            Err(message) => {
                Counters::add(&self.path.counters.answers_unencodable, 1);
                self.fail_from_handler(&mut state, ErrorCode::SerializationError, message);
                Offer::Closed
            }
        }
    }
}

/// The reply envelopes' end of a request: `ReplyTarget::Sink` holds it through
/// [`SinkRef`](crate::message::SinkRef)s; when the handler's last one goes, the
/// request ends.
impl ReplySink for RequestReplies {
    fn holders(&self) -> &AtomicUsize {
        &self.holders
    }

    /// The handler let go of its reply envelope: a stream ends; a call that got
    /// no answer fails.
    fn finish(&self) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        if self.stream {
            let frame = final_stream_frame(self.format, &self.correlation_id, state.sequence, None);
            self.end_with(&mut state, &frame, ANSWERED);
        } else {
            self.fail_from_handler(
                &mut state,
                ErrorCode::IoError,
                "the handler finished without replying".to_owned(),
            );
        }
    }

    fn offer(&self, reply: &dyn ActonMessage) -> Offer {
        if let Some(failure) = (reply as &dyn std::any::Any).downcast_ref::<Failure>() {
            return self.offer_failure(failure);
        }
        if self.stream {
            self.offer_item(reply)
        } else {
            self.offer_answer(reply)
        }
    }

    fn room(&self, need: usize) -> Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // While it waits for its client, the handler holds none of its actor's
            // slots.
            let _parked = self.parked.as_ref().map(ParkedHandlers::park);
            self.path.outbox.wait_room(need).await;
        })
    }

    fn no_handler(&self, notice: NoHandler) {
        let mut state = self.lock();
        if !state.ended {
            let message = format!(
                "actor `{}` has no handler for `{}`",
                notice.actor, notice.message_type
            );
            self.fail_from_handler(&mut state, ErrorCode::UnknownMessageType, message);
        }
    }

    fn is_closed(&self) -> bool {
        self.has_ended() || self.path.outbox.is_closed()
    }

    fn closed(&self) -> Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.ended.wait())
    }
}
