//! Splitting a REQUEST payload into its header fields and the raw bytes of its
//! `payload`, which the registry then decodes straight into the registered type.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::format::{CodecError, Format};
use super::template::EnvelopeTemplate;
use crate::ipc::protocol::{CorrelationId, RequestHeader, MAX_CORRELATION_ID_LEN};

/// A request's deadline when its envelope gives none.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 30_000;

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

#[derive(Deserialize)]
struct JsonEnvelope<'a> {
    #[serde(borrow)]
    correlation_id: Cow<'a, str>,
    #[serde(borrow)]
    target: Cow<'a, str>,
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
    #[serde(default)]
    expects_reply: bool,
    #[serde(default)]
    expects_stream: bool,
    #[serde(default = "default_timeout_ms")]
    response_timeout_ms: u64,
}

/// A key of the envelope, as the scanners ([`super::scan`],
/// [`super::msgpack::scan_envelope`]) read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    CorrelationId,
    Target,
    MessageType,
    Payload,
    ExpectsReply,
    ExpectsStream,
    ResponseTimeoutMs,
}

impl Key {
    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Whether `bytes` start with this key's name, and the name's length. Each
    /// name is compared as an array of its own length, without a call to
    /// `memcmp` (the envelope's keys are read on every request).
    #[inline]
    fn prefixes(self, bytes: &[u8]) -> Option<usize> {
        #[inline]
        fn starts<const N: usize>(bytes: &[u8], name: &[u8; N]) -> Option<usize> {
            (bytes.first_chunk::<N>() == Some(name)).then_some(N)
        }
        match self {
            Self::CorrelationId => starts(bytes, b"correlation_id"),
            Self::Target => starts(bytes, b"target"),
            Self::MessageType => starts(bytes, b"message_type"),
            Self::Payload => starts(bytes, b"payload"),
            Self::ExpectsReply => starts(bytes, b"expects_reply"),
            Self::ExpectsStream => starts(bytes, b"expects_stream"),
            Self::ResponseTimeoutMs => starts(bytes, b"response_timeout_ms"),
        }
    }

    /// The key named `name` (compared as bytes).
    #[inline]
    pub(super) fn named(name: &[u8]) -> Option<Self> {
        let key = Self::guess(name.first()?, name.get(8))?;
        (key.prefixes(name)? == name.len()).then_some(key)
    }

    /// The key whose name, then `end`, start `bytes`, and the length of both:
    /// a key read where it stands, without searching for its end first.
    #[inline]
    pub(super) fn starting(bytes: &[u8], end: u8) -> Option<(Self, usize)> {
        let key = Self::guess(bytes.first()?, bytes.get(8))?;
        let length = key.prefixes(bytes)?;
        (bytes.get(length) == Some(&end)).then_some((key, length + 1))
    }

    /// The only key a name can be, from its first and ninth bytes
    /// (`expects_reply` and `expects_stream` part there).
    #[inline]
    fn guess(first: &u8, ninth: Option<&u8>) -> Option<Self> {
        Some(match first {
            b'c' => Self::CorrelationId,
            b't' => Self::Target,
            b'm' => Self::MessageType,
            b'p' => Self::Payload,
            b'r' => Self::ResponseTimeoutMs,
            b'e' if ninth == Some(&b'r') => Self::ExpectsReply,
            b'e' => Self::ExpectsStream,
            _ => return None,
        })
    }
}

/// The fields a scanner found: each key at most once, the four required ones
/// present at the end, the others defaulting as serde's derive defaults them.
pub(super) struct Fields<'a> {
    pub(super) header: RequestHeader<'a>,
    pub(super) payload: &'a [u8],
    seen: u8,
}

impl<'a> Fields<'a> {
    #[inline]
    pub(super) fn new() -> Self {
        Self {
            header: RequestHeader {
                correlation_id: Cow::Borrowed(""),
                target: Cow::Borrowed(""),
                message_type: Cow::Borrowed(""),
                expects_reply: false,
                expects_stream: false,
                response_timeout_ms: DEFAULT_TIMEOUT_MS,
            },
            payload: &[],
            seen: 0,
        }
    }

    /// `key`, the first time it comes; `None` when it came before: the
    /// scanner declines.
    #[inline]
    pub(super) fn first(&mut self, key: Key) -> Option<Key> {
        if self.seen & key.bit() != 0 {
            return None;
        }
        self.seen |= key.bit();
        Some(key)
    }

    /// The header and payload, when every required key came.
    #[inline]
    pub(super) fn finish(self) -> Option<(RequestHeader<'a>, &'a [u8])> {
        let required = Key::CorrelationId.bit()
            | Key::Target.bit()
            | Key::MessageType.bit()
            | Key::Payload.bit();
        (self.seen & required == required).then_some((self.header, self.payload))
    }
}

/// Parses a REQUEST payload.
///
/// # Errors
/// When the bytes are not an envelope in `format`.
pub(crate) fn parse(
    format: Format,
    bytes: &[u8],
) -> Result<(RequestHeader<'_>, &[u8]), CodecError> {
    match format {
        Format::Json => match super::scan::scan(bytes) {
            Some(parsed) => Ok(parsed),
            None => parse_with_serde(bytes).map_err(|e| format.invalid(e)),
        },
        Format::MessagePack => {
            if cfg!(feature = "ipc-messagepack") {
                if let Some(parsed) = super::msgpack::scan_envelope(bytes) {
                    return Ok(parsed);
                }
            }
            parse_msgpack_with_serde(bytes)
        }
    }
}

/// [`parse`], remembering the shape of envelopes in `template` (one per
/// connection): an envelope of the shape of the last is read through it, with
/// the same answer for a fraction of the work.
///
/// # Errors
/// As [`parse`].
pub(crate) fn parse_remembering<'b>(
    template: &mut EnvelopeTemplate,
    format: Format,
    bytes: &'b [u8],
) -> Result<(RequestHeader<'b>, &'b [u8]), CodecError> {
    match format {
        Format::Json => match template.read(format, bytes) {
            Some(read) => Ok(read),
            None => parse_with_serde(bytes).map_err(|e| format.invalid(e)),
        },
        Format::MessagePack if cfg!(feature = "ipc-messagepack") => {
            match template.read(format, bytes) {
                Some(read) => Ok(read),
                None => parse_msgpack_with_serde(bytes),
            }
        }
        Format::MessagePack => parse_msgpack_with_serde(bytes),
    }
}

/// A MessagePack envelope parsed by serde: any shape the protocol allows, and the
/// errors reported for what it does not.
pub(crate) fn parse_msgpack_with_serde(
    bytes: &[u8],
) -> Result<(RequestHeader<'_>, &[u8]), CodecError> {
    let format = Format::MessagePack;
    format.check_depth(bytes)?;
    let header: RequestHeader<'_> = decode_borrowed(bytes).map_err(|e| format.invalid(e))?;
    let payload = super::msgpack::map_value(bytes, "payload")
        .ok_or_else(|| format.invalid("missing field `payload`"))?;
    Ok((header, payload))
}

/// A JSON envelope parsed by serde: any shape the protocol allows, and the
/// errors reported for what it does not.
pub(crate) fn parse_with_serde(
    bytes: &[u8],
) -> Result<(RequestHeader<'_>, &[u8]), serde_json::Error> {
    let envelope: JsonEnvelope<'_> = serde_json::from_slice(bytes)?;
    let header = RequestHeader {
        correlation_id: envelope.correlation_id,
        target: envelope.target,
        message_type: envelope.message_type,
        expects_reply: envelope.expects_reply,
        expects_stream: envelope.expects_stream,
        response_timeout_ms: envelope.response_timeout_ms,
    };
    Ok((header, envelope.payload.get().as_bytes()))
}

#[cfg(feature = "ipc-messagepack")]
fn decode_borrowed(bytes: &[u8]) -> Result<RequestHeader<'_>, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

#[cfg(not(feature = "ipc-messagepack"))]
fn decode_borrowed(_bytes: &[u8]) -> Result<RequestHeader<'_>, CodecError> {
    Err(CodecError::MessagePackDisabled)
}

/// The correlation id of a payload that is not a valid envelope, when it has one
/// of an acceptable length: an error about it is then matched to the right
/// request.
pub(crate) fn salvage_correlation_id(format: Format, bytes: &[u8]) -> Option<String> {
    format
        .decode::<CorrelationId>(bytes)
        .ok()
        .map(|id| id.correlation_id)
        .filter(|id| id.len() <= MAX_CORRELATION_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_payload_is_returned_verbatim() {
        let (header, payload) = parse(
            Format::Json,
            br#"{"payload": {"a": [1, 2]}, "target": "calc", "message_type": "Add", "correlation_id": "c1", "expects_reply": true}"#,
        )
        .unwrap();
        assert_eq!(header.correlation_id, "c1");
        assert_eq!(header.target, "calc");
        assert!(header.expects_reply && !header.expects_stream);
        assert_eq!(header.response_timeout_ms, 30_000);
        assert_eq!(payload, br#"{"a": [1, 2]}"#);
    }

    #[test]
    fn a_missing_payload_is_an_error() {
        assert!(parse(
            Format::Json,
            br#"{"target": "c", "message_type": "A", "correlation_id": "1"}"#
        )
        .is_err());
        assert_eq!(
            salvage_correlation_id(Format::Json, br#"{"correlation_id": "1"}"#).as_deref(),
            Some("1")
        );
    }
}
