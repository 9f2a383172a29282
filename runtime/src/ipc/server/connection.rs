//! One client connection: reads frames, answers each request as it completes
//! (many in flight at once, matched by `correlation_id`), and writes what is ready
//! in as few system calls as it can.
//!
//! Every request of a connection replies into one shared, keyed channel (a
//! [`SinkTicket`] per request): no channel, future or task is created per request,
//! and one wake-up of the connection task collects every reply that is ready.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::time::{delay_queue, DelayQueue};

use super::hub::SubscriptionHub;
use super::rate_limit::TokenBucket;
use super::stats::Counters;
use crate::ipc::codec::envelope as request;
use crate::ipc::codec::frames::{error_frame, final_stream_frame, heartbeat_frame, value_frame};
use crate::ipc::config::{IpcConfig, IpcOptions};
use crate::ipc::protocol::{
    ActorInfo, Delivered, ErrorCode, Frame, FrameCodec, FrameError, IpcDiscoverRequest,
    IpcDiscoverResponse, IpcPatternRequest, IpcResponse, IpcSubscribeRequest,
    IpcSubscriptionResponse, MessageKind, ProtocolVersionInfo, RequestHeader,
    UNKNOWN_CORRELATION_ID,
};
use crate::ipc::registry::{IpcTypeRegistry, Outbound};
use crate::ipc::Format;
use crate::message::{Envelope, NoHandler, ReplyTarget, SinkReply, SinkTicket};
use crate::runtime::ActorRuntime;
use crate::signal::Signal;

pub(crate) type ConnectionId = u64;

/// The frame that ends a request with a failure: an ERROR frame, or for a stream
/// request a failed final STREAM frame after `sequence` items.
fn failure_frame(
    format: Format,
    mode: Mode,
    correlation_id: &str,
    sequence: u32,
    code: ErrorCode,
    message: String,
) -> Bytes {
    match mode {
        Mode::Stream => final_stream_frame(format, correlation_id, sequence, Some((code, message))),
        _ => error_frame(format, correlation_id, code, message),
    }
}

fn busy_message(target: &str, capacity: usize, waited: Duration) -> String {
    format!(
        "actor `{target}`'s mailbox ({capacity} messages) stayed full for {} ms; the message was not delivered",
        waited.as_millis()
    )
}

/// Replies (all requests of a connection together) that may wait for the
/// connection before a handler's `send` waits.
const REPLY_BUFFER: usize = 256;

/// Bytes waiting to be written above which the connection stops reading requests
/// and taking replies until the peer has read some.
const HIGH_WATER: usize = 256 * 1024;

/// What every connection of one listener shares.
pub(crate) struct ListenerShared {
    pub(crate) runtime: ActorRuntime,
    pub(crate) registry: Arc<IpcTypeRegistry>,
    pub(crate) config: IpcConfig,
    pub(crate) options: IpcOptions,
    pub(crate) counters: Arc<Counters>,
    pub(crate) hub: Arc<SubscriptionHub>,
    /// Raised when shutdown begins: connections stop reading and drain.
    pub(crate) stop_reading: Signal,
    /// Raised when the drain time is over: in-flight requests end at once.
    pub(crate) cut: Signal,
}

/// How a request expects to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FireAndForget,
    Reply,
    Stream,
}

impl Mode {
    fn of(header: &RequestHeader<'_>) -> Self {
        if header.expects_stream {
            Self::Stream
        } else if header.expects_reply {
            Self::Reply
        } else {
            Self::FireAndForget
        }
    }
}

/// A request in flight.
struct Pending {
    correlation_id: String,
    format: Format,
    mode: Mode,
    /// STREAM frames sent so far.
    sequence: u32,
    /// The request's deadline (`response_timeout_ms`).
    deadline: delay_queue::Key,
    /// Tells the handler's reply envelope that nobody listens any more.
    closed: Arc<AtomicBool>,
}

impl Pending {
    /// Ends the request: no more replies are wanted.
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

struct Connection {
    id: ConnectionId,
    shared: Arc<ListenerShared>,
    /// Pushes for this connection (the hub queues them here).
    queue: mpsc::Sender<Bytes>,
    replies: mpsc::Sender<SinkReply>,
    ends: mpsc::UnboundedSender<u64>,
    limiter: Option<TokenBucket>,
    pending: HashMap<u64, Pending>,
    deadlines: DelayQueue<u64>,
    next_key: u64,
    /// Whether the connection holds subscriptions (which keep it from idling out).
    subscribed: bool,
    /// A request waiting for room in its target's full mailbox. While it waits,
    /// the connection reads no further frames.
    parked: Option<Parked>,
}

/// What a request becomes once its target's mailbox accepted it.
struct Accepted {
    key: u64,
    correlation_id: String,
    format: Format,
    mode: Mode,
    response_timeout_ms: u64,
    /// Set when the request ends; `None` for fire-and-forget.
    closed: Option<Arc<AtomicBool>>,
}

type RoomOutcome = Result<
    Result<mpsc::OwnedPermit<Envelope>, mpsc::error::SendError<()>>,
    tokio::time::error::Elapsed,
>;

/// A request waiting for room in a full mailbox, up to a deadline.
struct Parked {
    accepted: Accepted,
    envelope: Envelope,
    target: String,
    capacity: usize,
    waited: Duration,
    room: std::pin::Pin<Box<dyn std::future::Future<Output = RoomOutcome> + Send>>,
}

/// Waits for the parked request's room; never finishes when nothing is parked.
async fn room_for(parked: &mut Option<Parked>) -> RoomOutcome {
    match parked {
        Some(parked) => parked.room.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Serves one accepted connection until the peer leaves, the connection idles out,
/// a frame breaks the protocol, or the listener shuts down.
///
/// One task does the reading, the bookkeeping and the writing. Everything ready
/// (frames read, replies, pushes) is handled before each write, so pipelined
/// answers share system calls. The hot path arms no per-request future and
/// registers with no cancellation token; the idle and write-stall timers are
/// re-armed only when they fire.
pub(crate) async fn serve(stream: UnixStream, id: ConnectionId, shared: Arc<ListenerShared>) {
    let (read, mut write) = stream.into_split();
    let (queue, mut queued) = mpsc::channel::<Bytes>(shared.options.outbound_queue);
    let (replies, mut replied) = mpsc::channel::<SinkReply>(REPLY_BUFFER);
    let (ends, mut ended) = mpsc::unbounded_channel::<u64>();
    let mut connection = Connection {
        id,
        limiter: shared.config.rate_limit.map(TokenBucket::new),
        queue,
        replies,
        ends,
        shared: Arc::clone(&shared),
        pending: HashMap::new(),
        deadlines: DelayQueue::new(),
        next_key: 0,
        subscribed: false,
        parked: None,
    };
    let mut frames = FramedRead::new(read, FrameCodec::new(shared.options.max_frame_size));
    let mut out = BytesMut::with_capacity(8 * 1024);

    let idle_after = shared.config.connection_timeout;
    let write_timeout = shared.options.write_timeout;
    let mut last_activity = Instant::now();
    let mut last_write = Instant::now();
    let mut idle = std::pin::pin!(tokio::time::sleep(idle_after));
    let mut stalled = std::pin::pin!(tokio::time::sleep(write_timeout));
    let mut stopping = std::pin::pin!(shared.stop_reading.wait());
    let mut cut = std::pin::pin!(shared.cut.wait());
    let mut reading = true;
    let mut cut_done = false;

    loop {
        if !reading
            && connection.pending.is_empty()
            && connection.parked.is_none()
            && out.is_empty()
            && queued.is_empty()
        {
            break;
        }
        let room = out.len() < HIGH_WATER;
        let in_flight = connection.pending.len();
        let parked = connection.parked.is_some();
        let may_idle = reading
            && !idle_after.is_zero()
            && in_flight == 0
            && !parked
            && out.is_empty()
            && !connection.subscribed;
        let was_empty = out.is_empty();
        tokio::select! {
            biased;
            () = &mut cut, if !cut_done => {
                // The drain time is over: what is still in flight ends now.
                cut_done = true;
                reading = false;
                connection.stop_subscriptions();
                while let Ok(frame) = queued.try_recv() {
                    out.extend_from_slice(&frame);
                }
                while let Ok(reply) = replied.try_recv() {
                    connection.on_reply(reply, &mut out);
                }
                connection.abandon_pending(&mut out);
            }
            () = &mut stopping, if reading => {
                reading = false;
                connection.stop_subscriptions();
            }
            Some(reply) = replied.recv(), if room => {
                connection.on_reply(reply, &mut out);
                while out.len() < HIGH_WATER {
                    match replied.try_recv() {
                        Ok(reply) => connection.on_reply(reply, &mut out),
                        Err(_) => break,
                    }
                }
                last_activity = Instant::now();
            }
            Some(key) = ended.recv() => {
                // Every reply sent before the end is already queued: take them first.
                while let Ok(reply) = replied.try_recv() {
                    connection.on_reply(reply, &mut out);
                }
                connection.on_end(key, &mut out);
                last_activity = Instant::now();
            }
            Some(frame) = queued.recv(), if room => {
                out.extend_from_slice(&frame);
                while out.len() < HIGH_WATER {
                    match queued.try_recv() {
                        Ok(frame) => out.extend_from_slice(&frame),
                        Err(_) => break,
                    }
                }
            }
            Some(expired) = connection.deadlines.next(), if in_flight > 0 => {
                connection.on_deadline(expired.into_inner(), &mut out);
            }
            outcome = room_for(&mut connection.parked), if parked => {
                connection.on_room(outcome, &mut out);
            }
            frame = frames.next(), if reading && room && !parked && in_flight < shared.options.max_in_flight => {
                last_activity = Instant::now();
                match frame {
                    Some(Ok(frame)) => {
                        let header_len = if frame.version == 1 { 6 } else { 7 };
                        Counters::add(&shared.counters.bytes_received, (header_len + frame.payload.len()) as u64);
                        connection.on_frame(frame, &mut out);
                    }
                    Some(Err(FrameError::Io(error))) => {
                        tracing::debug!(connection = id, %error, "read failed");
                        reading = false;
                        connection.stop_subscriptions();
                    }
                    Some(Err(error)) => {
                        Counters::add(&shared.counters.protocol_errors, 1);
                        let code = match error {
                            FrameError::UnsupportedVersion(_) => ErrorCode::UnsupportedProtocolVersion,
                            _ => ErrorCode::ProtocolError,
                        };
                        tracing::debug!(connection = id, %error, "protocol error; closing");
                        connection.error(&mut out, error_frame(Format::Json, UNKNOWN_CORRELATION_ID, code, error.to_string()));
                        reading = false;
                        connection.stop_subscriptions();
                    }
                    // The peer closed its side; what is in flight is still answered.
                    None => {
                        reading = false;
                        connection.stop_subscriptions();
                    }
                }
            }
            written = write.write(&out), if !out.is_empty() => match written {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    Counters::add(&shared.counters.bytes_sent, n as u64);
                    out.advance(n);
                    last_write = Instant::now();
                }
            },
            () = &mut stalled, if !out.is_empty() => {
                let due = last_write + write_timeout;
                if Instant::now() >= due {
                    tracing::warn!(connection = id, ?write_timeout, "peer stopped reading; closing the connection");
                    break;
                }
                stalled.as_mut().reset(due);
            }
            () = &mut idle, if may_idle => {
                let due = last_activity + idle_after;
                if Instant::now() >= due {
                    tracing::debug!(connection = id, ?idle_after, "closing idle connection");
                    break;
                }
                idle.as_mut().reset(due);
            }
        }
        if was_empty && !out.is_empty() {
            last_write = Instant::now();
        }
    }

    // Whatever is still in flight has nobody to answer to: the handlers learn it
    // from their reply envelopes.
    for pending in connection.pending.values() {
        pending.close();
    }
    connection.stop_subscriptions();
    let _ = write.shutdown().await;
}

impl Connection {
    fn stop_subscriptions(&mut self) {
        self.shared.hub.remove(self.id);
        self.subscribed = false;
    }

    /// Appends an ERROR frame (or a failed final STREAM frame) and counts it.
    fn error(&self, out: &mut BytesMut, frame: Bytes) {
        Counters::add(&self.shared.counters.errors, 1);
        out.extend_from_slice(&frame);
    }

    /// Ends a request with a failure: an ERROR frame, or a failed final STREAM frame.
    fn fail(&self, out: &mut BytesMut, pending: &Pending, code: ErrorCode, message: String) {
        let frame = failure_frame(
            pending.format,
            pending.mode,
            &pending.correlation_id,
            pending.sequence,
            code,
            message,
        );
        self.error(out, frame);
    }

    /// Removes a finished request.
    fn finish(&mut self, key: u64) -> Option<Pending> {
        let pending = self.pending.remove(&key)?;
        self.deadlines.remove(&pending.deadline);
        pending.close();
        Some(pending)
    }

    /// A reply of a handler: the answer of a request-response call, or a stream item.
    fn on_reply(&mut self, (key, reply): SinkReply, out: &mut BytesMut) {
        let Some(pending) = self.pending.get_mut(&key) else {
            return; // the request already ended (answered, timed out)
        };
        if let Some(missing) = (&*reply as &dyn std::any::Any).downcast_ref::<NoHandler>() {
            let message = format!(
                "actor `{}` has no handler for `{}`",
                missing.actor, missing.message_type
            );
            if let Some(pending) = self.finish(key) {
                self.fail(out, &pending, ErrorCode::UnknownMessageType, message);
            }
            return;
        }
        let shape = match pending.mode {
            Mode::Stream => Outbound::Stream {
                correlation_id: &pending.correlation_id,
                sequence: pending.sequence,
            },
            _ => Outbound::Response {
                correlation_id: &pending.correlation_id,
            },
        };
        match self.shared.registry.encode(&*reply, pending.format, shape) {
            Ok(frame) if pending.mode == Mode::Stream => {
                pending.sequence = pending.sequence.saturating_add(1);
                out.extend_from_slice(&frame);
            }
            Ok(frame) => {
                self.finish(key);
                out.extend_from_slice(&frame);
            }
            Err(error) => {
                if let Some(pending) = self.finish(key) {
                    self.fail(
                        out,
                        &pending,
                        ErrorCode::SerializationError,
                        error.to_string(),
                    );
                }
            }
        }
    }

    /// The handler dropped its reply envelope: a stream ends; a call that got no
    /// reply fails.
    fn on_end(&mut self, key: u64, out: &mut BytesMut) {
        let Some(pending) = self.finish(key) else {
            return;
        };
        match pending.mode {
            Mode::Stream => out.extend_from_slice(&final_stream_frame(
                pending.format,
                &pending.correlation_id,
                pending.sequence,
                None,
            )),
            _ => self.fail(
                out,
                &pending,
                ErrorCode::IoError,
                "the handler finished without replying".to_owned(),
            ),
        }
    }

    fn on_deadline(&mut self, key: u64, out: &mut BytesMut) {
        // The deadline queue already dropped this entry.
        let Some(pending) = self.pending.remove(&key) else {
            return;
        };
        pending.close();
        let message = match pending.mode {
            Mode::Stream => "the stream did not end within its response_timeout_ms".to_owned(),
            _ => "no reply within its response_timeout_ms".to_owned(),
        };
        self.fail(out, &pending, ErrorCode::Timeout, message);
    }

    /// Ends every request still in flight (or waiting for a mailbox) with
    /// SHUTTING_DOWN.
    fn abandon_pending(&mut self, out: &mut BytesMut) {
        if let Some(parked) = self.parked.take() {
            let accepted = parked.accepted;
            self.refuse(
                out,
                &accepted,
                ErrorCode::ShuttingDown,
                "the server is shutting down".to_owned(),
            );
        }
        let keys: Vec<u64> = self.pending.keys().copied().collect();
        for key in keys {
            if let Some(pending) = self.finish(key) {
                self.fail(
                    out,
                    &pending,
                    ErrorCode::ShuttingDown,
                    "the server is shutting down".to_owned(),
                );
            }
        }
    }

    fn on_frame(&mut self, frame: Frame, out: &mut BytesMut) {
        match frame.kind {
            MessageKind::Request => self.on_request(frame, out),
            MessageKind::Heartbeat => out.extend_from_slice(&heartbeat_frame()),
            MessageKind::Subscribe => self.on_subscribe(frame, true, out),
            MessageKind::Unsubscribe => self.on_subscribe(frame, false, out),
            MessageKind::SubscribePatterns => self.on_patterns(frame, true, out),
            MessageKind::UnsubscribePatterns => self.on_patterns(frame, false, out),
            MessageKind::Discover => self.on_discover(frame, out),
            // Server-to-client kinds sent by a client carry nothing to act on.
            _ => {
                tracing::debug!(connection = self.id, kind = ?frame.kind, "ignored a server-to-client frame")
            }
        }
    }

    fn on_request(&mut self, frame: Frame, out: &mut BytesMut) {
        let format = frame.format;
        let shared = Arc::clone(&self.shared);
        Counters::add(&shared.counters.requests, 1);
        if !format.is_supported() {
            let id = UNKNOWN_CORRELATION_ID;
            let message = "MessagePack is not enabled on this server";
            self.error(
                out,
                error_frame(Format::Json, id, ErrorCode::SerializationError, message),
            );
            return;
        }
        let (header, payload) = match request::parse(format, &frame.payload) {
            Ok(parsed) => parsed,
            Err(error) => {
                let id = request::salvage_correlation_id(format, &frame.payload)
                    .unwrap_or_else(|| UNKNOWN_CORRELATION_ID.to_owned());
                let message = format!("not a valid request envelope: {error}");
                self.error(
                    out,
                    error_frame(format, &id, ErrorCode::SerializationError, message),
                );
                return;
            }
        };
        let mode = Mode::of(&header);
        let refuse = |connection: &Self, out: &mut BytesMut, code: ErrorCode, message: String| {
            let frame = failure_frame(format, mode, &header.correlation_id, 0, code, message);
            connection.error(out, frame);
        };

        if let Some(limiter) = &mut self.limiter {
            if let Err(wait) = limiter.try_acquire() {
                Counters::add(&shared.counters.rate_limited, 1);
                let millis = wait.as_millis().max(1);
                refuse(
                    self,
                    out,
                    ErrorCode::RateLimited,
                    format!("Rate limit exceeded, retry after {millis}ms"),
                );
                return;
            }
        }
        let Some(target) = shared.runtime.ipc_state().exposed(&header.target) else {
            let code = if mode == Mode::Stream {
                ErrorCode::StreamError
            } else {
                ErrorCode::ActorNotFound
            };
            refuse(
                self,
                out,
                code,
                format!("no actor is exposed as `{}`", header.target),
            );
            return;
        };
        let Some(registration) = shared.registry.by_name(&header.message_type) else {
            let message = format!("no message type is registered as `{}`", header.message_type);
            refuse(self, out, ErrorCode::UnknownMessageType, message);
            return;
        };
        let message = match registration.decode(format, payload) {
            Ok(message) => message,
            Err(error) => {
                refuse(self, out, ErrorCode::SerializationError, error.to_string());
                return;
            }
        };

        // Keys are never reused, so that the end of a ticket that came back with a
        // refused message can never end a later request.
        let key = self.next_key;
        self.next_key = self.next_key.wrapping_add(1);
        let (reply_to, closed) = match mode {
            Mode::FireAndForget => (ReplyTarget::Discard, None),
            Mode::Reply | Mode::Stream => {
                let closed = Arc::new(AtomicBool::new(false));
                let ticket = SinkTicket {
                    key,
                    replies: self.replies.clone(),
                    ends: self.ends.clone(),
                    closed: Arc::clone(&closed),
                };
                (ReplyTarget::Sink(Arc::new(ticket)), Some(closed))
            }
        };
        let accepted = Accepted {
            key,
            correlation_id: header.correlation_id,
            format,
            mode,
            response_timeout_ms: header.response_timeout_ms,
            closed,
        };
        // A refused envelope carries its ticket: dropped, its end arrives for a key
        // that is not pending, and is ignored.
        match target.mailbox().try_send(Envelope::new(message, reply_to)) {
            Ok(()) => self.accept(accepted, out),
            Err(mpsc::error::TrySendError::Full(envelope)) => {
                let waited = shared
                    .options
                    .mailbox_wait
                    .min(Duration::from_millis(accepted.response_timeout_ms))
                    .min(MAX_DEADLINE);
                if waited.is_zero() {
                    let message = busy_message(&header.target, target.mailbox_capacity(), waited);
                    self.refuse(out, &accepted, ErrorCode::TargetBusy, message);
                    return;
                }
                let room = Box::pin(tokio::time::timeout(
                    waited,
                    target.mailbox().clone().reserve_owned(),
                ));
                self.parked = Some(Parked {
                    accepted,
                    envelope,
                    target: header.target.into_owned(),
                    capacity: target.mailbox_capacity(),
                    waited,
                    room,
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                let message = format!("actor `{}` has stopped", header.target);
                self.refuse(out, &accepted, ErrorCode::ActorNotFound, message);
            }
        }
    }

    /// The parked request's wait is over: it goes in, or is refused.
    fn on_room(&mut self, outcome: RoomOutcome, out: &mut BytesMut) {
        let Some(parked) = self.parked.take() else {
            return;
        };
        match outcome {
            Ok(Ok(permit)) => {
                permit.send(parked.envelope);
                self.accept(parked.accepted, out);
            }
            Ok(Err(_)) => {
                let message = format!("actor `{}` has stopped", parked.target);
                self.refuse(out, &parked.accepted, ErrorCode::ActorNotFound, message);
            }
            Err(_) => {
                let message = busy_message(&parked.target, parked.capacity, parked.waited);
                self.refuse(out, &parked.accepted, ErrorCode::TargetBusy, message);
            }
        }
    }

    /// A request the mailbox took: fire-and-forget is answered now, the others
    /// wait for their replies until their deadline.
    fn accept(&mut self, accepted: Accepted, out: &mut BytesMut) {
        let Some(closed) = accepted.closed else {
            let delivered =
                IpcResponse::success(accepted.correlation_id.as_str(), Delivered::new());
            out.extend_from_slice(&value_frame(
                MessageKind::Response,
                accepted.format,
                &delivered,
            ));
            return;
        };
        let deadline = self.deadlines.insert(
            accepted.key,
            Duration::from_millis(accepted.response_timeout_ms).min(MAX_DEADLINE),
        );
        self.pending.insert(
            accepted.key,
            Pending {
                correlation_id: accepted.correlation_id,
                format: accepted.format,
                mode: accepted.mode,
                sequence: 0,
                deadline,
                closed,
            },
        );
    }

    /// Refuses a request that never reached its actor: an ERROR frame, or a
    /// failed final STREAM frame for a stream request.
    fn refuse(&self, out: &mut BytesMut, accepted: &Accepted, code: ErrorCode, message: String) {
        let frame = failure_frame(
            accepted.format,
            accepted.mode,
            &accepted.correlation_id,
            0,
            code,
            message,
        );
        self.error(out, frame);
    }

    fn on_subscribe(&mut self, frame: Frame, subscribe: bool, out: &mut BytesMut) {
        let format = frame.format;
        let request: IpcSubscribeRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(out, format, &frame.payload, message),
        };
        let hub = &self.shared.hub;
        let types = if subscribe {
            hub.subscribe(self.id, &self.queue, format, request.message_types)
        } else {
            hub.unsubscribe(self.id, &request.message_types)
        };
        let answer = IpcSubscriptionResponse {
            correlation_id: request.correlation_id,
            success: true,
            error: None,
            error_code: None,
            subscribed_types: Some(types),
            subscribed_patterns: None,
        };
        self.subscribed = hub.has_subscriptions(self.id);
        out.extend_from_slice(&value_frame(MessageKind::Response, format, &answer));
    }

    fn on_patterns(&mut self, frame: Frame, subscribe: bool, out: &mut BytesMut) {
        let format = frame.format;
        let request: IpcPatternRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(out, format, &frame.payload, message),
        };
        let hub = &self.shared.hub;
        let limit = self.shared.options.max_patterns;
        let outcome = if subscribe {
            hub.subscribe_patterns(self.id, &self.queue, format, request.patterns, limit)
        } else {
            Ok(hub.unsubscribe_patterns(self.id, &request.patterns))
        };
        let (success, patterns, error) = match outcome {
            Ok(patterns) => (true, patterns, None),
            Err(patterns) => (
                false,
                patterns,
                Some(format!("at most {limit} patterns per connection")),
            ),
        };
        let answer = IpcSubscriptionResponse {
            correlation_id: request.correlation_id,
            success,
            error_code: error
                .as_ref()
                .map(|_| ErrorCode::ProtocolError.as_str().to_owned()),
            error,
            subscribed_types: None,
            subscribed_patterns: Some(patterns),
        };
        self.subscribed = hub.has_subscriptions(self.id);
        if success {
            out.extend_from_slice(&value_frame(MessageKind::Response, format, &answer));
        } else {
            self.error(out, value_frame(MessageKind::Error, format, &answer));
        }
    }

    fn on_discover(&self, frame: Frame, out: &mut BytesMut) {
        let format = frame.format;
        let request: IpcDiscoverRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(out, format, &frame.payload, message),
        };
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
        let answer = IpcDiscoverResponse {
            correlation_id: request.correlation_id,
            success: true,
            error: None,
            protocol_version: Some(ProtocolVersionInfo::current()),
            actors,
            message_types: request
                .include_message_types
                .then(|| shared.registry.registered_types()),
        };
        out.extend_from_slice(&value_frame(MessageKind::Response, format, &answer));
    }

    fn malformed(&self, out: &mut BytesMut, format: Format, payload: &[u8], message: String) {
        let id = request::salvage_correlation_id(format, payload)
            .unwrap_or_else(|| UNKNOWN_CORRELATION_ID.to_owned());
        self.error(
            out,
            error_frame(format, &id, ErrorCode::SerializationError, message),
        );
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

/// The longest deadline the deadline queue takes (its wheel spans about two years).
const MAX_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);
