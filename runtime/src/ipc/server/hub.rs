//! Subscriptions of connections to broadcast types, and the broker observer that
//! turns broadcasts of registered types into PUSH frames.
//!
//! Subscriptions are bounded: a connection may subscribe only to registered type
//! names (so it holds at most as many as the registry has), and to at most
//! `IpcOptions::max_patterns` patterns of at most
//! [`MAX_NAME_LEN`] bytes each.
//!
//! A broadcast is encoded at most once per format, then appended to every
//! subscribed connection's outbox without waiting: a connection that reads too
//! slowly loses the notification (counted in `pushes_dropped`), and the next
//! notification it does get carries `dropped: N`, so the subscriber can tell. A
//! slow subscriber never slows the broadcaster or grows memory.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::outbox::{Lane, Outbox};
use super::stats::Counters;
use crate::broker::BroadcastObserver;
use crate::ipc::protocol::{pattern_matches, MAX_NAME_LEN};
use crate::ipc::registry::{IpcTypeRegistry, Outbound, Registration};
use crate::ipc::serving::intake::shown;
use crate::ipc::Format;
use crate::message::ActonMessage;

/// Identifies a connection within its listener.
pub(crate) type ConnectionId = u64;

struct Subscriber {
    outbox: Arc<Outbox>,
    format: Format,
    types: BTreeSet<String>,
    patterns: BTreeSet<String>,
    /// Notifications dropped since the last one delivered.
    dropped: AtomicU64,
}

impl Subscriber {
    fn wants(&self, type_name: &str) -> bool {
        self.types.contains(type_name)
            || self
                .patterns
                .iter()
                .any(|pattern| pattern_matches(pattern, type_name))
    }

    fn is_empty(&self) -> bool {
        self.types.is_empty() && self.patterns.is_empty()
    }
}

/// Why a subscription was refused; the connection's subscriptions are unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Names that no type is registered under (at most a few, shortened).
    UnknownTypes(Vec<String>),
    /// A name or pattern longer than [`MAX_NAME_LEN`].
    TooLong,
    /// More patterns than the connection may hold.
    TooManyPatterns { limit: usize },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownTypes(names) => write!(
                f,
                "no message type is registered as {}",
                names
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::TooLong => write!(f, "names and patterns are limited to {MAX_NAME_LEN} bytes"),
            Self::TooManyPatterns { limit } => write!(f, "at most {limit} patterns per connection"),
        }
    }
}

pub(crate) struct SubscriptionHub {
    registry: Arc<IpcTypeRegistry>,
    counters: Arc<Counters>,
    subscribers: RwLock<HashMap<ConnectionId, Subscriber>>,
    next_notification: AtomicU64,
}

/// The connection's subscriber, created on its first subscription; it takes the
/// format of the latest request.
fn subscriber_entry<'a>(
    subscribers: &'a mut HashMap<ConnectionId, Subscriber>,
    connection: ConnectionId,
    outbox: &Arc<Outbox>,
    format: Format,
) -> &'a mut Subscriber {
    let subscriber = subscribers.entry(connection).or_insert_with(|| Subscriber {
        outbox: Arc::clone(outbox),
        format,
        types: BTreeSet::new(),
        patterns: BTreeSet::new(),
        dropped: AtomicU64::new(0),
    });
    subscriber.format = format;
    subscriber
}

impl SubscriptionHub {
    pub(crate) fn new(registry: Arc<IpcTypeRegistry>, counters: Arc<Counters>) -> Self {
        Self {
            registry,
            counters,
            subscribers: RwLock::new(HashMap::new()),
            next_notification: AtomicU64::new(1),
        }
    }

    /// Adds registered types; returns every type the connection is now subscribed
    /// to, or why nothing was added.
    pub(crate) fn subscribe(
        &self,
        connection: ConnectionId,
        outbox: &Arc<Outbox>,
        format: Format,
        types: Vec<String>,
    ) -> Result<Vec<String>, Refused> {
        if types.iter().any(|name| name.len() > MAX_NAME_LEN) {
            return Err(Refused::TooLong);
        }
        let unknown: Vec<String> = types
            .iter()
            .filter(|name| !self.registry.is_registered(name))
            .take(4)
            .map(|name| shown(name))
            .collect();
        if !unknown.is_empty() {
            return Err(Refused::UnknownTypes(unknown));
        }
        let mut subscribers = self.write();
        if types.is_empty() {
            return Ok(subscribers
                .get(&connection)
                .map(|s| s.types.iter().cloned().collect())
                .unwrap_or_default());
        }
        let subscriber = subscriber_entry(&mut subscribers, connection, outbox, format);
        subscriber.types.extend(types);
        Ok(subscriber.types.iter().cloned().collect())
    }

    /// Adds patterns, up to `limit` per connection; returns the patterns held, or
    /// why nothing was added.
    pub(crate) fn subscribe_patterns(
        &self,
        connection: ConnectionId,
        outbox: &Arc<Outbox>,
        format: Format,
        patterns: Vec<String>,
        limit: usize,
    ) -> Result<Vec<String>, Refused> {
        if patterns.iter().any(|pattern| pattern.len() > MAX_NAME_LEN) {
            return Err(Refused::TooLong);
        }
        let mut subscribers = self.write();
        let held = subscribers.get(&connection).map(|s| &s.patterns);
        let added = patterns
            .iter()
            .filter(|p| !held.is_some_and(|held| held.contains(*p)))
            .collect::<BTreeSet<_>>()
            .len();
        if held.map_or(0, BTreeSet::len) + added > limit {
            return Err(Refused::TooManyPatterns { limit });
        }
        if patterns.is_empty() {
            return Ok(held
                .map(|h| h.iter().cloned().collect())
                .unwrap_or_default());
        }
        let subscriber = subscriber_entry(&mut subscribers, connection, outbox, format);
        subscriber.patterns.extend(patterns);
        Ok(subscriber.patterns.iter().cloned().collect())
    }

    /// Removes types (all of them for an empty list); returns what remains.
    pub(crate) fn unsubscribe(&self, connection: ConnectionId, types: &[String]) -> Vec<String> {
        self.remove_names(connection, types, |s| &mut s.types)
    }

    /// Removes patterns (all of them for an empty list); returns what remains.
    pub(crate) fn unsubscribe_patterns(
        &self,
        connection: ConnectionId,
        patterns: &[String],
    ) -> Vec<String> {
        self.remove_names(connection, patterns, |s| &mut s.patterns)
    }

    /// Removes names from one set (all of them for an empty list); returns what
    /// remains of it. A connection left with no subscriptions is forgotten.
    fn remove_names(
        &self,
        connection: ConnectionId,
        names: &[String],
        set_of: impl Fn(&mut Subscriber) -> &mut BTreeSet<String>,
    ) -> Vec<String> {
        let mut subscribers = self.write();
        let Some(subscriber) = subscribers.get_mut(&connection) else {
            return Vec::new();
        };
        let set = set_of(subscriber);
        if names.is_empty() {
            set.clear();
        } else {
            for name in names {
                set.remove(name);
            }
        }
        let remaining = set.iter().cloned().collect();
        if subscriber.is_empty() {
            subscribers.remove(&connection);
        }
        remaining
    }

    /// Whether the connection holds at least one subscription.
    pub(crate) fn has_subscriptions(&self, connection: ConnectionId) -> bool {
        self.read().contains_key(&connection)
    }

    /// Forgets every subscription of the connection.
    pub(crate) fn remove(&self, connection: ConnectionId) {
        self.write().remove(&connection);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ConnectionId, Subscriber>> {
        self.subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ConnectionId, Subscriber>> {
        self.subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One broadcast being sent: its fields, and its frames encoded so far.
struct Broadcast<'a> {
    message: &'a dyn ActonMessage,
    registration: &'a Registration,
    notification_id: String,
    timestamp_ms: u64,
    /// The shared frame per format (for subscribers that missed nothing).
    encoded: [Option<Vec<u8>>; 2],
}

impl Broadcast<'_> {
    /// Encodes the notification; a panic in the type's `Serialize` is an error.
    fn encode(&self, format: Format, dropped: u64) -> Option<Vec<u8>> {
        let shape = Outbound::Push {
            notification_id: &self.notification_id,
            message_type: &self.registration.name,
            source_actor: None,
            timestamp_ms: self.timestamp_ms,
            dropped,
        };
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.registration.encode(self.message, format, shape)
        }));
        match encoded {
            Ok(Ok(frame)) => Some(frame),
            Ok(Err(error)) => {
                tracing::warn!(%error, message_type = self.registration.name, "could not encode a broadcast for IPC subscribers");
                None
            }
            Err(_) => {
                tracing::error!(
                    message_type = self.registration.name,
                    "encoding a broadcast panicked"
                );
                None
            }
        }
    }

    /// The frame for a subscriber in `format` that missed `dropped` notifications.
    fn frame_for(&mut self, format: Format, dropped: u64) -> Option<std::borrow::Cow<'_, [u8]>> {
        if dropped > 0 {
            return self.encode(format, dropped).map(std::borrow::Cow::Owned);
        }
        let slot = match format {
            Format::Json => 0,
            Format::MessagePack => 1,
        };
        if self.encoded[slot].is_none() {
            self.encoded[slot] = Some(self.encode(format, 0)?);
        }
        self.encoded[slot]
            .as_deref()
            .map(std::borrow::Cow::Borrowed)
    }
}

impl BroadcastObserver for SubscriptionHub {
    fn on_broadcast(&self, message: &dyn ActonMessage) {
        let subscribers = self.read();
        if subscribers.is_empty() {
            return;
        }
        let Some(registration) = self.registry.by_type_id((message as &dyn Any).type_id()) else {
            return;
        };
        let mut broadcast = Broadcast {
            message,
            registration: &registration,
            notification_id: format!(
                "push_{}",
                self.next_notification.fetch_add(1, Ordering::Relaxed)
            ),
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            encoded: [None, None],
        };
        for subscriber in subscribers.values().filter(|s| s.wants(&registration.name)) {
            let dropped = subscriber.dropped.load(Ordering::Relaxed);
            let Some(frame) = broadcast.frame_for(subscriber.format, dropped) else {
                continue;
            };
            if subscriber.outbox.offer(Lane::Flow, &frame) {
                if dropped > 0 {
                    subscriber.dropped.fetch_sub(dropped, Ordering::Relaxed);
                }
                Counters::add(&self.counters.pushes_sent, 1);
            } else if !subscriber.outbox.is_closed() {
                subscriber.dropped.fetch_add(1, Ordering::Relaxed);
                Counters::add(&self.counters.pushes_dropped, 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    struct Tick(u32);

    fn hub() -> SubscriptionHub {
        let registry = Arc::new(IpcTypeRegistry::new());
        registry.register::<Tick>("Tick");
        SubscriptionHub::new(registry, Arc::default())
    }

    #[test]
    fn only_registered_short_names_are_kept() {
        let hub = hub();
        let outbox = Arc::new(Outbox::new(1024));
        let refused = hub
            .subscribe(1, &outbox, Format::Json, vec!["Tick".into(), "Nope".into()])
            .unwrap_err();
        assert_eq!(refused, Refused::UnknownTypes(vec!["Nope".into()]));
        assert!(!hub.has_subscriptions(1), "nothing added on refusal");
        assert_eq!(
            hub.subscribe(1, &outbox, Format::Json, vec!["x".repeat(MAX_NAME_LEN + 1)]),
            Err(Refused::TooLong)
        );
        assert_eq!(
            hub.subscribe(1, &outbox, Format::Json, vec!["Tick".into(), "Tick".into()]),
            Ok(vec!["Tick".to_owned()])
        );
        assert!(hub.has_subscriptions(1));
        let many: Vec<String> = (0..70_000).map(|i| format!("T{i}")).collect();
        let refused = hub.subscribe(1, &outbox, Format::Json, many).unwrap_err();
        assert!(
            matches!(&refused, Refused::UnknownTypes(names) if names.len() == 4),
            "{refused:?}"
        );
    }

    #[test]
    fn empty_subscriptions_do_not_count() {
        let hub = hub();
        let outbox = Arc::new(Outbox::new(1024));
        assert_eq!(hub.subscribe(1, &outbox, Format::Json, vec![]), Ok(vec![]));
        assert_eq!(
            hub.subscribe_patterns(1, &outbox, Format::Json, vec![], 4),
            Ok(vec![])
        );
        assert!(!hub.has_subscriptions(1));
        let patterns = (0..5).map(|i| format!("p{i}*")).collect();
        assert_eq!(
            hub.subscribe_patterns(1, &outbox, Format::Json, patterns, 4),
            Err(Refused::TooManyPatterns { limit: 4 })
        );
        assert!(!hub.has_subscriptions(1));
    }

    #[test]
    fn a_subscriber_behind_loses_pushes_and_learns_how_many() {
        let hub = hub();
        // Room for one push (flow frames may fill half the budget).
        let outbox = Arc::new(Outbox::new(200));
        hub.subscribe(1, &outbox, Format::Json, vec!["Tick".into()])
            .unwrap();
        for i in 0..5 {
            hub.on_broadcast(&Tick(i));
        }
        assert_eq!(hub.counters.snapshot().pushes_dropped, 4);
        let mut out = bytes::BytesMut::new();
        outbox.take(&mut out, &mut Vec::new());
        outbox.written(out.len());
        assert!(!String::from_utf8_lossy(&out).contains("dropped"));
        hub.on_broadcast(&Tick(9));
        let mut out = bytes::BytesMut::new();
        outbox.take(&mut out, &mut Vec::new());
        let text = String::from_utf8_lossy(&out[7..]).into_owned();
        assert!(text.contains(r#""dropped":4"#), "{text}");
    }
}
