//! Listener settings: [`IpcConfig`] (the four settings of the IPC Setup guide) and
//! [`IpcOptions`] (everything else, with safe defaults).
//!
//! ```
//! use acton_reactive::ipc::{IpcConfig, IpcOptions, RateLimitConfig};
//! use std::time::Duration;
//!
//! let config = IpcConfig {
//!     socket_path: "/run/user/1000/app.sock".into(),
//!     rate_limit: Some(RateLimitConfig { requests_per_second: 500, burst_size: 50 }),
//!     ..IpcConfig::default()
//! };
//! let options = IpcOptions::default()
//!     .max_outbound_bytes(1024 * 1024)
//!     .max_connections_per_uid(8)
//!     .max_request_timeout(Duration::from_secs(300));
//! assert_eq!(config.max_connections, 100);
//! assert_eq!(options.socket_mode_bits(), 0o600);
//! ```

use std::path::PathBuf;
use std::time::Duration;

use super::protocol::DEFAULT_MAX_FRAME_SIZE;

/// Where the listener listens and its main limits.
///
/// ```
/// use acton_reactive::common::ipc::{IpcConfig, RateLimitConfig};
/// use std::path::PathBuf;
/// use std::time::Duration;
///
/// let config = IpcConfig {
///     socket_path: PathBuf::from("/var/run/myapp/acton.sock"),
///     max_connections: 100,
///     connection_timeout: Duration::from_secs(60),
///     rate_limit: Some(RateLimitConfig { requests_per_second: 1000, burst_size: 50 }),
/// };
/// let defaults = IpcConfig::default();
/// assert_eq!(defaults.socket_path, PathBuf::from("/tmp/acton.sock"));
/// assert_eq!(defaults.max_connections, 100);
/// assert_eq!(defaults.connection_timeout, Duration::from_secs(30));
/// assert!(defaults.rate_limit.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcConfig {
    /// The socket file (default `/tmp/acton.sock`).
    pub socket_path: PathBuf,
    /// Connections served at once (default 100). One more is answered with a
    /// CONNECTION_LIMIT_REACHED frame and closed.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (default 30 s) —
    /// unless it holds subscriptions or an open stream, which keep it alive.
    pub connection_timeout: Duration,
    /// Per-connection token bucket (default: none).
    pub rate_limit: Option<RateLimitConfig>,
}

impl Default for IpcConfig {
    fn default() -> Self {
        Self {
            socket_path: PathBuf::from("/tmp/acton.sock"),
            max_connections: 100,
            connection_timeout: Duration::from_secs(30),
            rate_limit: None,
        }
    }
}

/// A token bucket per connection: `burst_size` requests at once, refilled at
/// `requests_per_second`. A request finding the bucket empty is answered with
/// RATE_LIMITED and the time to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Sustained rate.
    pub requests_per_second: u32,
    /// Bucket capacity.
    pub burst_size: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 100,
            burst_size: 50,
        }
    }
}

/// The listener's further settings, beyond [`IpcConfig`]. Every default is safe.
///
/// ```
/// use acton_reactive::common::ipc::IpcOptions;
/// use std::time::Duration;
///
/// let options = IpcOptions::default()
///     .max_frame_size(4 * 1024 * 1024)
///     .socket_mode(0o660)
///     .allow_peer_uids([1000])
///     .drain_timeout(Duration::from_secs(2));
/// assert_eq!(options.socket_mode_bits(), 0o660);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcOptions {
    pub(crate) max_frame_size: usize,
    pub(crate) socket_mode: u32,
    pub(crate) allowed_uids: Option<Vec<u32>>,
    pub(crate) max_connections_per_uid: Option<usize>,
    pub(crate) rate_limit_per_uid: Option<RateLimitConfig>,
    pub(crate) max_outbound_bytes: usize,
    pub(crate) max_request_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) max_patterns: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) frame_read_timeout: Duration,
    pub(crate) mailbox_wait: Duration,
}

impl Default for IpcOptions {
    fn default() -> Self {
        Self {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            socket_mode: 0o600,
            allowed_uids: None,
            max_connections_per_uid: None,
            rate_limit_per_uid: None,
            max_outbound_bytes: 4 * 1024 * 1024,
            max_request_timeout: Duration::from_secs(3600),
            max_in_flight: 1024,
            drain_timeout: Duration::from_secs(5),
            max_patterns: 128,
            write_timeout: Duration::from_secs(30),
            frame_read_timeout: Duration::from_secs(10),
            mailbox_wait: Duration::from_secs(5),
        }
    }
}

impl IpcOptions {
    /// Largest accepted frame payload (default 1 MiB; capped at 16 MiB). A larger
    /// announced length is refused before any of it is read, and the connection
    /// closed.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes.min(super::protocol::MAX_FRAME_SIZE_HARD_LIMIT);
        self
    }

    /// Permission bits of the socket file (default `0o600`: the owner only).
    #[must_use]
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode & 0o777;
        self
    }

    /// Only peers whose user id is listed may connect; others get ACCESS_DENIED.
    /// Default: any peer that can open the socket file.
    #[must_use]
    pub fn allow_peer_uids(mut self, uids: impl IntoIterator<Item = u32>) -> Self {
        self.allowed_uids = Some(uids.into_iter().collect());
        self
    }

    /// Connections one user id may hold at once (default: no quota beyond
    /// `max_connections`). One more is refused like a connection above the limit
    /// (CONNECTION_LIMIT_REACHED), so that one user cannot take every slot of a
    /// socket others may open too (`socket_mode` `0o660` or looser).
    #[must_use]
    pub fn max_connections_per_uid(mut self, connections: usize) -> Self {
        self.max_connections_per_uid = Some(connections.max(1));
        self
    }

    /// A token bucket shared by every connection of one user id (default: none),
    /// on top of the per-connection [`IpcConfig::rate_limit`]: opening more
    /// connections does not buy more rate. Like the per-connection bucket, it is
    /// charged for every frame a client sends.
    #[must_use]
    pub fn rate_limit_per_uid(mut self, limit: RateLimitConfig) -> Self {
        self.rate_limit_per_uid = Some(limit);
        self
    }

    /// Bytes of answers one connection may have waiting to be written (default
    /// 4 MiB; at least 64 KiB). Handlers never wait on a client's socket: a stream
    /// item or push waits (stream) or is dropped (push) once half of this is
    /// unread; an answer that does not fit fails with LIMIT_EXCEEDED. A single
    /// frame always passes when nothing else is waiting.
    #[must_use]
    pub fn max_outbound_bytes(mut self, bytes: usize) -> Self {
        self.max_outbound_bytes = bytes.max(64 * 1024);
        self
    }

    /// The longest deadline a request may ask for (default 1 hour): a larger
    /// `response_timeout_ms` is shortened to it, so a client that went away
    /// silently cannot hold a slot and a handler for longer. Streams meant to run
    /// longer need a larger value (`Duration::MAX`: no cap).
    #[must_use]
    pub fn max_request_timeout(mut self, timeout: Duration) -> Self {
        self.max_request_timeout = timeout;
        self
    }

    /// Requests one connection may have in flight (default 1024); beyond it the
    /// connection's frames are not read until one finishes.
    #[must_use]
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// How long `shutdown()` waits for in-flight requests (default 5 s).
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// A connection whose peer accepts no bytes for this long is closed (default
    /// 30 s). Until then its replies wait in its outbound queue.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How long a frame may take to arrive whole once its first bytes came
    /// (default 10 s; zero waits forever). A connection whose frame is still
    /// incomplete then gets a PROTOCOL_ERROR frame and is closed — whatever its
    /// subscriptions and streams, which otherwise keep it from idling out — so
    /// that a client cannot hold a frame's buffer (up to `max_frame_size`) open by
    /// sending it slowly or not at all.
    #[must_use]
    pub fn frame_read_timeout(mut self, timeout: Duration) -> Self {
        self.frame_read_timeout = timeout;
        self
    }

    /// How long a request waits for room in a full mailbox before it is refused
    /// with TARGET_BUSY (default 5 s; never longer than the request's own
    /// `response_timeout_ms`; zero refuses at once). While one of its requests
    /// waits, a connection reads no further frames — backpressure on that client
    /// alone — but keeps writing the answers of the others. A refused request never
    /// reached the actor, so it is safe to retry.
    #[must_use]
    pub fn mailbox_wait(mut self, wait: Duration) -> Self {
        self.mailbox_wait = wait;
        self
    }

    /// The socket file's permission bits.
    pub fn socket_mode_bits(&self) -> u32 {
        self.socket_mode
    }
}
