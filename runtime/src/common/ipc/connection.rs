//! One client connection: reads frames, answers each request as it completes
//! (many in flight at once, matched by `correlation_id`), and writes through a
//! bounded queue drained by a writer task.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::config::{IpcConfig, IpcOptions};
use super::format::Format;
use super::hub::SubscriptionHub;
use super::outbound::{error_frame, final_stream_frame, frame_bytes, heartbeat_frame, value_frame};
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

pub(crate) type ConnectionId = u64;

type RequestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Replies a stream handler may get ahead of the client before its `send` waits.
const STREAM_BUFFER: usize = 32;
/// Bytes the writer gathers from its queue into one write.
const WRITE_BATCH: usize = 64 * 1024;

/// What every connection of one listener shares.
pub(crate) struct ListenerShared {
    pub(crate) runtime: ActorRuntime,
    pub(crate) registry: Arc<IpcTypeRegistry>,
    pub(crate) config: IpcConfig,
    pub(crate) options: IpcOptions,
    pub(crate) counters: Arc<Counters>,
    pub(crate) hub: Arc<SubscriptionHub>,
    /// Cancelled when shutdown begins: connections stop reading and drain.
    pub(crate) stop_reading: CancellationToken,
    /// Cancelled when the drain time is over: in-flight requests end with a final
    /// frame at once.
    pub(crate) cut: CancellationToken,
}

/// How a request expects to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FireAndForget,
    Reply,
    Stream,
}

impl Mode {
    fn of(header: &RequestHeader) -> Self {
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
    /// Cancelled when the listener's drain time is over or the writer has failed.
    cut: CancellationToken,
}

/// Serves one accepted connection until the peer leaves, the connection idles out,
/// a frame breaks the protocol, or the listener shuts down.
pub(crate) async fn serve(stream: UnixStream, id: ConnectionId, shared: Arc<ListenerShared>) {
    let (read, write) = stream.into_split();
    let (queue, outbound) = mpsc::channel(shared.options.outbound_queue);
    let cut = shared.cut.child_token();
    let writer = tokio::spawn(write_loop(
        write,
        outbound,
        Arc::clone(&shared.counters),
        cut.clone(),
        shared.options.write_timeout,
    ));

    let mut connection = Connection {
        id,
        limiter: shared.config.rate_limit.map(TokenBucket::new),
        queue,
        cut: cut.clone(),
        shared: Arc::clone(&shared),
    };
    let mut frames = FramedRead::new(read, FrameCodec::new(shared.options.max_frame_size));
    let mut in_flight: FuturesUnordered<RequestFuture> = FuturesUnordered::new();
    let idle_after = shared.config.connection_timeout;
    let mut idle = std::pin::pin!(tokio::time::sleep(idle_after));

    loop {
        let may_idle =
            !idle_after.is_zero() && in_flight.is_empty() && !shared.hub.has_subscriptions(id);
        tokio::select! {
            biased;
            () = shared.stop_reading.cancelled() => break,
            () = cut.cancelled() => break,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {
                idle.as_mut().reset(Instant::now() + idle_after);
            }
            () = &mut idle, if may_idle => {
                tracing::debug!(connection = id, ?idle_after, "closing idle connection");
                break;
            }
            frame = frames.next(), if in_flight.len() < shared.options.max_in_flight => {
                idle.as_mut().reset(Instant::now() + idle_after);
                match frame {
                    None => break,
                    Some(Ok(frame)) => {
                        let header_len = if frame.version == 1 { 6 } else { 7 };
                        Counters::add(&shared.counters.bytes_received, (header_len + frame.payload.len()) as u64);
                        if let Some(work) = connection.on_frame(frame).await {
                            in_flight.push(work);
                        }
                    }
                    Some(Err(FrameError::Io(error))) => {
                        tracing::debug!(connection = id, %error, "read failed");
                        break;
                    }
                    Some(Err(error)) => {
                        Counters::add(&shared.counters.protocol_errors, 1);
                        let code = match error {
                            FrameError::UnsupportedVersion(_) => ErrorCode::UnsupportedProtocolVersion,
                            _ => ErrorCode::ProtocolError,
                        };
                        tracing::debug!(connection = id, %error, "protocol error; closing");
                        connection
                            .answer(error_frame(Format::Json, UNKNOWN_CORRELATION_ID, code, error.to_string()), true)
                            .await;
                        break;
                    }
                }
            }
        }
    }

    // Requests already accepted are still answered; each ends by itself, or with a
    // final frame once `cut` fires (drain time over, or the writer gone).
    while in_flight.next().await.is_some() {}
    shared.hub.remove(id);
    drop(connection);
    let _ = writer.await;
}

impl Connection {
    /// Queues a frame for the writer, waiting for room (or giving up once `cut`).
    async fn answer(&self, frame: Bytes, is_error: bool) {
        if is_error {
            Counters::add(&self.shared.counters.errors, 1);
        }
        send_frame(&self.queue, frame, &self.cut).await;
    }

    async fn on_frame(&mut self, frame: Frame) -> Option<RequestFuture> {
        match frame.kind {
            MessageKind::Request => return self.on_request(frame).await,
            MessageKind::Heartbeat => self.answer(heartbeat_frame(), false).await,
            MessageKind::Subscribe => self.on_subscribe(frame, true).await,
            MessageKind::Unsubscribe => self.on_subscribe(frame, false).await,
            MessageKind::SubscribePatterns => self.on_patterns(frame, true).await,
            MessageKind::UnsubscribePatterns => self.on_patterns(frame, false).await,
            MessageKind::Discover => self.on_discover(frame).await,
            // Server-to-client kinds sent by a client carry nothing to act on.
            _ => {
                tracing::debug!(connection = self.id, kind = ?frame.kind, "ignored a server-to-client frame")
            }
        }
        None
    }

    async fn on_request(&mut self, frame: Frame) -> Option<RequestFuture> {
        let format = frame.format;
        let shared = Arc::clone(&self.shared);
        Counters::add(&shared.counters.requests, 1);
        if !format.is_supported() {
            let id = UNKNOWN_CORRELATION_ID;
            self.answer(
                error_frame(
                    Format::Json,
                    id,
                    ErrorCode::SerializationError,
                    "MessagePack is not enabled on this server",
                ),
                true,
            )
            .await;
            return None;
        }
        let (header, payload) = match request::parse(format, &frame.payload) {
            Ok(parsed) => parsed,
            Err(error) => {
                let id = request::salvage_correlation_id(format, &frame.payload)
                    .unwrap_or_else(|| UNKNOWN_CORRELATION_ID.to_owned());
                let message = format!("not a valid request envelope: {error}");
                self.answer(
                    error_frame(format, &id, ErrorCode::SerializationError, message),
                    true,
                )
                .await;
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
                    format,
                    mode,
                    &header.correlation_id,
                    ErrorCode::RateLimited,
                    message,
                )
                .await;
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
            self.refuse(format, mode, &header.correlation_id, code, message)
                .await;
            return None;
        };
        let Some(registration) = shared.registry.by_name(&header.message_type) else {
            let message = format!("no message type is registered as `{}`", header.message_type);
            self.refuse(
                format,
                mode,
                &header.correlation_id,
                ErrorCode::UnknownMessageType,
                message,
            )
            .await;
            return None;
        };
        let message = match registration.decode(format, payload) {
            Ok(message) => message,
            Err(error) => {
                self.refuse(
                    format,
                    mode,
                    &header.correlation_id,
                    ErrorCode::SerializationError,
                    error.to_string(),
                )
                .await;
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
                format,
                mode,
                &header.correlation_id,
                code,
                error.to_string(),
            )
            .await;
            return None;
        }

        let exchange = Exchange {
            correlation_id: header.correlation_id,
            format,
            deadline: Duration::from_millis(header.response_timeout_ms),
            queue: self.queue.clone(),
            cut: self.cut.clone(),
            registry: Arc::clone(&shared.registry),
            counters: Arc::clone(&shared.counters),
        };
        match (mode, replies) {
            (Mode::Reply, Some(replies)) => Some(Box::pin(exchange.reply(replies))),
            (Mode::Stream, Some(replies)) => Some(Box::pin(exchange.stream(replies))),
            _ => {
                let delivered =
                    IpcResponse::success(exchange.correlation_id.as_str(), Delivered::new());
                self.answer(
                    value_frame(MessageKind::Response, format, &delivered),
                    false,
                )
                .await;
                None
            }
        }
    }

    /// Answers a request that could not be dispatched: an ERROR frame, or for a
    /// stream request a failed final STREAM frame.
    async fn refuse(
        &self,
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
        self.answer(frame, true).await;
    }

    async fn on_subscribe(&self, frame: Frame, subscribe: bool) {
        let format = frame.format;
        let request: IpcSubscribeRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(format, &frame.payload, message).await,
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
        self.answer(value_frame(MessageKind::Response, format, &answer), false)
            .await;
    }

    async fn on_patterns(&self, frame: Frame, subscribe: bool) {
        let format = frame.format;
        let request: IpcPatternRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(format, &frame.payload, message).await,
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
        let kind = if success {
            MessageKind::Response
        } else {
            MessageKind::Error
        };
        self.answer(value_frame(kind, format, &answer), !success)
            .await;
    }

    async fn on_discover(&self, frame: Frame) {
        let format = frame.format;
        let request: IpcDiscoverRequest = match decode_or_default(format, &frame.payload) {
            Ok(request) => request,
            Err(message) => return self.malformed(format, &frame.payload, message).await,
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
        self.answer(value_frame(MessageKind::Response, format, &answer), false)
            .await;
    }

    async fn malformed(&self, format: Format, payload: &[u8], message: String) {
        let id = request::salvage_correlation_id(format, payload)
            .unwrap_or_else(|| UNKNOWN_CORRELATION_ID.to_owned());
        self.answer(
            error_frame(format, &id, ErrorCode::SerializationError, message),
            true,
        )
        .await;
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
    correlation_id: String,
    format: Format,
    deadline: Duration,
    queue: mpsc::Sender<Bytes>,
    cut: CancellationToken,
    registry: Arc<IpcTypeRegistry>,
    counters: Arc<Counters>,
}

impl Exchange {
    async fn reply(self, mut replies: mpsc::Receiver<Box<dyn ActonMessage>>) {
        let format = self.format;
        let id = self.correlation_id.as_str();
        let outcome = tokio::select! {
            biased;
            () = self.cut.cancelled() => Err((ErrorCode::ShuttingDown, "the server is shutting down".to_owned())),
            reply = tokio::time::timeout(self.deadline, replies.recv()) => match reply {
                Ok(Some(reply)) => self.encode(&*reply, Outbound::Response { correlation_id: id }),
                Ok(None) => Err((ErrorCode::IoError, "the handler finished without replying".to_owned())),
                Err(_) => Err((ErrorCode::Timeout, format!("no reply within {} ms", self.deadline.as_millis()))),
            },
        };
        let (frame, failed) = match outcome {
            Ok(payload) => (frame_bytes(MessageKind::Response, format, &payload), false),
            Err((code, message)) => (error_frame(format, id, code, message), true),
        };
        if failed {
            Counters::add(&self.counters.errors, 1);
        }
        send_frame(&self.queue, frame, &self.cut).await;
    }

    async fn stream(self, mut replies: mpsc::Receiver<Box<dyn ActonMessage>>) {
        let format = self.format;
        let id = self.correlation_id.as_str();
        let ends_at = Instant::now()
            .checked_add(self.deadline)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        let mut sequence: u32 = 0;
        let failure = loop {
            let next = tokio::select! {
                biased;
                () = self.cut.cancelled() => break Some((ErrorCode::ShuttingDown, "the server is shutting down".to_owned())),
                next = tokio::time::timeout_at(ends_at, replies.recv()) => next,
            };
            match next {
                Ok(Some(item)) => {
                    let shape = Outbound::Stream {
                        correlation_id: id,
                        sequence,
                    };
                    match self.encode(&*item, shape) {
                        Ok(payload) => {
                            if !send_frame(
                                &self.queue,
                                frame_bytes(MessageKind::Stream, format, &payload),
                                &self.cut,
                            )
                            .await
                            {
                                return;
                            }
                            sequence = sequence.saturating_add(1);
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
        send_frame(
            &self.queue,
            final_stream_frame(format, id, sequence, failure),
            &self.cut,
        )
        .await;
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

/// Queues a frame, waiting for room; `false` when the connection is going away.
/// Once `cut` fires the frame is still offered without waiting (a final frame
/// should reach a peer that still reads), then given up.
async fn send_frame(queue: &mpsc::Sender<Bytes>, frame: Bytes, cut: &CancellationToken) -> bool {
    if cut.is_cancelled() {
        return queue.try_send(frame).is_ok();
    }
    tokio::select! {
        biased;
        sent = queue.send(frame) => sent.is_ok(),
        () = cut.cancelled() => false,
    }
}

/// Writes queued frames, gathering what is ready into one write. Ends when every
/// sender is gone (after flushing) or a write fails or stalls past `write_timeout`;
/// then cancels `cut` so the connection stops producing.
async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
    cut: CancellationToken,
    write_timeout: Duration,
) {
    let mut batch: Vec<u8> = Vec::with_capacity(8 * 1024);
    while let Some(frame) = queue.recv().await {
        batch.clear();
        batch.extend_from_slice(&frame);
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(frame) => batch.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        match tokio::time::timeout(write_timeout, socket.write_all(&batch)).await {
            Ok(Ok(())) => Counters::add(&counters.bytes_sent, batch.len() as u64),
            Ok(Err(error)) => {
                tracing::debug!(%error, "write failed; closing the connection");
                break;
            }
            Err(_) => {
                tracing::warn!(
                    ?write_timeout,
                    "peer stopped reading; closing the connection"
                );
                break;
            }
        }
    }
    cut.cancel();
    let _ = socket.shutdown().await;
}
