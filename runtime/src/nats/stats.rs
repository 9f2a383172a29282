//! What the bridge counts: its own totals ([`NatsBridgeStats`]) and, per endpoint
//! (service and message type), what NATS's `$SRV.STATS` reports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The bridge's totals since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsBridgeStats {
    /// Requests received (also those refused).
    pub requests: u64,
    /// Requests that ended with an error (refused, failed, timed out).
    pub errors: u64,
    /// Of those, the ones whose deadline passed.
    pub timeouts: u64,
    /// Requests refused because `max_in_flight` were in flight, or their
    /// caller's share of them.
    pub refused_in_flight: u64,
    /// Requests dropped unread because `max_queued_bytes` were waiting.
    pub shed: u64,
    /// Requests dropped because their reply subject is in the bridge's own
    /// namespace, a `$` subject, not a subject a caller can name (wildcards,
    /// empty tokens), or that of a stream in flight.
    pub reply_subjects_refused: u64,
    /// Messages whose headers could not be read.
    pub malformed: u64,
    /// Cancels that named a stream of this replica without its secret.
    pub cancels_refused: u64,
    /// Requests refused by the rate limit.
    pub rate_limited: u64,
    /// Requests waiting for their answer now.
    pub in_flight: usize,
    /// Broadcasts published on push subjects.
    pub pushes_published: u64,
    /// Broadcasts not published because the outgoing queue was full.
    pub pushes_dropped: u64,
    /// Bytes waiting to be handed to the NATS connection.
    pub queued_bytes: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) refused_in_flight: AtomicU64,
    pub(crate) shed: AtomicU64,
    pub(crate) reply_subjects_refused: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) cancels_refused: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) pushes_published: AtomicU64,
    pub(crate) pushes_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, in_flight: usize, queued_bytes: usize) -> NatsBridgeStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NatsBridgeStats {
            requests: read(&self.requests),
            errors: read(&self.errors),
            timeouts: read(&self.timeouts),
            refused_in_flight: read(&self.refused_in_flight),
            shed: read(&self.shed),
            reply_subjects_refused: read(&self.reply_subjects_refused),
            malformed: read(&self.malformed),
            cancels_refused: read(&self.cancels_refused),
            rate_limited: read(&self.rate_limited),
            in_flight,
            pushes_published: read(&self.pushes_published),
            pushes_dropped: read(&self.pushes_dropped),
            queued_bytes,
        }
    }
}

/// One endpoint's figures, as `$SRV.STATS` reports them.
#[derive(Debug, Default)]
pub(crate) struct Endpoint {
    requests: AtomicU64,
    errors: AtomicU64,
    processing_ns: AtomicU64,
    last_error: Mutex<String>,
}

/// A copy of an endpoint's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndpointFigures {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) processing_ns: u64,
    pub(crate) last_error: String,
}

impl Endpoint {
    pub(crate) fn arrived(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A request ended after `took`, with `error` (`CODE: message`) if it failed.
    pub(crate) fn ended(&self, took: Duration, error: Option<String>) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.processing_ns.fetch_add(nanos, Ordering::Relaxed);
        if let Some(error) = error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = error;
        }
    }

    pub(crate) fn figures(&self) -> EndpointFigures {
        EndpointFigures {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            processing_ns: self.processing_ns.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// Endpoints by service, then message type. Only served services and registered
/// types get one, so the table is bounded by what the program declares, not by
/// the subjects callers make up. A lookup of a known endpoint allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Endpoints {
    table: Mutex<HashMap<String, HashMap<String, Arc<Endpoint>>>>,
}

impl Endpoints {
    pub(crate) fn get(&self, service: &str, message_type: &str) -> Arc<Endpoint> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(endpoint) = table.get(service).and_then(|types| types.get(message_type)) {
            return Arc::clone(endpoint);
        }
        let endpoint = Arc::new(Endpoint::default());
        table
            .entry(service.to_owned())
            .or_default()
            .insert(message_type.to_owned(), Arc::clone(&endpoint));
        endpoint
    }

    pub(crate) fn figures(&self, service: &str, message_type: &str) -> EndpointFigures {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .and_then(|types| types.get(message_type))
            .map(|endpoint| endpoint.figures())
            .unwrap_or_default()
    }
}
