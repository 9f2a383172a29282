//! The bridge: one queue-group subscription per exposed actor
//! (`{prefix}.{service}.>`), kept in step with `ipc_expose` / `ipc_hide`; each
//! request is checked against the limits, decoded and put in its actor's mailbox
//! with its [`NatsReplies`] to answer through; a deadline per request fails it with
//! TIMEOUT when its answer does not come in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use async_nats::{HeaderMap, Message, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
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
use crate::broker::ObserverGuard;
use crate::ipc::protocol::ErrorCode;
use crate::ipc::serving::admission::{FairShare, Share, ShareLimits, TokenBucket};
use crate::ipc::serving::intake::{self, Delivery, Refusal, Timeout};
use crate::ipc::serving::Transport;
use crate::message::{Envelope, PeerCredentials, ReplySink, ReplyTarget, RequestOrigin, SinkRef};
use crate::runtime::ActorRuntime;

/// How often discovery (`_discover`, `$SRV.*`) is answered at most, all callers
/// together: 50 a second, bursts of 100 (clients ask once per connection).
const DISCOVERY_RATE: crate::ipc::RateLimitConfig = crate::ipc::RateLimitConfig {
    requests_per_second: 50,
    burst_size: 100,
};

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
    /// Discovery's answers, kept while what they describe stays the same.
    answers: micro::Answers,
    /// What subscriptions received and the bridge has yet to serve.
    queue: Arc<IntakeQueue>,
    /// Requests in flight and their payloads' bytes, shared fairly by callers.
    share: FairShare,
    rate: Option<Mutex<TokenBucket>>,
    /// Discovery's own limit, on even without `rate`: its answers are the
    /// bridge's largest, asked for with its smallest requests.
    discovery_rate: Mutex<TokenBucket>,
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
    streams: Mutex<HashMap<String, CancellableStream>>,
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
            share: FairShare::new(config.share_limits()),
            discovery_rate: Mutex::new(TokenBucket::new(DISCOVERY_RATE)),
            answers: micro::Answers::default(),
            queue: Arc::new(IntakeQueue::new(
                config.max_queued_bytes,
                Arc::clone(&counters),
            )),
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
            Arc::clone(&core.queue),
            move |message| answering.on_discover(&message),
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
            Arc::clone(&core.queue),
            move |message| cancelling.on_cancel(&message),
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
                Arc::clone(&core.queue),
                move |message| answering.on_service_discovery(&message),
            ));
        }
        // The server has taken the subscriptions before the bridge says it serves.
        if let Err(error) = super::round_trip(&client, Duration::from_secs(5)).await {
            tracing::warn!(?error, "the NATS server did not confirm the subscriptions");
        }
        core.tasks
            .spawn(follow_exposures(Arc::clone(&core), services));
        self.ipc_state()
            .add_transport(Arc::downgrade(&core) as Weak<dyn Transport>);
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
                Arc::clone(&core.queue),
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
    subscriber: async_nats::Subscriber,
    bridge: Option<CancellationToken>,
    queue: Arc<IntakeQueue>,
    mut on_message: impl FnMut(Message) + Send,
) {
    // A task of its own moves the messages from the NATS connection's buffer
    // (bounded in messages only) into this one (bounded in bytes, with every
    // other subscription's, and shared fairly by callers) as fast as they come,
    // however long serving one takes; what does not fit is shed. Each message
    // travels with its ticket, which gives its bytes back when dropped.
    let (waiting, mut to_serve) = tokio::sync::mpsc::unbounded_channel::<(Message, Share)>();
    let reader = tokio::spawn(take_in(
        subscriber,
        waiting,
        Arc::clone(&queue),
        stop.clone(),
    ));
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            taken = to_serve.recv() => match taken {
                Some((message, ticket)) => {
                    drop(ticket);
                    on_message(message);
                }
                None => break,
            },
        }
    }
    let Ok(mut subscriber) = reader.await else {
        return;
    };
    // What was taken in before the stop is still served (refused, when the
    // bridge stops or the service was withdrawn).
    while let Ok((message, ticket)) = to_serve.try_recv() {
        drop(ticket);
        on_message(message);
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

/// Moves `subscriber`'s messages into `waiting` within `queue`'s budget until
/// `stop` (or the subscription's end); gives the subscriber back.
async fn take_in(
    mut subscriber: async_nats::Subscriber,
    waiting: tokio::sync::mpsc::UnboundedSender<(Message, Share)>,
    queue: Arc<IntakeQueue>,
    stop: CancellationToken,
) -> async_nats::Subscriber {
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            message = subscriber.next() => {
                let Some(message) = message else {
                    break;
                };
                if layout::malformed_subject(message.status, message.description.as_deref()) {
                    // Its reply subject is not the caller's: never answered.
                    queue.count_malformed();
                    continue;
                }
                let Some(ticket) = queue.hold(&message) else {
                    continue;
                };
                if waiting.send((IntakeQueue::own(message), ticket)).is_err() {
                    break;
                }
            }
        }
    }
    subscriber
}

impl Core {
    pub(crate) fn stats(&self) -> NatsBridgeStats {
        self.counters
            .snapshot(self.share.slots_taken(), self.path.publisher.queued())
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

    /// What the discovery answers describe.
    fn served(&self) -> micro::Served<'_> {
        micro::Served {
            runtime: &self.runtime,
            config: &self.config,
            id: &self.id,
            started: self.started,
            endpoints: &self.endpoints,
            answers: &self.answers,
        }
    }

    /// One of acton's discovery requests: charged to the rate limiter like any
    /// request, never answered on a subject the bridge does not answer on, its
    /// answer built once per state of what it describes.
    fn on_discover(&self, message: &Message) {
        let Some(reply) = &message.reply else {
            return;
        };
        if self.may_answer_on(reply) && self.charge_discovery() {
            self.publish(reply.clone(), micro::discovery_answer(&self.served()));
        }
    }

    /// One of NATS's service discovery requests (`$SRV.*`), answered once per
    /// service it asks about, under the same rules as [`on_discover`](Self::on_discover)
    /// (STATS, which changes with every request, is built each time).
    fn on_service_discovery(&self, message: &Message) {
        let Some(reply) = &message.reply else {
            return;
        };
        if self.may_answer_on(reply) && self.charge_discovery() {
            for answer in micro::service_answers(&self.served(), &message.subject) {
                self.publish(reply.clone(), answer);
            }
        }
    }

    /// Refuses a request before it reached its actor.
    fn refuse(&self, to: &Answering, refusal: &Refusal) {
        Counters::add(&self.counters.errors, 1);
        match &to.caller {
            Some(caller) => self.path.publisher.force(caller.failure(
                0,
                refusal.code.as_str(),
                &refusal.message,
                None,
            )),
            None => tracing::debug!(
                code = refusal.code.as_str(),
                message = %refusal.message,
                "a NATS message that waits for no answer was refused"
            ),
        }
    }

    /// Takes a token from the rate limiter (every message the bridge answers,
    /// discovery too, costs one); `false` when it is empty, counted.
    pub(crate) fn charge(&self) -> bool {
        self.rate.as_ref().is_none_or(|rate| self.take_token(rate))
    }

    /// Charges a discovery request: to the rate limit like any request, and to
    /// discovery's own (on even when no rate limit is set).
    fn charge_discovery(&self) -> bool {
        self.charge() && self.take_token(&self.discovery_rate)
    }

    /// A token from `bucket`; `false` when it is empty, counted.
    fn take_token(&self, bucket: &Mutex<TokenBucket>) -> bool {
        let allowed = TokenBucket::try_acquire_shared(bucket).is_ok();
        if !allowed {
            Counters::add(&self.counters.rate_limited, 1);
        }
        allowed
    }

    /// Whether an answer may be published on `reply`: never on a subject of the
    /// bridge's own namespace (requests, pushes, discovery, cancels) nor on a
    /// `$` subject (NATS's service, system and JetStream APIs). A request that
    /// names one is dropped and counted.
    pub(crate) fn may_answer_on(&self, reply: &str) -> bool {
        let allowed = layout::may_answer_on(&self.config.prefix, reply);
        if !allowed {
            Counters::add(&self.counters.reply_subjects_refused, 1);
            tracing::debug!(
                reply = %layout::header_text(reply),
                "dropped a NATS request whose reply subject is one the bridge never answers on"
            );
        }
        allowed
    }

    /// One message on a service's subject: its reply subject checked, its
    /// headers read, then the serving core's walk — admission (rate, the
    /// caller's fair share), lookup, decoding, deadline, mailbox.
    fn on_request(self: &Arc<Self>, service: &str, message: Message) {
        Counters::add(&self.counters.requests, 1);
        let Message {
            subject,
            reply,
            payload,
            headers,
            status,
            description,
            ..
        } = message;
        if let Some(reply) = &reply {
            if !self.may_answer_on(reply) {
                return;
            }
        }
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
        if !self.charge() {
            let message = "rate limit exceeded; retry later";
            return self.refuse(&to, &Refusal::new(ErrorCode::RateLimited, message));
        }
        if let Some(why) = layout::malformed_headers(status, description.as_deref()) {
            Counters::add(&self.counters.malformed, 1);
            let message = format!("the message's headers are malformed ({why})");
            return self.refuse(&to, &Refusal::new(ErrorCode::ProtocolError, message));
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
            return self.refuse(&to, &Refusal::new(ErrorCode::SerializationError, message));
        };
        if call.is_none() {
            let message = format!(
                "`{}: {}` is not a call this server knows (reply, stream, send)",
                layout::CALL,
                layout::header_text(call_header.unwrap_or_default())
            );
            return self.refuse(&to, &Refusal::new(ErrorCode::ProtocolError, message));
        }
        if payload.len() > self.max_message_size {
            let message = format!(
                "the message has {} bytes, above this server's limit of {}",
                payload.len(),
                self.max_message_size
            );
            return self.refuse(&to, &Refusal::new(ErrorCode::LimitExceeded, message));
        }
        // The caller's share before any work for it: a caller over its share
        // costs no lookup and no decoding.
        let share = match self.share.try_take(
            layout::caller_of(to.caller.as_ref().map(|caller| caller.reply.as_str())),
            payload.len(),
        ) {
            Ok(share) => share,
            Err(exhausted) => {
                Counters::add(&self.counters.refused_in_flight, 1);
                let refusal = Refusal::new(ErrorCode::LimitExceeded, exhausted.to_string());
                return self.refuse(&to, &refusal);
            }
        };
        // `{prefix}.{service}.` then the type's name (which may hold dots).
        let message_type = subject
            .get(self.config.prefix.len() + service.len() + 2..)
            .unwrap_or_default();
        let Some(target) = self.runtime.ipc_state().exposed(service) else {
            return self.refuse(&to, &Refusal::not_exposed(service, to.call == Call::Stream));
        };
        let Some(registration) = self.path.registry.by_name(message_type) else {
            return self.refuse(&to, &Refusal::not_registered(message_type));
        };
        let endpoint = self.endpoints.get(service, &registration.name);
        endpoint.arrived();
        // No payload at all (`nats req subject ""`) is a unit message.
        let body: &[u8] = if payload.is_empty() {
            format.null()
        } else {
            &payload
        };
        let decoded = match intake::decode(&registration, format, body) {
            Ok(decoded) => decoded,
            Err(refusal) => {
                let error = format!("{}: {}", refusal.code.as_str(), refusal.message);
                endpoint.ended(Duration::ZERO, Some(error));
                return self.refuse(&to, &refusal);
            }
        };
        drop(payload);
        let cancel_digest = header(layout::CANCEL_DIGEST)
            .filter(|_| to.call == Call::Stream)
            .filter(|digest| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        let requested = header(layout::TIMEOUT_MS)
            .and_then(layout::parse_timeout)
            .unwrap_or(self.config.default_timeout);
        let timeout = Timeout::capped(requested, self.config.max_request_timeout);
        let arrived = Instant::now();
        let deadline = timeout.deadline_from(arrived);
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
        let mut request = Request {
            replies,
            ack,
            deadline,
            share,
            cancel_digest,
        };
        let envelope = Envelope::from_peer(decoded, reply_to, origin);
        let wait = self.config.mailbox_wait.min(timeout.timeout);
        match intake::deliver(&target, service, envelope, wait) {
            Delivery::Delivered => self.accepted(request),
            Delivery::Waiting(wait) => {
                let core = Arc::clone(self);
                self.tasks.spawn(async move {
                    let mut wait = wait;
                    let cut = core.cut.clone();
                    let mut cut = std::pin::pin!(cut.cancelled());
                    let outcome = std::future::poll_fn(|cx| {
                        if std::future::Future::poll(cut.as_mut(), cx).is_ready() {
                            return std::task::Poll::Ready(None);
                        }
                        wait.poll_deliver(cx).map(Some)
                    })
                    .await;
                    let Some(outcome) = outcome else {
                        // The shutdown's grace is over: it never reached its
                        // actor. Its reply path ends before the envelope goes.
                        let refusal =
                            Refusal::new(ErrorCode::ShuttingDown, "the server is shutting down");
                        request.share.release_bytes();
                        core.failed(request, &refusal);
                        drop(wait);
                        return;
                    };
                    match outcome {
                        Ok(()) => core.accepted(request),
                        Err((refusal, envelope)) => {
                            request.share.release_bytes();
                            core.failed(request, &refusal);
                            drop(envelope);
                        }
                    }
                });
            }
            Delivery::Refused(refusal, envelope) => {
                self.failed(request, &refusal);
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
            mut share,
            cancel_digest,
        } = request;
        // The payload is in the mailbox now: its bytes no longer wait here.
        share.release_bytes();
        if let Some(caller) = ack {
            self.path.publisher.force(caller.answer(None, Bytes::new()));
        }
        let Some(replies) = replies else {
            return;
        };
        if replies.has_ended() {
            return;
        }
        let stream = if replies.is_stream() {
            let subject = replies.reply_subject().to_string();
            let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            if streams.contains_key(&subject) {
                // Another stream answers on that subject now: a second one
                // there would mix their items, take over its cancel, or end it
                // with an error of its own. Nothing is published for it.
                drop(streams);
                Counters::add(&self.counters.reply_subjects_refused, 1);
                replies.abandon();
                return;
            }
            let cancellable = CancellableStream {
                replies: Arc::downgrade(&replies),
                digest: cancel_digest,
            };
            streams.insert(subject.clone(), cancellable);
            Some(subject)
        } else {
            None
        };
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
                let mut streams = core.streams.lock().unwrap_or_else(PoisonError::into_inner);
                let ours = streams.get(&subject).is_some_and(|entry| {
                    std::ptr::eq(entry.replies.as_ptr(), Arc::as_ptr(&replies))
                });
                if ours {
                    streams.remove(&subject);
                }
            }
            drop(share);
        });
    }

    /// A caller gave up on the stream answered on the reply subject in
    /// `message`'s payload (if this replica serves it): with the secret whose
    /// digest the stream's request carried, it ends without another message,
    /// and its handler sees its reply envelope closed. Without it — another
    /// caller who saw the request — nothing happens but a count.
    fn on_cancel(&self, message: &Message) {
        let Ok(reply) = std::str::from_utf8(&message.payload) else {
            return;
        };
        // The clients' secrets are 32 hex digits; nothing longer is hashed.
        let secret = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(layout::CANCEL_SECRET))
            .map(async_nats::HeaderValue::as_str)
            .filter(|secret| secret.len() <= layout::MAX_CANCEL_SECRET);
        let Some(digest) = ({
            let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(stream) = streams.get(reply) else {
                return;
            };
            stream.digest.clone()
        }) else {
            Counters::add(&self.counters.cancels_refused, 1);
            return;
        };
        if secret.is_none_or(|secret| layout::cancel_digest(secret) != digest) {
            Counters::add(&self.counters.cancels_refused, 1);
            return;
        }
        let replies = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(reply)
            .filter(|stream| stream.digest.as_deref() == Some(digest.as_str()))
            .and_then(|stream| stream.replies.upgrade());
        if let Some(replies) = replies {
            replies.abandon();
        }
    }

    /// A request that never reached its actor.
    fn failed(&self, request: Request, refusal: &Refusal) {
        match (request.replies, request.ack) {
            (Some(replies), _) => {
                replies.fail(refusal.code, &refusal.message);
            }
            (None, Some(caller)) => {
                Counters::add(&self.counters.errors, 1);
                self.path.publisher.force(caller.failure(
                    0,
                    refusal.code.as_str(),
                    &refusal.message,
                    None,
                ));
            }
            (None, None) => {
                Counters::add(&self.counters.errors, 1);
                tracing::debug!(
                    code = refusal.code.as_str(),
                    message = %refusal.message,
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

/// The bytes of received messages that wait for the bridge to serve them, for
/// all its subscriptions together, within a budget: a message over it is shed
/// (dropped unanswered, counted).
pub(crate) struct IntakeQueue {
    /// Bytes waiting, shared fairly by callers (`layout::caller_of`): no
    /// publisher takes more than a quarter while others wait.
    share: FairShare,
    counters: Arc<Counters>,
}

impl IntakeQueue {
    fn new(budget: usize, counters: Arc<Counters>) -> Self {
        let mut limits = ShareLimits::quarter_each(usize::MAX, budget);
        limits.slots_per_caller = usize::MAX;
        Self {
            share: FairShare::new(limits),
            counters,
        }
    }

    /// What a message costs while it waits: its bytes and its bookkeeping.
    fn cost(message: &Message) -> usize {
        const BOOKKEEPING: usize = 256;
        message.length.max(message.payload.len()) + BOOKKEEPING
    }

    /// `message` with a large payload in an allocation of its own. A received
    /// payload is a slice of the NATS connection's read buffer, and keeps all of
    /// it alive while it waits: a few large messages held could otherwise keep
    /// several times their size.
    fn own(mut message: Message) -> Message {
        const SHARED_UP_TO: usize = 64 * 1024;
        if message.payload.len() > SHARED_UP_TO {
            message.payload = Bytes::copy_from_slice(&message.payload);
        }
        message
    }

    /// Room for `message` in its caller's share of the budget, given back when
    /// the ticket is dropped (served or not); `None`, counted, when there is
    /// none: the message is shed.
    fn hold(&self, message: &Message) -> Option<Share> {
        let caller = layout::caller_of(message.reply.as_deref());
        match self.share.try_take(caller, Self::cost(message)) {
            Ok(ticket) => Some(ticket),
            Err(_) => {
                Counters::add(&self.counters.shed, 1);
                None
            }
        }
    }

    fn count_malformed(&self) {
        Counters::add(&self.counters.malformed, 1);
    }
}

/// A stream in flight, as its caller may cancel it.
struct CancellableStream {
    replies: Weak<NatsReplies>,
    /// The digest of the caller's cancel secret; without one, nobody can cancel
    /// the stream (its handler runs until its end or its deadline).
    digest: Option<String>,
}

impl Transport for Core {
    fn drain(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.shutdown())
    }
}

/// A request on its way into a mailbox.
struct Request {
    replies: Option<Arc<NatsReplies>>,
    /// A send's caller, acknowledged once the mailbox took the message.
    ack: Option<Caller>,
    deadline: Instant,
    /// Its caller's slot (and, until it is delivered, its payload's bytes).
    share: Share,
    /// A stream's `Acton-Cancel-Digest`.
    cancel_digest: Option<String>,
}
