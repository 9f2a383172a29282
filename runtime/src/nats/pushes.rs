//! Broadcasts of registered types, published on `{prefix}.push.{MessageType}`.
//!
//! Each broadcast is encoded once and queued without waiting: when the outgoing
//! queue is full the push is dropped (counted in `pushes_dropped`), so that a slow
//! NATS connection never slows the broadcaster.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use bytes::Bytes;

use super::layout;
use super::publisher::{Outgoing, Publisher};
use super::stats::Counters;
use crate::broker::BroadcastObserver;
use crate::ipc::registry::{IpcTypeRegistry, Outbound};
use crate::ipc::Format;
use crate::message::ActonMessage;

pub(crate) struct PushPublisher {
    registry: Arc<IpcTypeRegistry>,
    publisher: Arc<Publisher>,
    prefix: String,
    format: Format,
    counters: Arc<Counters>,
    next: AtomicU64,
}

impl PushPublisher {
    pub(crate) fn new(
        registry: Arc<IpcTypeRegistry>,
        publisher: Arc<Publisher>,
        prefix: String,
        format: Format,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            registry,
            publisher,
            prefix,
            format,
            counters,
            next: AtomicU64::new(1),
        }
    }
}

impl BroadcastObserver for PushPublisher {
    fn on_broadcast(&self, message: &dyn ActonMessage) {
        let Some(registration) = self.registry.by_type_id((message as &dyn Any).type_id()) else {
            return;
        };
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            registration.encode(message, self.format, Outbound::Body)
        }));
        let payload = match encoded {
            Ok(Ok(payload)) => payload,
            Ok(Err(error)) => {
                tracing::warn!(%error, message_type = %registration.name, "a broadcast could not be encoded for NATS");
                return;
            }
            Err(_) => {
                tracing::warn!(message_type = %registration.name, "encoding a broadcast for NATS panicked");
                return;
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(layout::FORMAT, layout::format_name(self.format));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        headers.insert(layout::NOTIFICATION_ID, format!("push_{id}"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        headers.insert(layout::TIMESTAMP_MS, now.to_string());
        let outgoing = Outgoing {
            subject: layout::push_subject(&self.prefix, &registration.name).into(),
            headers,
            payload: Bytes::from(payload),
        };
        if self.publisher.is_closed() || self.publisher.offer(outgoing).is_err() {
            Counters::add(&self.counters.pushes_dropped, 1);
        } else {
            Counters::add(&self.counters.pushes_published, 1);
        }
    }
}
