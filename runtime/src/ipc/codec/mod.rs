//! Payload encodings and the bytes of frames: JSON and MessagePack ([`Format`]),
//! the request envelope split into header and raw payload, the frames the server
//! builds, and the wire forms of the schema's `bytes`, `json`, `timestamp` and
//! `duration` ([`wire`]).
//!
//! ```
//! use acton_reactive::ipc::Format;
//!
//! let bytes = Format::Json.encode(&serde_json::json!({"a": 1})).unwrap();
//! assert_eq!(bytes, br#"{"a":1}"#);
//! let back: serde_json::Value = Format::Json.decode(&bytes).unwrap();
//! assert_eq!(back["a"], 1);
//! ```

pub(crate) mod envelope;
mod fields;
mod format;
pub(crate) mod frames;
pub(crate) mod msgpack;
mod scan;
mod serde_envelope;
pub(crate) mod template;
mod time;
pub mod wire;

pub(crate) use format::recycle_frame;
pub use format::{CodecError, Format};
