//! The bridge's way out: every message it publishes (answers, stream items,
//! failures, pushes) goes through one queue to one task that hands it to the NATS
//! connection, in order. Handlers never wait on NATS; the queue is bounded in bytes
//! for what may wait (stream items, pushes), while the last message of a request
//! always goes in (there is at most one per request in flight, and requests in
//! flight are bounded).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

/// One message to publish.
pub(crate) struct Outgoing {
    pub(crate) subject: Subject,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
}

impl Outgoing {
    /// What it counts for in the queue's budget.
    pub(crate) fn weight(&self) -> usize {
        // Headers are small; count them roughly so that empty payloads weigh too.
        self.payload.len() + self.subject.len() + 64
    }
}

/// The queue's sending side, shared by every request and the push observer.
pub(crate) struct Publisher {
    sender: mpsc::UnboundedSender<Outgoing>,
    queued: AtomicUsize,
    budget: usize,
    room: Notify,
    closed: AtomicBool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A queue of at most `budget` bytes of waiting messages, and the task that
    /// publishes them on `client`. The task ends once every sender is gone and
    /// the queue is empty.
    pub(crate) fn start(
        client: async_nats::Client,
        budget: usize,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Outgoing>();
        let publisher = Arc::new(Self {
            sender,
            queued: AtomicUsize::new(0),
            budget,
            room: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&publisher);
        let task = tokio::spawn(async move {
            while let Some(outgoing) = receiver.recv().await {
                let weight = outgoing.weight();
                if let Err(error) = client
                    .publish_with_headers(outgoing.subject, outgoing.headers, outgoing.payload)
                    .await
                {
                    tracing::warn!(%error, "a message could not be published on NATS");
                }
                let Some(publisher) = weak.upgrade() else {
                    continue;
                };
                publisher.queued.fetch_sub(weight, Ordering::AcqRel);
                publisher.room.notify_waiters();
            }
            // Bounded: a connection that is down would wait for NATS to come back.
            let flushed = tokio::time::timeout(Duration::from_secs(5), client.flush()).await;
            if let Ok(Err(error)) = flushed {
                tracing::debug!(%error, "flushing the NATS connection failed");
            }
        });
        (publisher, task)
    }

    /// Queues a message whatever the budget (the last message of a request).
    pub(crate) fn force(&self, outgoing: Outgoing) {
        let weight = outgoing.weight();
        self.queued.fetch_add(weight, Ordering::AcqRel);
        if self.sender.send(outgoing).is_err() {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
        }
    }

    /// Queues a message if the budget has room for it; gives it back otherwise.
    pub(crate) fn offer(&self, outgoing: Outgoing) -> Result<(), Outgoing> {
        if !self.has_room(outgoing.weight()) {
            return Err(outgoing);
        }
        self.force(outgoing);
        Ok(())
    }

    /// Whether `need` more bytes fit (an empty queue takes anything).
    pub(crate) fn has_room(&self, need: usize) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        queued == 0 || queued.saturating_add(need) <= self.budget
    }

    /// Completes once `need` bytes fit, or the bridge closed.
    pub(crate) async fn wait_room(&self, need: usize) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room(need) || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Completes once nothing waits to be published.
    pub(crate) async fn wait_empty(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.queued() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Bytes waiting to be published.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Refuses what may wait from now on, and wakes those waiting for room.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.room.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
