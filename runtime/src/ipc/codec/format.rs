//! The two payload encodings of the protocol: JSON and MessagePack (named maps).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::Cell;

/// The encoding of a frame's payload: the frame's format byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `0x01`: JSON, UTF-8.
    Json,
    /// `0x02`: MessagePack, structs as maps with field names. Needs the
    /// `ipc-messagepack` feature.
    MessagePack,
}

/// A payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not valid in the format, or do not have the expected shape.
    #[error("invalid {format:?} payload: {reason}")]
    Invalid {
        /// The format that was decoded.
        format: Format,
        /// What the decoder reported.
        reason: String,
    },
    /// A value could not be encoded.
    #[error("could not encode a {format:?} payload: {reason}")]
    Encode {
        /// The format that was encoded.
        format: Format,
        /// What the encoder reported.
        reason: String,
    },
    /// An encoded payload is larger than any peer accepts
    /// ([`MAX_FRAME_SIZE_HARD_LIMIT`](crate::ipc::protocol::MAX_FRAME_SIZE_HARD_LIMIT)).
    #[error("the encoded {format:?} payload has {length} bytes, above the {max}-byte frame limit")]
    TooLarge {
        /// The format that was encoded.
        format: Format,
        /// The payload's length.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// MessagePack was used, but this build has only JSON.
    #[error("MessagePack is not supported by this build (enable the `ipc-messagepack` feature)")]
    MessagePackDisabled,
}

impl Format {
    /// The format for a format byte, if it names one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Json),
            0x02 => Some(Self::MessagePack),
            _ => None,
        }
    }

    /// The format byte.
    pub fn as_byte(self) -> u8 {
        match self {
            Self::Json => 0x01,
            Self::MessagePack => 0x02,
        }
    }

    /// Whether this build can encode and decode the format.
    pub fn is_supported(self) -> bool {
        match self {
            Self::Json => true,
            Self::MessagePack => cfg!(feature = "ipc-messagepack"),
        }
    }

    /// Encodes `value`.
    ///
    /// # Errors
    /// [`CodecError::Encode`] when serde fails (a map with non-string keys in JSON,
    /// for instance), [`CodecError::MessagePackDisabled`] without MessagePack support.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::Json => serde_json::to_vec(value).map_err(|e| self.encode_error(e)),
            #[cfg(feature = "ipc-messagepack")]
            Self::MessagePack => rmp_serde::to_vec_named(value).map_err(|e| self.encode_error(e)),
            #[cfg(not(feature = "ipc-messagepack"))]
            Self::MessagePack => Err(CodecError::MessagePackDisabled),
        }
    }

    /// Encodes `value` as the payload of a complete version-2 frame of `kind`: the
    /// header and the payload in one buffer, with no copy of the payload.
    ///
    /// # Errors
    /// As [`encode`](Self::encode), and [`CodecError::TooLarge`] for a payload above
    /// the protocol's 16 MiB hard limit, which no conforming peer would accept.
    pub fn encode_frame<T: Serialize + ?Sized>(
        self,
        kind: crate::ipc::protocol::MessageKind,
        value: &T,
    ) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::Json => self.json_frame(kind, |frame| serde_json::to_writer(frame, value)),
            #[cfg(feature = "ipc-messagepack")]
            Self::MessagePack => {
                let mut frame = self.frame_header(kind);
                rmp_serde::encode::write_named(&mut frame, value)
                    .map_err(|e| self.encode_error(e))?;
                self.finish_frame(frame)
            }
            #[cfg(not(feature = "ipc-messagepack"))]
            Self::MessagePack => Err(CodecError::MessagePackDisabled),
        }
    }

    /// A JSON frame of `kind` whose payload `write` appends.
    pub(crate) fn json_frame(
        self,
        kind: crate::ipc::protocol::MessageKind,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
    ) -> Result<Vec<u8>, CodecError> {
        let mut frame = Self::Json.frame_header(kind);
        write(&mut frame).map_err(|e| Self::Json.encode_error(e))?;
        Self::Json.finish_frame(frame)
    }

    /// A frame's buffer holding its header, the length still zero: this thread's
    /// spare buffer (see [`recycle_frame`]) if it has one.
    fn frame_header(self, kind: crate::ipc::protocol::MessageKind) -> Vec<u8> {
        let mut frame = SPARE_FRAME.with(Cell::take);
        frame.clear();
        frame.reserve(128);
        frame.extend_from_slice(&[
            0,
            0,
            0,
            0,
            crate::ipc::protocol::PROTOCOL_VERSION,
            kind.as_byte(),
            self.as_byte(),
        ]);
        frame
    }

    /// Writes the payload's length into the header, refusing one above the limit.
    fn finish_frame(self, mut frame: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        let length = frame.len() - 7;
        let max = crate::ipc::protocol::MAX_FRAME_SIZE_HARD_LIMIT;
        if length > max {
            return Err(CodecError::TooLarge {
                format: self,
                length,
                max,
            });
        }
        // The hard limit (16 MiB) fits a u32.
        frame[..4].copy_from_slice(&(length as u32).to_be_bytes());
        Ok(frame)
    }

    /// Decodes a `T` from `bytes`.
    ///
    /// # Errors
    /// [`CodecError::Invalid`] when the bytes are malformed or of another shape
    /// (or, in MessagePack, nest deeper than 128 levels, as serde_json refuses for
    /// JSON),
    /// [`CodecError::MessagePackDisabled`] without MessagePack support.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Self::Json => serde_json::from_slice(bytes).map_err(|e| self.invalid(e)),
            #[cfg(feature = "ipc-messagepack")]
            Self::MessagePack => {
                self.check_depth(bytes)?;
                rmp_serde::from_slice(bytes).map_err(|e| self.invalid(e))
            }
            #[cfg(not(feature = "ipc-messagepack"))]
            Self::MessagePack => Err(CodecError::MessagePackDisabled),
        }
    }

    /// The encoding of an empty map (`{}`), which clients send for unit messages.
    pub(crate) fn empty_map(self) -> &'static [u8] {
        match self {
            Self::Json => b"{}",
            Self::MessagePack => &[0x80],
        }
    }

    /// The encoding of `null` / nil.
    pub(crate) fn null(self) -> &'static [u8] {
        match self {
            Self::Json => b"null",
            Self::MessagePack => &[0xc0],
        }
    }

    /// Whether `bytes` encode an empty map (ignoring JSON whitespace).
    pub(crate) fn is_empty_map(self, bytes: &[u8]) -> bool {
        match self {
            Self::Json => {
                let mut significant = bytes.iter().filter(|&&b| !is_json_whitespace(b));
                significant.next() == Some(&b'{')
                    && significant.next() == Some(&b'}')
                    && significant.next().is_none()
            }
            Self::MessagePack => bytes == self.empty_map(),
        }
    }

    /// Whether `bytes` encode `null` (in JSON, with whitespace around it).
    pub(crate) fn is_null(self, bytes: &[u8]) -> bool {
        match self {
            Self::Json => {
                let start = bytes.iter().position(|&b| !is_json_whitespace(b));
                let end = bytes.iter().rposition(|&b| !is_json_whitespace(b));
                matches!((start, end), (Some(start), Some(end)) if &bytes[start..=end] == b"null")
            }
            Self::MessagePack => bytes == self.null(),
        }
    }

    /// Refuses MessagePack that nests deeper than JSON may (128 levels): decoding
    /// it would recurse past what a thread's stack holds.
    pub(crate) fn check_depth(self, bytes: &[u8]) -> Result<(), CodecError> {
        let limit = super::msgpack::MAX_DEPTH;
        if self == Self::MessagePack && !super::msgpack::nests_within(bytes, limit) {
            return Err(self.invalid(format!("values nest deeper than {limit} levels")));
        }
        Ok(())
    }

    pub(crate) fn invalid(self, error: impl std::fmt::Display) -> CodecError {
        CodecError::Invalid {
            format: self,
            reason: error.to_string(),
        }
    }

    fn encode_error(self, error: impl std::fmt::Display) -> CodecError {
        CodecError::Encode {
            format: self,
            reason: error.to_string(),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::MessagePack => "MessagePack",
        })
    }
}

/// JSON's whitespace (RFC 8259): space, tab, line feed, carriage return — not the
/// form feed that `u8::is_ascii_whitespace` also counts.
pub(crate) fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

thread_local! {
    /// A frame buffer given back after its bytes were copied out, for this thread's
    /// next frame: an answer's frame then costs no allocation.
    static SPARE_FRAME: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The largest buffer kept as a thread's spare (larger ones are freed). Small:
/// a frame that is not given back (the client's, turned into `Bytes` and queued)
/// keeps the spare's capacity while it waits.
const MAX_SPARE_FRAME: usize = 1024;

/// Gives back a frame encoded by [`Format::encode_frame`] (or any buffer) whose
/// bytes are no longer needed, so that the thread's next frame reuses it.
pub(crate) fn recycle_frame(frame: Vec<u8>) {
    if frame.capacity() <= MAX_SPARE_FRAME {
        SPARE_FRAME.with(|spare| spare.set(frame));
    }
}
