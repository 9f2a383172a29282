//! One connection's protocol state, without I/O: frames and timer events go in,
//! answers come out into the connection's [`Outbox`]. The task around it
//! (`super::serve`) only moves bytes and waits; every decision — limits,
//! refusals, dispatch, deadlines, shutdown — is made here, so each case is a unit
//! test.
//!
//! This file holds the state, the control frames (heartbeat, subscriptions,
//! discovery) and the end of a connection; a REQUEST's way to its actor is in
//! `dispatch`. Every refusal, on either path, goes through one function,
//! [`Connection::refuse`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smol_str::SmolStr;
use tokio::time::Instant;

use super::routes::Routes;
use crate::ipc::codec::envelope;
use crate::ipc::codec::frames::{failure_frame, failure_frame_with, heartbeat_frame, value_frame};
use crate::ipc::codec::template::EnvelopeTemplate;
use crate::ipc::protocol::{
    ActorInfo, CorrelationId, ErrorCode, Frame, FrameError, IpcDiscoverRequest,
    IpcDiscoverResponse, IpcPatternRequest, IpcSubscribeRequest, IpcSubscriptionResponse,
    MessageKind, ProtocolVersionInfo, RetryAfter, MAX_CORRELATION_ID_LEN, UNKNOWN_CORRELATION_ID,
};
use crate::ipc::server::hub::{ConnectionId, Refused};
use crate::ipc::server::outbox::Outbox;
use crate::ipc::server::reply::{ReplyPath, RequestReplies};
use crate::ipc::server::stats::{Counters, Traffic};
use crate::ipc::server::ListenerShared;
use crate::ipc::serving::admission::TokenBucket;
use crate::ipc::serving::intake::shown;
use crate::ipc::serving::intake::MailboxWait;
use crate::ipc::Format;
use crate::message::PeerCredentials;

/// Where a refusal goes: the frame it answers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answering<'a> {
    pub(super) format: Format,
    pub(super) correlation_id: &'a str,
    /// A stream request is refused with a failed final STREAM frame.
    pub(super) stream: bool,
}

impl<'a> Answering<'a> {
    pub(super) fn frame(format: Format, correlation_id: &'a str) -> Self {
        Self {
            format,
            correlation_id,
            stream: false,
        }
    }
}

/// What a request becomes once its envelope is on its way to the mailbox.
pub(super) struct Accepted {
    pub(super) correlation_id: SmolStr,
    pub(super) format: Format,
    /// `None` for fire-and-forget.
    pub(super) replies: Option<Arc<RequestReplies>>,
    /// When it fails with TIMEOUT, counted from its arrival.
    pub(super) deadline: Instant,
}

/// A request waiting for room in a full mailbox, up to a deadline. While one
/// waits, the connection reads no further frames.
pub(crate) struct Parked {
    pub(super) accepted: Accepted,
    pub(super) wait: MailboxWait,
}

/// A request in flight.
pub(super) struct Pending {
    pub(super) replies: Arc<RequestReplies>,
    /// When it fails with TIMEOUT if still in flight.
    pub(super) deadline: Instant,
}

/// The protocol state of one connection.
pub(crate) struct Connection {
    pub(super) id: ConnectionId,
    pub(super) shared: Arc<ListenerShared>,
    pub(super) outbox: Arc<Outbox>,
    /// Its requests and bytes, counted apart from the other connections'.
    pub(super) traffic: Arc<Traffic>,
    limiter: Option<TokenBucket>,
    uid_limiter: Option<Arc<Mutex<TokenBucket>>>,
    /// Keyed by correlation id. The ids are the client's, so the hash is seeded
    /// at random (and the table is bounded by `max_in_flight`); foldhash rather
    /// than SipHash, whose four hashes a request cost about 640 instructions.
    pub(super) pending: HashMap<SmolStr, Pending, foldhash::fast::RandomState>,
    /// No request in flight has a deadline before this (it may be earlier than
    /// every remaining one: requests that ended leave it in place, and a check
    /// at that time finds the next). `None` with nothing in flight.
    pub(super) next_deadline: Option<Instant>,
    /// Whether the connection holds subscriptions (which keep it from idling out).
    subscribed: bool,
    /// A request waiting for room in its target's full mailbox.
    pub(crate) parked: Option<Parked>,
    /// A request read while the connection had `max_in_flight` requests: it waits
    /// for a slot, and meanwhile the connection reads no further frames.
    held: Option<Frame>,
    /// Numbers the requests of the connection.
    pub(super) next_serial: u64,
    /// Who is on the other end.
    pub(super) peer: PeerCredentials,
    /// The last request's target and message type.
    pub(super) routes: Routes,
    /// The shape of the last request envelope, to read the next of that shape.
    pub(super) envelopes: EnvelopeTemplate,
    /// Where its requests' replies go.
    pub(super) reply_path: Arc<ReplyPath>,
    pub(super) span: tracing::Span,
}

impl Connection {
    pub(crate) fn new(
        id: ConnectionId,
        peer: PeerCredentials,
        shared: Arc<ListenerShared>,
        outbox: Arc<Outbox>,
        traffic: Arc<Traffic>,
        uid_limiter: Option<Arc<Mutex<TokenBucket>>>,
        span: tracing::Span,
    ) -> Self {
        let reply_path = Arc::new(ReplyPath {
            outbox: Arc::clone(&outbox),
            registry: Arc::clone(&shared.registry),
            counters: Arc::clone(&shared.counters),
        });
        Self {
            id,
            limiter: shared.config.rate_limit.map(TokenBucket::new),
            uid_limiter,
            shared,
            outbox,
            traffic,
            pending: HashMap::default(),
            next_deadline: None,
            subscribed: false,
            parked: None,
            held: None,
            next_serial: 0,
            peer,
            routes: Routes::default(),
            envelopes: EnvelopeTemplate::default(),
            reply_path,
            span,
        }
    }

    /// Requests in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Whether a request waits (for room in a full mailbox, or for a slot): the
    /// connection reads no further frames meanwhile.
    pub(crate) fn is_parked(&self) -> bool {
        self.parked.is_some() || self.held.is_some()
    }

    /// Serves the request held for a slot, if a slot is free now.
    pub(crate) fn resume(&mut self) {
        if self.pending.len() < self.shared.options.max_in_flight {
            if let Some(frame) = self.held.take() {
                self.on_request(&frame);
            }
        }
    }

    /// Whether nothing keeps the connection from idling out: no request in flight
    /// or waiting, no subscription.
    pub(crate) fn is_quiet(&self) -> bool {
        self.is_done() && !self.subscribed
    }

    /// Whether the connection has nothing left to answer.
    pub(crate) fn is_done(&self) -> bool {
        self.pending.is_empty() && self.parked.is_none() && self.held.is_none()
    }

    // --- refusals ---------------------------------------------------------------

    /// The one way a frame is refused: an ERROR frame, or for a stream request a
    /// failed final STREAM frame.
    pub(super) fn refuse(&self, to: Answering<'_>, code: ErrorCode, message: String) {
        Counters::add(&self.shared.counters.errors, 1);
        tracing::debug!(parent: &self.span, correlation_id = %shown(to.correlation_id), %code, %message, "refused");
        self.outbox.force(&failure_frame(
            to.format,
            to.correlation_id,
            to.stream,
            0,
            code.as_str(),
            message,
        ));
    }

    /// Takes a token from the connection's bucket and the uid's; `Err` with the
    /// time to wait when either is empty.
    fn charge(&mut self) -> Result<(), Duration> {
        if let Some(limiter) = &mut self.limiter {
            limiter.try_acquire()?;
        }
        if let Some(limiter) = &self.uid_limiter {
            TokenBucket::try_acquire_shared(limiter)?;
        }
        Ok(())
    }

    /// Charges the rate limiters for one frame; refuses it (RATE_LIMITED) when
    /// they are empty. Returns whether the frame may be served. Charged before any other check of the frame, so that every refusal costs
    /// a token; an id above the length limit is answered as `unknown`.
    pub(super) fn admit(&mut self, to: Answering<'_>) -> bool {
        match self.charge() {
            Ok(()) => true,
            Err(wait) => {
                let to = if to.correlation_id.len() > MAX_CORRELATION_ID_LEN {
                    Answering {
                        correlation_id: UNKNOWN_CORRELATION_ID,
                        ..to
                    }
                } else {
                    to
                };
                Counters::add(&self.shared.counters.rate_limited, 1);
                Counters::add(&self.shared.counters.errors, 1);
                let millis = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
                // The message reads as the published crate's; the payload says
                // the same to programs.
                self.outbox.force(&failure_frame_with(
                    to.format,
                    to.correlation_id,
                    to.stream,
                    0,
                    ErrorCode::RateLimited.as_str(),
                    format!("Rate limit exceeded, retry after {millis}ms"),
                    RetryAfter {
                        retry_after_ms: millis,
                    },
                ));
                false
            }
        }
    }

    /// Refuses a correlation id above the length limit; it is never kept or echoed.
    pub(super) fn id_too_long(&self, format: Format, correlation_id: &str) -> bool {
        if correlation_id.len() <= MAX_CORRELATION_ID_LEN {
            return false;
        }
        Counters::add(&self.shared.counters.limit_refusals, 1);
        self.refuse(
            Answering::frame(format, UNKNOWN_CORRELATION_ID),
            ErrorCode::LimitExceeded,
            format!(
                "correlation_id of {} bytes is longer than the {MAX_CORRELATION_ID_LEN}-byte limit",
                correlation_id.len()
            ),
        );
        true
    }

    /// A payload that is not the frame's expected shape.
    pub(super) fn malformed(&mut self, format: Format, payload: &[u8], message: String) {
        let id = envelope::salvage_correlation_id(format, payload)
            .unwrap_or_else(|| UNKNOWN_CORRELATION_ID.to_owned());
        let to = Answering::frame(format, &id);
        if self.admit(to) {
            self.refuse(to, ErrorCode::SerializationError, message);
        }
    }

    // --- frames -------------------------------------------------------------------

    /// A frame the client sent.
    pub(crate) fn on_frame(&mut self, frame: Frame) {
        match frame.kind {
            // At the bound of requests in flight, a request waits for a slot; other
            // frames (a CANCEL that frees one, heartbeats) are still served.
            MessageKind::Request if self.pending.len() >= self.shared.options.max_in_flight => {
                self.held = Some(frame);
            }
            MessageKind::Request => self.on_request(&frame),
            MessageKind::Heartbeat => {
                // A heartbeat over the rate is not answered (it has no id to refuse).
                if self.charge().is_ok() {
                    self.outbox.force(&heartbeat_frame());
                } else {
                    Counters::add(&self.shared.counters.rate_limited, 1);
                }
            }
            MessageKind::Subscribe => self.on_subscribe(&frame, true),
            MessageKind::Unsubscribe => self.on_subscribe(&frame, false),
            MessageKind::SubscribePatterns => self.on_patterns(&frame, true),
            MessageKind::UnsubscribePatterns => self.on_patterns(&frame, false),
            MessageKind::Discover => self.on_discover(&frame),
            MessageKind::Cancel => self.on_cancel(&frame),
            // Server-to-client kinds sent by a client carry nothing to act on, but
            // they cost like any other frame.
            _ => {
                if self.charge().is_err() {
                    Counters::add(&self.shared.counters.rate_limited, 1);
                }
                tracing::debug!(parent: &self.span, kind = ?frame.kind, "ignored a server-to-client frame");
            }
        }
    }

    /// A header that breaks the protocol: one ERROR frame, then the connection
    /// closes (the byte stream cannot be resynchronised).
    pub(crate) fn on_frame_error(&mut self, error: &FrameError) {
        Counters::add(&self.shared.counters.protocol_errors, 1);
        let code = match error {
            FrameError::UnsupportedVersion(_) => ErrorCode::UnsupportedProtocolVersion,
            _ => ErrorCode::ProtocolError,
        };
        tracing::debug!(parent: &self.span, %error, "protocol error; closing");
        self.refuse(
            Answering::frame(Format::Json, UNKNOWN_CORRELATION_ID),
            code,
            error.to_string(),
        );
    }

    /// A frame begun more than `timeout` ago is still not whole: one ERROR
    /// frame, then the connection closes.
    pub(crate) fn on_frame_timeout(&mut self, timeout: Duration) {
        Counters::add(&self.shared.counters.protocol_errors, 1);
        Counters::add(&self.shared.counters.slow_frames_closed, 1);
        tracing::debug!(parent: &self.span, ?timeout, "a frame did not arrive whole in time; closing");
        self.refuse(
            Answering::frame(Format::Json, UNKNOWN_CORRELATION_ID),
            ErrorCode::ProtocolError,
            format!(
                "a frame did not arrive whole within {} ms of its first bytes",
                timeout.as_millis()
            ),
        );
    }

    /// A frame that was already read when the listener began shutting down: a
    /// request is refused with SHUTTING_DOWN, anything else is dropped.
    pub(crate) fn on_frame_after_stop(&mut self, frame: &Frame) {
        if frame.kind != MessageKind::Request || !frame.format.is_supported() {
            return;
        }
        let Ok((header, _)) = envelope::parse(frame.format, &frame.payload) else {
            return;
        };
        if self.id_too_long(frame.format, &header.correlation_id) {
            return;
        }
        let to = Answering {
            format: frame.format,
            correlation_id: &header.correlation_id,
            stream: header.expects_stream,
        };
        self.refuse(
            to,
            ErrorCode::ShuttingDown,
            "the server is shutting down".to_owned(),
        );
    }

    fn on_subscribe(&mut self, frame: &Frame, subscribe: bool) {
        let format = frame.format;
        let request: IpcSubscribeRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(format, &frame.payload, message),
        };
        let to = Answering::frame(format, &request.correlation_id);
        if !self.admit(to) || self.id_too_long(format, &request.correlation_id) {
            return;
        }
        let hub = Arc::clone(&self.shared.hub);
        let types = if subscribe {
            hub.subscribe(self.id, &self.outbox, format, request.message_types)
        } else {
            Ok(hub.unsubscribe(self.id, &request.message_types))
        };
        self.subscribed = hub.has_subscriptions(self.id);
        match types {
            Ok(types) => {
                self.answer_subscription(format, request.correlation_id, Some(types), None)
            }
            Err(refused) => self.refuse_subscription(to, &refused),
        }
    }

    fn on_patterns(&mut self, frame: &Frame, subscribe: bool) {
        let format = frame.format;
        let request: IpcPatternRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(format, &frame.payload, message),
        };
        let to = Answering::frame(format, &request.correlation_id);
        if !self.admit(to) || self.id_too_long(format, &request.correlation_id) {
            return;
        }
        let hub = Arc::clone(&self.shared.hub);
        let limit = self.shared.options.max_patterns;
        let patterns = if subscribe {
            hub.subscribe_patterns(self.id, &self.outbox, format, request.patterns, limit)
        } else {
            Ok(hub.unsubscribe_patterns(self.id, &request.patterns))
        };
        self.subscribed = hub.has_subscriptions(self.id);
        match patterns {
            Ok(patterns) => {
                self.answer_subscription(format, request.correlation_id, None, Some(patterns));
            }
            Err(refused) => self.refuse_subscription(to, &refused),
        }
    }

    fn answer_subscription(
        &self,
        format: Format,
        correlation_id: String,
        types: Option<Vec<String>>,
        patterns: Option<Vec<String>>,
    ) {
        let answer = IpcSubscriptionResponse {
            correlation_id,
            success: true,
            error: None,
            error_code: None,
            subscribed_types: types,
            subscribed_patterns: patterns,
        };
        self.outbox
            .force(&value_frame(MessageKind::Response, format, &answer));
    }

    fn refuse_subscription(&self, to: Answering<'_>, refused: &Refused) {
        Counters::add(&self.shared.counters.subscriptions_refused, 1);
        let code = match refused {
            Refused::UnknownTypes(_) => ErrorCode::UnknownMessageType,
            Refused::TooLong | Refused::TooManyPatterns { .. } => ErrorCode::LimitExceeded,
        };
        self.refuse(to, code, refused.to_string());
    }

    /// CANCEL: the request ends without an answer; its handler learns it from its
    /// reply envelope (and its context), its slot is free. Nothing is answered,
    /// whether or not the request was still in flight.
    fn on_cancel(&mut self, frame: &Frame) {
        if self.charge().is_err() {
            Counters::add(&self.shared.counters.rate_limited, 1);
            return;
        }
        let Ok(request) = decode_or_default::<CorrelationId>(frame.format, &frame.payload) else {
            return;
        };
        if self.cancel_parked(&request.correlation_id) {
            Counters::add(&self.shared.counters.requests_cancelled, 1);
            return;
        }
        if let Some(pending) = self.pending.remove(request.correlation_id.as_str()) {
            pending.replies.abandon();
            Counters::add(&self.shared.counters.requests_cancelled, 1);
        }
    }

    fn on_discover(&mut self, frame: &Frame) {
        let format = frame.format;
        let request: IpcDiscoverRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(format, &frame.payload, message),
        };
        if !self.admit(Answering::frame(format, &request.correlation_id))
            || self.id_too_long(format, &request.correlation_id)
        {
            return;
        }
        let shared = &self.shared;
        let actors = request.include_actors.then(|| {
            shared
                .runtime
                .ipc_state()
                .exposed_actors()
                .into_iter()
                .map(|(name, handle)| ActorInfo {
                    name,
                    ern: handle.name().to_owned(),
                })
                .collect()
        });
        let schema = request
            .include_schema
            .then(|| shared.registry.schema())
            .flatten();
        let (schema, schema_fingerprint) = match schema {
            Some(served) => (Some(served.document), Some(served.fingerprint)),
            None => (None, None),
        };
        let answer = IpcDiscoverResponse {
            correlation_id: request.correlation_id,
            success: true,
            error: None,
            protocol_version: Some(ProtocolVersionInfo::current()),
            actors,
            message_types: request
                .include_message_types
                .then(|| shared.registry.registered_types()),
            schema,
            schema_fingerprint,
        };
        self.outbox
            .force(&value_frame(MessageKind::Response, format, &answer));
    }

    // --- the end ------------------------------------------------------------------

    /// The connection reads no more (shutdown, or the peer closed its side): its
    /// subscriptions end; what is in flight is still answered.
    pub(crate) fn stop_reading(&mut self) {
        self.shared.hub.remove(self.id);
        self.subscribed = false;
    }

    /// The listener shuts down: no further request is served — the one held for a
    /// slot is refused (SHUTTING_DOWN) — and subscriptions end; what is in flight
    /// is still answered.
    pub(crate) fn shut(&mut self) {
        self.stop_reading();
        if let Some(frame) = self.held.take() {
            self.on_frame_after_stop(&frame);
        }
    }

    /// The drain time is over: every request still in flight (or waiting for a
    /// mailbox) ends with SHUTTING_DOWN.
    pub(crate) fn cut(&mut self) {
        self.stop_reading();
        if let Some(frame) = self.held.take() {
            self.on_frame_after_stop(&frame);
        }
        self.refuse_parked(ErrorCode::ShuttingDown, "the server is shutting down");
        for (_, pending) in self.pending.drain() {
            pending.replies.fail(
                ErrorCode::ShuttingDown,
                "the server is shutting down".to_owned(),
            );
        }
    }

    /// The client is gone: every request in flight is abandoned (its handler
    /// learns it from its reply envelope), nothing more is written.
    pub(crate) fn close(&mut self) {
        self.stop_reading();
        self.parked = None;
        self.held = None;
        let abandoned = self.pending.len() as u64;
        for (_, pending) in self.pending.drain() {
            pending.replies.abandon();
        }
        self.next_deadline = None;
        if abandoned > 0 {
            Counters::add(&self.shared.counters.requests_abandoned, abandoned);
        }
        self.outbox.close();
    }
}

/// Decodes a control request; an empty payload means "all defaults".
fn decode_or_default<T: serde::de::DeserializeOwned>(
    format: Format,
    payload: &[u8],
) -> Result<T, String> {
    let bytes: &[u8] = if payload.is_empty() {
        format.empty_map()
    } else {
        payload
    };
    format.decode(bytes).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    //! The connection's decisions, without a socket: frames in, frames out.

    use super::*;
    use crate::ipc::config::{IpcConfig, IpcOptions, RateLimitConfig};
    use crate::ipc::server::hub::SubscriptionHub;
    use crate::ipc::server::ListenerShared;
    use crate::prelude::*;
    use crate::signal::Signal;
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    struct Harness {
        connection: Connection,
        outbox: Arc<Outbox>,
        shared: Arc<ListenerShared>,
    }

    async fn harness(config: IpcConfig, options: IpcOptions) -> Harness {
        let runtime = ActonApp::launch();
        let registry = runtime.ipc_registry();
        registry.register::<Add>("Add");
        let mut adder = runtime.new_actor::<()>();
        adder.act_on::<Add>(|_actor, ctx| {
            let sum = ctx.message().a + ctx.message().b;
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(Add { a: sum, b: 0 }).await })
        });
        let adder = adder.start().await;
        runtime.ipc_expose("adder", adder);
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(ListenerShared {
            hub: Arc::new(SubscriptionHub::new(
                Arc::clone(&registry),
                Arc::clone(&counters),
            )),
            runtime,
            registry,
            config,
            options,
            counters,
            uids: Mutex::default(),
            stop_reading: Signal::default(),
            cut: Signal::default(),
        });
        let outbox = Arc::new(Outbox::new(shared.options.max_outbound_bytes));
        let connection = Connection::new(
            1,
            PeerCredentials::default(),
            Arc::clone(&shared),
            Arc::clone(&outbox),
            Arc::default(),
            None,
            tracing::Span::none(),
        );
        Harness {
            connection,
            outbox,
            shared,
        }
    }

    fn request(id: &str, message_type: &str, expects_reply: bool) -> Frame {
        let envelope = serde_json::json!({
            "correlation_id": id,
            "target": "adder",
            "message_type": message_type,
            "payload": {"a": 1, "b": 2},
            "expects_reply": expects_reply,
        });
        Frame::new(
            MessageKind::Request,
            Format::Json,
            serde_json::to_vec(&envelope).unwrap_or_default(),
        )
    }

    fn request_with_timeout(id: &str, timeout_ms: u64) -> Frame {
        let envelope = serde_json::json!({
            "correlation_id": id,
            "target": "adder",
            "message_type": "Add",
            "payload": {"a": 1, "b": 2},
            "expects_reply": true,
            "response_timeout_ms": timeout_ms,
        });
        Frame::new(
            MessageKind::Request,
            Format::Json,
            serde_json::to_vec(&envelope).unwrap_or_default(),
        )
    }

    impl Harness {
        /// Every frame the connection produced so far, as (kind, JSON).
        fn answers(&mut self) -> Vec<(MessageKind, serde_json::Value)> {
            let mut out = BytesMut::new();
            let mut ended = Vec::new();
            self.outbox.take(&mut out, &mut ended);
            self.outbox.written(out.len());
            self.connection.on_ended(&mut ended);
            let mut codec = crate::ipc::protocol::FrameCodec::default();
            let mut answers = Vec::new();
            while let Ok(Some(frame)) = codec.decode(&mut out) {
                let value = if frame.payload.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_slice(&frame.payload).unwrap_or_default()
                };
                answers.push((frame.kind, value));
            }
            answers
        }

        /// Waits until the connection produced something.
        async fn settle(&mut self) -> Vec<(MessageKind, serde_json::Value)> {
            for _ in 0..100 {
                if !self.outbox.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.answers()
        }
    }

    #[tokio::test]
    async fn a_request_is_answered_and_frees_its_slot() {
        let mut h = harness(IpcConfig::default(), IpcOptions::default()).await;
        h.connection.on_frame(request("r1", "Add", true));
        let answers = h.settle().await;
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0, MessageKind::Response);
        assert_eq!(answers[0].1["payload"]["a"], 3);
        assert_eq!(h.connection.in_flight(), 0);
    }

    #[tokio::test]
    async fn every_refusal_names_its_reason() {
        let mut h = harness(IpcConfig::default(), IpcOptions::default()).await;
        h.connection
            .on_frame(request(&"x".repeat(300), "Add", true));
        h.connection.on_frame(request("t", "Nope", true));
        let mut unknown_target = request("u", "Add", true);
        unknown_target.payload = serde_json::to_vec(&serde_json::json!({
            "correlation_id": "u", "target": "nobody", "message_type": "Add", "payload": {}
        }))
        .unwrap_or_default()
        .into();
        h.connection.on_frame(unknown_target);
        h.connection
            .on_frame(Frame::new(MessageKind::Request, Format::Json, &b"{"[..]));
        let codes: Vec<(String, String)> = h
            .answers()
            .into_iter()
            .map(|(_, v)| {
                (
                    v["correlation_id"].as_str().unwrap_or("").to_owned(),
                    v["error_code"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let expected = [
            ("unknown", "LIMIT_EXCEEDED"),
            ("t", "UNKNOWN_MESSAGE_TYPE"),
            ("u", "ACTOR_NOT_FOUND"),
            ("unknown", "SERIALIZATION_ERROR"),
        ];
        assert_eq!(
            codes,
            expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
        );
        assert_eq!(h.shared.counters.snapshot().errors, 4);
    }

    #[tokio::test]
    async fn the_rate_limit_counts_heartbeats_too() {
        let config = IpcConfig {
            rate_limit: Some(RateLimitConfig {
                requests_per_second: 0,
                burst_size: 2,
            }),
            ..IpcConfig::default()
        };
        let mut h = harness(config, IpcOptions::default()).await;
        h.connection.on_frame(Frame::heartbeat());
        h.connection.on_frame(Frame::heartbeat());
        h.connection.on_frame(Frame::heartbeat());
        h.connection.on_frame(request("r", "Add", true));
        let answers = h.answers();
        let kinds: Vec<MessageKind> = answers.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                MessageKind::Heartbeat,
                MessageKind::Heartbeat,
                MessageKind::Error
            ]
        );
        assert_eq!(answers[2].1["error_code"], "RATE_LIMITED");
    }

    #[tokio::test]
    async fn frames_read_before_a_stop_are_refused_with_shutting_down() {
        let mut h = harness(IpcConfig::default(), IpcOptions::default()).await;
        h.connection.stop_reading();
        h.connection
            .on_frame_after_stop(&request("late", "Add", true));
        h.connection.on_frame_after_stop(&Frame::heartbeat());
        let answers = h.answers();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].1["correlation_id"], "late");
        assert_eq!(answers[0].1["error_code"], "SHUTTING_DOWN");
    }

    #[tokio::test]
    async fn a_deadline_ends_a_request_once() {
        let mut h = harness(IpcConfig::default(), IpcOptions::default()).await;
        // Fire-and-forget is answered at once and holds no slot.
        h.connection.on_frame(request("f", "Add", false));
        let answers = h.answers();
        assert_eq!(answers[0].1["payload"]["status"], "delivered");
        assert_eq!(h.connection.in_flight(), 0);
        // A request whose deadline passes before its answer is taken.
        h.connection.on_frame(request("d", "Add", true));
        let deadline = h.connection.next_deadline().expect("a deadline");
        // Not yet: nothing ends.
        h.connection
            .on_deadlines(deadline - std::time::Duration::from_millis(1));
        assert_eq!(h.connection.in_flight(), 1);
        h.connection.on_deadlines(deadline);
        assert_eq!(h.connection.in_flight(), 0);
        assert_eq!(h.connection.next_deadline(), None);
        let answers = h.settle().await;
        let for_d: Vec<_> = answers
            .iter()
            .filter(|(_, v)| v["correlation_id"] == "d")
            .collect();
        assert_eq!(for_d.len(), 1, "{answers:?}");
    }

    #[tokio::test]
    async fn deadlines_end_requests_earliest_first_and_the_next_one_is_known() {
        let mut h = harness(IpcConfig::default(), IpcOptions::default()).await;
        let start = tokio::time::Instant::now();
        h.connection.on_frame(request_with_timeout("slow", 30_000));
        h.connection.on_frame(request_with_timeout("fast", 10_000));
        h.connection
            .on_frame(request_with_timeout("middle", 20_000));
        let first = h.connection.next_deadline().expect("a deadline");
        assert!(
            first >= start + Duration::from_secs(10) && first < start + Duration::from_secs(11)
        );
        // At the first deadline only `fast` ends; the next is `middle`'s.
        h.connection.on_deadlines(first);
        assert_eq!(h.connection.in_flight(), 2);
        assert!(!h.connection.pending.contains_key("fast"));
        let second = h.connection.next_deadline().expect("a deadline");
        assert!(second >= first + Duration::from_secs(9));
        // Long after every deadline: both end, nothing is left to wait for.
        h.connection.on_deadlines(start + Duration::from_secs(3600));
        assert_eq!(h.connection.in_flight(), 0);
        assert_eq!(h.connection.next_deadline(), None);
        // Once a request is answered, there is no deadline left to wait for.
        let _ = h.answers();
        h.connection.on_frame(request_with_timeout("late", 1_000));
        let answers = h.settle().await;
        assert!(answers.iter().any(|(_, v)| v["correlation_id"] == "late"));
        assert_eq!(
            h.connection.next_deadline(),
            None,
            "answered: nothing to wait for"
        );
    }
}
