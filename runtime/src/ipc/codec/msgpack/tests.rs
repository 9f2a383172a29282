//! The MessagePack readers against serde: the scanner declines or agrees.

use super::*;
use serde::Serialize;

#[derive(Serialize)]
struct Envelope<'a> {
    correlation_id: &'a str,
    payload: Inner,
    after: Vec<u8>,
}

#[derive(Serialize)]
struct Inner {
    list: Vec<Option<f64>>,
    name: String,
    nested: std::collections::BTreeMap<String, (i64, bool)>,
    blob: serde_bytes_like::Blob,
}

mod serde_bytes_like {
    #[derive(serde::Serialize)]
    pub struct Blob(#[serde(with = "bytes_as_bin")] pub Vec<u8>);
    mod bytes_as_bin {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }
}

fn sample() -> Inner {
    Inner {
        list: vec![Some(1.5), None, Some(-2.0)],
        name: "x".repeat(300),
        nested: [("k".to_owned(), (-70_000, true))].into_iter().collect(),
        blob: serde_bytes_like::Blob(vec![7; 70_000]),
    }
}

#[test]
fn finds_the_payload_among_other_fields() {
    let bytes = rmp_serde::to_vec_named(&Envelope {
        correlation_id: "c",
        payload: sample(),
        after: vec![1, 2, 3],
    })
    .unwrap();
    let expected = rmp_serde::to_vec_named(&sample()).unwrap();
    assert_eq!(map_value(&bytes, "payload"), Some(&expected[..]));
    assert_eq!(map_value(&bytes, "missing"), None);
}

#[test]
fn nesting_is_measured_without_recursion() {
    // [[[...]]] 100_000 deep, in 100_000 bytes.
    let deep = vec![0x91u8; 100_000];
    assert!(!nests_within(&deep, MAX_DEPTH));
    let mut ok = vec![0x91u8; MAX_DEPTH - 1];
    ok.push(0xc0);
    assert!(nests_within(&ok, MAX_DEPTH));
    // Siblings do not add up: a map of many shallow arrays.
    let wide = rmp_serde::to_vec_named(&std::collections::BTreeMap::from([
        ("a", vec![vec![1]; 3]),
        ("b", vec![vec![2]; 3]),
    ]))
    .unwrap();
    assert!(nests_within(&wide, 3));
    assert!(!nests_within(&wide, 2));
    let bytes = rmp_serde::to_vec_named(&sample()).unwrap();
    assert!(nests_within(&bytes, MAX_DEPTH));
    for cut in 0..bytes.len() {
        let _ = nests_within(&bytes[..cut], 4);
    }
}

#[test]
fn counting_markers_never_answers_otherwise_than_walking() {
    // Whenever the count of marker bytes lets a value through, the walk would
    // have too: byte strings of markers, scalars and lengths, cut anywhere.
    let alphabet = [
        0x80u8, 0x81, 0x82, 0x91, 0x92, 0x9f, 0xdc, 0xde, 0x00, 0x01, 0xa1, 0xc0, 0xcc,
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let length = (seed % 24) as usize;
        let bytes: Vec<u8> = (0..length)
            .map(|i| alphabet[((seed >> (i % 8 * 8)) as usize + i) % alphabet.len()])
            .collect();
        for limit in 0..6 {
            if nests_within(&bytes, limit) != walk_within(&bytes, limit) {
                panic!("{bytes:02x?} at limit {limit}");
            }
        }
    }
}

/// A REQUEST envelope with every field, in the order clients send them.
#[derive(Serialize)]
struct Request<'a, P> {
    correlation_id: &'a str,
    target: &'a str,
    message_type: &'a str,
    payload: P,
    expects_reply: bool,
    expects_stream: bool,
    response_timeout_ms: u64,
}

fn request<P: Serialize>(payload: P) -> Vec<u8> {
    rmp_serde::to_vec_named(&Request {
        correlation_id: "c-1",
        target: "calculator",
        message_type: "AddRequest",
        payload,
        expects_reply: true,
        expects_stream: false,
        response_timeout_ms: 5_000,
    })
    .expect("encodes")
}

/// `scan_envelope` either declines or agrees with serde's path exactly —
/// except for a payload serde refuses, which the decoding of its type must
/// refuse too.
fn agrees(bytes: &[u8]) {
    let Some((header, payload)) = scan_envelope(bytes) else {
        return;
    };
    let Ok((expected, expected_payload)) = crate::ipc::codec::serde_envelope::parse_msgpack(bytes)
    else {
        assert!(
            rmp_serde::from_slice::<serde::de::IgnoredAny>(payload).is_err(),
            "scanned what serde refuses, and not for its payload: {bytes:02x?}"
        );
        return;
    };
    assert_eq!(header, expected, "{bytes:02x?}");
    assert_eq!(payload, expected_payload, "{bytes:02x?}");
}

#[test]
fn the_common_envelope_is_read_without_serde() {
    let bytes = request(sample());
    let (header, payload) = scan_envelope(&bytes).expect("the common shape");
    assert_eq!(header.correlation_id, "c-1");
    assert_eq!(header.target, "calculator");
    assert_eq!(header.message_type, "AddRequest");
    assert!(header.expects_reply && !header.expects_stream);
    assert_eq!(header.response_timeout_ms, 5_000);
    assert_eq!(
        payload,
        rmp_serde::to_vec_named(&sample()).expect("encodes")
    );
    agrees(&bytes);
    // Only the required keys: the others take their defaults.
    #[derive(Serialize)]
    struct Minimal<'a> {
        payload: (),
        message_type: &'a str,
        target: &'a str,
        correlation_id: &'a str,
    }
    let minimal = rmp_serde::to_vec_named(&Minimal {
        payload: (),
        message_type: "Ping",
        target: "t",
        correlation_id: "x",
    })
    .expect("encodes");
    let (header, payload) = scan_envelope(&minimal).expect("required keys only");
    assert_eq!(header.response_timeout_ms, 30_000);
    assert!(!header.expects_reply && !header.expects_stream);
    assert_eq!(payload, [0xc0]);
    agrees(&minimal);
}

#[test]
fn shapes_outside_the_common_one_are_left_to_serde() {
    let common = request(1);
    let mut trailing = common.clone();
    trailing.push(0xc0);
    // A map of eight entries whose eighth is an unknown key.
    let mut unknown = common.clone();
    unknown[0] += 1;
    unknown.extend_from_slice(&[0xa5, b'e', b'x', b't', b'r', b'a', 0x01]);
    // The payload key again.
    let mut repeated = common.clone();
    repeated[0] += 1;
    repeated.extend_from_slice(&[0xa7, b'p', b'a', b'y', b'l', b'o', b'a', b'd', 0x01]);
    let deep = request(nested_arrays(100));
    for (bytes, why) in [
        (trailing, "trailing bytes"),
        (unknown, "an unknown key"),
        (repeated, "a repeated key"),
        (deep, "a payload with 100 arrays"),
        (
            rmp_serde::to_vec(&("c", "t", "m")).expect("encodes"),
            "an array",
        ),
    ] {
        assert!(scan_envelope(&bytes).is_none(), "{why}");
        agrees(&bytes);
    }
    // A signed timeout, a string flag, a binary target: serde's to judge.
    for (key, value) in [
        (
            "response_timeout_ms",
            rmp_serde::to_vec(&-1i64).expect("encodes"),
        ),
        ("expects_reply", rmp_serde::to_vec("yes").expect("encodes")),
        ("target", vec![0xc4, 0x01, b't']),
    ] {
        let bytes = envelope_with(key, &value);
        assert!(scan_envelope(&bytes).is_none(), "{key}");
        agrees(&bytes);
    }
}

/// `[[[...1...]]]`, `depth` arrays deep.
fn nested_arrays(depth: usize) -> serde_json::Value {
    (0..depth).fold(serde_json::json!(1), |inner, _| serde_json::json!([inner]))
}

/// The common envelope with `key`'s value replaced by the raw `value`.
fn envelope_with(key: &str, value: &[u8]) -> Vec<u8> {
    let fields: [(&str, Vec<u8>); 4] = [
        ("correlation_id", rmp_serde::to_vec("c").expect("encodes")),
        ("target", rmp_serde::to_vec("t").expect("encodes")),
        ("message_type", rmp_serde::to_vec("M").expect("encodes")),
        ("payload", rmp_serde::to_vec(&1).expect("encodes")),
    ];
    let mut bytes = vec![0x85];
    for (name, encoded) in &fields {
        bytes.extend(rmp_serde::to_vec(name).expect("encodes"));
        bytes.extend(if *name == key { value } else { &encoded[..] });
    }
    if !fields.iter().any(|(name, _)| *name == key) {
        bytes.extend(rmp_serde::to_vec(key).expect("encodes"));
        bytes.extend_from_slice(value);
    } else {
        bytes[0] = 0x84;
    }
    bytes
}

#[test]
fn damaged_envelopes_are_declined_or_read_as_serde_reads_them() {
    let alphabet = [
        0x00u8, 0x01, 0x7f, 0x80, 0x81, 0x87, 0x88, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1, 0xa6, 0xa7,
        0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xca, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd9, 0xda,
        0xdb, 0xdc, 0xde, 0xdf, 0xe0, 0xff,
    ];
    for bytes in [request(sample()), request((1, "two", [3.5])), request(())] {
        let bytes = if bytes.len() > 400 {
            // The sample's 70 KB blob: damage its envelope, not every byte of it.
            request((1, "x".repeat(40), vec![Some(2.5), None]))
        } else {
            bytes
        };
        for cut in 0..bytes.len() {
            agrees(&bytes[..cut]);
        }
        for at in 0..bytes.len() {
            for &byte in &alphabet {
                let mut damaged = bytes.clone();
                damaged[at] = byte;
                agrees(&damaged);
            }
        }
    }
}

#[test]
fn malformed_input_is_none_not_a_panic() {
    let bytes = rmp_serde::to_vec_named(&Envelope {
        correlation_id: "c",
        payload: sample(),
        after: vec![],
    })
    .unwrap();
    for cut in 0..bytes.len() {
        let _ = map_value(&bytes[..cut], "after");
    }
    // A header that claims four billion elements in a few bytes.
    assert_eq!(
        map_value(&[0x81, 0xa1, b'p', 0xdd, 0xff, 0xff, 0xff, 0xff], "p"),
        None
    );
    assert_eq!(map_value(&[0xc1], "p"), None);
    assert_eq!(map_value(&[], "p"), None);
}
