//! What the runtime asks of every transport it serves through.

use std::future::Future;
use std::pin::Pin;

/// A way requests reach the exposed actors: the socket listener, the NATS
/// bridge, or a third one. A transport registers itself with the runtime
/// ([`IpcState::add_transport`](super::IpcState::add_transport)) when it starts;
/// `shutdown_all` then drains it before any actor stops, so that its requests in
/// flight are answered while their actors still run.
///
/// A new transport implements this trait and reads its requests through the
/// rest of [`crate::ipc::serving`]: [`intake`](super::intake) for the way from
/// bytes to a mailbox, [`admission`](super::admission) for its limits.
pub(crate) trait Transport: Send + Sync {
    /// Stops taking requests, lets those in flight finish within the
    /// transport's grace period (failing the rest with SHUTTING_DOWN) and
    /// flushes what it still has to write. Called once or more; every call
    /// waits for the same drain.
    fn drain(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}
