//! Placing the socket file so that it can never replace or delete a socket this
//! server does not own, and is never reachable with looser permissions than asked.
//!
//! 1. What is at the path now: nothing; a file of another kind (refused,
//!    [`IpcError::NotASocket`]); or a socket. A socket is *stale* only when
//!    connecting to it is refused (`ECONNREFUSED`): any other answer — it accepts,
//!    it does not answer, permission denied — means it may be live, and it is left
//!    alone. A stale socket is removed only if it belongs to this process's user
//!    and is still the same file when it is removed.
//! 2. The socket is bound in a fresh private directory (mode `0700`, random name,
//!    created next to the path so both are on one file system), given its mode
//!    there, then hard-linked to its public name. A link never replaces: if
//!    anything appeared at the path meanwhile, placing fails
//!    ([`IpcError::AlreadyServing`]). The private directory is then removed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};

use super::IpcError;

/// How long a liveness probe waits for a connection to be accepted.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Places a socket at `path` with permission bits `mode` (see the module
/// documentation for the rules).
///
/// # Errors
/// [`IpcError::AlreadyServing`] when a live (or possibly live) server holds
/// the path, [`IpcError::NotASocket`] when another kind of file is there,
/// [`IpcError::NotOwned`] for a stale socket of another user,
/// [`IpcError::Io`] when a file-system operation fails.
pub(crate) async fn place(path: &Path, mode: u32) -> Result<(UnixListener, PlacedFile), IpcError> {
    let io = |action: &'static str, source: std::io::Error| IpcError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io("creating the directory of", e))?;
    let private =
        PrivateDir::create(&parent).map_err(|e| io("creating a private directory beside", e))?;
    clear_stale(path, private.owner).await?;

    let bound = private.path.join("s");
    let listener = UnixListener::bind(&bound).map_err(|e| {
        if e.kind() == ErrorKind::InvalidInput {
            IpcError::Io {
                action: "binding (the path may be too long for a socket address)",
                path: path.to_path_buf(),
                source: e,
            }
        } else {
            io("binding", e)
        }
    })?;
    std::fs::set_permissions(&bound, std::fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| io("setting permissions of", e))?;
    let metadata = std::fs::symlink_metadata(&bound).map_err(|e| io("inspecting", e))?;
    let identity = (metadata.dev(), metadata.ino());
    match std::fs::hard_link(&bound, path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(IpcError::AlreadyServing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io("linking the socket into place at", e)),
    }
    drop(private);
    Ok((
        listener,
        PlacedFile {
            path: path.to_path_buf(),
            identity,
        },
    ))
}

/// The socket file a listener placed, after its listening socket went to the
/// accept loop.
#[derive(Debug, Clone)]
pub(crate) struct PlacedFile {
    pub(crate) path: PathBuf,
    identity: (u64, u64),
}

impl PlacedFile {
    /// Removes the file if it is still the one placed.
    pub(crate) fn remove(&self) -> Result<(), IpcError> {
        let still_ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|metadata| (metadata.dev(), metadata.ino()) == self.identity);
        if !still_ours {
            return Ok(());
        }
        match std::fs::remove_file(&self.path) {
            Err(source) if source.kind() != ErrorKind::NotFound => Err(IpcError::Io {
                action: "removing",
                path: self.path.clone(),
                source,
            }),
            _ => Ok(()),
        }
    }
}

/// Removes a stale socket of ours at `path`; refuses anything else.
async fn clear_stale(path: &Path, our_uid: u32) -> Result<(), IpcError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(IpcError::Io {
                action: "inspecting",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type()) {
        return Err(IpcError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Err(error)) if error.kind() == ErrorKind::ConnectionRefused => {}
        Ok(Err(error)) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Ok(Err(source)) => {
            return Err(IpcError::Unverifiable {
                path: path.to_path_buf(),
                source,
            })
        }
        // It accepts, or holds the connection without accepting: live.
        Ok(Ok(_)) | Err(_) => {
            return Err(IpcError::AlreadyServing {
                path: path.to_path_buf(),
            })
        }
    }
    if metadata.uid() != our_uid {
        return Err(IpcError::NotOwned {
            path: path.to_path_buf(),
            owner: metadata.uid(),
        });
    }
    // Still the file that refused the connection?
    let now = std::fs::symlink_metadata(path);
    if !now.is_ok_and(|now| (now.dev(), now.ino()) == (metadata.dev(), metadata.ino())) {
        return Err(IpcError::AlreadyServing {
            path: path.to_path_buf(),
        });
    }
    tracing::info!(path = %path.display(), "replacing a stale socket file");
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(IpcError::Io {
            action: "removing the stale socket",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A directory only this process's user can enter, removed (with what is left in
/// it) when dropped.
struct PrivateDir {
    path: PathBuf,
    owner: u32,
}

impl PrivateDir {
    fn create(parent: &Path) -> std::io::Result<Self> {
        let mut last_error = None;
        for _ in 0..16 {
            let path = parent.join(format!(".acton-{:08x}", random_u32()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let owner = std::fs::symlink_metadata(&path)?.uid();
                    return Ok(Self { path, owner });
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| ErrorKind::AlreadyExists.into()))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path.join("s"));
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// 32 random bits from the standard library's per-process random hash keys.
fn random_u32() -> u32 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}
