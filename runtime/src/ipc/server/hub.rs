//! Subscriptions of connections to broadcast types, and the broker observer that
//! turns broadcasts of registered types into PUSH frames.
//!
//! A broadcast is encoded at most once per format, then queued on every subscribed
//! connection without waiting: a connection whose outbound queue is full loses the
//! notification (counted in `pushes_dropped`), so a slow subscriber never slows the
//! broadcaster or grows memory.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::connection::ConnectionId;
use super::stats::Counters;
use crate::broker::BroadcastObserver;
use crate::ipc::protocol::pattern_matches;
use crate::ipc::registry::{IpcTypeRegistry, Outbound};
use crate::ipc::Format;
use crate::message::ActonMessage;

struct Subscriber {
    queue: mpsc::Sender<Bytes>,
    format: Format,
    types: BTreeSet<String>,
    patterns: BTreeSet<String>,
}

/// One of a subscriber's two sets of names.
#[derive(Clone, Copy)]
enum Names {
    Types,
    Patterns,
}

impl Subscriber {
    fn names(&mut self, which: Names) -> &mut BTreeSet<String> {
        match which {
            Names::Types => &mut self.types,
            Names::Patterns => &mut self.patterns,
        }
    }

    fn wants(&self, type_name: &str) -> bool {
        self.types.contains(type_name)
            || self
                .patterns
                .iter()
                .any(|pattern| pattern_matches(pattern, type_name))
    }
}

/// The connection's subscriber, created empty on its first subscription.
fn entry<'a>(
    subscribers: &'a mut HashMap<ConnectionId, Subscriber>,
    connection: ConnectionId,
    queue: &mpsc::Sender<Bytes>,
    format: Format,
) -> &'a mut Subscriber {
    subscribers.entry(connection).or_insert_with(|| Subscriber {
        queue: queue.clone(),
        format,
        types: BTreeSet::new(),
        patterns: BTreeSet::new(),
    })
}

pub(crate) struct SubscriptionHub {
    registry: Arc<IpcTypeRegistry>,
    counters: Arc<Counters>,
    subscribers: RwLock<HashMap<ConnectionId, Subscriber>>,
    next_notification: AtomicU64,
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

    /// Adds types; returns every type the connection is now subscribed to.
    pub(crate) fn subscribe(
        &self,
        connection: ConnectionId,
        queue: &mpsc::Sender<Bytes>,
        format: Format,
        types: Vec<String>,
    ) -> Vec<String> {
        let mut subscribers = self.write();
        let subscriber = entry(&mut subscribers, connection, queue, format);
        subscriber.format = format;
        subscriber.types.extend(types);
        subscriber.types.iter().cloned().collect()
    }

    /// Removes types (all of them for an empty list); returns what remains.
    pub(crate) fn unsubscribe(&self, connection: ConnectionId, types: &[String]) -> Vec<String> {
        self.remove_names(connection, Names::Types, types)
    }

    /// Adds patterns, up to `limit` per connection; returns the patterns held, or
    /// `Err` with them unchanged when the limit would be passed.
    pub(crate) fn subscribe_patterns(
        &self,
        connection: ConnectionId,
        queue: &mpsc::Sender<Bytes>,
        format: Format,
        patterns: Vec<String>,
        limit: usize,
    ) -> Result<Vec<String>, Vec<String>> {
        let mut subscribers = self.write();
        let subscriber = entry(&mut subscribers, connection, queue, format);
        let added = patterns
            .iter()
            .filter(|p| !subscriber.patterns.contains(*p))
            .collect::<BTreeSet<_>>()
            .len();
        if subscriber.patterns.len() + added > limit {
            return Err(subscriber.patterns.iter().cloned().collect());
        }
        subscriber.format = format;
        subscriber.patterns.extend(patterns);
        Ok(subscriber.patterns.iter().cloned().collect())
    }

    /// Removes patterns (all of them for an empty list); returns what remains.
    pub(crate) fn unsubscribe_patterns(
        &self,
        connection: ConnectionId,
        patterns: &[String],
    ) -> Vec<String> {
        self.remove_names(connection, Names::Patterns, patterns)
    }

    /// Removes names from one set (all of them for an empty list); returns what
    /// remains of it. A connection left with no subscriptions is forgotten.
    fn remove_names(
        &self,
        connection: ConnectionId,
        which: Names,
        names: &[String],
    ) -> Vec<String> {
        let mut subscribers = self.write();
        let Some(subscriber) = subscribers.get_mut(&connection) else {
            return Vec::new();
        };
        let set = subscriber.names(which);
        if names.is_empty() {
            set.clear();
        } else {
            for name in names {
                set.remove(name);
            }
        }
        let remaining = set.iter().cloned().collect();
        if subscriber.types.is_empty() && subscriber.patterns.is_empty() {
            subscribers.remove(&connection);
        }
        remaining
    }

    pub(crate) fn has_subscriptions(&self, connection: ConnectionId) -> bool {
        self.read().contains_key(&connection)
    }

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

impl BroadcastObserver for SubscriptionHub {
    fn on_broadcast(&self, message: &dyn ActonMessage) {
        let subscribers = self.read();
        if subscribers.is_empty() {
            return;
        }
        let Some(registration) = self.registry.by_type_id((message as &dyn Any).type_id()) else {
            return;
        };
        let notification_id = format!(
            "push_{}",
            self.next_notification.fetch_add(1, Ordering::Relaxed)
        );
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let shape = Outbound::Push {
            notification_id: &notification_id,
            message_type: &registration.name,
            source_actor: None,
            timestamp_ms,
        };
        let mut encoded: [Option<Bytes>; 2] = [None, None];
        for subscriber in subscribers.values().filter(|s| s.wants(&registration.name)) {
            let slot = match subscriber.format {
                Format::Json => 0,
                Format::MessagePack => 1,
            };
            let frame = match &encoded[slot] {
                Some(frame) => frame.clone(),
                None => match registration.encode(message, subscriber.format, shape) {
                    Ok(payload) => {
                        let frame = Bytes::from(payload);
                        encoded[slot] = Some(frame.clone());
                        frame
                    }
                    Err(error) => {
                        tracing::warn!(%error, message_type = registration.name, "could not encode a broadcast for IPC subscribers");
                        continue;
                    }
                },
            };
            match subscriber.queue.try_send(frame) {
                Ok(()) => Counters::add(&self.counters.pushes_sent, 1),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    Counters::add(&self.counters.pushes_dropped, 1)
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}
