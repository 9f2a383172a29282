//! Live counters of a listener: what it served, and what each of its limits
//! refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Declares the public snapshot and the atomic counters behind it, field by field.
macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $name:ident, )*) => {
        /// A snapshot of a listener's counters (see
        /// [`IpcListenerHandle::stats`](super::IpcListenerHandle::stats)).
        ///
        /// ```
        /// use acton_reactive::ipc::IpcListenerStats;
        ///
        /// let stats = IpcListenerStats::default();
        /// assert_eq!(stats.requests, 0);
        /// assert_eq!(stats.limit_refusals, 0);
        /// ```
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct IpcListenerStats {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub(crate) $name: AtomicU64, )*
            /// The traffic counters of the connections open now. (`requests`,
            /// `bytes_received` and `bytes_sent` above hold those of the
            /// connections that closed.)
            open: Mutex<Vec<Arc<Traffic>>>,
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> IpcListenerStats {
                // Under the lock a closing connection's counts move from its own
                // counters to the totals: each is counted once.
                let open = self.open();
                let mut stats = IpcListenerStats {
                    $( $name: self.$name.load(Ordering::Relaxed), )*
                };
                for traffic in open.iter() {
                    stats.requests += traffic.requests.load(Ordering::Relaxed);
                    stats.bytes_received += traffic.bytes_received.load(Ordering::Relaxed);
                    stats.bytes_sent += traffic.bytes_sent.load(Ordering::Relaxed);
                }
                stats
            }
        }
    };
}

counters! {
    /// Connections accepted and served since the start.
    connections_accepted,
    /// Connections open now.
    connections_active,
    /// Connections refused: at the connection limit, by the peer allow-list, or
    /// by the per-uid quota.
    connections_rejected,
    /// Of those, connections refused because their uid held its quota
    /// (`IpcOptions::max_connections_per_uid`).
    connections_rejected_uid_quota,
    /// REQUEST frames received.
    requests,
    /// ERROR frames (and failed final STREAM frames) sent.
    errors,
    /// Frames refused by a rate limiter (per connection or per uid).
    rate_limited,
    /// Frames that broke the protocol (the connection was closed after each).
    protocol_errors,
    /// Frames refused by a size or uniqueness limit: a `correlation_id` or name
    /// above its length limit, a `correlation_id` already in flight.
    limit_refusals,
    /// SUBSCRIBE and SUBSCRIBE_PATTERNS frames refused (unregistered names, names
    /// too long, too many patterns).
    subscriptions_refused,
    /// Answers that failed with LIMIT_EXCEEDED because the client did not read
    /// and the connection's outbound budget was full.
    answers_over_budget,
    /// Replies that could not be encoded (serde failed, or above the 16 MiB
    /// frame limit); their requests failed with SERIALIZATION_ERROR.
    answers_unencodable,
    /// Connections closed because the peer accepted no bytes for the write
    /// timeout.
    slow_peers_closed,
    /// Connections closed because a frame did not arrive whole within
    /// `IpcOptions::frame_read_timeout` of its first bytes.
    slow_frames_closed,
    /// Requests abandoned because their client went away.
    requests_abandoned,
    /// Requests their client cancelled (CANCEL frames that found their request).
    requests_cancelled,
    /// Request deadlines shortened to `IpcOptions::max_request_timeout`.
    deadlines_capped,
    /// Bytes read from clients.
    bytes_received,
    /// Bytes written to clients.
    bytes_sent,
    /// PUSH frames queued for subscribers.
    pushes_sent,
    /// PUSH frames dropped because a subscriber read too slowly.
    pushes_dropped,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    /// Counters for a new connection's traffic, counted in the listener's until
    /// the returned guard is dropped (then added to its totals).
    pub(crate) fn open_traffic(self: &Arc<Self>) -> TrafficGuard {
        let traffic = Arc::new(Traffic::default());
        self.open().push(Arc::clone(&traffic));
        TrafficGuard {
            counters: Arc::clone(self),
            traffic,
        }
    }

    fn open(&self) -> MutexGuard<'_, Vec<Arc<Traffic>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The counters every request moves — requests, bytes in, bytes out — of one
/// connection, written only by its task.
///
/// Listener-wide atomics written on every request by connections on every core
/// would bounce their cache line between the cores; these stay with their
/// connection's core, and [`Counters::snapshot`] adds them up.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    requests: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Traffic {
    pub(crate) fn request(&self) {
        Self::bump(&self.requests, 1);
    }

    pub(crate) fn received(&self, bytes: usize) {
        Self::bump(&self.bytes_received, bytes as u64);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        Self::bump(&self.bytes_sent, bytes as u64);
    }

    /// Only the connection's task writes: a load and a store, no locked
    /// read-modify-write.
    fn bump(counter: &AtomicU64, amount: u64) {
        let value = counter.load(Ordering::Relaxed).wrapping_add(amount);
        counter.store(value, Ordering::Relaxed);
    }
}

/// A connection's [`Traffic`], counted in its listener's [`Counters`] while it lives.
#[derive(Debug)]
pub(crate) struct TrafficGuard {
    counters: Arc<Counters>,
    traffic: Arc<Traffic>,
}

impl TrafficGuard {
    pub(crate) fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }
}

impl Drop for TrafficGuard {
    fn drop(&mut self) {
        let mut open = self.counters.open();
        if let Some(index) = open.iter().position(|t| Arc::ptr_eq(t, &self.traffic)) {
            open.swap_remove(index);
        }
        let traffic = &self.traffic;
        let counters = &self.counters;
        Counters::add(&counters.requests, traffic.requests.load(Ordering::Relaxed));
        Counters::add(
            &counters.bytes_received,
            traffic.bytes_received.load(Ordering::Relaxed),
        );
        Counters::add(
            &counters.bytes_sent,
            traffic.bytes_sent.load(Ordering::Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_counted_while_open_and_after_close() {
        let counters = Arc::new(Counters::default());
        let first = counters.open_traffic();
        let second = counters.open_traffic();
        first.traffic().request();
        first.traffic().received(10);
        second.traffic().request();
        second.traffic().sent(7);
        let stats = counters.snapshot();
        assert_eq!(
            (stats.requests, stats.bytes_received, stats.bytes_sent),
            (2, 10, 7)
        );
        drop(first);
        let stats = counters.snapshot();
        assert_eq!(
            (stats.requests, stats.bytes_received, stats.bytes_sent),
            (2, 10, 7)
        );
        second.traffic().request();
        drop(second);
        assert_eq!(counters.snapshot().requests, 3);
        assert!(counters.open().is_empty());
    }
}
