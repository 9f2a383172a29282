//! A Rust client for protocol v2: pipelined requests on one connection, streams,
//! subscriptions and discovery — over the Unix socket, or (feature `nats`) over
//! NATS with the same API ([`IpcClient::connect_nats`]).
//!
//! ```no_run
//! use acton_reactive::ipc::client::IpcClient;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize)]
//! struct AddRequest { a: i64, b: i64 }
//! #[derive(Deserialize)]
//! struct AddResponse { sum: i64 }
//!
//! # async fn demo() -> Result<(), acton_reactive::ipc::client::ClientError> {
//! let client = IpcClient::connect("/tmp/acton.sock").await?;
//! let reply: AddResponse = client.request("calculator", "AddRequest", &AddRequest { a: 1, b: 2 }).await?;
//! assert_eq!(reply.sum, 3);
//! # Ok(()) }
//! ```

pub mod schema_check;

mod buffer;
mod errors;
#[cfg(feature = "nats")]
mod nats;
mod socket;

use std::marker::PhantomData;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use errors::{ClientError, ErrorDetails};

use crate::ipc::codec::Format;
use crate::ipc::protocol::{IpcDiscoverResponse, MAX_FRAME_SIZE_HARD_LIMIT};

/// Items a stream or subscription buffers by default.
pub const DEFAULT_BUFFER_ITEMS: usize = 1024;
/// Payload bytes a stream or subscription buffers by default (one larger item is
/// still taken when nothing else waits).
pub const DEFAULT_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Payload encoding of the frames the client sends (default JSON).
    pub format: Format,
    /// How long a request (or a whole stream) may take; sent to the server as
    /// `response_timeout_ms`, and enforced locally a little later (default 30 s).
    pub timeout: Duration,
    /// Pushes buffered per subscription before new ones are dropped, counted in
    /// [`Subscription::missed`] (default 1024).
    pub subscription_buffer: usize,
    /// Bytes buffered per subscription before new pushes are dropped (default
    /// 16 MiB; one larger push is taken when nothing else waits). Over the socket
    /// a push counts its frame's payload; over NATS, its message (subject,
    /// headers and payload).
    pub subscription_buffer_bytes: usize,
    /// Items buffered per stream before the client stops reading the socket, which
    /// slows the server's streams to the consumer's pace (default 1024). NATS
    /// cannot slow its publisher: a stream that fills its buffer there fails with
    /// STREAM_ERROR and is cancelled on the server.
    pub stream_buffer: usize,
    /// Bytes buffered per stream before the client stops reading the socket, or
    /// over NATS fails the stream (default 16 MiB; one larger item is taken when
    /// nothing else waits).
    pub stream_buffer_bytes: usize,
    /// The largest frame payload accepted from the server (default, and ceiling:
    /// the protocol's 16 MiB). A header announcing more closes the connection
    /// before any of it is buffered: calls fail with [`ClientError::Protocol`].
    pub max_frame_size: usize,
    /// A quiet connection sends a heartbeat this often, so that the server's idle
    /// timeout never cuts it (default 10 s; `None`: never).
    pub keepalive: Option<Duration>,
    /// After the connection is lost, the next call opens a new one (default
    /// `true`). Nothing is ever re-sent: calls in flight when it was lost failed
    /// with [`ClientError::Closed`], and streams and subscriptions ended with it.
    pub reconnect: bool,
    /// Connect only to a server running as this user id (default: any). Anyone
    /// who can write to the socket's directory could have placed a socket there;
    /// the kernel's report of the peer's credentials cannot be forged.
    pub require_server_uid: Option<u32>,
}

impl ClientOptions {
    /// Requires the server's process to run as `uid` (see
    /// [`require_server_uid`](Self::require_server_uid)).
    ///
    /// ```
    /// use acton_reactive::ipc::client::ClientOptions;
    ///
    /// let options = ClientOptions::default().server_uid(0);
    /// assert_eq!(options.require_server_uid, Some(0));
    /// ```
    #[must_use]
    pub fn server_uid(mut self, uid: u32) -> Self {
        self.require_server_uid = Some(uid);
        self
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            format: Format::Json,
            timeout: Duration::from_secs(30),
            subscription_buffer: DEFAULT_BUFFER_ITEMS,
            subscription_buffer_bytes: DEFAULT_BUFFER_BYTES,
            stream_buffer: DEFAULT_BUFFER_ITEMS,
            stream_buffer_bytes: DEFAULT_BUFFER_BYTES,
            max_frame_size: MAX_FRAME_SIZE_HARD_LIMIT,
            keepalive: Some(Duration::from_secs(10)),
            reconnect: true,
            require_server_uid: None,
        }
    }
}

/// A call's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// The connection's timeout for a call, none for a stream.
    Default,
    /// This long.
    After(Duration),
    /// None at all.
    Never,
}

impl Deadline {
    /// The deadline of a call (`stream: false`) or a stream, `None` for none;
    /// `timeout` is the connection's.
    pub(crate) fn limit(self, timeout: Duration, stream: bool) -> Option<Duration> {
        match self {
            Self::Default if stream => None,
            Self::Default => Some(timeout),
            Self::After(limit) => Some(limit),
            Self::Never => None,
        }
    }
}

/// What a call without a deadline asks the server for (servers cap it: ours at an
/// hour by default).
pub(crate) const NO_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// A [`ReplyStream`] whose errors are a typed error (a generated method's error
/// enum, or `Status`): what generated clients return for streams.
pub struct TypedStream<T, E> {
    inner: ReplyStream<T>,
    _error: PhantomData<fn() -> E>,
}

impl<T, E> TypedStream<T, E> {
    /// Wraps a stream.
    pub fn new(inner: ReplyStream<T>) -> Self {
        Self {
            inner,
            _error: PhantomData,
        }
    }
}

impl<T, E> std::fmt::Debug for TypedStream<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TypedStream").field(&self.inner).finish()
    }
}

impl<T: DeserializeOwned, E: From<ClientError>> Stream for TypedStream<T, E> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|item| item.map(|item| item.map_err(E::from)))
    }
}

/// A broadcast received through a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Push<P> {
    /// The registered name of the broadcast's type.
    pub message_type: String,
    /// The broadcast message.
    pub payload: P,
    /// Unique per notification.
    pub notification_id: String,
    /// When the server sent it (ms since the Unix epoch).
    pub timestamp_ms: u64,
}

/// A connection to acton servers: over a Unix socket ([`connect`](Self::connect)),
/// or over NATS ([`connect_nats`](Self::connect_nats), feature `nats`), with the
/// same calls. Cloning is cheap; clones share the connection, and requests from any
/// of them are pipelined. After a socket connection is lost, the next call opens a
/// new one ([`ClientOptions::reconnect`]); NATS reconnects by itself.
#[derive(Clone)]
pub struct IpcClient {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Socket(socket::SocketClient),
    #[cfg(feature = "nats")]
    Nats(nats::NatsClient),
}

impl std::fmt::Debug for IpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Transport::Socket(client) => client.fmt(f),
            #[cfg(feature = "nats")]
            Transport::Nats(client) => client.fmt(f),
        }
    }
}

/// Calls `$call` on whichever transport the client uses.
macro_rules! on_transport {
    ($self:ident, $client:ident => $call:expr) => {
        match &$self.transport {
            Transport::Socket($client) => $call,
            #[cfg(feature = "nats")]
            Transport::Nats($client) => $call,
        }
    };
}

impl IpcClient {
    /// Connects with default options (JSON).
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the socket cannot be reached.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        Self::connect_with(path, ClientOptions::default()).await
    }

    /// Connects with `options`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the socket cannot be reached,
    /// [`ClientError::UnexpectedServer`] when the server runs as another user than
    /// the one required, [`ClientError::Rejected`] when it refuses the connection.
    pub async fn connect_with(
        path: impl AsRef<Path>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            transport: Transport::Socket(socket::SocketClient::connect_with(path, options).await?),
        })
    }

    /// Connects through the NATS server(s) at `url` (`nats://host:4222`, several
    /// separated by commas) to the servers that serve under `prefix`
    /// (`runtime.start_nats_bridge(NatsConfig::new(url).prefix(prefix))`); see
    /// docs/nats.md.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), acton_reactive::ipc::client::ClientError> {
    /// use acton_reactive::ipc::client::IpcClient;
    /// let client = IpcClient::connect_nats("nats://127.0.0.1:4222", "desk").await?;
    /// let sum: serde_json::Value = client
    ///     .request("calculator", "AddRequest", &serde_json::json!({"a": 1, "b": 2}))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ClientError::NatsConnect`] when the NATS server cannot be reached, or this
    /// build has no NATS support (enable the `nats` feature of `acton-reactive`:
    /// generated clients call this whatever the features, as Python's and
    /// TypeScript's do whether or not their optional NATS package is installed).
    pub async fn connect_nats(url: &str, prefix: &str) -> Result<Self, ClientError> {
        Self::connect_nats_with(url, prefix, ClientOptions::default()).await
    }

    /// Connects through NATS with `options` (the format, timeout and buffers apply;
    /// the socket's keepalive, reconnect and uid options do not).
    ///
    /// # Errors
    /// As [`connect_nats`](Self::connect_nats).
    pub async fn connect_nats_with(
        url: &str,
        prefix: &str,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        #[cfg(feature = "nats")]
        {
            Ok(Self {
                transport: Transport::Nats(nats::NatsClient::connect(url, prefix, options).await?),
            })
        }
        #[cfg(not(feature = "nats"))]
        {
            let _ = (prefix, options);
            Err(ClientError::NatsConnect {
                url: url.to_owned(),
                reason:
                    "this build has no NATS support: enable the `nats` feature of acton-reactive"
                        .to_owned(),
            })
        }
    }

    /// A client on a NATS connection made elsewhere (with credentials, TLS, or
    /// other options of `async_nats::ConnectOptions`).
    #[cfg(feature = "nats")]
    pub fn from_nats(client: async_nats::Client, prefix: &str, options: ClientOptions) -> Self {
        Self {
            transport: Transport::Nats(nats::NatsClient::new(client, prefix, options)),
        }
    }

    /// This client with another deadline for its calls: `Some(d)` for `d` (a
    /// stream's, the whole stream's), `None` for none. By default a call gets the
    /// connection's timeout ([`ClientOptions::timeout`]) and a stream none. The
    /// handle shares the connection.
    ///
    /// ```
    /// # async fn demo(client: acton_reactive::ipc::client::IpcClient) {
    /// use std::time::Duration;
    /// let patient = client.with_timeout(None);
    /// let hasty = client.with_timeout(Some(Duration::from_millis(200)));
    /// # }
    /// ```
    #[must_use]
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Self {
        let transport = match &self.transport {
            Transport::Socket(client) => Transport::Socket(client.with_timeout(timeout)),
            #[cfg(feature = "nats")]
            Transport::Nats(client) => Transport::Nats(client.with_timeout(timeout)),
        };
        Self { transport }
    }

    /// Whether the connection has closed (over the socket, the next call may open
    /// a new one).
    pub fn is_closed(&self) -> bool {
        on_transport!(self, client => client.is_closed())
    }

    /// Closes the connection for good; pending requests fail with
    /// [`ClientError::Closed`], and no call reconnects.
    pub fn close(&self) {
        on_transport!(self, client => client.close());
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
        on_transport!(self, client => client.request(target, message_type, payload).await)
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
        on_transport!(self, client => client.send(target, message_type, payload).await)
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
    ) -> Result<ReplyStream<R>, ClientError> {
        let inner = match &self.transport {
            Transport::Socket(client) => {
                StreamInner::Socket(client.stream(target, message_type, payload).await?)
            }
            #[cfg(feature = "nats")]
            Transport::Nats(client) => StreamInner::Nats(Box::new(
                client.stream(target, message_type, payload).await?,
            )),
        };
        Ok(ReplyStream { inner })
    }

    /// Subscribes to broadcasts of the given registered type names; they arrive on
    /// the returned [`Subscription`], decoded as `P`.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn subscribe<P: DeserializeOwned>(
        &self,
        message_types: &[&str],
    ) -> Result<Subscription<P>, ClientError> {
        self.subscribe_to(message_types, &[]).await
    }

    /// Subscribes to every registered type whose name matches a pattern (`prefix*`
    /// or `*`).
    ///
    /// # Errors
    /// As [`request`](Self::request); the server allows 128 patterns per connection.
    pub async fn subscribe_patterns<P: DeserializeOwned>(
        &self,
        patterns: &[&str],
    ) -> Result<Subscription<P>, ClientError> {
        self.subscribe_to(&[], patterns).await
    }

    async fn subscribe_to<P: DeserializeOwned>(
        &self,
        message_types: &[&str],
        patterns: &[&str],
    ) -> Result<Subscription<P>, ClientError> {
        let inner = match &self.transport {
            Transport::Socket(client) if patterns.is_empty() => {
                SubscriptionInner::Socket(client.subscribe(message_types).await?)
            }
            Transport::Socket(client) => {
                SubscriptionInner::Socket(client.subscribe_patterns(patterns).await?)
            }
            #[cfg(feature = "nats")]
            Transport::Nats(client) => {
                SubscriptionInner::Nats(client.subscribe(message_types, patterns).await?)
            }
        };
        Ok(Subscription { inner })
    }

    /// Ends the connection's server-side subscriptions to these types (all of them
    /// for an empty list); returns the types still subscribed. Over NATS the server
    /// holds no subscriptions (they end when their [`Subscription`] is dropped):
    /// this returns none.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn unsubscribe(&self, message_types: &[&str]) -> Result<Vec<String>, ClientError> {
        match &self.transport {
            Transport::Socket(client) => client.unsubscribe(message_types).await,
            #[cfg(feature = "nats")]
            Transport::Nats(_) => Ok(Vec::new()),
        }
    }

    /// Asks the server what it offers.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn discover(&self) -> Result<IpcDiscoverResponse, ClientError> {
        on_transport!(self, client => client.discover().await)
    }

    /// Asks the server what it offers, with its schema (`schema` and
    /// `schema_fingerprint` in the answer; absent from servers that do not serve
    /// one, such as those of the published crate).
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub async fn discover_schema(&self) -> Result<IpcDiscoverResponse, ClientError> {
        on_transport!(self, client => client.discover_schema().await)
    }

    /// Whether this client's schema (`document`, `acton-schema/1`, with its
    /// `fingerprint`) fits the server's, for the client's `services`: compatible,
    /// degraded (some methods missing), incompatible, or unknown (the server
    /// serves no schema), with the differences. Generated clients call it from
    /// their `check_schema()`.
    ///
    /// # Errors
    /// As [`request`](Self::request); a client document that is not JSON is a
    /// [`ClientError::Codec`].
    pub async fn check_schema(
        &self,
        document: &str,
        fingerprint: &str,
        services: &[&str],
    ) -> Result<schema_check::SchemaCheck, ClientError> {
        let answer = self.discover_schema().await?;
        Ok(schema_check::check(
            answer,
            document,
            fingerprint,
            services,
        )?)
    }
}

/// The items of a request-stream, decoded as `R`.
///
/// Its buffer is bounded in items and in bytes ([`ClientOptions::stream_buffer`],
/// [`stream_buffer_bytes`](ClientOptions::stream_buffer_bytes)). Over the socket,
/// while it is full the client reads nothing more, which slows the server's
/// streams to the consumer's pace. Over NATS, which has no such back-pressure, a
/// stream read too slowly (its buffer full, or items lost on the way) fails with
/// STREAM_ERROR after the items it holds, and is cancelled on the server, instead
/// of skipping items. Dropping it before its end cancels the stream on the server.
pub struct ReplyStream<R> {
    inner: StreamInner<R>,
}

enum StreamInner<R> {
    Socket(socket::SocketStream<R>),
    #[cfg(feature = "nats")]
    Nats(Box<nats::NatsStream<R>>),
}

impl<R> std::fmt::Debug for ReplyStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            StreamInner::Socket(stream) => stream.fmt(f),
            #[cfg(feature = "nats")]
            StreamInner::Nats(stream) => stream.fmt(f),
        }
    }
}

impl<R: DeserializeOwned> Stream for ReplyStream<R> {
    type Item = Result<R, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            StreamInner::Socket(stream) => Pin::new(stream).poll_next(cx),
            #[cfg(feature = "nats")]
            StreamInner::Nats(stream) => Pin::new(&mut **stream).poll_next(cx),
        }
    }
}

/// What a subscription counts of the pushes it did not deliver.
#[derive(Debug, Default)]
pub(crate) struct PushCounters {
    missed: AtomicU64,
    undecodable: AtomicU64,
}

impl PushCounters {
    pub(crate) fn missed(&self, count: u64) {
        self.missed.fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn undecodable(&self) {
        self.undecodable.fetch_add(1, Ordering::Relaxed);
    }
}

/// Pushes received for a subscription: a scoped resource. Creating it waited for
/// the server's acknowledgement (over NATS, the NATS server's); dropping it
/// unsubscribes. A lost connection ends it with [`ClientError::Closed`].
///
/// Its buffer is bounded in pushes and in bytes
/// ([`ClientOptions::subscription_buffer`], [`subscription_buffer_bytes`](ClientOptions::subscription_buffer_bytes)),
/// over the socket and over NATS alike: pushes that find it full are dropped (the
/// newest) and counted in [`missed`](Self::missed). A push that does not decode
/// as `P` is skipped and counted in [`undecodable`](Self::undecodable): the
/// subscription goes on.
pub struct Subscription<P> {
    inner: SubscriptionInner<P>,
}

impl<P> Subscription<P> {
    fn counters(&self) -> &PushCounters {
        match &self.inner {
            SubscriptionInner::Socket(subscription) => subscription.counters(),
            #[cfg(feature = "nats")]
            SubscriptionInner::Nats(subscription) => subscription.counters(),
        }
    }

    /// Pushes lost because they were read too slowly: dropped here when the
    /// buffer was full, and those the server reported it dropped.
    pub fn missed(&self) -> u64 {
        self.counters().missed.load(Ordering::Relaxed)
    }

    /// Pushes skipped because they did not decode: their payload as `P`, or (over
    /// the socket) a push frame whose type cannot be read, which every
    /// subscription of the connection counts since it may have been for any.
    pub fn undecodable(&self) -> u64 {
        self.counters().undecodable.load(Ordering::Relaxed)
    }
}

enum SubscriptionInner<P> {
    Socket(socket::SocketSubscription<P>),
    #[cfg(feature = "nats")]
    Nats(nats::NatsSubscription<P>),
}

impl<P> std::fmt::Debug for Subscription<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            SubscriptionInner::Socket(subscription) => subscription.fmt(f),
            #[cfg(feature = "nats")]
            SubscriptionInner::Nats(subscription) => subscription.fmt(f),
        }
    }
}

impl<P: DeserializeOwned> Stream for Subscription<P> {
    type Item = Result<Push<P>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            SubscriptionInner::Socket(subscription) => Pin::new(subscription).poll_next(cx),
            #[cfg(feature = "nats")]
            SubscriptionInner::Nats(subscription) => Pin::new(subscription).poll_next(cx),
        }
    }
}
