//! The NATS transport of [`IpcClient`](super::IpcClient) (feature `nats`): the same
//! calls, as requests on `{prefix}.{service}.{MessageType}` with the headers of
//! docs/nats.md. NATS matches each answer to its request by reply subject, and
//! reconnects by itself. A stream's or subscription's messages move from NATS's
//! own buffer (bounded only in messages) into one bounded in bytes as well, as
//! over the socket: NATS cannot slow down whoever publishes to a client.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_nats::client::RequestErrorKind;
use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::stream::SelectAll;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::buffer::{Buffer, Queued};
use super::{ClientError, ClientOptions, Deadline, ErrorDetails, Push, PushCounters, NO_DEADLINE};
use crate::ipc::codec::Format;
use crate::ipc::protocol::{pattern_matches, ErrorCode, IpcDiscoverResponse};
use crate::nats::layout::{self, Call};
use crate::nats::RoundTrip;

/// What the clones of one NATS client share.
struct Link {
    client: async_nats::Client,
    prefix: String,
    options: ClientOptions,
    closed: AtomicBool,
}

/// A client of the servers serving under one prefix, through one NATS connection.
#[derive(Clone)]
pub(crate) struct NatsClient {
    link: Arc<Link>,
    deadline: Deadline,
}

impl std::fmt::Debug for NatsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcClient")
            .field("nats_prefix", &self.link.prefix)
            .field("format", &self.link.options.format)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl NatsClient {
    pub(crate) async fn connect(
        url: &str,
        prefix: &str,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let client = async_nats::ConnectOptions::new()
            .name("acton-client")
            .connect(url)
            .await
            .map_err(|error| ClientError::NatsConnect {
                url: url.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(Self::new(client, prefix, options))
    }

    pub(crate) fn new(client: async_nats::Client, prefix: &str, options: ClientOptions) -> Self {
        Self {
            link: Arc::new(Link {
                client,
                prefix: prefix.to_owned(),
                options,
                closed: AtomicBool::new(false),
            }),
            deadline: Deadline::Default,
        }
    }

    pub(crate) fn with_timeout(&self, timeout: Option<Duration>) -> Self {
        Self {
            link: Arc::clone(&self.link),
            deadline: timeout.map_or(Deadline::Never, Deadline::After),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.link.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn close(&self) {
        if !self.link.closed.swap(true, Ordering::Relaxed) {
            // Sends what is queued, then closes; nothing waits for it.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let client = self.link.client.clone();
                runtime.spawn(async move { client.drain().await });
            }
        }
    }

    fn live(&self) -> Result<&Link, ClientError> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        Ok(&self.link)
    }

    /// The deadline of a call (`stream: false`) or a stream, `None` for none.
    fn limit(&self, stream: bool) -> Option<Duration> {
        self.deadline.limit(self.link.options.timeout, stream)
    }

    fn subject(&self, target: &str, message_type: &str) -> String {
        layout::request_subject(&self.link.prefix, target, message_type)
    }

    fn headers(&self, call: Call, limit: Option<Duration>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            layout::FORMAT,
            layout::format_name(self.link.options.format),
        );
        headers.insert(layout::CALL, call.as_str());
        let millis = limit.unwrap_or(NO_DEADLINE).as_millis().max(1);
        headers.insert(layout::TIMEOUT_MS, millis.to_string());
        headers
    }

    fn not_served(&self, target: &str) -> ClientError {
        ClientError::Server {
            code: ErrorCode::ActorNotFound.as_str().to_owned(),
            message: format!(
                "no server serves `{target}` on NATS under the prefix `{}`",
                self.link.prefix
            ),
            details: None,
        }
    }

    /// Sends one request and waits for its one answer (a little longer than the
    /// server's own deadline, whose TIMEOUT says more).
    async fn call<P: Serialize>(
        &self,
        call: Call,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<Message, ClientError> {
        let link = self.live()?;
        let limit = self.limit(false);
        let body = Bytes::from(link.options.format.encode(payload)?);
        let wait = limit.map(|limit| limit.saturating_add(Duration::from_secs(1)));
        let request = async_nats::Request::new()
            .payload(body)
            .headers(self.headers(call, limit))
            .timeout(wait);
        link.client
            .send_request(self.subject(target, message_type), request)
            .await
            .map_err(|error| match error.kind() {
                RequestErrorKind::NoResponders => self.not_served(target),
                RequestErrorKind::TimedOut => ClientError::Timeout(wait.unwrap_or_default()),
                RequestErrorKind::MaxPayloadExceeded => ClientError::Server {
                    code: ErrorCode::LimitExceeded.as_str().to_owned(),
                    message: "the request is larger than the NATS server takes".to_owned(),
                    details: None,
                },
                _ => ClientError::Closed,
            })
    }

    pub(crate) async fn request<P: Serialize, R: DeserializeOwned>(
        &self,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<R, ClientError> {
        let answer = self
            .call(Call::Reply, target, message_type, payload)
            .await?;
        if let Some(failure) = failure(&answer) {
            return Err(failure);
        }
        decode(&answer)
    }

    pub(crate) async fn send<P: Serialize>(
        &self,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<(), ClientError> {
        let answer = self.call(Call::Send, target, message_type, payload).await?;
        match failure(&answer) {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    pub(crate) async fn stream<P: Serialize, R: DeserializeOwned>(
        &self,
        target: &str,
        message_type: &str,
        payload: &P,
    ) -> Result<NatsStream<R>, ClientError> {
        let link = self.live()?;
        let limit = self.limit(true);
        let body = Bytes::from(link.options.format.encode(payload)?);
        let inbox = link.client.new_inbox();
        let replies = link
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|_| ClientError::Closed)?;
        // Only its digest travels with the request: only this stream's owner
        // can cancel it.
        let cancel_secret = cancel_secret();
        let mut headers = self.headers(Call::Stream, limit);
        headers.insert(layout::CANCEL_DIGEST, layout::cancel_digest(&cancel_secret));
        link.client
            .publish_with_reply_and_headers(
                self.subject(target, message_type),
                inbox.clone(),
                headers,
                body,
            )
            .await
            .map_err(|_| ClientError::Closed)?;
        let canceller = Arc::new(Canceller {
            client: link.client.clone(),
            subject: format!("{}.{}", link.prefix, layout::CANCEL_TOKEN),
            inbox: inbox.clone(),
            secret: cancel_secret,
            sent: AtomicBool::new(false),
        });
        let (buffer, queue) =
            Buffer::new(link.options.stream_buffer, link.options.stream_buffer_bytes);
        let overflowed = Arc::new(AtomicBool::new(false));
        tokio::spawn(pump_stream(
            replies,
            buffer,
            Arc::clone(&canceller),
            Arc::clone(&overflowed),
        ));
        Ok(NatsStream {
            queue,
            canceller,
            overflowed,
            bound: (link.options.stream_buffer, link.options.stream_buffer_bytes),
            inbox,
            target: target.to_owned(),
            prefix: link.prefix.clone(),
            expected: 0,
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

    pub(crate) async fn subscribe<P: DeserializeOwned>(
        &self,
        message_types: &[&str],
        patterns: &[&str],
    ) -> Result<NatsSubscription<P>, ClientError> {
        let link = self.live()?;
        let push_prefix = format!("{}.{}.", link.prefix, layout::PUSH_TOKEN);
        // Patterns are matched here: one subscription to every push covers them.
        let subjects: Vec<String> = if patterns.is_empty() {
            message_types
                .iter()
                .map(|name| format!("{push_prefix}{name}"))
                .collect()
        } else {
            vec![format!("{push_prefix}>")]
        };
        let mut pushes = SelectAll::new();
        for subject in subjects {
            let subscriber = link
                .client
                .subscribe(subject)
                .await
                .map_err(|_| ClientError::Closed)?;
            pushes.push(subscriber);
        }
        // `flush` only writes the subscriptions out: a round trip through the NATS
        // server makes sure it has them before the first push is published.
        let wait = Duration::from_secs(10);
        crate::nats::round_trip(&link.client, wait)
            .await
            .map_err(|error| match error {
                RoundTrip::Closed => ClientError::Closed,
                RoundTrip::TimedOut => ClientError::Timeout(wait),
            })?;
        let wanted = Wanted {
            push_prefix,
            types: message_types.iter().map(|t| (*t).to_owned()).collect(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        };
        let (buffer, queue) = Buffer::new(
            link.options.subscription_buffer,
            link.options.subscription_buffer_bytes,
        );
        let counters = Arc::new(PushCounters::default());
        let wanted = Arc::new(wanted);
        tokio::spawn(pump_pushes(
            pushes,
            Arc::clone(&wanted),
            buffer,
            Arc::clone(&counters),
        ));
        Ok(NatsSubscription {
            queue,
            wanted,
            counters,
            ended: false,
            _payload: PhantomData,
        })
    }

    pub(crate) async fn discover(&self) -> Result<IpcDiscoverResponse, ClientError> {
        self.discover_schema().await
    }

    pub(crate) async fn discover_schema(&self) -> Result<IpcDiscoverResponse, ClientError> {
        let link = self.live()?;
        let timeout = link.options.timeout;
        let request = async_nats::Request::new().timeout(Some(timeout));
        let subject = format!("{}.{}", link.prefix, layout::DISCOVER_TOKEN);
        let answer =
            link.client
                .send_request(subject, request)
                .await
                .map_err(|error| match error.kind() {
                    RequestErrorKind::NoResponders => ClientError::Server {
                        code: ErrorCode::ActorNotFound.as_str().to_owned(),
                        message: format!("no server serves on NATS under `{}`", link.prefix),
                        details: None,
                    },
                    RequestErrorKind::TimedOut => ClientError::Timeout(timeout),
                    _ => ClientError::Closed,
                })?;
        Ok(Format::Json.decode(&answer.payload)?)
    }
}

fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(name))
        .map(|value| value.as_str())
}

/// The format an answer says it is in.
fn format_of(message: &Message) -> Result<Format, ClientError> {
    match header(message, layout::FORMAT) {
        None => Ok(Format::Json),
        Some(name) => layout::parse_format(name).ok_or_else(|| ClientError::Server {
            code: ErrorCode::ProtocolError.as_str().to_owned(),
            message: format!("the server answered in an unknown format `{name}`"),
            details: None,
        }),
    }
}

/// The answer's value; an empty payload is the unit value.
fn decode<R: DeserializeOwned>(message: &Message) -> Result<R, ClientError> {
    let format = format_of(message)?;
    let payload: &[u8] = if message.payload.is_empty() {
        format.null()
    } else {
        &message.payload
    };
    Ok(format.decode(payload)?)
}

/// The error an answer carries, if it is one.
fn failure(message: &Message) -> Option<ClientError> {
    let code = header(message, layout::ERROR_CODE)?;
    let details = match format_of(message) {
        Ok(format) => (!message.payload.is_empty())
            .then(|| ErrorDetails::new(format, message.payload.clone())),
        Err(error) => return Some(error),
    };
    Some(ClientError::Server {
        code: code.to_owned(),
        message: header(message, layout::ERROR)
            .unwrap_or_default()
            .to_owned(),
        details,
    })
}

/// Asks the server to stop one stream, once: on `{prefix}._cancel`, the stream's
/// reply subject with the secret whose digest its request carried.
struct Canceller {
    client: async_nats::Client,
    subject: String,
    inbox: String,
    /// Proves the cancel is this caller's (`Acton-Cancel-Secret`).
    secret: String,
    sent: AtomicBool,
}

impl Canceller {
    fn cancel(&self) {
        if self.sent.swap(true, Ordering::Relaxed) {
            return;
        }
        let client = self.client.clone();
        let subject = self.subject.clone();
        let inbox = Bytes::from(self.inbox.clone().into_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(layout::CANCEL_SECRET, self.secret.as_str());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime
                .spawn(async move { client.publish_with_headers(subject, headers, inbox).await });
        }
    }
}

/// Whether `message` is NATS's "no responders" (nobody serves the subject).
fn no_responders(message: &Message) -> bool {
    message
        .status
        .is_some_and(|status| status == async_nats::StatusCode::NO_RESPONDERS)
}

/// Whether `message` is the last of a stream: its final answer, or NATS's "no
/// responders".
fn ends_stream(message: &Message) -> bool {
    no_responders(message) || header(message, layout::FINAL) == Some("true")
}

/// Reads `source` until it ends or the consumer has gone (dropped its end of
/// `buffer`, which ends the NATS subscriptions with `source`), handing each
/// message to `take`, which buffers it and says whether to go on.
async fn pump<T>(
    mut source: impl Stream<Item = Message> + Unpin,
    buffer: Buffer<T>,
    mut take: impl FnMut(&Buffer<T>, Message) -> ControlFlow<()>,
) {
    loop {
        let message = tokio::select! {
            message = source.next() => message,
            () = buffer.closed() => return,
        };
        let Some(message) = message else { return };
        if take(&buffer, message).is_break() {
            return;
        }
    }
}

/// Moves a stream's answers from its NATS subscription into its buffer, until the
/// last one. NATS cannot be slowed down: a buffer found full fails the stream
/// (`overflowed`) and cancels it on the server, rather than hold more than the
/// caller allowed.
async fn pump_stream(
    replies: async_nats::Subscriber,
    buffer: Buffer<Message>,
    canceller: Arc<Canceller>,
    overflowed: Arc<AtomicBool>,
) {
    pump(replies, buffer, |buffer, message| {
        let last = ends_stream(&message);
        let size = message.length;
        if !buffer.try_send(message, size) {
            overflowed.store(true, Ordering::Relaxed);
            canceller.cancel();
            return ControlFlow::Break(());
        }
        if last {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await;
}

/// The items of a stream over NATS, from its buffer ([`pump_stream`] fills it).
/// Dropping it before its end cancels the stream on the server.
pub(crate) struct NatsStream<R> {
    queue: tokio::sync::mpsc::Receiver<Queued<Message>>,
    canceller: Arc<Canceller>,
    /// Whether the buffer was found full: the stream fails after what it holds.
    overflowed: Arc<AtomicBool>,
    /// The buffer's bound: items, bytes.
    bound: (usize, usize),
    inbox: String,
    target: String,
    prefix: String,
    expected: u32,
    limit: Option<Duration>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
    _item: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for NatsStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyStream")
            .field("inbox", &self.inbox)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R> NatsStream<R> {
    /// Ends the stream here with `error` and asks the server to stop it.
    fn give_up(&mut self, error: ClientError) -> Poll<Option<Result<R, ClientError>>> {
        self.done = true;
        self.canceller.cancel();
        Poll::Ready(Some(Err(error)))
    }

    /// The failure of a stream whose reading stopped: its buffer was full (the
    /// stream was cancelled then), or the NATS connection closed.
    fn stopped(&mut self) -> Poll<Option<Result<R, ClientError>>> {
        if !self.overflowed.load(Ordering::Relaxed) {
            self.done = true;
            return Poll::Ready(Some(Err(ClientError::Closed)));
        }
        let (items, bytes) = self.bound;
        self.give_up(ClientError::Server {
            code: ErrorCode::StreamError.as_str().to_owned(),
            message: format!(
                "more than {items} items or {bytes} bytes of the stream waited unread \
                 (read too slowly): the stream was cancelled"
            ),
            details: None,
        })
    }
}

impl<R> Drop for NatsStream<R> {
    fn drop(&mut self) {
        if !self.done {
            self.canceller.cancel();
        }
    }
}

impl<R: DeserializeOwned> Stream for NatsStream<R> {
    type Item = Result<R, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.queue.poll_recv(cx) {
            Poll::Ready(Some(queued)) => {
                let message = &queued.item;
                if no_responders(message) {
                    self.done = true;
                    let error = ClientError::Server {
                        code: ErrorCode::ActorNotFound.as_str().to_owned(),
                        message: format!(
                            "no server serves `{}` on NATS under the prefix `{}`",
                            self.target, self.prefix
                        ),
                        details: None,
                    };
                    return Poll::Ready(Some(Err(error)));
                }
                let sequence = header(message, layout::SEQUENCE)
                    .and_then(|value| value.parse::<u32>().ok())
                    .unwrap_or(0);
                if sequence != self.expected {
                    let lost = sequence.saturating_sub(self.expected);
                    return self.give_up(ClientError::Server {
                        code: ErrorCode::StreamError.as_str().to_owned(),
                        message: format!("{lost} items of the stream were lost (read too slowly)"),
                        details: None,
                    });
                }
                if header(message, layout::FINAL) == Some("true") {
                    self.done = true;
                    return Poll::Ready(failure(message).map(Err));
                }
                self.expected += 1;
                Poll::Ready(Some(decode(message)))
            }
            Poll::Ready(None) => self.stopped(),
            Poll::Pending => {
                let expired = self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    let limit = self.limit.unwrap_or_default();
                    return self.give_up(ClientError::Timeout(limit));
                }
                Poll::Pending
            }
        }
    }
}

/// Which pushes a subscription wants, of those its NATS subscriptions receive.
struct Wanted {
    push_prefix: String,
    types: Vec<String>,
    patterns: Vec<String>,
}

impl Wanted {
    /// The push's registered type, if the subscription wants it.
    fn wants<'m>(&self, message: &'m Message) -> Option<&'m str> {
        let message_type = message.subject.strip_prefix(self.push_prefix.as_str())?;
        let wanted = self.types.iter().any(|name| name == message_type)
            || self
                .patterns
                .iter()
                .any(|pattern| pattern_matches(pattern, message_type));
        wanted.then_some(message_type)
    }
}

/// Moves the pushes a subscription wants from its NATS subscriptions into its
/// buffer. A push that finds the buffer full is dropped, the newest as over the
/// socket, and counted in `missed`.
async fn pump_pushes(
    pushes: SelectAll<async_nats::Subscriber>,
    wanted: Arc<Wanted>,
    buffer: Buffer<(String, Message)>,
    counters: Arc<PushCounters>,
) {
    pump(pushes, buffer, |buffer, message| {
        if let Some(message_type) = wanted.wants(&message) {
            let message_type = message_type.to_owned();
            let size = message.length;
            if !buffer.try_send((message_type, message), size) {
                counters.missed(1);
            }
        }
        ControlFlow::Continue(())
    })
    .await;
}

/// Pushes over NATS, from one subscription per type (or one to every push, for
/// patterns), through a buffer ([`pump_pushes`] fills it). Dropping it
/// unsubscribes.
pub(crate) struct NatsSubscription<P> {
    queue: tokio::sync::mpsc::Receiver<Queued<(String, Message)>>,
    wanted: Arc<Wanted>,
    counters: Arc<PushCounters>,
    ended: bool,
    _payload: PhantomData<fn() -> P>,
}

impl<P> std::fmt::Debug for NatsSubscription<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("types", &self.wanted.types)
            .field("patterns", &self.wanted.patterns)
            .finish_non_exhaustive()
    }
}

impl<P> NatsSubscription<P> {
    pub(crate) fn counters(&self) -> &PushCounters {
        &self.counters
    }
}

impl<P: DeserializeOwned> Stream for NatsSubscription<P> {
    type Item = Result<Push<P>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        loop {
            let Some(queued) = std::task::ready!(self.queue.poll_recv(cx)) else {
                // The NATS connection closed for good: say so once, then end.
                self.ended = true;
                return Poll::Ready(Some(Err(ClientError::Closed)));
            };
            let (message_type, message) = &queued.item;
            let Ok(payload) = decode(message) else {
                // One bad message on a push subject is skipped, not the end of
                // the subscription.
                self.counters.undecodable();
                continue;
            };
            let push = Ok(Push {
                message_type: message_type.clone(),
                payload,
                notification_id: header(message, layout::NOTIFICATION_ID)
                    .unwrap_or_default()
                    .to_owned(),
                timestamp_ms: header(message, layout::TIMESTAMP_MS)
                    .and_then(|value| value.parse().ok())
                    .unwrap_or_else(|| {
                        SystemTime::now()
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map_or(0, |elapsed| {
                                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
                            })
                    }),
            });
            return Poll::Ready(Some(push));
        }
    }
}

/// A secret for one stream's cancel: 128 random bits from the system, in hex.
fn cancel_secret() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // Not seen on a booted Linux; still never a secret others could guess:
        // std's hash keys are seeded from the system's randomness too.
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_nanos()),
            );
            chunk.copy_from_slice(&hasher.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
