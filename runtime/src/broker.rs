//! The broker: publish/subscribe between actors, by message type.
//!
//! Actors subscribe with [`ActorHandle::subscribe`]; [`Broker::broadcast`] delivers a
//! clone of the message to every subscriber of its type, in subscription order.
//! Observers ([`BroadcastObserver`]) see every broadcast too; the IPC layer uses one
//! to turn broadcasts of registered types into PUSH frames.
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! #[acton_message]
//! struct PriceChanged(f64);
//!
//! #[acton_message]
//! struct Last;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let mut runtime = ActonApp::launch();
//! let mut watcher = runtime.new_actor::<f64>();
//! watcher
//!     .mutate_on::<PriceChanged>(|actor, ctx| {
//!         actor.model = ctx.message().0;
//!         Reply::ready()
//!     })
//!     .act_on::<Last>(|actor, ctx| {
//!         let last = actor.model;
//!         let reply = ctx.reply_envelope();
//!         Reply::pending(async move { reply.send(last).await })
//!     });
//! let watcher = watcher.start().await;
//! watcher.subscribe::<PriceChanged>().await;
//! let delivered = runtime.broker().broadcast(PriceChanged(12.5)).await;
//! assert_eq!(delivered, 1);
//! assert_eq!(watcher.ask::<f64>(Last).await?, 12.5);
//! runtime.shutdown_all().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::actor::{ActorHandle, ActorId};
use crate::message::ActonMessage;

/// Sees every broadcast, synchronously, before it reaches the subscribers.
///
/// Implementations must not block: copy what they need and hand the work off.
pub trait BroadcastObserver: Send + Sync + 'static {
    /// Called once per broadcast.
    fn on_broadcast(&self, message: &dyn ActonMessage);
}

/// Removes its observer from the broker when dropped.
#[must_use = "the observer is removed when this guard is dropped"]
pub struct ObserverGuard {
    broker: Broker,
    id: u64,
}

impl Drop for ObserverGuard {
    fn drop(&mut self) {
        let mut observers = write(&self.broker.inner.observers);
        observers.retain(|(id, _)| *id != self.id);
    }
}

impl fmt::Debug for ObserverGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserverGuard")
            .field("id", &self.id)
            .finish()
    }
}

/// A handle to the runtime's broker. Cloning is cheap.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_message]
/// struct PriceChanged { price: f64 }
///
/// # async fn demo() {
/// let mut runtime = ActonApp::launch();
/// let mut display = runtime.new_actor::<Vec<f64>>();
/// display.mutate_on::<PriceChanged>(|actor, ctx| {
///     actor.model.push(ctx.message().price);
///     Reply::ready()
/// });
/// display.handle().subscribe::<PriceChanged>().await;
/// display.start().await;
///
/// let reached = runtime.broker().broadcast(PriceChanged { price: 9.5 }).await;
/// assert_eq!(reached, 1);
/// # runtime.shutdown_all().await.unwrap();
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo());
/// ```
#[derive(Clone, Default)]
pub struct Broker {
    inner: Arc<BrokerInner>,
}

#[derive(Default)]
struct BrokerInner {
    /// Copy-on-write lists, so that a broadcast holds the lock only to clone an `Arc`.
    subscriptions: RwLock<HashMap<TypeId, Arc<[ActorHandle]>>>,
    observers: RwLock<Vec<(u64, Arc<dyn BroadcastObserver>)>>,
    next_observer: std::sync::atomic::AtomicU64,
}

impl Broker {
    /// Delivers a clone of `message` to every actor subscribed to `M`, waiting where
    /// a subscriber's mailbox is full, and returns how many it reached.
    ///
    /// Subscribers that have stopped are skipped (and forgotten).
    pub async fn broadcast<M: ActonMessage + Clone>(&self, message: M) -> usize {
        let observers: Vec<Arc<dyn BroadcastObserver>> = read(&self.inner.observers)
            .iter()
            .map(|(_, observer)| Arc::clone(observer))
            .collect();
        for observer in &observers {
            observer.on_broadcast(&message);
        }

        let subscribers = read(&self.inner.subscriptions)
            .get(&TypeId::of::<M>())
            .cloned();
        let Some(subscribers) = subscribers else {
            return 0;
        };
        let mut reached = 0;
        for subscriber in subscribers.iter() {
            match subscriber.deliver(message.clone()).await {
                Ok(()) => reached += 1,
                Err(_) => self.unsubscribe(TypeId::of::<M>(), subscriber.id()),
            }
        }
        reached
    }

    /// How many actors are subscribed to `M`.
    pub fn subscriber_count<M: Any>(&self) -> usize {
        read(&self.inner.subscriptions)
            .get(&TypeId::of::<M>())
            .map_or(0, |subscribers| subscribers.len())
    }

    /// Lets `observer` see every broadcast until the returned guard is dropped.
    pub fn observe(&self, observer: Arc<dyn BroadcastObserver>) -> ObserverGuard {
        let id = self
            .inner
            .next_observer
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        write(&self.inner.observers).push((id, observer));
        ObserverGuard {
            broker: self.clone(),
            id,
        }
    }

    pub(crate) fn subscribe(&self, type_id: TypeId, handle: &ActorHandle) {
        let mut subscriptions = write(&self.inner.subscriptions);
        let entry = subscriptions
            .entry(type_id)
            .or_insert_with(|| Arc::from([]));
        if entry.iter().any(|existing| existing.id() == handle.id()) {
            return;
        }
        *entry = entry.iter().cloned().chain([handle.clone()]).collect();
    }

    pub(crate) fn unsubscribe(&self, type_id: TypeId, actor: ActorId) {
        let mut subscriptions = write(&self.inner.subscriptions);
        if let Some(entry) = subscriptions.get_mut(&type_id) {
            *entry = entry.iter().filter(|h| h.id() != actor).cloned().collect();
            if entry.is_empty() {
                subscriptions.remove(&type_id);
            }
        }
    }

    /// Forgets every subscription of a stopped actor (this also breaks the reference
    /// cycle broker → handle → broker).
    pub(crate) fn unsubscribe_all(&self, actor: ActorId) {
        let mut subscriptions = write(&self.inner.subscriptions);
        for entry in subscriptions.values_mut() {
            if entry.iter().any(|h| h.id() == actor) {
                *entry = entry.iter().filter(|h| h.id() != actor).cloned().collect();
            }
        }
        subscriptions.retain(|_, entry| !entry.is_empty());
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("message_types", &read(&self.inner.subscriptions).len())
            .field("observers", &read(&self.inner.observers).len())
            .finish()
    }
}

// The locks guard plain data that no code path leaves half-updated, so a poisoned
// lock (a panic elsewhere while holding it) still holds consistent data.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
