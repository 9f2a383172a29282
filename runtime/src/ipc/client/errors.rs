//! What can go wrong on the client side, and the fields an error answer carried.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ipc::codec::{CodecError, Format};
use crate::ipc::protocol::{ErrorCode, Frame};

/// What can go wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The NATS server could not be reached (feature `nats`).
    #[error("cannot connect to NATS at {url}: {reason}")]
    NatsConnect {
        /// The server address(es) given.
        url: String,
        /// What the NATS client reported.
        reason: String,
    },
    /// The server refused the connection (connection limit or allow-list).
    #[error("the server refused the connection ({code}): {message}")]
    Rejected {
        /// CONNECTION_LIMIT_REACHED or ACCESS_DENIED.
        code: String,
        /// The server's explanation.
        message: String,
        /// The server's connection limit, when it said.
        limit: Option<usize>,
    },
    /// The server answered with an error.
    #[error("server error {code}: {message}")]
    Server {
        /// The wire error code (see [`ErrorCode`]), or a declared error's name.
        code: String,
        /// The server's explanation.
        message: String,
        /// The error's fields, when it carried any (a declared error's).
        details: Option<ErrorDetails>,
    },
    /// The server's process runs as another user than the one required
    /// ([`ClientOptions::require_server_uid`](super::ClientOptions::require_server_uid)): nothing was sent to it.
    #[error("the server at {path} runs as uid {actual:?}, not the required uid {expected}; nothing was sent")]
    UnexpectedServer {
        /// The socket path.
        path: PathBuf,
        /// The uid required.
        expected: u32,
        /// The server's uid, when the kernel reported one.
        actual: Option<u32>,
    },
    /// The connection closed before the answer arrived.
    #[error("the connection to the server is closed")]
    Closed,
    /// The server sent what the client does not accept (a frame header above
    /// [`ClientOptions::max_frame_size`](super::ClientOptions::max_frame_size), an
    /// unknown version, kind or format): the connection was closed.
    #[error("the server broke the protocol, and the connection was closed: {0}")]
    Protocol(String),
    /// No answer within the client's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A payload could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Writing to the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The protocol error code of a server error, if it is one of ours.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { code, .. } | Self::Rejected { code, .. } => ErrorCode::parse(code),
            _ => None,
        }
    }
}

/// The fields an error answer carried (the `payload` of an ERROR frame or of a
/// failed final STREAM frame), still encoded: decode them as the declared error
/// its code names.
///
/// ```
/// use acton_reactive::ipc::client::ErrorDetails;
/// use acton_reactive::ipc::Format;
///
/// #[derive(serde::Deserialize)]
/// struct NotFound { key: String }
///
/// let details = ErrorDetails::new(Format::Json, br#"{"key": "k1"}"#.to_vec());
/// let not_found: NotFound = details.decode().unwrap();
/// assert_eq!(not_found.key, "k1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    format: Format,
    bytes: Bytes,
}

impl ErrorDetails {
    /// Details encoded in `format`.
    pub fn new(format: Format, bytes: impl Into<Bytes>) -> Self {
        Self {
            format,
            bytes: bytes.into(),
        }
    }

    /// Decodes the details as `T`.
    ///
    /// # Errors
    /// When they are not a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        self.format.decode(&self.bytes)
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The `payload` of an error frame, if it has one.
    pub(crate) fn of(frame: &Frame) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Payload<'a> {
            #[serde(borrow, default)]
            payload: Option<&'a serde_json::value::RawValue>,
        }
        let bytes: Vec<u8> = match frame.format {
            Format::Json => {
                let outer: Payload<'_> = serde_json::from_slice(&frame.payload).ok()?;
                let raw = outer.payload?.get();
                (raw.trim() != "null").then(|| raw.as_bytes().to_vec())?
            }
            Format::MessagePack => {
                let raw = crate::ipc::codec::msgpack::map_value(&frame.payload, "payload")?;
                (raw != [0xc0]).then(|| raw.to_vec())?
            }
        };
        Some(Self::new(frame.format, bytes))
    }
}
