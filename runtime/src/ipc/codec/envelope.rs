//! Splitting a REQUEST payload into its header fields and the raw bytes of its
//! `payload`, which the registry then decodes straight into the registered type.

use super::format::{CodecError, Format};
use super::serde_envelope::{parse_json, parse_msgpack};
use super::template::EnvelopeTemplate;
use crate::ipc::protocol::{CorrelationId, RequestHeader, MAX_CORRELATION_ID_LEN};

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
            None => parse_json(bytes).map_err(|e| format.invalid(e)),
        },
        Format::MessagePack => {
            if cfg!(feature = "ipc-messagepack") {
                if let Some(parsed) = super::msgpack::scan_envelope(bytes) {
                    return Ok(parsed);
                }
            }
            parse_msgpack(bytes)
        }
    }
}

/// [`parse`], remembering the shape of envelopes in `template` (one per
/// connection): an envelope of the shape of the last is read through it, with
/// the same answer for a fraction of the work.
///
/// # Errors
/// As [`parse`].
#[inline]
pub(crate) fn parse_remembering<'b>(
    template: &mut EnvelopeTemplate,
    format: Format,
    bytes: &'b [u8],
) -> Result<(RequestHeader<'b>, &'b [u8]), CodecError> {
    match format {
        Format::Json => match template.read(format, bytes) {
            Some(read) => Ok(read),
            None => parse_json(bytes).map_err(|e| format.invalid(e)),
        },
        Format::MessagePack if cfg!(feature = "ipc-messagepack") => {
            match template.read(format, bytes) {
                Some(read) => Ok(read),
                None => parse_msgpack(bytes),
            }
        }
        Format::MessagePack => parse_msgpack(bytes),
    }
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
