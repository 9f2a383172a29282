//! The wire protocol (v2): frames ([`frame`]) and the messages they carry
//! ([`messages`]). `docs/protocol.md` is the prose version of this module.
//!
//! ```
//! use acton_reactive::ipc::protocol::{Frame, MessageKind, ErrorCode};
//! use acton_reactive::ipc::Format;
//!
//! let frame = Frame::new(MessageKind::Heartbeat, Format::Json, Vec::new());
//! assert_eq!(frame.to_bytes().unwrap(), [0, 0, 0, 0, 2, 4, 1]);
//! assert_eq!(ErrorCode::parse("LIMIT_EXCEEDED"), Some(ErrorCode::LimitExceeded));
//! ```

pub mod frame;
pub mod messages;
mod patterns;

pub use frame::{Frame, FrameCodec, FrameError, MessageKind};
pub use messages::*;
pub use patterns::pattern_matches;

/// The protocol version this crate speaks and answers with.
pub const PROTOCOL_VERSION: u8 = 0x02;
/// The oldest version accepted (6-byte header, JSON only).
pub const MIN_SUPPORTED_VERSION: u8 = 0x01;
/// The newest version accepted.
pub const MAX_SUPPORTED_VERSION: u8 = 0x02;
/// Default bound on a frame's payload: 1 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 1024 * 1024;
/// No configuration may raise the frame bound above 16 MiB.
pub const MAX_FRAME_SIZE_HARD_LIMIT: usize = 16 * 1024 * 1024;
/// The longest `correlation_id` the server accepts, in bytes. A frame with a
/// longer one is refused (LIMIT_EXCEEDED, answered as `"unknown"`): the server
/// never keeps or echoes more.
pub const MAX_CORRELATION_ID_LEN: usize = 256;
/// The longest subscription pattern, target or type name the server keeps or
/// echoes, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// The `correlation_id` of answers to frames whose own id is unknown.
pub const UNKNOWN_CORRELATION_ID: &str = "unknown";
/// The `correlation_id` of the frame that refuses a connection at the limit.
pub const CONNECTION_REJECTED_ID: &str = "__acton_connection_rejected__";
