//! One client connection: reads frames, answers each request as it completes
//! (many in flight at once, matched by `correlation_id`), and writes through a
//! bounded queue drained by a writer task.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::config::{IpcConfig, IpcOptions};
use super::format::Format;
use super::hub::SubscriptionHub;
use super::outbound::{error_frame, final_stream_frame, heartbeat_frame, value_frame};
use super::protocol::{
    ActorInfo, Delivered, ErrorCode, Frame, FrameCodec, FrameError, IpcDiscoverRequest,
    IpcDiscoverResponse, IpcPatternRequest, IpcResponse, IpcSubscribeRequest,
    IpcSubscriptionResponse, MessageKind, ProtocolVersionInfo, RequestHeader,
    UNKNOWN_CORRELATION_ID,
};
use super::rate_limit::TokenBucket;
use super::registry::{IpcTypeRegistry, Outbound};
use super::request;
use super::stats::Counters;
use crate::error::SendError;
use crate::message::{ActonMessage, NoHandler, ReplyTarget};
use crate::runtime::ActorRuntime;
use crate::signal::Signal;

pub(crate) type ConnectionId = u64;

/// A request in flight. A request-response call yields its answer frame; a stream
/// sends its frames through the connection's queue and yields nothing.
type RequestFuture = Pin<Box<dyn Future<Output = (u64, Option<Bytes>)> + Send>>;

/// Replies a stream handler may get ahead of the client before its `send` waits.
const STREAM_BUFFER: usize = 32;

/// What every connection of one listener shares.
pub(crate) struct ListenerShared {
    pub(crate) runtime: ActorRuntime,
    pub(crate) registry: Arc<IpcTypeRegistry>,
    pub(crate) config: IpcConfig,
    pub(crate) options: IpcOptions,
    pub(crate) counters: Arc<Counters>,
    pub(crate) hub: Arc<SubscriptionHub>,
    /// Cancelled when shutdown begins: connections stop reading and drain.
    pub(crate) stop_reading: Signal,
    /// Cancelled when the drain time is over: in-flight requests end with a final
    /// frame at once.
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

struct Connection {
    id: ConnectionId,
    shared: Arc<ListenerShared>,
    queue: mpsc::Sender<Bytes>,
    limiter: Option<TokenBucket>,
    /// Requests in flight, by the key their future yields.
    pending: HashMap<u64, Pending>,
    next_key: u64,
    /// Whether the connection holds subscriptions (which keep it from idling out).
    subscribed: bool,
}

/// Bytes waiting to be written above which the connection stops reading requests
/// and taking stream items until the peer has read some.
const HIGH_WATER: usize = 256 * 1024;

/// Serves one accepted connection until the peer leaves, the connection idles out,
/// a frame breaks the protocol, or the listener shuts down.
///
/// One task does the reading, the bookkeeping and the writing: answers to
/// request-response calls come back as the output of their futures and go into the
/// write buffer directly; stream items and pushes come through the bounded `queue`.
/// Everything ready is gathered before each write, so pipelined answers share
/// system calls. The hot path arms no timer and registers with no cancellation
/// token: the idle and write-stall timers are re-armed only when they fire.
pub(crate) async fn serve(stream: UnixStream, id: ConnectionId, shared: Arc<ListenerShared>) {
    let (read, mut write) = stream.into_split();
    let (queue, mut queued) = mpsc::channel::<Bytes>(shared.options.outbound_queue);
    let mut connection = Connection {
        id,
        limiter: shared.config.rate_limit.map(TokenBucket::new),
        queue,
        shared: Arc::clone(&shared),
        pending: HashMap::new(),
        next_key: 0,
        subscribed: false,
    };
    let mut frames = FramedRead::new(read, FrameCodec::new(shared.options.max_frame_size));
    let mut in_flight: FuturesUnordered<RequestFuture> = FuturesUnordered::new();
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
        if !reading && in_flight.is_empty() && out.is_empty() && queued.is_empty() {
            break;
        }
        let room = out.len() < HIGH_WATER;
        let may_idle = reading
            && !idle_after.is_zero()
            && in_flight.is_empty()
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
                in_flight.clear();
                connection.abandon_pending(&mut out);
            }
            () = &mut stopping, if reading => {
                reading = false;
                connection.stop_subscriptions();
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
            Some((key, answer)) = in_flight.next(), if room && !in_flight.is_empty() => {
                connection.pending.remove(&key);
                if let Some(frame) = answer {
                    out.extend_from_slice(&frame);
                }
                last_activity = Instant::now();
            }
            frame = frames.next(), if reading && room && in_flight.len() < shared.options.max_in_flight => {
                last_activity = Instant::now();
                match frame {
                    Some(Ok(frame)) => {
                        let header_len = if frame.version == 1 { 6 } else { 7 };
                        Counters::add(&shared.counters.bytes_received, (header_len + frame.payload.len()) as u64);
                        if let Some(work) = connection.on_frame(frame, &mut out) {
                            in_flight.push(work);
                        }
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

    // Whatever is still in flight has nobody to answer to: dropping it closes the
    // handlers' reply channels, which tells them.
    connection.stop_subscriptions();
    drop(in_flight);
    let _ = write.shutdown().await;
}

/// What the connection must know to end a request itself.
struct Pending {
    correlation_id: String,
    format: Format,
    /// For a stream: how many items went out so far.
    stream_progress: Option<Arc<AtomicU32>>,
}

impl Connection {
    fn stop_subscriptions(&mut self) {
        self.shared.hub.remove(self.id);
        self.subscribed = false;
    }

    /// Ends every request still in flight with SHUTTING_DOWN.
    fn abandon_pending(&mut self, out: &mut BytesMut) {
        const REASON: &str = "the server is shutting down";
        for (_, pending) in self.pending.drain() {
            let frame = match &pending.stream_progress {
                Some(sent) => final_stream_frame(
                    pending.format,
                    &pending.correlation_id,
                    sent.load(Ordering::Relaxed),
                    Some((ErrorCode::ShuttingDown, REASON.to_owned())),
                ),
                None => error_frame(
                    pending.format,
                    &pending.correlation_id,
                    ErrorCode::ShuttingDown,
                    REASON,
                ),
            };
            Counters::add(&self.shared.counters.errors, 1);
            out.extend_from_slice(&frame);
        }
    }

    /// Appends an ERROR frame (or a failed final STREAM frame) and counts it.
    fn error(&self, out: &mut BytesMut, frame: Bytes) {
        Counters::add(&self.shared.counters.errors, 1);
        out.extend_from_slice(&frame);
    }

    fn on_frame(&mut self, frame: Frame, out: &mut BytesMut) -> Option<RequestFuture> {
        match frame.kind {
            MessageKind::Request => return self.on_request(frame, out),
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
        None
    }

    fn on_request(&mut self, frame: Frame, out: &mut BytesMut) -> Option<RequestFuture> {
        let format = frame.format;
        let shared = Arc::clone(&self.shared);
        Counters::add(&shared.counters.requests, 1);
        if !format.is_supported() {
            let id = UNKNOWN_CORRELATION_ID;
            self.error(
                out,
                error_frame(
                    Format::Json,
                    id,
                    ErrorCode::SerializationError,
                    "MessagePack is not enabled on this server",
                ),
            );
            return None;
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
                return None;
            }
        };
        let mode = Mode::of(&header);

        if let Some(limiter) = &mut self.limiter {
            if let Err(wait) = limiter.try_acquire() {
                Counters::add(&shared.counters.rate_limited, 1);
                let millis = wait.as_millis().max(1);
                let message = format!("Rate limit exceeded, retry after {millis}ms");
                self.refuse(
                    out,
                    format,
                    mode,
                    &header.correlation_id,
                    ErrorCode::RateLimited,
                    message,
                );
                return None;
            }
        }

        let Some(target) = shared.runtime.ipc_state().exposed(&header.target) else {
            let code = if mode == Mode::Stream {
                ErrorCode::StreamError
            } else {
                ErrorCode::ActorNotFound
            };
            let message = format!("no actor is exposed as `{}`", header.target);
            self.refuse(out, format, mode, &header.correlation_id, code, message);
            return None;
        };
        let Some(registration) = shared.registry.by_name(&header.message_type) else {
            let message = format!("no message type is registered as `{}`", header.message_type);
            self.refuse(
                out,
                format,
                mode,
                &header.correlation_id,
                ErrorCode::UnknownMessageType,
                message,
            );
            return None;
        };
        let message = match registration.decode(format, payload) {
            Ok(message) => message,
            Err(error) => {
                self.refuse(
                    out,
                    format,
                    mode,
                    &header.correlation_id,
                    ErrorCode::SerializationError,
                    error.to_string(),
                );
                return None;
            }
        };

        let (reply_to, replies) = match mode {
            Mode::FireAndForget => (ReplyTarget::Discard, None),
            Mode::Reply => {
                let (sender, receiver) = mpsc::channel(1);
                (ReplyTarget::Channel(sender), Some(receiver))
            }
            Mode::Stream => {
                let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
                (ReplyTarget::Channel(sender), Some(receiver))
            }
        };
        if let Err(error) = target.try_dispatch(message, reply_to) {
            let code = match error {
                SendError::TargetBusy { .. } => ErrorCode::TargetBusy,
                SendError::Stopped { .. } | SendError::ReplyClosed => ErrorCode::ActorNotFound,
            };
            self.refuse(
                out,
                format,
                mode,
                &header.correlation_id,
                code,
                error.to_string(),
            );
            return None;
        }

        if mode == Mode::FireAndForget {
            let delivered = IpcResponse::success(header.correlation_id.as_str(), Delivered::new());
            out.extend_from_slice(&value_frame(MessageKind::Response, format, &delivered));
            return None;
        }
        let key = self.next_key;
        self.next_key = self.next_key.wrapping_add(1);
        let stream_progress = (mode == Mode::Stream).then(|| Arc::new(AtomicU32::new(0)));
        self.pending.insert(
            key,
            Pending {
                correlation_id: header.correlation_id.clone(),
                format,
                stream_progress: stream_progress.clone(),
            },
        );
        let exchange = Exchange {
            key,
            correlation_id: header.correlation_id,
            format,
            deadline: Duration::from_millis(header.response_timeout_ms),
            registry: Arc::clone(&shared.registry),
            counters: Arc::clone(&shared.counters),
        };
        let replies = replies?;
        match stream_progress {
            Some(progress) => Some(Box::pin(exchange.stream(
                replies,
                self.queue.clone(),
                progress,
            ))),
            None => Some(Box::pin(exchange.reply(replies))),
        }
    }

    /// Answers a request that could not be dispatched: an ERROR frame, or for a
    /// stream request a failed final STREAM frame.
    fn refuse(
        &self,
        out: &mut BytesMut,
        format: Format,
        mode: Mode,
        correlation_id: &str,
        code: ErrorCode,
        message: String,
    ) {
        let frame = match mode {
            Mode::Stream => final_stream_frame(format, correlation_id, 0, Some((code, message))),
            _ => error_frame(format, correlation_id, code, message),
        };
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

/// One dispatched request waiting for its reply or stream.
struct Exchange {
    key: u64,
    correlation_id: String,
    format: Format,
    deadline: Duration,
    registry: Arc<IpcTypeRegistry>,
    counters: Arc<Counters>,
}

impl Exchange {
    /// Waits for the first reply and yields the frame that answers the request.
    async fn reply(
        self,
        mut replies: mpsc::Receiver<Box<dyn ActonMessage>>,
    ) -> (u64, Option<Bytes>) {
        let format = self.format;
        let id = self.correlation_id.as_str();
        let outcome = match tokio::time::timeout(self.deadline, replies.recv()).await {
            Ok(Some(reply)) => self.encode(&*reply, Outbound::Response { correlation_id: id }),
            Ok(None) => Err((
                ErrorCode::IoError,
                "the handler finished without replying".to_owned(),
            )),
            Err(_) => Err((
                ErrorCode::Timeout,
                format!("no reply within {} ms", self.deadline.as_millis()),
            )),
        };
        let frame = match outcome {
            Ok(frame) => Bytes::from(frame),
            Err((code, message)) => {
                Counters::add(&self.counters.errors, 1);
                error_frame(format, id, code, message)
            }
        };
        (self.key, Some(frame))
    }

    /// Sends every reply as a STREAM frame through `queue` (waiting for room, so a
    /// slow reader slows the handler), then the final frame.
    async fn stream(
        self,
        mut replies: mpsc::Receiver<Box<dyn ActonMessage>>,
        queue: mpsc::Sender<Bytes>,
        progress: Arc<AtomicU32>,
    ) -> (u64, Option<Bytes>) {
        let format = self.format;
        let id = self.correlation_id.as_str();
        let ends_at = Instant::now()
            .checked_add(self.deadline)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        let mut sequence: u32 = 0;
        let failure = loop {
            match tokio::time::timeout_at(ends_at, replies.recv()).await {
                Ok(Some(item)) => {
                    let shape = Outbound::Stream {
                        correlation_id: id,
                        sequence,
                    };
                    match self.encode(&*item, shape) {
                        Ok(payload) => {
                            if queue.send(Bytes::from(payload)).await.is_err() {
                                return (self.key, None);
                            }
                            sequence = sequence.saturating_add(1);
                            progress.store(sequence, Ordering::Relaxed);
                        }
                        Err(failure) => break Some(failure),
                    }
                }
                Ok(None) => break None,
                Err(_) => {
                    break Some((
                        ErrorCode::Timeout,
                        format!(
                            "the stream did not end within {} ms",
                            self.deadline.as_millis()
                        ),
                    ))
                }
            }
        };
        if failure.is_some() {
            Counters::add(&self.counters.errors, 1);
        }
        // Dropping the receiver first tells a still-running handler that nobody listens.
        drop(replies);
        // Through the queue too, so that it cannot overtake the items before it.
        let _ = queue
            .send(final_stream_frame(format, id, sequence, failure))
            .await;
        (self.key, None)
    }

    fn encode(
        &self,
        reply: &dyn ActonMessage,
        shape: Outbound<'_>,
    ) -> Result<Vec<u8>, (ErrorCode, String)> {
        if let Some(missing) = (reply as &dyn Any).downcast_ref::<NoHandler>() {
            return Err((
                ErrorCode::UnknownMessageType,
                format!(
                    "actor `{}` has no handler for `{}`",
                    missing.actor, missing.message_type
                ),
            ));
        }
        self.registry
            .encode(reply, self.format, shape)
            .map_err(|error| (ErrorCode::SerializationError, error.to_string()))
    }
}
