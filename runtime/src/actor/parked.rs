//! Handlers that wait for a slow receiver's flow control — a stream whose IPC client
//! reads slowly — are *parked*: while they wait they do not count toward their
//! actor's bound on concurrent handlers, so a client that never reads cannot use up
//! an actor's slots and stall it for everyone else. (How many handlers can park is
//! bounded by the IPC layer: requests in flight per connection × connections.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The parked handlers of one actor.
#[derive(Debug, Default)]
pub(crate) struct ParkedHandlers {
    count: AtomicUsize,
    /// Wakes the actor's loop when a handler parks (it may take a message now).
    parked: Notify,
}

impl ParkedHandlers {
    /// Marks one handler as parked until the returned guard is dropped.
    #[cfg_attr(not(feature = "ipc"), allow(dead_code))]
    pub(crate) fn park(self: &Arc<Self>) -> ParkedGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.parked.notify_one();
        ParkedGuard {
            handlers: Arc::clone(self),
        }
    }

    /// Handlers parked now.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Completes when a handler parks (or has parked since the last call).
    pub(crate) async fn parked(&self) {
        self.parked.notified().await;
    }
}

/// A parked handler; dropping it un-parks.
#[derive(Debug)]
#[cfg_attr(not(feature = "ipc"), allow(dead_code))]
pub(crate) struct ParkedGuard {
    handlers: Arc<ParkedHandlers>,
}

impl Drop for ParkedGuard {
    fn drop(&mut self) {
        self.handlers.count.fetch_sub(1, Ordering::AcqRel);
    }
}
