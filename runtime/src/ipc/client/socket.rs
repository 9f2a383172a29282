//! The Unix-socket transport of [`IpcClient`](super::IpcClient): one connection
//! (reopened after it was lost, when allowed), a reader and a writer task, requests
//! pipelined and matched to their answers by correlation id.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

use crate::ipc::codec::Format;
use crate::ipc::protocol::pattern_matches;
use crate::ipc::protocol::{
    ConnectionLimit, CorrelationId, Frame, FrameCodec, IpcDiscoverRequest, IpcDiscoverResponse,
    IpcEnvelope, IpcPatternRequest, IpcPushNotification, IpcResponse, IpcStreamFrame,
    IpcSubscribeRequest, IpcSubscriptionResponse, MessageKind, CONNECTION_REJECTED_ID,
};
use crate::signal::Signal;

use super::buffer::{self, Queued};
use super::{ClientError, ClientOptions, Deadline, ErrorDetails, Push, PushCounters, NO_DEADLINE};

/// A buffer of frames: a stream's or a subscription's.
type Buffer = buffer::Buffer<Frame>;

/// Buffers `frame` if there is room now, counting its payload; whether there was.
fn try_buffer(buffer: &Buffer, frame: Frame) -> bool {
    let size = frame.payload.len();
    buffer.try_send(frame, size)
}

/// The answer frames a request is waiting for.
enum Waiter {
    Once(oneshot::Sender<Frame>),
    Stream(Buffer),
}

struct Sink {
    types: Vec<String>,
    patterns: Vec<String>,
    queue: Buffer,
    counters: Arc<PushCounters>,
}

#[derive(Default)]
struct Routes {
    waiters: HashMap<String, Waiter>,
    sinks: HashMap<u64, Sink>,
}

/// What the connection's reader and writer tasks share with the client.
#[derive(Default)]
struct Core {
    routes: Mutex<Routes>,
    closed: Signal,
    /// Why the reader gave up on the byte stream, when the server broke the protocol.
    broken: Mutex<Option<String>>,
}

impl Core {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error of a call the connection's end interrupted.
    fn lost(&self) -> ClientError {
        match &*self.broken.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(reason) => ClientError::Protocol(reason.clone()),
            None => ClientError::Closed,
        }
    }
}

/// Held by the client's clones (and its open streams and subscriptions): when the
/// last one goes, the connection closes.
struct Shared {
    core: Arc<Core>,
    outbound: mpsc::Sender<Bytes>,
    next_id: AtomicU64,
    prefix: String,
    options: ClientOptions,
    /// Whether the server understands CANCEL (from discovery at connect).
    can_cancel: AtomicBool,
}

impl Shared {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.core.routes()
    }

    /// Tells the server a request's answers are no longer wanted (never waits).
    fn cancel(&self, id: &str) {
        if !self.can_cancel.load(Ordering::Relaxed) || self.core.closed.is_raised() {
            return;
        }
        let cancel = CorrelationId {
            correlation_id: id.to_owned(),
        };
        if let Ok(frame) = self
            .options
            .format
            .encode_frame(MessageKind::Cancel, &cancel)
        {
            let _ = self.outbound.try_send(Bytes::from(frame));
        }
    }

    /// A control frame whose answer nobody waits for (an UNSUBSCRIBE on drop).
    fn send_detached(&self, kind: MessageKind, payload: &impl Serialize) {
        if self.core.closed.is_raised() {
            return;
        }
        if let Ok(frame) = self.options.format.encode_frame(kind, payload) {
            let _ = self.outbound.try_send(Bytes::from(frame));
        }
    }

    fn next_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.core.closed.raise();
    }
}

/// Where a client connects, and the connection it uses now (replaced after it was
/// lost, when reconnecting is allowed).
struct Link {
    path: PathBuf,
    options: ClientOptions,
    current: Mutex<Arc<Shared>>,
    reconnecting: tokio::sync::Mutex<()>,
    closed_by_user: AtomicBool,
}

impl Link {
    fn current(&self) -> Arc<Shared> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A connection to an acton server. Cloning is cheap; clones share the connection,
/// and requests from any of them are pipelined. After the connection is lost, the
/// next call opens a new one ([`ClientOptions::reconnect`]).
#[derive(Clone)]
pub(crate) struct SocketClient {
    /// The connection this handle uses for the call at hand.
    shared: Arc<Shared>,
    link: Arc<Link>,
    deadline: Deadline,
}

impl std::fmt::Debug for SocketClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcClient")
            .field("format", &self.shared.options.format)
            .field("closed", &self.shared.core.closed.is_raised())
            .finish_non_exhaustive()
    }
}

impl SocketClient {
    /// Connects with `options`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the socket cannot be reached.
    pub async fn connect_with(
        path: impl AsRef<Path>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let shared = Self::open(path, options.clone()).await?;
        let client = Self {
            link: Arc::new(Link {
                path: path.to_path_buf(),
                options,
                current: Mutex::new(Arc::clone(&shared)),
                reconnecting: tokio::sync::Mutex::new(()),
                closed_by_user: AtomicBool::new(false),
            }),
            shared,
            deadline: Deadline::Default,
        };
        client.probe().await?;
        Ok(client)
    }

    /// This handle on the live connection: the current one, or after it was lost
    /// (and reconnecting is allowed), a new one.
    async fn live(&self) -> Result<Self, ClientError> {
        let link = &self.link;
        let current = link.current();
        let usable = !current.core.closed.is_raised()
            || !link.options.reconnect
            || link.closed_by_user.load(Ordering::Relaxed);
        if !usable {
            let _one_at_a_time = link.reconnecting.lock().await;
            let current = link.current();
            if current.core.closed.is_raised() {
                let fresh = Self {
                    shared: Self::open(&link.path, link.options.clone()).await?,
                    link: Arc::clone(link),
                    deadline: self.deadline,
                };
                fresh.probe().await?;
                *link.current.lock().unwrap_or_else(PoisonError::into_inner) =
                    Arc::clone(&fresh.shared);
                return Ok(fresh);
            }
        }
        Ok(Self {
            shared: link.current(),
            link: Arc::clone(link),
            deadline: self.deadline,
        })
    }

    /// Opens a socket and starts its reader and writer tasks.
    async fn open(path: &Path, options: ClientOptions) -> Result<Arc<Shared>, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        if let Some(expected) = options.require_server_uid {
            let actual = stream.peer_cred().ok().map(|cred| cred.uid());
            if actual != Some(expected) {
                return Err(ClientError::UnexpectedServer {
                    path: path.to_path_buf(),
                    expected,
                    actual,
                });
            }
        }
        let (read, mut write) = stream.into_split();
        let (outbound, mut queue) = mpsc::channel::<Bytes>(1024);
        static CLIENTS: AtomicU64 = AtomicU64::new(0);
        let core = Arc::new(Core::default());
        let shared = Arc::new(Shared {
            core: Arc::clone(&core),
            outbound,
            next_id: AtomicU64::new(1),
            prefix: format!(
                "rs{}-{}",
                std::process::id(),
                CLIENTS.fetch_add(1, Ordering::Relaxed)
            ),
            options,
            can_cancel: AtomicBool::new(false),
        });

        let writer_core = Arc::clone(&core);
        let keepalive = shared.options.keepalive.filter(|k| !k.is_zero());
        let heartbeat = Bytes::from(Frame::heartbeat().to_bytes().unwrap_or_default());
        tokio::spawn(async move {
            let writer_closed = &writer_core.closed;
            let mut batch = Vec::with_capacity(8 * 1024);
            loop {
                // A quiet connection sends a heartbeat, so that the server's idle
                // timeout never cuts it.
                let quiet = async {
                    match keepalive {
                        Some(every) => tokio::time::sleep(every).await,
                        None => std::future::pending().await,
                    }
                };
                let frame = tokio::select! {
                    frame = queue.recv() => frame,
                    () = writer_closed.wait() => None,
                    () = quiet => Some(heartbeat.clone()),
                };
                let Some(frame) = frame else { break };
                batch.clear();
                batch.extend_from_slice(&frame);
                while batch.len() < 64 * 1024 {
                    match queue.try_recv() {
                        Ok(frame) => batch.extend_from_slice(&frame),
                        Err(_) => break,
                    }
                }
                if write.write_all(&batch).await.is_err() {
                    break;
                }
            }
            writer_closed.raise();
            let _ = write.shutdown().await;
        });

        let reader_shared = core;
        let codec = FrameCodec::new(shared.options.max_frame_size);
        tokio::spawn(async move {
            // Reassembly is linear in the bytes received: the codec's buffer grows
            // by doubling, and a header is checked (against the caller's maximum)
            // as soon as it arrives, before any of its payload is buffered.
            let mut frames = FramedRead::new(read, codec);
            loop {
                let frame = tokio::select! {
                    frame = frames.next() => frame,
                    () = reader_shared.closed.wait() => None,
                };
                match frame {
                    Some(Ok(frame)) => {
                        // A full stream buffer stops the reading here: the server,
                        // writing into a socket nobody reads, slows down.
                        if let Some((buffer, frame)) = route(&reader_shared, frame) {
                            let size = frame.payload.len();
                            tokio::select! {
                                () = buffer.send(frame, size) => {}
                                () = reader_shared.closed.wait() => break,
                            }
                        }
                    }
                    Some(Err(error)) => {
                        *reader_shared
                            .broken
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
                        break;
                    }
                    None => break,
                }
            }
            reader_shared.closed.raise();
            // Every waiter and subscription sees the end.
            let mut routes = reader_shared.routes();
            routes.waiters.clear();
            routes.sinks.clear();
        });
        Ok(shared)
    }

    /// Asks the server what it supports (for CANCEL). A server that refuses the
    /// connection (at its limit, or by its allow-list) says so here.
    ///
    /// # Errors
    /// [`ClientError::Rejected`] when the server refused the connection.
    async fn probe(&self) -> Result<(), ClientError> {
        let id = self.next_id();
        let request = IpcDiscoverRequest {
            correlation_id: id.clone(),
            include_actors: false,
            include_message_types: false,
            include_schema: false,
        };
        let cancel = match self
            .exchange(
                id,
                MessageKind::Discover,
                &request,
                Some(self.shared.options.timeout),
            )
            .await
        {
            Ok(frame) if frame.kind == MessageKind::Error => {
                return match server_error(&frame) {
                    rejected @ ClientError::Rejected { .. } => {
                        self.close();
                        Err(rejected)
                    }
                    _ => Ok(()),
                };
            }
            Ok(frame) => frame
                .format
                .decode::<IpcDiscoverResponse>(&frame.payload)
                .ok()
                .and_then(|answer| answer.protocol_version)
                .is_some_and(|version| version.capabilities.cancel),
            Err(_) => false,
        };
        self.shared.can_cancel.store(cancel, Ordering::Relaxed);
        Ok(())
    }

    /// This client with another deadline for its calls (see
    /// [`IpcClient::with_timeout`](super::IpcClient::with_timeout)).
    #[must_use]
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            link: Arc::clone(&self.link),
            deadline: timeout.map_or(Deadline::Never, Deadline::After),
        }
    }

    /// The deadline of a call (`stream: false`) or a stream, `None` for none.
    fn limit(&self, stream: bool) -> Option<Duration> {
        self.deadline.limit(self.shared.options.timeout, stream)
    }

    /// Whether the connection has closed (the next call may open a new one).
    pub fn is_closed(&self) -> bool {
        self.link.current().core.closed.is_raised()
    }

    /// Closes the connection for good; pending requests fail with
    /// [`ClientError::Closed`], and no call reconnects.
    pub fn close(&self) {
        self.link.closed_by_user.store(true, Ordering::Relaxed);
        self.link.current().core.closed.raise();
    }

    fn next_id(&self) -> String {
        self.shared.next_id()
    }

    fn format(&self) -> Format {
        self.shared.options.format
    }

    fn envelope<'a, P>(
        &self,
        id: String,
        target: &str,
        message_type: &str,
        payload: &'a P,
        reply: bool,
        stream: bool,
    ) -> IpcEnvelope<&'a P> {
        let limit = self.limit(stream).unwrap_or(NO_DEADLINE);
        IpcEnvelope {
            correlation_id: id,
            target: target.to_owned(),
            message_type: message_type.to_owned(),
            payload,
            expects_reply: reply,
            expects_stream: stream,
            response_timeout_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1),
        }
    }

    async fn send_frame(
        &self,
        kind: MessageKind,
        payload: &impl Serialize,
    ) -> Result<(), ClientError> {
        let format = self.format();
        let bytes = Bytes::from(format.encode_frame(kind, payload)?);
        if self.shared.core.closed.is_raised() {
            return Err(ClientError::Closed);
        }
        self.shared
            .outbound
            .send(bytes)
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Sends a frame and waits for the one answer with `id`, up to `limit` (and a
    /// second more: the server's own TIMEOUT answer says more). A request given
    /// up on — its future dropped, or its deadline passed — is cancelled on the
    /// server.
    async fn exchange(
        &self,
        id: String,
        kind: MessageKind,
        payload: &impl Serialize,
        limit: Option<Duration>,
    ) -> Result<Frame, ClientError> {
        let (sender, answer) = oneshot::channel();
        self.shared
            .routes()
            .waiters
            .insert(id.clone(), Waiter::Once(sender));
        let mut forget = Forget {
            shared: &self.shared,
            id: &id,
            cancel: kind == MessageKind::Request,
        };
        self.send_frame(kind, payload).await?;
        let lost = || self.shared.core.lost();
        let outcome = match limit {
            None => answer.await.map_err(|_| lost()),
            Some(limit) => {
                let limit = limit.saturating_add(Duration::from_secs(1));
                match tokio::time::timeout(limit, answer).await {
                    Ok(answer) => answer.map_err(|_| lost()),
                    Err(_) => Err(ClientError::Timeout(limit)),
                }
            }
        };
        if outcome.is_ok() {
            forget.cancel = false;
        }
        outcome
    }

    /// Request-response: sends `payload` as `message_type` to `target` and decodes
    /// the reply as `R`.
    ///
    /// # Errors
    /// [`ClientError::Server`] for an error answer, [`ClientError::Timeout`],
    /// [`ClientError::Closed`], [`ClientError::Codec`].
    pub async fn request<P: Serialize, R: DeserializeOwned>(
        &self,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<R, ClientError> {
        let this = self.live().await?;
        let id = this.next_id();
        let envelope = this.envelope(id.clone(), target, message_type, payload, true, false);
        let frame = this
            .exchange(id, MessageKind::Request, &envelope, this.limit(false))
            .await?;
        decode_response(&frame)
    }

    /// Fire-and-forget: returns once the target's mailbox accepted the message.
    ///
    /// # Errors
    /// As [`request`](Self::request) (TARGET_BUSY when the mailbox was full).
    pub async fn send<P: Serialize>(
        &self,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<(), ClientError> {
        let this = self.live().await?;
        let id = this.next_id();
        let envelope = this.envelope(id.clone(), target, message_type, payload, false, false);
        let frame = this
            .exchange(id, MessageKind::Request, &envelope, this.limit(false))
            .await?;
        decode_response::<IgnoredAny>(&frame).map(|_| ())
    }

    /// Request-stream: the replies as a [`Stream`] of `R`, ending with the stream.
    ///
    /// # Errors
    /// [`ClientError::Closed`] or [`ClientError::Codec`] when the request cannot be
    /// sent; errors of the stream itself arrive as its items.
    pub async fn stream<P: Serialize, R: DeserializeOwned>(
        &self,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<SocketStream<R>, ClientError> {
        let this = self.live().await?;
        let id = this.next_id();
        let options = &this.shared.options;
        let (buffer, frames) = Buffer::new(options.stream_buffer, options.stream_buffer_bytes);
        this.shared
            .routes()
            .waiters
            .insert(id.clone(), Waiter::Stream(buffer));
        let envelope = this.envelope(id.clone(), target, message_type, payload, false, true);
        if let Err(error) = this.send_frame(MessageKind::Request, &envelope).await {
            this.shared.routes().waiters.remove(&id);
            return Err(error);
        }
        let limit = this.limit(true);
        Ok(SocketStream {
            frames,
            shared: Arc::clone(&this.shared),
            id,
            limit,
            deadline: limit.map(|limit| {
                Box::pin(tokio::time::sleep(
                    limit.saturating_add(Duration::from_secs(1)),
                ))
            }),
            done: false,
            _item: PhantomData,
        })
    }

    /// Subscribes to broadcasts of the given registered type names; PUSH frames
    /// arrive on the returned subscription, decoded as `P`.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn subscribe<P: DeserializeOwned>(
        &self,
        message_types: &[&str],
    ) -> Result<SocketSubscription<P>, ClientError> {
        let this = self.live().await?;
        let types: Vec<String> = message_types.iter().map(|t| (*t).to_owned()).collect();
        let subscription = this.add_sink(types.clone(), Vec::new());
        let id = this.next_id();
        let request = IpcSubscribeRequest {
            correlation_id: id.clone(),
            message_types: types,
        };
        let frame = this
            .exchange(
                id,
                MessageKind::Subscribe,
                &request,
                Some(this.shared.options.timeout),
            )
            .await?;
        decode_control(&frame)?;
        Ok(subscription)
    }

    /// Subscribes to every registered type whose name matches a pattern (`prefix*`
    /// or `*`).
    ///
    /// # Errors
    /// As [`request`](Self::request); the server allows 128 patterns per connection.
    pub async fn subscribe_patterns<P: DeserializeOwned>(
        &self,
        patterns: &[&str],
    ) -> Result<SocketSubscription<P>, ClientError> {
        let this = self.live().await?;
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let subscription = this.add_sink(Vec::new(), patterns.clone());
        let id = this.next_id();
        let request = IpcPatternRequest {
            correlation_id: id.clone(),
            patterns,
        };
        let frame = this
            .exchange(
                id,
                MessageKind::SubscribePatterns,
                &request,
                Some(this.shared.options.timeout),
            )
            .await?;
        decode_control(&frame)?;
        Ok(subscription)
    }

    /// Ends the connection's server-side subscriptions to these types (all of them
    /// for an empty list); returns the types still subscribed.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn unsubscribe(&self, message_types: &[&str]) -> Result<Vec<String>, ClientError> {
        let this = self.live().await?;
        let id = this.next_id();
        let request = IpcSubscribeRequest {
            correlation_id: id.clone(),
            message_types: message_types.iter().map(|t| (*t).to_owned()).collect(),
        };
        let frame = this
            .exchange(
                id,
                MessageKind::Unsubscribe,
                &request,
                Some(this.shared.options.timeout),
            )
            .await?;
        Ok(decode_control(&frame)?.subscribed_types.unwrap_or_default())
    }

    /// Asks the server what it offers.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn discover(&self) -> Result<IpcDiscoverResponse, ClientError> {
        self.discover_with(false).await
    }

    /// Asks the server what it offers, with its schema (`schema` and
    /// `schema_fingerprint` in the answer; absent from servers that do not serve
    /// one, such as those of the published crate).
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn discover_schema(&self) -> Result<IpcDiscoverResponse, ClientError> {
        self.discover_with(true).await
    }

    async fn discover_with(
        &self,
        include_schema: bool,
    ) -> Result<IpcDiscoverResponse, ClientError> {
        let this = self.live().await?;
        let id = this.next_id();
        let request = IpcDiscoverRequest {
            correlation_id: id.clone(),
            include_actors: true,
            include_message_types: true,
            include_schema,
        };
        let frame = this
            .exchange(
                id,
                MessageKind::Discover,
                &request,
                Some(this.shared.options.timeout),
            )
            .await?;
        Ok(frame.format.decode(&frame.payload)?)
    }

    fn add_sink<P>(&self, types: Vec<String>, patterns: Vec<String>) -> SocketSubscription<P> {
        let options = &self.shared.options;
        let (queue, pushes) = Buffer::new(
            options.subscription_buffer,
            options.subscription_buffer_bytes,
        );
        let counters = Arc::new(PushCounters::default());
        let key = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.routes().sinks.insert(
            key,
            Sink {
                types,
                patterns,
                queue,
                counters: Arc::clone(&counters),
            },
        );
        SocketSubscription {
            pushes,
            shared: Arc::clone(&self.shared),
            key,
            counters,
            ended: false,
            _payload: PhantomData,
        }
    }
}

/// Removes a waiter when the request that registered it ends, and cancels the
/// request on the server when it ended without its answer.
struct Forget<'a> {
    shared: &'a Shared,
    id: &'a str,
    cancel: bool,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.shared.routes().waiters.remove(self.id);
        if self.cancel {
            self.shared.cancel(self.id);
        }
    }
}

/// Hands a received frame to whoever waits for it; a stream item is returned with
/// its stream's buffer, for the reader to send (waiting while the buffer is full).
fn route(shared: &Core, frame: Frame) -> Option<(Buffer, Frame)> {
    match frame.kind {
        MessageKind::Response | MessageKind::Error | MessageKind::Stream => {
            let Ok(CorrelationId { correlation_id }) =
                frame.format.decode::<CorrelationId>(&frame.payload)
            else {
                return None;
            };
            let mut routes = shared.routes();
            if correlation_id == CONNECTION_REJECTED_ID {
                // The server refused this connection: every waiter gets the refusal.
                for (_, waiter) in routes.waiters.drain() {
                    deliver(waiter, frame.clone());
                }
                return None;
            }
            let finished = frame.kind != MessageKind::Stream
                || frame
                    .format
                    .decode::<IpcStreamFrame<IgnoredAny>>(&frame.payload)
                    .map_or(true, |item| item.is_final);
            let waiter = if finished {
                routes.waiters.remove(&correlation_id)
            } else {
                match routes.waiters.get(&correlation_id) {
                    Some(Waiter::Stream(sender)) => return Some((sender.clone(), frame)),
                    _ => routes.waiters.remove(&correlation_id),
                }
            };
            match waiter {
                Some(Waiter::Stream(sender)) => Some((sender, frame)),
                Some(waiter) => {
                    deliver(waiter, frame);
                    None
                }
                None => None,
            }
        }
        MessageKind::Push => {
            #[derive(serde::Deserialize)]
            struct PushType {
                message_type: String,
            }
            let routes = shared.routes();
            let Ok(PushType { message_type }) = frame.format.decode::<PushType>(&frame.payload)
            else {
                // Whose it was cannot be known: every subscription may have
                // missed it, and each counts it.
                for sink in routes.sinks.values() {
                    sink.counters.undecodable();
                }
                return None;
            };
            for sink in routes.sinks.values() {
                let wanted = sink.types.contains(&message_type)
                    || sink
                        .patterns
                        .iter()
                        .any(|p| pattern_matches(p, &message_type));
                if wanted && !try_buffer(&sink.queue, frame.clone()) {
                    sink.counters.missed(1);
                }
            }
            None
        }
        _ => None,
    }
}

fn deliver(waiter: Waiter, frame: Frame) {
    match waiter {
        Waiter::Once(sender) => {
            let _ = sender.send(frame);
        }
        Waiter::Stream(buffer) => {
            let _ = try_buffer(&buffer, frame);
        }
    }
}

fn server_error(frame: &Frame) -> ClientError {
    match frame
        .format
        .decode::<IpcResponse<ConnectionLimit>>(&frame.payload)
    {
        Ok(response) if response.correlation_id == CONNECTION_REJECTED_ID => {
            ClientError::Rejected {
                code: response.error_code.unwrap_or_default(),
                message: response.error.unwrap_or_default(),
                limit: response.payload.map(|p| p.limit),
            }
        }
        _ => match frame
            .format
            .decode::<IpcResponse<IgnoredAny>>(&frame.payload)
        {
            Ok(response) => ClientError::Server {
                code: response.error_code.unwrap_or_else(|| "UNKNOWN".to_owned()),
                message: response.error.unwrap_or_default(),
                details: ErrorDetails::of(frame),
            },
            Err(error) => ClientError::Codec(error),
        },
    }
}

/// Decodes a RESPONSE into `R`; an ERROR (or `success: false`) becomes
/// [`ClientError::Server`].
fn decode_response<R: DeserializeOwned>(frame: &Frame) -> Result<R, ClientError> {
    if frame.kind == MessageKind::Error {
        return Err(server_error(frame));
    }
    if frame.kind == MessageKind::Stream {
        // A stream answer to a request that expected one reply: report its error.
        let item: IpcStreamFrame<IgnoredAny> = frame.format.decode(&frame.payload)?;
        return Err(ClientError::Server {
            code: item
                .error_code
                .unwrap_or_else(|| "PROTOCOL_ERROR".to_owned()),
            message: item
                .error
                .unwrap_or_else(|| "unexpected stream frame".to_owned()),
            details: ErrorDetails::of(frame),
        });
    }
    let response: IpcResponse<R> = frame.format.decode(&frame.payload)?;
    if !response.success {
        return Err(server_error(frame));
    }
    match response.payload {
        Some(payload) => Ok(payload),
        // A unit reply arrives as `null`, which serde reads as "no payload".
        None => Ok(frame.format.decode(frame.format.null())?),
    }
}

fn decode_control(frame: &Frame) -> Result<IpcSubscriptionResponse, ClientError> {
    let response: IpcSubscriptionResponse = frame.format.decode(&frame.payload)?;
    if frame.kind == MessageKind::Error || !response.success {
        return Err(ClientError::Server {
            code: response.error_code.unwrap_or_else(|| "UNKNOWN".to_owned()),
            message: response.error.unwrap_or_default(),
            details: None,
        });
    }
    Ok(response)
}

/// The items of a request-stream, decoded as `R`.
///
/// Its buffer is bounded ([`ClientOptions::stream_buffer`]): while it is full the
/// client reads nothing more from the socket, which slows the server's streams to
/// the consumer's pace. Dropping it before its end cancels the stream on the
/// server (when the server supports CANCEL).
pub(crate) struct SocketStream<R> {
    frames: mpsc::Receiver<Queued<Frame>>,
    shared: Arc<Shared>,
    id: String,
    limit: Option<Duration>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
    _item: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for SocketStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyStream")
            .field("id", &self.id)
            .field("done", &self.done)
            .finish()
    }
}

impl<R> Drop for SocketStream<R> {
    fn drop(&mut self) {
        self.shared.routes().waiters.remove(&self.id);
        if !self.done {
            self.shared.cancel(&self.id);
        }
    }
}

impl<R: DeserializeOwned> Stream for SocketStream<R> {
    type Item = Result<R, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.frames.poll_recv(cx) {
            Poll::Ready(Some(queued)) => {
                let item = decode_stream_item::<R>(&queued.item);
                if !matches!(item, Some(Ok(_))) {
                    self.done = true;
                }
                Poll::Ready(item)
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Err(self.shared.core.lost())))
            }
            Poll::Pending => {
                let expired = self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    self.done = true;
                    // Given up on: the server stops producing it.
                    self.shared.cancel(&self.id);
                    let limit = self.limit.unwrap_or_default();
                    return Poll::Ready(Some(Err(ClientError::Timeout(limit))));
                }
                Poll::Pending
            }
        }
    }
}

/// `Some(Ok)` for an item, `None` for a clean end, `Some(Err)` for a failure.
fn decode_stream_item<R: DeserializeOwned>(frame: &Frame) -> Option<Result<R, ClientError>> {
    if frame.kind != MessageKind::Stream {
        return Some(Err(server_error(frame)));
    }
    let failed = |head: IpcStreamFrame<IgnoredAny>| {
        head.error_code.map(|code| {
            Err(ClientError::Server {
                code,
                message: head.error.unwrap_or_default(),
                details: ErrorDetails::of(frame),
            })
        })
    };
    let item: IpcStreamFrame<R> = match frame.format.decode(&frame.payload) {
        Ok(item) => item,
        // A failed final frame carries the failure's details, not an R.
        Err(error) => {
            return match frame
                .format
                .decode::<IpcStreamFrame<IgnoredAny>>(&frame.payload)
            {
                Ok(head) if head.is_final => failed(head),
                _ => Some(Err(error.into())),
            }
        }
    };
    if item.is_final {
        return failed(IpcStreamFrame {
            correlation_id: item.correlation_id,
            sequence: item.sequence,
            is_final: true,
            error: item.error,
            error_code: item.error_code,
            payload: None,
        });
    }
    match item.payload {
        Some(payload) => Some(Ok(payload)),
        None => Some(frame.format.decode(frame.format.null()).map_err(Into::into)),
    }
}

/// Pushes received for a subscription: a scoped resource. Creating it waited for
/// the server's acknowledgement; dropping it unsubscribes from the types and
/// patterns no other subscription of the connection still wants. A lost
/// connection ends it with [`ClientError::Closed`]. A push that does not decode is
/// counted and skipped.
pub(crate) struct SocketSubscription<P> {
    pushes: mpsc::Receiver<Queued<Frame>>,
    shared: Arc<Shared>,
    key: u64,
    counters: Arc<PushCounters>,
    ended: bool,
    _payload: PhantomData<fn() -> P>,
}

impl<P> SocketSubscription<P> {
    pub(crate) fn counters(&self) -> &PushCounters {
        &self.counters
    }
}

impl<P> std::fmt::Debug for SocketSubscription<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.key)
            .finish()
    }
}

impl<P> Drop for SocketSubscription<P> {
    fn drop(&mut self) {
        let (types, patterns) = {
            let mut routes = self.shared.routes();
            let Some(sink) = routes.sinks.remove(&self.key) else {
                return;
            };
            let held = |name: &String, of: fn(&Sink) -> &Vec<String>| {
                routes.sinks.values().any(|other| of(other).contains(name))
            };
            let types: Vec<String> = sink
                .types
                .iter()
                .filter(|t| !held(t, |s| &s.types))
                .cloned()
                .collect();
            let patterns: Vec<String> = sink
                .patterns
                .iter()
                .filter(|p| !held(p, |s| &s.patterns))
                .cloned()
                .collect();
            (types, patterns)
        };
        // Nobody else on this connection wants them: the server may stop sending.
        if !types.is_empty() {
            self.shared.send_detached(
                MessageKind::Unsubscribe,
                &IpcSubscribeRequest {
                    correlation_id: self.shared.next_id(),
                    message_types: types,
                },
            );
        }
        if !patterns.is_empty() {
            self.shared.send_detached(
                MessageKind::UnsubscribePatterns,
                &IpcPatternRequest {
                    correlation_id: self.shared.next_id(),
                    patterns,
                },
            );
        }
    }
}

impl<P: DeserializeOwned> Stream for SocketSubscription<P> {
    type Item = Result<Push<P>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        loop {
            let Some(queued) = std::task::ready!(self.pushes.poll_recv(cx)) else {
                // The connection went away: say so once, then end.
                self.ended = true;
                let core = &self.shared.core;
                return Poll::Ready(core.closed.is_raised().then(|| Err(core.lost())));
            };
            let frame = &queued.item;
            match frame
                .format
                .decode::<IpcPushNotification<P>>(&frame.payload)
            {
                Ok(push) => {
                    self.counters.missed(push.dropped);
                    return Poll::Ready(Some(Ok(Push {
                        message_type: push.message_type,
                        payload: push.payload,
                        notification_id: push.notification_id,
                        timestamp_ms: push.timestamp_ms,
                    })));
                }
                // One bad push (a hostile server, or a schema that drifted) is
                // skipped, not the end of the subscription.
                Err(_) => self.counters.undecodable(),
            }
        }
    }
}
