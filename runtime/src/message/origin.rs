//! Where a message came from, when it came from another process: the peer's
//! credentials as the kernel reported them, the request's correlation id and its
//! deadline. Messages sent within the process carry none.

use std::sync::Arc;
use std::time::Instant;

use smol_str::SmolStr;

/// The credentials of a peer process, as the kernel reported them when it
/// connected (they cannot be forged by the peer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// The peer's user id.
    pub uid: Option<u32>,
    /// The peer's group id.
    pub gid: Option<u32>,
    /// The peer's process id.
    pub pid: Option<i32>,
}

/// The origin of a message that arrived over IPC.
///
/// ```
/// use acton_reactive::message::{PeerCredentials, RequestOrigin};
/// use std::time::{Duration, Instant};
///
/// let origin = RequestOrigin::new(
///     PeerCredentials { uid: Some(1000), gid: Some(1000), pid: Some(4242) },
///     "req-1".into(),
///     Some(Instant::now() + Duration::from_secs(30)),
/// );
/// assert_eq!(origin.peer().uid, Some(1000));
/// assert_eq!(origin.correlation_id(), "req-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOrigin {
    peer: PeerCredentials,
    correlation_id: SmolStr,
    deadline: Option<Instant>,
}

impl RequestOrigin {
    /// An origin (the IPC server builds these; tests may too).
    pub fn new(peer: PeerCredentials, correlation_id: Arc<str>, deadline: Option<Instant>) -> Self {
        Self::with_id(peer, SmolStr::from(correlation_id), deadline)
    }

    /// An origin whose id is already a [`SmolStr`] (the server's own copy:
    /// sharing it costs no allocation and no reference count).
    pub(crate) fn with_id(
        peer: PeerCredentials,
        correlation_id: SmolStr,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            peer,
            correlation_id,
            deadline,
        }
    }

    /// Who sent it.
    pub fn peer(&self) -> PeerCredentials {
        self.peer
    }

    /// The request's correlation id.
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// When the client stops waiting for the answer (or the whole stream), if it
    /// waits at all.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}
