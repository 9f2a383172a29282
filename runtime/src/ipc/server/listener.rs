//! The listener: binds the socket file safely, accepts connections within the
//! limits, and shuts down gracefully.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::connection::{self, ListenerShared};
use super::hub::SubscriptionHub;
use super::stats::{Counters, IpcListenerStats};
use crate::broker::ObserverGuard;
use crate::ipc::codec::frames::value_frame;
use crate::ipc::config::{IpcConfig, IpcOptions};
use crate::ipc::protocol::{
    ConnectionLimit, ErrorCode, IpcResponse, MessageKind, CONNECTION_REJECTED_ID,
};
use crate::ipc::Format;
use crate::runtime::ActorRuntime;
use crate::signal::Signal;

/// The listener could not start (or stop cleanly).
#[derive(Debug, thiserror::Error)]
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

/// A running listener. Dropping it stops the listener without waiting.
pub struct IpcListenerHandle {
    shared: Arc<ListenerShared>,
    tracker: TaskTracker,
    socket_path: PathBuf,
    socket_identity: Option<(u64, u64)>,
    observer: Mutex<Option<ObserverGuard>>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for IpcListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcListenerHandle")
            .field("socket_path", &self.socket_path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl IpcListenerHandle {
    /// The socket file clients connect to.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The listener's counters now.
    pub fn stats(&self) -> IpcListenerStats {
        self.shared.counters.snapshot()
    }

    /// Stops the listener: no new connections, no new requests; in-flight requests
    /// are answered within the drain time (`IpcOptions::drain_timeout`), then open
    /// streams get a final frame (SHUTTING_DOWN) and connections close; the socket
    /// file is removed (unless another server has replaced it meanwhile).
    ///
    /// # Errors
    /// [`IpcError::Io`] when the socket file could not be removed.
    pub async fn shutdown(&self) -> Result<(), IpcError> {
        self.shutdown_gracefully().await;
        self.remove_socket_file()
    }

    /// [`shutdown`](Self::shutdown), reporting how the drain went; a failure to
    /// remove the socket file is logged.
    pub async fn shutdown_gracefully(&self) -> ShutdownReport {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return ShutdownReport {
                drained_gracefully: true,
                forced_closed: 0,
            };
        }
        self.shared.stop_reading.raise();
        self.tracker.close();
        let drain = self.shared.options.drain_timeout;
        let mut report = ShutdownReport {
            drained_gracefully: true,
            forced_closed: 0,
        };
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
        if let Err(error) = self.remove_socket_file() {
            tracing::warn!(%error, "could not remove the socket file");
        }
        report
    }

    /// Removes the socket file if it is still the one this listener created.
    fn remove_socket_file(&self) -> Result<(), IpcError> {
        let Ok(metadata) = std::fs::symlink_metadata(&self.socket_path) else {
            return Ok(());
        };
        if Some((metadata.dev(), metadata.ino())) != self.socket_identity {
            return Ok(());
        }
        match std::fs::remove_file(&self.socket_path) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(IpcError::Io {
                action: "removing",
                path: self.socket_path.clone(),
                source,
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for IpcListenerHandle {
    fn drop(&mut self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            self.shared.stop_reading.raise();
            self.shared.cut.raise();
            let _ = self.remove_socket_file();
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
    /// The listener also stops when the runtime shuts down.
    ///
    /// # Errors
    /// [`IpcError::AlreadyServing`] when a live server answers on the socket path,
    /// [`IpcError::NotASocket`] when another kind of file is there,
    /// [`IpcError::Io`] when binding fails.
    pub async fn start_ipc_listener_with_options(
        &self,
        config: IpcConfig,
        options: IpcOptions,
    ) -> Result<IpcListenerHandle, IpcError> {
        let (listener, socket_identity) = bind(&config.socket_path, options.socket_mode).await?;
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
        Ok(IpcListenerHandle {
            shared,
            tracker,
            socket_path: config.socket_path,
            socket_identity,
            observer: Mutex::new(Some(observer)),
            stopped: AtomicBool::new(false),
        })
    }
}

async fn accept_loop(
    listener: UnixListener,
    shared: Arc<ListenerShared>,
    tracker: TaskTracker,
    runtime_stopping: Arc<Signal>,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
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
        if let Some(allowed) = &shared.options.allowed_uids {
            let uid = stream.peer_cred().ok().map(|cred| cred.uid());
            if !uid.is_some_and(|uid| allowed.contains(&uid)) {
                Counters::add(&counters.connections_rejected, 1);
                tracing::warn!(
                    ?uid,
                    "refused a connection from a peer not on the allow-list"
                );
                let refusal = IpcResponse::<()>::failure(
                    CONNECTION_REJECTED_ID,
                    ErrorCode::AccessDenied,
                    "this peer is not allowed to connect",
                );
                tracker.spawn(refuse(
                    stream,
                    value_frame(MessageKind::Error, Format::Json, &refusal),
                ));
                continue;
            }
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            Counters::add(&counters.connections_rejected, 1);
            let limit = shared.config.max_connections;
            let refusal = IpcResponse {
                correlation_id: CONNECTION_REJECTED_ID.to_owned(),
                success: false,
                error: Some(format!("connection limit reached ({limit} connections)")),
                error_code: Some(ErrorCode::ConnectionLimitReached.as_str().to_owned()),
                payload: Some(ConnectionLimit { limit }),
            };
            tracker.spawn(refuse(
                stream,
                value_frame(MessageKind::Error, Format::Json, &refusal),
            ));
            continue;
        };
        Counters::add(&counters.connections_accepted, 1);
        Counters::add(&counters.connections_active, 1);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tracker.spawn(async move {
            connection::serve(stream, id, Arc::clone(&shared)).await;
            shared
                .counters
                .connections_active
                .fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
}

/// Sends one refusal frame and closes, reading (and discarding) what the client
/// sends meanwhile so that the close does not turn into a reset that loses the
/// frame.
async fn refuse(mut stream: UnixStream, frame: Bytes) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&frame).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// Binds the socket: a stale socket file (nobody answers) is replaced, a live one
/// or a file of another kind is an error. The socket gets `mode` before it appears
/// under its final name.
async fn bind(path: &Path, mode: u32) -> Result<(UnixListener, Option<(u64, u64)>), IpcError> {
    let io = |action: &'static str, source: std::io::Error| IpcError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io("creating the directory of", e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.file_type().is_socket() => {
            return Err(IpcError::NotASocket {
                path: path.to_path_buf(),
            })
        }
        Ok(_) => {
            match tokio::time::timeout(Duration::from_secs(1), UnixStream::connect(path)).await {
                Ok(Ok(_live)) => {
                    return Err(IpcError::AlreadyServing {
                        path: path.to_path_buf(),
                    })
                }
                Ok(Err(_)) => {
                    tracing::info!(path = %path.display(), "replacing a stale socket file");
                    std::fs::remove_file(path).map_err(|e| io("removing the stale socket", e))?;
                }
                Err(_) => {
                    // Something holds the socket but does not accept: treat as live.
                    return Err(IpcError::AlreadyServing {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io("inspecting", error)),
    }

    // Bind under a temporary name, set the mode, then rename into place: the socket
    // is never reachable under its public name with looser permissions.
    let temporary = temporary_name(path);
    let listener = match UnixListener::bind(&temporary) {
        Ok(listener) => {
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode)).map_err(
                |e| {
                    let _ = std::fs::remove_file(&temporary);
                    io("setting permissions of", e)
                },
            )?;
            std::fs::rename(&temporary, path).map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                io("moving the socket into place at", e)
            })?;
            listener
        }
        // The temporary name may be too long for a socket address; bind in place.
        Err(_) => {
            let listener = UnixListener::bind(path).map_err(|e| io("binding", e))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io("setting permissions of", e))?;
            listener
        }
    };
    let identity = std::fs::symlink_metadata(path)
        .ok()
        .map(|metadata| (metadata.dev(), metadata.ino()));
    Ok((listener, identity))
}

fn temporary_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!(".acton-{}-{n}.tmp", std::process::id());
    path.with_file_name(name)
}
