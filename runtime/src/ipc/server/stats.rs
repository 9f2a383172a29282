//! Live counters of a listener.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a listener's counters (see [`IpcListenerHandle::stats`](super::IpcListenerHandle::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IpcListenerStats {
    /// Connections accepted and served since the start.
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_active: u64,
    /// Connections refused: at the connection limit, or by the peer allow-list.
    pub connections_rejected: u64,
    /// REQUEST frames received.
    pub requests: u64,
    /// ERROR frames (and failed final STREAM frames) sent.
    pub errors: u64,
    /// Requests refused by the rate limiter.
    pub rate_limited: u64,
    /// Frames that broke the protocol (the connection was closed after each).
    pub protocol_errors: u64,
    /// Bytes read from clients.
    pub bytes_received: u64,
    /// Bytes written to clients.
    pub bytes_sent: u64,
    /// PUSH frames queued for subscribers.
    pub pushes_sent: u64,
    /// PUSH frames dropped because a subscriber's outbound queue was full.
    pub pushes_dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) pushes_sent: AtomicU64,
    pub(crate) pushes_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> IpcListenerStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        IpcListenerStats {
            connections_accepted: get(&self.connections_accepted),
            connections_active: get(&self.connections_active),
            connections_rejected: get(&self.connections_rejected),
            requests: get(&self.requests),
            errors: get(&self.errors),
            rate_limited: get(&self.rate_limited),
            protocol_errors: get(&self.protocol_errors),
            bytes_received: get(&self.bytes_received),
            bytes_sent: get(&self.bytes_sent),
            pushes_sent: get(&self.pushes_sent),
            pushes_dropped: get(&self.pushes_dropped),
        }
    }
}
