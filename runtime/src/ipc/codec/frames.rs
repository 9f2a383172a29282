//! Building the frames the server sends.

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::ipc::protocol::{IpcResponse, IpcStreamFrame, MessageKind, PROTOCOL_VERSION};
use crate::ipc::Format;

/// A complete frame (header and payload).
pub(crate) fn frame_bytes(kind: MessageKind, format: Format, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(7 + payload.len());
    // Payloads we build stay far below 4 GiB; the decoder of the peer enforces its
    // own bound.
    frame.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    frame.put_u8(PROTOCOL_VERSION);
    frame.put_u8(kind.as_byte());
    frame.put_u8(format.as_byte());
    frame.put_slice(payload);
    frame.freeze()
}

/// A frame carrying a serde value; falls back to JSON when `format` cannot encode.
pub(crate) fn value_frame<T: Serialize>(kind: MessageKind, format: Format, value: &T) -> Bytes {
    match format.encode_frame(kind, value) {
        Ok(frame) => Bytes::from(frame),
        Err(_) => match Format::Json.encode_frame(kind, value) {
            Ok(frame) => Bytes::from(frame),
            Err(_) => frame_bytes(kind, Format::Json, b"{}"),
        },
    }
}

/// A successful RESPONSE's body, borrowed: the same bytes as
/// `IpcResponse::success(correlation_id, payload)`, without copying the id into
/// a `String` of its own (this is every reply's path).
#[derive(Debug)]
pub(crate) struct AnswerBody<'a, P: ?Sized> {
    pub(crate) correlation_id: &'a str,
    pub(crate) payload: &'a P,
}

impl<P: Serialize + ?Sized> Serialize for AnswerBody<'_, P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_struct("IpcResponse", 3)?;
        body.serialize_field("correlation_id", self.correlation_id)?;
        body.serialize_field("success", &true)?;
        body.serialize_field("payload", self.payload)?;
        body.end()
    }
}

/// A complete RESPONSE frame answering `correlation_id` with `payload`: the bytes
/// of `IpcResponse::success(correlation_id, payload)`. In JSON the fixed keys are
/// written as they are (serde would escape each of them for every answer: half
/// the cost of encoding a small one); only the id and the payload go through
/// serde_json.
pub(crate) fn answer_frame<P: Serialize + ?Sized>(
    format: Format,
    correlation_id: &str,
    payload: &P,
) -> Result<Vec<u8>, super::CodecError> {
    match format {
        Format::Json => format.json_frame(MessageKind::Response, |frame| {
            frame.extend_from_slice(br#"{"correlation_id":"#);
            json_string(frame, correlation_id)?;
            frame.extend_from_slice(br#","success":true,"payload":"#);
            serde_json::to_writer(&mut *frame, payload)?;
            frame.push(b'}');
            Ok(())
        }),
        Format::MessagePack => format.encode_frame(
            MessageKind::Response,
            &AnswerBody {
                correlation_id,
                payload,
            },
        ),
    }
}

/// Writes `text` as a JSON string, as serde_json writes it: as it is, between
/// quotes, when nothing in it needs an escape (a quote, a backslash, a control
/// character), which is every usual correlation id; otherwise through serde_json.
fn json_string(frame: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
    if super::scan::string_stop(text.as_bytes()).is_none() {
        frame.reserve(text.len() + 2);
        frame.push(b'"');
        frame.extend_from_slice(text.as_bytes());
        frame.push(b'"');
        return Ok(());
    }
    serde_json::to_writer(frame, text)
}

/// A STREAM item's body, borrowed: the same bytes as an [`IpcStreamFrame`] with
/// `is_final: false` and `payload: Some(payload)`.
#[derive(Debug)]
pub(crate) struct ItemBody<'a, P: ?Sized> {
    pub(crate) correlation_id: &'a str,
    pub(crate) sequence: u32,
    pub(crate) payload: &'a P,
}

impl<P: Serialize + ?Sized> Serialize for ItemBody<'_, P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_struct("IpcStreamFrame", 4)?;
        body.serialize_field("correlation_id", self.correlation_id)?;
        body.serialize_field("sequence", &self.sequence)?;
        body.serialize_field("is_final", &false)?;
        body.serialize_field("payload", self.payload)?;
        body.end()
    }
}

/// An ERROR frame.
pub(crate) fn error_frame(
    format: Format,
    correlation_id: &str,
    code: &str,
    message: impl Into<String>,
) -> Bytes {
    value_frame(
        MessageKind::Error,
        format,
        &IpcResponse::<()> {
            correlation_id: correlation_id.to_owned(),
            success: false,
            error: Some(message.into()),
            error_code: Some(code.to_owned()),
            payload: None,
        },
    )
}

/// A final STREAM frame: the end of a stream, failed when `error` is given.
pub(crate) fn final_stream_frame(
    format: Format,
    correlation_id: &str,
    sequence: u32,
    error: Option<(&str, String)>,
) -> Bytes {
    let (error_code, error) = match error {
        Some((code, message)) => (Some(code.to_owned()), Some(message)),
        None => (None, None),
    };
    value_frame(
        MessageKind::Stream,
        format,
        &IpcStreamFrame::<()> {
            correlation_id: correlation_id.to_owned(),
            sequence,
            is_final: true,
            error,
            error_code,
            payload: None,
        },
    )
}

/// [`failure_frame`] with `payload` (a failure's details).
pub(crate) fn failure_frame_with<P: Serialize>(
    format: Format,
    correlation_id: &str,
    stream: bool,
    sequence: u32,
    code: &str,
    message: String,
    payload: P,
) -> Bytes {
    if stream {
        value_frame(
            MessageKind::Stream,
            format,
            &IpcStreamFrame {
                correlation_id: correlation_id.to_owned(),
                sequence,
                is_final: true,
                error: Some(message),
                error_code: Some(code.to_owned()),
                payload: Some(payload),
            },
        )
    } else {
        value_frame(
            MessageKind::Error,
            format,
            &IpcResponse {
                correlation_id: correlation_id.to_owned(),
                success: false,
                error: Some(message),
                error_code: Some(code.to_owned()),
                payload: Some(payload),
            },
        )
    }
}

/// The frame that ends a request with a failure: a failed final STREAM frame
/// after `sequence` items for a stream request, an ERROR frame for any other.
pub(crate) fn failure_frame(
    format: Format,
    correlation_id: &str,
    stream: bool,
    sequence: u32,
    code: &str,
    message: String,
) -> Bytes {
    if stream {
        final_stream_frame(format, correlation_id, sequence, Some((code, message)))
    } else {
        error_frame(format, correlation_id, code, message)
    }
}

/// A HEARTBEAT: empty payload, JSON format.
pub(crate) fn heartbeat_frame() -> Bytes {
    frame_bytes(MessageKind::Heartbeat, Format::Json, b"")
}

#[cfg(test)]
mod borrowed_bodies {
    use super::*;

    #[derive(Serialize)]
    struct Sum {
        sum: i64,
        note: &'static str,
    }

    const ID: &str = "id \"quoted\" \u{e9}";

    fn formats() -> Vec<Format> {
        let mut formats = vec![Format::Json];
        if Format::MessagePack.is_supported() {
            formats.push(Format::MessagePack);
        }
        formats
    }

    #[test]
    fn an_answer_is_encoded_as_the_owned_response() {
        let payload = Sum { sum: 3, note: "x" };
        for format in formats() {
            let owned = format.encode(&IpcResponse::success(ID, &payload)).unwrap();
            let borrowed = format
                .encode(&AnswerBody {
                    correlation_id: ID,
                    payload: &payload,
                })
                .unwrap();
            assert_eq!(borrowed, owned, "{format:?}");
        }
    }

    #[test]
    fn an_answer_frame_is_the_owned_responses_frame() {
        let payloads = [
            serde_json::json!({"sum": 3, "note": "\"quoted\" \\ \u{1}"}),
            serde_json::json!(null),
            serde_json::json!([1, 2.5, "x"]),
        ];
        for id in [
            ID,
            "",
            "plain-1",
            "\u{7f}\u{2028}",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1f}",
            "é-ünïcode-and-a-longer-id-of-many-words",
        ] {
            for payload in &payloads {
                for format in formats() {
                    let owned = format
                        .encode_frame(MessageKind::Response, &IpcResponse::success(id, payload))
                        .unwrap();
                    let answer = answer_frame(format, id, payload).unwrap();
                    assert_eq!(answer, owned, "{format:?} {id:?} {payload}");
                }
            }
        }
    }

    #[test]
    fn an_item_is_encoded_as_the_owned_stream_frame() {
        let payload = Sum { sum: 4, note: "y" };
        for format in formats() {
            let owned = format
                .encode(&IpcStreamFrame {
                    correlation_id: ID.to_owned(),
                    sequence: 7,
                    is_final: false,
                    error: None,
                    error_code: None,
                    payload: Some(&payload),
                })
                .unwrap();
            let borrowed = format
                .encode(&ItemBody {
                    correlation_id: ID,
                    sequence: 7,
                    payload: &payload,
                })
                .unwrap();
            assert_eq!(borrowed, owned, "{format:?}");
        }
    }
}
