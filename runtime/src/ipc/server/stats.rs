//! Live counters of a listener: what it served, and what each of its limits
//! refused.

use std::sync::atomic::{AtomicU64, Ordering};

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
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> IpcListenerStats {
                IpcListenerStats {
                    $( $name: self.$name.load(Ordering::Relaxed), )*
                }
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
}
