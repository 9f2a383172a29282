//! The listener: places the socket file ([`super::socket`]), accepts connections
//! within the limits (allow-list, per-uid quota, connection limit), and shuts
//! down gracefully — also when the runtime shuts down.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use super::connection;
use super::hub::SubscriptionHub;
use super::socket::{self, PlacedFile};
use super::stats::{Counters, IpcListenerStats};
use super::ListenerShared;
use crate::broker::ObserverGuard;
use crate::ipc::codec::frames::value_frame;
use crate::ipc::config::{IpcConfig, IpcOptions};
use crate::ipc::protocol::{
    ConnectionLimit, ErrorCode, IpcResponse, MessageKind, CONNECTION_REJECTED_ID,
};
use crate::ipc::serving::Transport;
use crate::ipc::Format;
use crate::message::PeerCredentials;
use crate::runtime::ActorRuntime;
use crate::signal::Signal;

/// Connections being refused at once (each gets one frame, then is closed); under
/// a flood beyond this, further ones are closed without the frame.
const MAX_REFUSING: usize = 64;

/// The listener could not start (or stop cleanly).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpcError {
    /// A live server answers on the socket path; it is left alone.
    #[error("a server is already listening on {path}; stop it or choose another socket_path")]
    AlreadyServing {
        /// The socket path.
        path: PathBuf,
    },
    /// Something other than a socket exists at the socket path; it is left alone.
    #[error("{path} exists and is not a socket; remove it or choose another socket_path")]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// A stale socket of another user is at the socket path; it is left alone.
    #[error("{path} is a stale socket of uid {owner}; it is left alone: remove it as that user, or choose another socket_path")]
    NotOwned {
        /// The socket path.
        path: PathBuf,
        /// The socket file's owner.
        owner: u32,
    },
    /// Whether a server listens on the socket path cannot be told (connecting
    /// failed with something other than "refused", typically permission denied):
    /// it may be live, and is left alone.
    #[error("cannot tell whether a server listens on {path} ({source}); it is left alone: choose another socket_path")]
    Unverifiable {
        /// The socket path.
        path: PathBuf,
        /// Why connecting failed.
        source: std::io::Error,
    },
    /// A file-system or socket operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The outcome of [`IpcListenerHandle::shutdown_gracefully`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every connection finished its in-flight requests within the drain
    /// time.
    pub drained_gracefully: bool,
    /// Connections still busy at the end of the drain time, whose requests were
    /// ended with SHUTTING_DOWN.
    pub forced_closed: usize,
}

/// What a running listener is, shared by its handle and the runtime (which
/// drains it on `shutdown_all`).
pub(crate) struct ListenerCore {
    shared: Arc<ListenerShared>,
    tracker: TaskTracker,
    file: PlacedFile,
    observer: Mutex<Option<ObserverGuard>>,
    /// The outcome of the one graceful shutdown; later callers wait for it.
    shutdown: OnceCell<ShutdownReport>,
    stopped: AtomicBool,
}

impl Transport for ListenerCore {
    fn drain(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.shutdown_gracefully().await;
        })
    }
}

impl ListenerCore {
    /// Drains and stops the listener; every caller waits for the same drain.
    pub(crate) async fn shutdown_gracefully(&self) -> ShutdownReport {
        *self.shutdown.get_or_init(|| self.drain()).await
    }

    async fn drain(&self) -> ShutdownReport {
        self.stopped.store(true, Ordering::SeqCst);
        self.shared.stop_reading.raise();
        self.tracker.close();
        let mut report = ShutdownReport {
            drained_gracefully: true,
            forced_closed: 0,
        };
        let drain = self.shared.options.drain_timeout;
        if tokio::time::timeout(drain, self.tracker.wait())
            .await
            .is_err()
        {
            report = ShutdownReport {
                drained_gracefully: false,
                forced_closed: self.shared.counters.snapshot().connections_active as usize,
            };
            self.shared.cut.raise();
            if tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
                .await
                .is_err()
            {
                tracing::error!("IPC connections still open after the drain time; abandoning them");
            }
        }
        self.observer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Only now, with every answer written, does the socket file go.
        if let Err(error) = self.file.remove() {
            tracing::warn!(%error, "could not remove the socket file");
        }
        report
    }
}

/// A running listener. Dropping it stops the listener without waiting.
pub struct IpcListenerHandle {
    core: Arc<ListenerCore>,
}

impl std::fmt::Debug for IpcListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcListenerHandle")
            .field("socket_path", &self.core.file.path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl IpcListenerHandle {
    /// The socket file clients connect to.
    pub fn socket_path(&self) -> &Path {
        &self.core.file.path
    }

    /// The listener's counters now.
    pub fn stats(&self) -> IpcListenerStats {
        self.core.shared.counters.snapshot()
    }

    /// Stops the listener: no new connections, no new requests (frames already
    /// read are refused with SHUTTING_DOWN); in-flight requests are answered
    /// within the drain time (`IpcOptions::drain_timeout`), then what is still
    /// in flight ends with SHUTTING_DOWN and connections close; last, the socket
    /// file is removed (unless another server has replaced it meanwhile).
    ///
    /// # Errors
    /// [`IpcError::Io`] when the socket file could not be removed.
    pub async fn shutdown(&self) -> Result<(), IpcError> {
        self.shutdown_gracefully().await;
        self.core.file.remove()
    }

    /// [`shutdown`](Self::shutdown), reporting how the drain went; a failure to
    /// remove the socket file is logged. Calling it again (or while another call
    /// runs) waits for the same drain and returns the same report.
    pub async fn shutdown_gracefully(&self) -> ShutdownReport {
        self.core.shutdown_gracefully().await
    }
}

impl Drop for IpcListenerHandle {
    fn drop(&mut self) {
        // A drain in progress finishes on its own; otherwise stop at once.
        if !self.core.stopped.swap(true, Ordering::SeqCst) {
            self.core.shared.stop_reading.raise();
            self.core.shared.cut.raise();
            let _ = self.core.file.remove();
        }
    }
}

impl ActorRuntime {
    /// Starts serving exposed actors on the default socket (`/tmp/acton.sock`).
    ///
    /// # Errors
    /// See [`IpcError`].
    pub async fn start_ipc_listener(&self) -> Result<IpcListenerHandle, IpcError> {
        self.start_ipc_listener_with_options(IpcConfig::default(), IpcOptions::default())
            .await
    }

    /// Starts serving exposed actors with `config`.
    ///
    /// # Errors
    /// See [`IpcError`].
    pub async fn start_ipc_listener_with_config(
        &self,
        config: IpcConfig,
    ) -> Result<IpcListenerHandle, IpcError> {
        self.start_ipc_listener_with_options(config, IpcOptions::default())
            .await
    }

    /// Starts serving exposed actors with `config` and further `options`.
    ///
    /// The listener is drained and stopped when the runtime shuts down
    /// (`shutdown_all`), before any actor stops.
    ///
    /// # Errors
    /// [`IpcError::AlreadyServing`] when a live server answers on the socket path
    /// (or may: [`IpcError::Unverifiable`]), [`IpcError::NotASocket`] when another
    /// kind of file is there, [`IpcError::NotOwned`] for another user's stale
    /// socket, [`IpcError::Io`] when placing the socket fails.
    pub async fn start_ipc_listener_with_options(
        &self,
        config: IpcConfig,
        options: IpcOptions,
    ) -> Result<IpcListenerHandle, IpcError> {
        let (listener, file) = socket::place(&config.socket_path, options.socket_mode).await?;
        let registry = self.ipc_registry();
        let counters = Arc::new(Counters::default());
        let hub = Arc::new(SubscriptionHub::new(
            Arc::clone(&registry),
            Arc::clone(&counters),
        ));
        let observer = self.broker().observe(hub.clone());
        let shared = Arc::new(ListenerShared {
            runtime: self.clone(),
            registry,
            config: config.clone(),
            options,
            counters,
            hub,
            uids: Mutex::default(),
            stop_reading: Signal::default(),
            cut: Signal::default(),
        });
        let tracker = TaskTracker::new();
        tracker.spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            tracker.clone(),
            Arc::clone(self.stop_signal()),
        ));
        tracing::info!(path = %config.socket_path.display(), "IPC listener started");
        let core = Arc::new(ListenerCore {
            shared,
            tracker,
            file,
            observer: Mutex::new(Some(observer)),
            shutdown: OnceCell::new(),
            stopped: AtomicBool::new(false),
        });
        self.ipc_state()
            .add_transport(Arc::downgrade(&core) as std::sync::Weak<dyn Transport>);
        Ok(IpcListenerHandle { core })
    }
}

/// A connection's hold on its slot and its uid's quota, released when its task
/// ends — also by a panic.
struct ConnectionSlot {
    shared: Arc<ListenerShared>,
    uid: Option<u32>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.shared
            .counters
            .connections_active
            .fetch_sub(1, Ordering::Relaxed);
        if let Some(uid) = self.uid {
            self.shared.release_uid(uid);
        }
    }
}

async fn accept_loop(
    listener: UnixListener,
    shared: Arc<ListenerShared>,
    tracker: TaskTracker,
    runtime_stopping: Arc<Signal>,
) {
    let limit = shared
        .config
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(limit));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let next_id = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.stop_reading.wait() => break,
            () = runtime_stopping.wait() => {
                shared.stop_reading.raise();
                break;
            }
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically out of file descriptors: wait instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let counters = &shared.counters;
        let peer = stream
            .peer_cred()
            .map_or(PeerCredentials::default(), |cred| PeerCredentials {
                uid: Some(cred.uid()),
                gid: Some(cred.gid()),
                pid: cred.pid(),
            });
        let refuse = |stream: UnixStream, frame: Bytes| {
            Counters::add(&counters.connections_rejected, 1);
            // Under a flood of refusals, close without the frame.
            if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                tracker.spawn(async move {
                    send_refusal(stream, frame).await;
                    drop(permit);
                });
            }
        };
        if let Some(allowed) = &shared.options.allowed_uids {
            if !peer.uid.is_some_and(|uid| allowed.contains(&uid)) {
                tracing::warn!(uid = ?peer.uid, "refused a connection from a peer not on the allow-list");
                let refusal = IpcResponse::<()>::failure(
                    CONNECTION_REJECTED_ID,
                    ErrorCode::AccessDenied,
                    "this peer is not allowed to connect",
                );
                refuse(
                    stream,
                    value_frame(MessageKind::Error, Format::Json, &refusal),
                );
                continue;
            }
        }
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            refuse(
                stream,
                limit_frame(
                    shared.config.max_connections,
                    format!(
                        "connection limit reached ({} connections)",
                        shared.config.max_connections
                    ),
                ),
            );
            continue;
        };
        let uid_limiter = match peer.uid.map(|uid| (uid, shared.admit_uid(uid))) {
            Some((uid, Err(quota))) => {
                Counters::add(&counters.connections_rejected_uid_quota, 1);
                tracing::warn!(uid, quota, "refused a connection above its uid's quota");
                refuse(
                    stream,
                    limit_frame(
                        quota,
                        format!("connection limit reached for uid {uid} ({quota} connections)"),
                    ),
                );
                continue;
            }
            Some((_, Ok(limiter))) => limiter,
            None => None,
        };
        Counters::add(&counters.connections_accepted, 1);
        Counters::add(&counters.connections_active, 1);
        let slot = ConnectionSlot {
            shared: Arc::clone(&shared),
            uid: peer.uid,
            _permit: permit,
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tracker.spawn(async move {
            let _slot = slot;
            connection::serve(stream, id, peer, uid_limiter, shared).await;
        });
    }
}

/// The frame refusing a connection at a limit: CONNECTION_LIMIT_REACHED with
/// `{"limit": N}`.
fn limit_frame(limit: usize, message: String) -> Bytes {
    let refusal = IpcResponse {
        correlation_id: CONNECTION_REJECTED_ID.to_owned(),
        success: false,
        error: Some(message),
        error_code: Some(ErrorCode::ConnectionLimitReached.as_str().to_owned()),
        payload: Some(ConnectionLimit { limit }),
    };
    value_frame(MessageKind::Error, Format::Json, &refusal)
}

/// Sends one refusal frame and closes, reading (and discarding) what the client
/// sends meanwhile so that the close does not turn into a reset that loses the
/// frame.
async fn send_refusal(mut stream: UnixStream, frame: Bytes) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&frame).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}
