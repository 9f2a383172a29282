//! The buffer between a transport's reader and the consumer of one stream or
//! subscription, bounded in items and in bytes, so that a server (or, over NATS,
//! any publisher) sending faster than the consumer reads cannot make the client
//! hold more than the caller allowed ([`ClientOptions`](super::ClientOptions)'s
//! `stream_buffer(_bytes)` and `subscription_buffer(_bytes)`). The transport
//! decides what happens when it is full: wait (a socket stream), drop the newest
//! push and count it (subscriptions), or fail the stream (a NATS stream).

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// An item in a buffer, holding its share of the buffer's bytes until the
/// consumer drops it.
pub(crate) struct Queued<T> {
    pub(crate) item: T,
    _bytes: OwnedSemaphorePermit,
}

/// The sending side of a buffer bounded in items (the channel) and in bytes (the
/// semaphore's permits). An item takes permits for its size, at most the whole
/// budget: one larger item passes when nothing else waits.
pub(crate) struct Buffer<T> {
    queue: mpsc::Sender<Queued<T>>,
    bytes: Arc<Semaphore>,
    budget: u32,
}

impl<T> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            bytes: Arc::clone(&self.bytes),
            budget: self.budget,
        }
    }
}

impl<T> Buffer<T> {
    /// A buffer of at most `items` items and `bytes` bytes (each at least one),
    /// and the consumer's end.
    pub(crate) fn new(items: usize, bytes: usize) -> (Self, mpsc::Receiver<Queued<T>>) {
        let (queue, receiver) = mpsc::channel(items.max(1));
        let budget = u32::try_from(bytes.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        let buffer = Self {
            queue,
            bytes: Arc::new(Semaphore::new(budget as usize)),
            budget,
        };
        (buffer, receiver)
    }

    fn share(&self, size: usize) -> u32 {
        u32::try_from(size).unwrap_or(u32::MAX).min(self.budget)
    }

    /// Waits for room (items and bytes), then buffers `item` of `size` bytes.
    pub(crate) async fn send(&self, item: T, size: usize) {
        let Ok(bytes) = Arc::clone(&self.bytes)
            .acquire_many_owned(self.share(size))
            .await
        else {
            return;
        };
        let _ = self
            .queue
            .send(Queued {
                item,
                _bytes: bytes,
            })
            .await;
    }

    /// Buffers `item` of `size` bytes if there is room now; whether there was.
    pub(crate) fn try_send(&self, item: T, size: usize) -> bool {
        let Ok(bytes) = Arc::clone(&self.bytes).try_acquire_many_owned(self.share(size)) else {
            return false;
        };
        self.queue
            .try_send(Queued {
                item,
                _bytes: bytes,
            })
            .is_ok()
    }

    /// Completes when the consumer has gone (dropped its end): the NATS
    /// transport's pumps stop then.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) async fn closed(&self) {
        self.queue.closed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_items_and_bytes_with_one_large_item_alone() {
        let (buffer, mut receiver) = Buffer::<u32>::new(3, 100);
        assert!(buffer.try_send(1, 60));
        assert!(!buffer.try_send(2, 60), "160 bytes > 100");
        assert!(buffer.try_send(3, 40));
        assert!(
            !buffer.try_send(4, 1),
            "100 bytes held: the budget is spent"
        );
        let first = receiver.try_recv().unwrap();
        assert_eq!(first.item, 1);
        assert!(
            !buffer.try_send(5, 1),
            "still held while the consumer keeps it"
        );
        drop(first);
        assert!(buffer.try_send(6, 1));
        assert!(buffer.try_send(7, 1));
        assert!(!buffer.try_send(8, 1), "three items");
        for _ in 0..3 {
            drop(receiver.try_recv().unwrap());
        }
        // Nothing waits: one item larger than the budget passes, then nothing.
        assert!(buffer.try_send(9, 1_000));
        assert!(!buffer.try_send(10, 1));
    }

    #[tokio::test]
    async fn closed_completes_when_the_consumer_goes() {
        let (buffer, receiver) = Buffer::<u32>::new(1, 1);
        drop(receiver);
        tokio::time::timeout(std::time::Duration::from_secs(1), buffer.closed())
            .await
            .unwrap();
    }
}
