//! The bridge: one queue-group subscription per exposed actor
//! (`{prefix}.{service}.>`), kept in step with `ipc_expose` / `ipc_hide`; each
//! request is checked against the limits, decoded and put in its actor's mailbox
//! with its [`NatsReplies`] to answer through; a deadline per request fails it with
//! TIMEOUT when its answer does not come in time.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use async_nats::{HeaderMap, Message, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::NatsConfig;
use super::layout::{self, Call};
use super::micro;
use super::publisher::Publisher;
use super::pushes::PushPublisher;
use super::replies::{Caller, NatsReplies, ReplyPath};
use super::stats::{Counters, Endpoints, NatsBridgeStats};
use super::NatsError;
use crate::actor::ActorHandle;
use crate::broker::ObserverGuard;
use crate::ipc::protocol::ErrorCode;
use crate::ipc::server::rate_limit::TokenBucket;
use crate::message::{Envelope, PeerCredentials, ReplySink, ReplyTarget, RequestOrigin, SinkRef};
use crate::runtime::ActorRuntime;

/// How long a shutdown lets requests in flight finish before failing them with
/// SHUTTING_DOWN.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running bridge. Dropping the handle does not stop it; [`shutdown`]
/// (or the runtime's `shutdown_all`) does.
///
/// [`shutdown`]: NatsBridge::shutdown
#[derive(Debug, Clone)]
pub struct NatsBridge {
    core: Arc<Core>,
}

impl NatsBridge {
    /// The bridge's totals.
    pub fn stats(&self) -> NatsBridgeStats {
        self.core.stats()
    }

    /// The subject prefix it serves under.
    pub fn prefix(&self) -> &str {
        &self.core.config.prefix
    }

    /// This process's id in NATS's service discovery (`$SRV.PING`).
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// The bridge's NATS connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.core.client
    }

    /// Stops taking requests (its subscriptions end, so NATS sends them to the
    /// other replicas), lets those in flight finish (5 s at most, then they fail
    /// with SHUTTING_DOWN), publishes what is queued, and flushes the connection.
    pub async fn shutdown(&self) {
        self.core.shutdown().await;
    }
}

/// Everything the bridge's tasks share.
pub(crate) struct Core {
    runtime: ActorRuntime,
    client: async_nats::Client,
    config: NatsConfig,
    path: Arc<ReplyPath>,
    counters: Arc<Counters>,
    endpoints: Endpoints,
    in_flight: Arc<Semaphore>,
    rate: Option<Mutex<TokenBucket>>,
    max_message_size: usize,
    id: String,
    started: SystemTime,
    /// Cancelled to stop taking requests.
    stop: CancellationToken,
    /// Cancelled when the shutdown's grace has passed.
    cut: CancellationToken,
    tasks: TaskTracker,
    observer: Mutex<Option<ObserverGuard>>,
    stopped: tokio::sync::OnceCell<()>,
    /// Streams in flight by reply subject, for their callers to cancel.
    streams: Mutex<HashMap<String, Weak<NatsReplies>>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBridge")
            .field("prefix", &self.config.prefix)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The reply subject's answer, or nothing for a caller that waits for none.
struct Answering {
    caller: Option<Caller>,
    call: Call,
}

impl ActorRuntime {
    /// Serves every exposed actor on NATS as well, as `config` says (see
    /// [`crate::nats`]). The bridge is drained when the runtime shuts down
    /// (`shutdown_all`), before any actor stops.
    ///
    /// # Errors
    /// [`NatsError::Config`] for a prefix or queue group that is not a subject
    /// token, or an unreadable credentials file; [`NatsError::Connect`] when the
    /// NATS server cannot be reached or refuses the credentials.
    pub async fn start_nats_bridge(&self, config: NatsConfig) -> Result<NatsBridge, NatsError> {
        config.check()?;
        let client = config
            .connect_options()?
            .connect(config.url.as_str())
            .await
            .map_err(|source| NatsError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let max_payload = client.server_info().max_payload;
        let max_payload = if max_payload == 0 {
            1024 * 1024
        } else {
            max_payload
        };
        let counters = Arc::new(Counters::default());
        let (publisher, _publishing) = Publisher::start(client.clone(), config.outgoing_budget);
        let registry = self.ipc_registry();
        let path = Arc::new(ReplyPath {
            publisher: Arc::clone(&publisher),
            registry: Arc::clone(&registry),
            max_payload,
            counters: Arc::clone(&counters),
        });
        let core = Arc::new(Core {
            runtime: self.clone(),
            client: client.clone(),
            max_message_size: config.max_message_size.unwrap_or(max_payload),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            rate: config
                .rate_limit
                .map(|limit| Mutex::new(TokenBucket::new(limit))),
            config,
            path,
            counters: Arc::clone(&counters),
            endpoints: Endpoints::default(),
            id: instance_id(),
            started: SystemTime::now(),
            stop: CancellationToken::new(),
            cut: CancellationToken::new(),
            tasks: TaskTracker::new(),
            observer: Mutex::new(None),
            stopped: tokio::sync::OnceCell::new(),
            streams: Mutex::default(),
        });
        let pushes = PushPublisher::new(
            registry,
            publisher,
            core.config.prefix.clone(),
            core.config.push_format,
            counters,
        );
        *core.observer.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(self.broker().observe(Arc::new(pushes)));
        let mut services = Services::default();
        services.sync(&core).await?;
        let discover = core
            .queue_subscribe(micro::discover_subject(&core.config.prefix))
            .await?;
        let answering = Arc::clone(&core);
        core.tasks.spawn(serve_until_stopped(
            core.stop.clone(),
            discover,
            None,
            move |message| micro::discover(&answering, message),
        ));
        let cancels = client
            .subscribe(format!("{}.{}", core.config.prefix, layout::CANCEL_TOKEN))
            .await
            .map_err(|error| NatsError::Subscribe {
                subject: format!("{}.{}", core.config.prefix, layout::CANCEL_TOKEN),
                reason: error.to_string(),
            })?;
        let cancelling = Arc::clone(&core);
        core.tasks.spawn(serve_until_stopped(
            core.stop.clone(),
            cancels,
            None,
            move |message| cancelling.on_cancel(&message.payload),
        ));
        if core.config.service_api {
            let discovery =
                client
                    .subscribe(micro::SUBJECTS)
                    .await
                    .map_err(|error| NatsError::Subscribe {
                        subject: micro::SUBJECTS.to_owned(),
                        reason: error.to_string(),
                    })?;
            let answering = Arc::clone(&core);
            core.tasks.spawn(serve_until_stopped(
                core.stop.clone(),
                discovery,
                None,
                move |message| micro::answer(&answering, &message),
            ));
        }
        // The server has taken the subscriptions before the bridge says it serves.
        if let Err(error) = super::round_trip(&client, Duration::from_secs(5)).await {
            tracing::warn!(?error, "the NATS server did not confirm the subscriptions");
        }
        core.tasks
            .spawn(follow_exposures(Arc::clone(&core), services));
        self.ipc_state().add_bridge(&core);
        tracing::info!(prefix = %core.config.prefix, id = %core.id, "serving on NATS");
        Ok(NatsBridge { core })
    }
}

/// A random id for this process's services (NATS's service discovery).
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// The running subscriptions, by exposed name.
#[derive(Default)]
struct Services {
    running: HashMap<String, CancellationToken>,
}

impl Services {
    /// Subscribes for the names exposed now and not yet served, and ends the
    /// subscriptions of names no longer exposed.
    async fn sync(&mut self, core: &Arc<Core>) -> Result<(), NatsError> {
        let exposed: Vec<String> = core
            .runtime
            .ipc_exposed_names()
            .into_iter()
            .filter(|name| servable(name))
            .collect();
        self.running.retain(|name, stop| {
            let keep = exposed.contains(name);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for name in exposed {
            if self.running.contains_key(&name) {
                continue;
            }
            let subscriber = core
                .queue_subscribe(format!("{}.{name}.>", core.config.prefix))
                .await?;
            let stop = core.stop.child_token();
            self.running.insert(name.clone(), stop.clone());
            let serving = Arc::clone(core);
            core.tasks.spawn(serve_until_stopped(
                stop,
                subscriber,
                Some(core.stop.clone()),
                move |message| serving.on_request(&name, message),
            ));
        }
        Ok(())
    }
}

/// Whether an exposed name can be served on NATS (logged once when not).
fn servable(name: &str) -> bool {
    if name == layout::PUSH_TOKEN {
        tracing::warn!(name, "an actor exposed as `push` is not served on NATS: that subject token carries broadcasts");
        return false;
    }
    if !layout::is_token(name) {
        tracing::warn!(
            name,
            "an actor exposed under a name with `.`, `*`, `>` or white space is not served on NATS"
        );
        return false;
    }
    true
}

/// Keeps the subscriptions in step with the exposed actors until the bridge stops.
async fn follow_exposures(core: Arc<Core>, mut services: Services) {
    loop {
        let changed = core.runtime.ipc_state().exposures_changed_notice();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Err(error) = services.sync(&core).await {
            tracing::warn!(%error, "a newly exposed actor could not be served on NATS");
        }
        tokio::select! {
            () = core.stop.cancelled() => break,
            () = changed => {}
        }
    }
}

/// How long a withdrawn service's subscription keeps answering the messages NATS
/// had already routed to it.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Hands every message of `subscriber` to `on_message` until `stop`, then
/// unsubscribes (so that NATS sends the next ones to the other replicas).
///
/// With `bridge` given (a service's subscription) and the bridge still running
/// when `stop` comes — the service's actor was hidden — the subscription is
/// drained instead: the messages the client already holds for it are still
/// handed to `on_message` (which refuses them: nothing is exposed under that
/// name now). Dropped, each would leave its caller waiting for its own timeout.
/// (One that `nats-server` routed here but had not delivered when the client
/// took the drain in can still be lost: async-nats removes the subscription
/// without waiting for the server's acknowledgement.)
async fn serve_until_stopped(
    stop: CancellationToken,
    mut subscriber: async_nats::Subscriber,
    bridge: Option<CancellationToken>,
    mut on_message: impl FnMut(Message) + Send,
) {
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            message = subscriber.next() => match message {
                Some(message) => on_message(message),
                None => break,
            },
        }
    }
    let withdrawn = bridge.is_some_and(|bridge| !bridge.is_cancelled());
    if withdrawn {
        if let Err(error) = subscriber.drain().await {
            tracing::debug!(%error, "draining a NATS subscription failed");
            return;
        }
        while let Ok(Some(message)) = tokio::time::timeout(DRAIN_WAIT, subscriber.next()).await {
            on_message(message);
        }
    } else if let Err(error) = subscriber.unsubscribe().await {
        tracing::debug!(%error, "unsubscribing from NATS failed");
    }
}

impl Core {
    pub(crate) fn stats(&self) -> NatsBridgeStats {
        let in_flight = self
            .config
            .max_in_flight
            .saturating_sub(self.in_flight.available_permits());
        self.counters
            .snapshot(in_flight, self.path.publisher.queued())
    }

    /// A subscription in the replicas' queue group.
    async fn queue_subscribe(&self, subject: String) -> Result<async_nats::Subscriber, NatsError> {
        self.client
            .queue_subscribe(subject.clone(), self.config.queue_group.clone())
            .await
            .map_err(|error| NatsError::Subscribe {
                subject,
                reason: error.to_string(),
            })
    }

    pub(crate) fn config(&self) -> &NatsConfig {
        &self.config
    }

    pub(crate) fn runtime(&self) -> &ActorRuntime {
        &self.runtime
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn started(&self) -> SystemTime {
        self.started
    }

    pub(crate) fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Refuses a request before it reached its actor.
    fn refuse(&self, to: &Answering, code: ErrorCode, message: &str) {
        Counters::add(&self.counters.errors, 1);
        match &to.caller {
            Some(caller) => {
                self.path
                    .publisher
                    .force(caller.failure(0, code.as_str(), message, None))
            }
            None => tracing::debug!(
                code = code.as_str(),
                message,
                "a NATS message that waits for no answer was refused"
            ),
        }
    }

    /// One message on a service's subject.
    fn on_request(self: &Arc<Self>, service: &str, message: Message) {
        Counters::add(&self.counters.requests, 1);
        let Message {
            subject,
            reply,
            payload,
            headers,
            ..
        } = message;
        let header = |name: &str| -> Option<&str> {
            headers
                .as_ref()
                .and_then(|headers| headers.get(name))
                .map(async_nats::HeaderValue::as_str)
        };
        let format_header = header(layout::FORMAT);
        let format = match format_header {
            None => Some(crate::ipc::Format::Json),
            Some(name) => layout::parse_format(name),
        };
        let call_header = header(layout::CALL);
        let call = match call_header {
            None => Some(Call::Reply),
            Some(name) => Call::parse(name),
        };
        let mut to = Answering {
            caller: reply.map(|reply| Caller {
                reply,
                format: format.unwrap_or(crate::ipc::Format::Json),
                stream: call == Some(Call::Stream),
            }),
            call: call.unwrap_or(Call::Reply),
        };
        if to.caller.is_none() {
            to.call = Call::Send;
        }
        if let Some(rate) = &self.rate {
            let allowed = rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_acquire();
            if let Err(wait) = allowed {
                Counters::add(&self.counters.rate_limited, 1);
                let message = format!(
                    "rate limit exceeded; retry in {} ms",
                    wait.as_millis().max(1)
                );
                return self.refuse(&to, ErrorCode::RateLimited, &message);
            }
        }
        let Some(format) = format.filter(|format| format.is_supported()) else {
            let message = format!(
                "`{}: {}` names no format this server reads (json{})",
                layout::FORMAT,
                layout::header_text(format_header.unwrap_or_default()),
                if cfg!(feature = "ipc-messagepack") {
                    ", msgpack"
                } else {
                    ""
                }
            );
            return self.refuse(&to, ErrorCode::SerializationError, &message);
        };
        if call.is_none() {
            let message = format!(
                "`{}: {}` is not a call this server knows (reply, stream, send)",
                layout::CALL,
                layout::header_text(call_header.unwrap_or_default())
            );
            return self.refuse(&to, ErrorCode::ProtocolError, &message);
        }
        if payload.len() > self.max_message_size {
            let message = format!(
                "the message has {} bytes, above this server's limit of {}",
                payload.len(),
                self.max_message_size
            );
            return self.refuse(&to, ErrorCode::LimitExceeded, &message);
        }
        // `{prefix}.{service}.` then the type's name (which may hold dots).
        let message_type = subject
            .get(self.config.prefix.len() + service.len() + 2..)
            .unwrap_or_default();
        let Some(target) = self.runtime.ipc_state().exposed(service) else {
            let message = format!("no actor is exposed as `{service}`");
            return self.refuse(&to, ErrorCode::ActorNotFound, &message);
        };
        let registry = &self.path.registry;
        let Some(registration) = registry.by_name(message_type) else {
            let message = format!(
                "no message type is registered as `{}`",
                layout::header_text(message_type)
            );
            return self.refuse(&to, ErrorCode::UnknownMessageType, &message);
        };
        let endpoint = self.endpoints.get(service, &registration.name);
        endpoint.arrived();
        // No payload at all (`nats req subject ""`) is a unit message.
        let body: &[u8] = if payload.is_empty() {
            format.null()
        } else {
            &payload
        };
        let decoded =
            std::panic::catch_unwind(AssertUnwindSafe(|| registration.decode(format, body)));
        let decoded = match decoded {
            Ok(Ok(decoded)) => decoded,
            Ok(Err(error)) => {
                let message = error.to_string();
                endpoint.ended(
                    Duration::ZERO,
                    Some(format!("SERIALIZATION_ERROR: {message}")),
                );
                return self.refuse(&to, ErrorCode::SerializationError, &message);
            }
            Err(_) => {
                let message = format!("decoding `{}` panicked", registration.name);
                endpoint.ended(
                    Duration::ZERO,
                    Some(format!("SERIALIZATION_ERROR: {message}")),
                );
                return self.refuse(&to, ErrorCode::SerializationError, &message);
            }
        };
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            Counters::add(&self.counters.refused_in_flight, 1);
            let message = format!(
                "{} requests are in flight on this server's NATS bridge; retry later",
                self.config.max_in_flight
            );
            return self.refuse(&to, ErrorCode::LimitExceeded, &message);
        };
        let timeout = header(layout::TIMEOUT_MS)
            .and_then(layout::parse_timeout)
            .unwrap_or(self.config.default_timeout)
            .min(self.config.max_request_timeout);
        let arrived = Instant::now();
        let deadline = arrived
            .checked_add(timeout)
            .unwrap_or_else(|| arrived + Duration::from_secs(365 * 24 * 3600));
        let origin_id: Arc<str> = match &to.caller {
            Some(caller) => Arc::from(caller.reply.as_str()),
            None => Arc::from(subject.as_str()),
        };
        let origin = RequestOrigin::new(
            PeerCredentials::default(),
            origin_id,
            Some(deadline.into_std()),
        );
        let (reply_to, replies, ack) = match (to.call, to.caller) {
            (Call::Reply | Call::Stream, Some(caller)) => {
                let replies = Arc::new(NatsReplies::new(
                    caller,
                    Arc::clone(&self.path),
                    Arc::clone(target.parked()),
                    endpoint,
                ));
                let sink = SinkRef::new(Arc::clone(&replies) as Arc<dyn ReplySink>);
                (ReplyTarget::Sink(sink), Some(replies), None)
            }
            (_, caller) => {
                endpoint.ended(arrived.elapsed(), None);
                (ReplyTarget::Discard, None, caller)
            }
        };
        let request = Request {
            replies,
            ack,
            deadline,
            permit,
        };
        let envelope = Envelope::from_peer(decoded, reply_to, origin);
        match target.mailbox().try_send(envelope) {
            Ok(()) => self.accepted(request),
            Err(tokio::sync::mpsc::error::TrySendError::Full(envelope)) => {
                let core = Arc::clone(self);
                let wait = self.config.mailbox_wait.min(timeout);
                let service = service.to_owned();
                self.tasks.spawn(async move {
                    let room = tokio::time::timeout(wait, target.mailbox().clone().reserve_owned());
                    match room.await {
                        Ok(Ok(permit)) => {
                            permit.send(envelope);
                            core.accepted(request);
                        }
                        Ok(Err(_)) => {
                            let message = format!("actor `{service}` has stopped");
                            core.failed(request, ErrorCode::ActorNotFound, &message);
                            drop(envelope);
                        }
                        Err(_) => {
                            let message = busy_message(&service, &target, wait);
                            core.failed(request, ErrorCode::TargetBusy, &message);
                            drop(envelope);
                        }
                    }
                });
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(envelope)) => {
                let message = format!("actor `{service}` has stopped");
                self.failed(request, ErrorCode::ActorNotFound, &message);
                drop(envelope);
            }
        }
    }

    /// The mailbox took the request: a send is acknowledged, a call waits for
    /// its answer until its deadline.
    fn accepted(self: &Arc<Self>, request: Request) {
        let Request {
            replies,
            ack,
            deadline,
            permit,
        } = request;
        if let Some(caller) = ack {
            self.path.publisher.force(caller.answer(None, Bytes::new()));
        }
        let Some(replies) = replies else {
            return;
        };
        if replies.has_ended() {
            return;
        }
        let stream = replies.is_stream().then(|| {
            let subject = replies.reply_subject().to_string();
            self.streams
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(subject.clone(), Arc::downgrade(&replies));
            subject
        });
        let core = Arc::clone(self);
        self.tasks.spawn(async move {
            tokio::select! {
                () = replies.wait_end() => {}
                () = tokio::time::sleep_until(deadline) => {
                    let message = if replies.is_stream() {
                        "the stream did not end within its timeout"
                    } else {
                        "no reply within its timeout"
                    };
                    if replies.fail(ErrorCode::Timeout, message) {
                        Counters::add(&core.counters.timeouts, 1);
                    }
                }
                () = core.cut.cancelled() => {
                    replies.fail(ErrorCode::ShuttingDown, "the server is shutting down");
                }
            }
            if let Some(subject) = stream {
                core.streams
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&subject);
            }
            drop(permit);
        });
    }

    /// A caller gave up on the stream answered on `reply` (if this replica
    /// serves it): it ends without another message, and its handler sees its
    /// reply envelope closed.
    fn on_cancel(&self, reply: &[u8]) {
        let Ok(reply) = std::str::from_utf8(reply) else {
            return;
        };
        let replies = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(reply)
            .and_then(Weak::upgrade);
        if let Some(replies) = replies {
            replies.abandon();
        }
    }

    /// A request that never reached its actor.
    fn failed(&self, request: Request, code: ErrorCode, message: &str) {
        match (request.replies, request.ack) {
            (Some(replies), _) => {
                replies.fail(code, message);
            }
            (None, Some(caller)) => {
                Counters::add(&self.counters.errors, 1);
                self.path
                    .publisher
                    .force(caller.failure(0, code.as_str(), message, None));
            }
            (None, None) => {
                Counters::add(&self.counters.errors, 1);
                tracing::debug!(
                    code = code.as_str(),
                    message,
                    "a NATS message that waits for no answer was not delivered"
                );
            }
        }
    }

    pub(crate) async fn shutdown(&self) {
        self.stopped
            .get_or_init(|| async {
                self.stop.cancel();
                self.tasks.close();
                if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
                    .await
                    .is_err()
                {
                    self.cut.cancel();
                    self.tasks.wait().await;
                }
                drop(
                    self.observer
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take(),
                );
                self.path.publisher.close();
                let _ =
                    tokio::time::timeout(SHUTDOWN_GRACE, self.path.publisher.wait_empty()).await;
                // A connection that is down now would wait for NATS to come back.
                match tokio::time::timeout(SHUTDOWN_GRACE, self.client.flush()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "flushing the NATS connection failed")
                    }
                    Err(_) => tracing::warn!(
                        "the NATS connection is down: what was queued may not have been sent"
                    ),
                }
                tracing::info!(prefix = %self.config.prefix, "stopped serving on NATS");
            })
            .await;
    }

    /// Publishes one message (the service API's answers).
    pub(crate) fn publish(&self, subject: Subject, payload: Bytes) {
        self.path.publisher.force(super::publisher::Outgoing {
            subject,
            headers: HeaderMap::new(),
            payload,
        });
    }
}

/// A request on its way into a mailbox.
struct Request {
    replies: Option<Arc<NatsReplies>>,
    /// A send's caller, acknowledged once the mailbox took the message.
    ack: Option<Caller>,
    deadline: Instant,
    permit: OwnedSemaphorePermit,
}

fn busy_message(service: &str, target: &ActorHandle, waited: Duration) -> String {
    format!(
        "actor `{service}`'s mailbox ({} messages) stayed full for {} ms; the message was not delivered",
        target.mailbox_capacity(),
        waited.as_millis()
    )
}
