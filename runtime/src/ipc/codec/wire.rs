//! Wire representations shared by generated code: binary data, arbitrary JSON,
//! points in time and lengths of time.
//!
//! The schema's `bytes` travel as a base64 string (standard alphabet, padded) in
//! JSON and as `bin` in MessagePack; [`Bytes`] picks the form from the format.
//! The schema's `json` is any value: [`Json`]. Its `timestamp` and `duration` are
//! [`Timestamp`] (RFC 3339 in UTC) and [`Duration`] (`1.5s`), strings in both
//! formats.
//!
//! ```
//! use acton_reactive::ipc::wire::{json_literal, Bytes};
//!
//! let data = Bytes::from(vec![1, 2, 3]);
//! assert_eq!(serde_json::to_string(&data).unwrap(), r#""AQID""#);
//! assert_eq!(json_literal("[1, 2]"), serde_json::json!([1, 2]));
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};

use base64::Engine as _;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub use super::time::{Duration, TimeParseError, Timestamp};

/// Any JSON value (the schema's `json`).
pub type Json = serde_json::Value;

/// Binary data (the schema's `bytes`): base64 in JSON, `bin` in MessagePack.
///
/// Decoding accepts either form in either format, and a sequence of byte values.
///
/// ```
/// use acton_reactive::ipc::wire::Bytes;
///
/// let data = Bytes::from(vec![0xde, 0xad, 0xbe, 0xef]);
/// assert_eq!(serde_json::to_string(&data).unwrap(), "\"3q2+7w==\"");
/// let back: Bytes = serde_json::from_str("\"3q2+7w==\"").unwrap();
/// assert_eq!(&*back, &[0xde, 0xad, 0xbe, 0xef]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes, by value.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for Bytes {
    fn from(bytes: [u8; N]) -> Self {
        Self(bytes.to_vec())
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(bytes: Bytes) -> Self {
        bytes.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;

        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("binary data, or a base64 string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Bytes, E> {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(Bytes)
                    .map_err(|error| E::custom(format!("invalid base64: {error}")))
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(bytes.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(bytes))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(Bytes(bytes))
            }
        }

        // `deserialize_any` lets every format hand over what it has: a string, a
        // byte buffer, or (inside buffered content such as a tagged union) a sequence.
        deserializer.deserialize_any(BytesVisitor)
    }
}

/// A [`Json`] value from JSON text (generated code uses it for `json` defaults);
/// `null` if the text is not JSON.
pub fn json_literal(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}
