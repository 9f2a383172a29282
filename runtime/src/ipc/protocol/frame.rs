//! Framing: a 7-byte header (length, version, kind, format) and a payload.
//!
//! ```text
//! offset size field
//! 0      4    payload length, u32 big-endian (header not counted)
//! 4      1    version: 0x02 (0x01: legacy 6-byte header without format byte, JSON)
//! 5      1    message kind
//! 6      1    format: 0x01 JSON, 0x02 MessagePack
//! 7      n    payload
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_HARD_LIMIT, PROTOCOL_VERSION};
use crate::ipc::Format;

/// The kind of a frame: its header's fifth byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// `0x01` client → server: a message for an actor.
    Request,
    /// `0x02` server → client: an answer.
    Response,
    /// `0x03` server → client: an answer with `success: false`.
    Error,
    /// `0x04` both ways: keep-alive; the server answers with a heartbeat.
    Heartbeat,
    /// `0x05` server → client: a broadcast the connection subscribed to.
    Push,
    /// `0x06` client → server: subscribe to message types.
    Subscribe,
    /// `0x07` client → server: unsubscribe (an empty list: from everything).
    Unsubscribe,
    /// `0x08` client → server: ask what the server offers.
    Discover,
    /// `0x09` server → client: one item of a stream.
    Stream,
    /// `0x0a` client → server: subscribe to name patterns (`prefix*`, `*`).
    SubscribePatterns,
    /// `0x0b` client → server: drop name patterns.
    UnsubscribePatterns,
    /// `0x10` client → server: the client no longer wants the answers of a
    /// request (`{correlation_id}`); the server ends it without answering. Sent
    /// only to servers whose discovery lists the `cancel` capability.
    Cancel,
}

impl MessageKind {
    /// The kind a byte names, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0x01 => Self::Request,
            0x02 => Self::Response,
            0x03 => Self::Error,
            0x04 => Self::Heartbeat,
            0x05 => Self::Push,
            0x06 => Self::Subscribe,
            0x07 => Self::Unsubscribe,
            0x08 => Self::Discover,
            0x09 => Self::Stream,
            0x0a => Self::SubscribePatterns,
            0x0b => Self::UnsubscribePatterns,
            0x10 => Self::Cancel,
            _ => return None,
        })
    }

    /// The kind's byte.
    pub fn as_byte(self) -> u8 {
        match self {
            Self::Request => 0x01,
            Self::Response => 0x02,
            Self::Error => 0x03,
            Self::Heartbeat => 0x04,
            Self::Push => 0x05,
            Self::Subscribe => 0x06,
            Self::Unsubscribe => 0x07,
            Self::Discover => 0x08,
            Self::Stream => 0x09,
            Self::SubscribePatterns => 0x0a,
            Self::UnsubscribePatterns => 0x0b,
            Self::Cancel => 0x10,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The version byte it arrived with (1 or 2).
    pub version: u8,
    /// What it is.
    pub kind: MessageKind,
    /// How its payload is encoded.
    pub format: Format,
    /// The payload bytes.
    pub payload: Bytes,
}

impl Frame {
    /// A version-2 frame.
    pub fn new(kind: MessageKind, format: Format, payload: impl Into<Bytes>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            kind,
            format,
            payload: payload.into(),
        }
    }

    /// A heartbeat: empty payload, JSON format.
    pub fn heartbeat() -> Self {
        Self::new(MessageKind::Heartbeat, Format::Json, Bytes::new())
    }

    /// The frame's bytes on the wire (always a version-2 header).
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = BytesMut::with_capacity(7 + self.payload.len());
        write_frame(self.kind, self.format, &self.payload, &mut out)?;
        Ok(out.to_vec())
    }
}

/// A header that makes the rest of the byte stream unreadable. After one of these
/// the connection cannot be resynchronised and is closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The announced payload length is above the configured maximum.
    #[error("frame of {length} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The announced length.
        length: usize,
        /// The maximum in force.
        max: usize,
    },
    /// The version byte is not 1 or 2.
    #[error("unsupported protocol version {0:#04x} (supported: 0x01, 0x02)")]
    UnsupportedVersion(u8),
    /// The kind byte names no message kind.
    #[error("unknown message kind {0:#04x}")]
    UnknownKind(u8),
    /// The format byte names no format.
    #[error("unknown format {0:#04x} (0x01 JSON, 0x02 MessagePack)")]
    UnknownFormat(u8),
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads and writes frames (a `tokio_util` codec).
///
/// The decoder checks a header as soon as its bytes arrive: an oversized length, an
/// unknown version, kind or format is an error before any of the payload is
/// buffered, and no buffer is ever sized from an announced length.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_size: usize,
    /// Frames decoded so far.
    decoded: u64,
    /// Whether the bytes after the last frame decoded are the start of one not
    /// yet whole.
    partial: bool,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameCodec {
    /// A codec refusing payloads above `max_frame_size` (capped at 16 MiB).
    pub fn new(max_frame_size: usize) -> Self {
        Self {
            max_frame_size: max_frame_size.min(MAX_FRAME_SIZE_HARD_LIMIT),
            decoded: 0,
            partial: false,
        }
    }

    /// The payload bound in force.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The number of the frame whose first bytes wait for the rest (the count
    /// of frames decoded before it), or `None` when no bytes wait. The server
    /// closes a connection whose frame takes too long to arrive whole.
    pub fn awaiting(&self) -> Option<u64> {
        self.partial.then_some(self.decoded)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let decoded = self.decode_frame(src);
        match &decoded {
            Ok(Some(_)) => {
                self.decoded += 1;
                self.partial = false;
            }
            Ok(None) => self.partial = !src.is_empty(),
            Err(_) => self.partial = false,
        }
        decoded
    }
}

impl FrameCodec {
    fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 5 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        let version = src[4];
        let header_len = match version {
            0x02 => 7,
            0x01 => 6,
            other => return Err(FrameError::UnsupportedVersion(other)),
        };
        if length > self.max_frame_size {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame_size,
            });
        }
        if src.len() < 6 {
            return Ok(None);
        }
        let kind = MessageKind::from_byte(src[5]).ok_or(FrameError::UnknownKind(src[5]))?;
        let format = if version == 0x02 {
            if src.len() < 7 {
                return Ok(None);
            }
            Format::from_byte(src[6]).ok_or(FrameError::UnknownFormat(src[6]))?
        } else {
            Format::Json
        };
        if src.len() < header_len + length {
            return Ok(None);
        }
        src.advance(header_len);
        let payload = src.split_to(length).freeze();
        Ok(Some(Frame {
            version,
            kind,
            format,
            payload,
        }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        write_frame(frame.kind, frame.format, &frame.payload, dst)
    }
}

/// Appends a version-2 frame to `dst`.
///
/// # Errors
/// [`FrameError::TooLarge`] for a payload above the 16 MiB hard limit.
pub fn write_frame(
    kind: MessageKind,
    format: Format,
    payload: &[u8],
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    if payload.len() > MAX_FRAME_SIZE_HARD_LIMIT {
        return Err(FrameError::TooLarge {
            length: payload.len(),
            max: MAX_FRAME_SIZE_HARD_LIMIT,
        });
    }
    dst.reserve(7 + payload.len());
    // The hard limit (16 MiB) fits a u32.
    dst.put_u32(payload.len() as u32);
    dst.put_u8(PROTOCOL_VERSION);
    dst.put_u8(kind.as_byte());
    dst.put_u8(format.as_byte());
    dst.put_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut buffer = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buffer)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn decodes_byte_by_byte_as_well_as_at_once() {
        let mut wire = BytesMut::new();
        write_frame(MessageKind::Request, Format::Json, br#"{"a":1}"#, &mut wire).unwrap();
        write_frame(MessageKind::Heartbeat, Format::Json, b"", &mut wire).unwrap();
        let whole = decode_all(&mut FrameCodec::default(), &wire).unwrap();
        assert_eq!(whole.len(), 2);

        let mut codec = FrameCodec::default();
        let mut buffer = BytesMut::new();
        let mut frames = Vec::new();
        for byte in wire.iter() {
            buffer.put_u8(*byte);
            while let Some(frame) = codec.decode(&mut buffer).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, whole);
        assert_eq!(frames[0].payload.as_ref(), br#"{"a":1}"#);
        assert_eq!(frames[1].kind, MessageKind::Heartbeat);
    }

    #[test]
    fn reads_legacy_version_one_headers_as_json() {
        let mut wire = vec![0, 0, 0, 2, 0x01, 0x04];
        wire.extend_from_slice(b"{}");
        let frames = decode_all(&mut FrameCodec::default(), &wire).unwrap();
        assert_eq!(frames[0].version, 1);
        assert_eq!(frames[0].format, Format::Json);
        assert_eq!(frames[0].payload.as_ref(), b"{}");
    }

    #[test]
    fn refuses_bad_headers_before_the_payload_arrives() {
        let mut codec = FrameCodec::new(16);
        assert!(matches!(
            decode_all(&mut codec, &[0, 0, 0, 17, 2, 1, 1]),
            Err(FrameError::TooLarge {
                length: 17,
                max: 16
            })
        ));
        assert!(matches!(
            decode_all(&mut codec, &[0xff, 0xff, 0xff, 0xff, 2]),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_all(&mut codec, &[0, 0, 0, 1, 3]),
            Err(FrameError::UnsupportedVersion(3))
        ));
        assert!(matches!(
            decode_all(&mut codec, &[0, 0, 0, 1, 2, 0x42]),
            Err(FrameError::UnknownKind(0x42))
        ));
        assert!(matches!(
            decode_all(&mut codec, &[0, 0, 0, 1, 2, 1, 9]),
            Err(FrameError::UnknownFormat(9))
        ));
    }

    #[test]
    fn the_hard_limit_caps_any_configuration() {
        assert_eq!(
            FrameCodec::new(usize::MAX).max_frame_size(),
            MAX_FRAME_SIZE_HARD_LIMIT
        );
    }
}
