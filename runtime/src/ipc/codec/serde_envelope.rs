//! The request envelope parsed by serde: every shape the protocol allows, and
//! the errors reported for what it does not. The scanners read the common shape
//! faster and decline the rest to these.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::DEFAULT_TIMEOUT_MS;
use super::format::{CodecError, Format};
use crate::ipc::protocol::RequestHeader;

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

/// A MessagePack envelope parsed by serde: any shape the protocol allows, and the
/// errors reported for what it does not.
pub(crate) fn parse_msgpack(bytes: &[u8]) -> Result<(RequestHeader<'_>, &[u8]), CodecError> {
    let format = Format::MessagePack;
    format.check_depth(bytes)?;
    let header: RequestHeader<'_> = decode_borrowed(bytes).map_err(|e| format.invalid(e))?;
    let payload = super::msgpack::map_value(bytes, "payload")
        .ok_or_else(|| format.invalid("missing field `payload`"))?;
    Ok((header, payload))
}

/// A JSON envelope parsed by serde: any shape the protocol allows, and the
/// errors reported for what it does not.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<(RequestHeader<'_>, &[u8]), serde_json::Error> {
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
