//! The shared protocol test vectors (`tests/vectors/protocol.json` at the top of
//! the repository): every frame decodes to its stated meaning, and encoding that
//! meaning with our wire types gives exactly its bytes.
//!
//! `ACTON_BLESS_VECTORS=1 cargo test --test vectors` rewrites the `hex` fields
//! from the values (for a deliberate protocol change; review the diff).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use acton_reactive::ipc::protocol::{
    ConnectionLimit, CorrelationId, Frame, IpcDiscoverRequest, IpcDiscoverResponse, IpcEnvelope,
    IpcPatternRequest, IpcPushNotification, IpcResponse, IpcStreamFrame, IpcSubscribeRequest,
    IpcSubscriptionResponse, MessageKind,
};
use acton_reactive::ipc::Format;
use serde_json::Value;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/vectors/protocol.json"
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn format_of(name: &str) -> Format {
    match name {
        "json" => Format::Json,
        "messagepack" => Format::MessagePack,
        other => panic!("unknown format {other}"),
    }
}

/// Encodes a vector's value through the wire type its `type` names.
fn encode(kind: &str, format: Format, value: &Value) -> Vec<u8> {
    fn via<T: serde::de::DeserializeOwned + serde::Serialize>(
        format: Format,
        value: &Value,
    ) -> Vec<u8> {
        let typed: T = serde_json::from_value(value.clone()).expect("the value fits its wire type");
        format.encode(&typed).expect("encodes")
    }
    match kind {
        "envelope" => via::<IpcEnvelope<Value>>(format, value),
        "response" => via::<IpcResponse<Value>>(format, value),
        "rejection" => via::<IpcResponse<ConnectionLimit>>(format, value),
        "stream" => via::<IpcStreamFrame<Value>>(format, value),
        "push" => via::<IpcPushNotification<Value>>(format, value),
        "subscribe" => via::<IpcSubscribeRequest>(format, value),
        "patterns" => via::<IpcPatternRequest>(format, value),
        "subscription_response" => via::<IpcSubscriptionResponse>(format, value),
        "discover" => via::<IpcDiscoverRequest>(format, value),
        "correlation_id" => via::<CorrelationId>(format, value),
        "discover_response" => via::<IpcDiscoverResponse>(format, value),
        "heartbeat" => Vec::new(),
        other => panic!("unknown vector type {other}"),
    }
}

fn decode(format: Format, payload: &[u8]) -> Value {
    if payload.is_empty() {
        return Value::Null;
    }
    match format {
        Format::Json => serde_json::from_slice(payload).unwrap(),
        Format::MessagePack => rmp_serde::from_slice(payload).unwrap(),
    }
}

#[test]
fn every_vector_decodes_to_its_meaning_and_encodes_to_its_bytes() {
    let text = std::fs::read_to_string(PATH).expect("vectors file");
    let mut document: Value = serde_json::from_str(&text).expect("vectors are JSON");
    let bless = std::env::var_os("ACTON_BLESS_VECTORS").is_some();
    let kinds = document["kinds"].clone();
    let vectors = document["vectors"].as_array_mut().expect("vectors");
    assert!(vectors.len() >= 30);

    for vector in vectors.iter_mut() {
        let name = vector["name"].as_str().unwrap().to_owned();
        let format = format_of(vector["format"].as_str().unwrap());
        let kind_byte = kinds[vector["kind"].as_str().unwrap()].as_u64().unwrap() as u8;
        let kind = MessageKind::from_byte(kind_byte).unwrap();
        let version = vector["version"].as_u64().unwrap() as u8;
        let value = vector["value"].clone();
        let decode_only = vector["decode_only"].as_bool().unwrap_or(false);

        if bless {
            let payload = if decode_only {
                serde_json::to_vec(&value).unwrap()
            } else {
                encode(vector["type"].as_str().unwrap(), format, &value)
            };
            let mut bytes = Frame::new(kind, format, payload.clone())
                .to_bytes()
                .unwrap();
            if version == 1 {
                bytes = (payload.len() as u32).to_be_bytes().to_vec();
                bytes.extend_from_slice(&[1, kind_byte]);
                bytes.extend_from_slice(&payload);
            }
            vector["hex"] = Value::String(hex(&bytes));
        }

        let bytes = unhex(
            vector["hex"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no hex; bless the vectors")),
        );
        // Decode: header, then payload.
        let header_len = if version == 1 { 6 } else { 7 };
        let length = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(length, bytes.len() - header_len, "{name}: length field");
        assert_eq!(bytes[4], version, "{name}: version");
        assert_eq!(bytes[5], kind_byte, "{name}: kind");
        if version == 2 {
            assert_eq!(bytes[6], format.as_byte(), "{name}: format");
        }
        assert_eq!(
            decode(format, &bytes[header_len..]),
            value,
            "{name}: meaning"
        );

        // Encode: the wire types give exactly these bytes.
        if !decode_only {
            let payload = encode(vector["type"].as_str().unwrap(), format, &value);
            let ours = Frame::new(kind, format, payload).to_bytes().unwrap();
            assert_eq!(hex(&ours), hex(&bytes), "{name}: encoding");
        }
    }

    if bless {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&document).unwrap() + "\n",
        )
        .unwrap();
    }
}
