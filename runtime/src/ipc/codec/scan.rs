//! The JSON request envelope read without serde, for the shape every client
//! sends: one object of the envelope's known keys, its strings without escapes.
//!
//! It is the server's hottest parse (every JSON request), and serde's derive pays
//! for generality the envelope does not need: field-name matching through a
//! visitor, `Cow` strings, a `RawValue` payload. [`scan`] answers `None` — and
//! the caller parses with serde, which then accepts or reports exactly as before —
//! for anything outside that shape: an unknown or repeated key, an escape or a
//! control character in a string, a value of another type, a number serde would
//! read differently, trailing bytes, a payload nested deeply enough to meet
//! serde's depth limit. The payload itself is validated by serde_json (skipped
//! as `IgnoredAny`), so what is accepted here is what serde accepts.

use std::borrow::Cow;

use serde::de::IgnoredAny;

use crate::ipc::protocol::RequestHeader;

/// The envelope keys, each a bit of the "seen" mask.
const CORRELATION_ID: u8 = 1;
const TARGET: u8 = 1 << 1;
const MESSAGE_TYPE: u8 = 1 << 2;
const PAYLOAD: u8 = 1 << 3;
const EXPECTS_REPLY: u8 = 1 << 4;
const EXPECTS_STREAM: u8 = 1 << 5;
const RESPONSE_TIMEOUT_MS: u8 = 1 << 6;
const REQUIRED: u8 = CORRELATION_ID | TARGET | MESSAGE_TYPE | PAYLOAD;

/// serde_json refuses input nested deeper than 128; a payload with this many
/// opening brackets might come near it inside the envelope, and is left to serde.
const DEPTH_MARGIN: usize = 100;

/// The header and the raw payload of a JSON envelope of the common shape, or
/// `None` for serde to parse.
pub(crate) fn scan(bytes: &[u8]) -> Option<(RequestHeader<'_>, &[u8])> {
    let mut cursor = Cursor { bytes, at: 0 };
    cursor.expect(b'{')?;
    let mut seen = 0u8;
    let mut header = RequestHeader {
        correlation_id: Cow::Borrowed(""),
        target: Cow::Borrowed(""),
        message_type: Cow::Borrowed(""),
        expects_reply: false,
        expects_stream: false,
        response_timeout_ms: super::envelope::DEFAULT_TIMEOUT_MS,
    };
    let mut payload: &[u8] = &[];
    if cursor.peek()? == b'}' {
        return None; // no fields: serde reports the missing ones
    }
    loop {
        let key = match cursor.string()? {
            "correlation_id" => CORRELATION_ID,
            "target" => TARGET,
            "message_type" => MESSAGE_TYPE,
            "payload" => PAYLOAD,
            "expects_reply" => EXPECTS_REPLY,
            "expects_stream" => EXPECTS_STREAM,
            "response_timeout_ms" => RESPONSE_TIMEOUT_MS,
            _ => return None,
        };
        if seen & key != 0 {
            return None;
        }
        seen |= key;
        cursor.expect(b':')?;
        match key {
            CORRELATION_ID => header.correlation_id = Cow::Borrowed(cursor.string()?),
            TARGET => header.target = Cow::Borrowed(cursor.string()?),
            MESSAGE_TYPE => header.message_type = Cow::Borrowed(cursor.string()?),
            PAYLOAD => payload = cursor.value()?,
            EXPECTS_REPLY => header.expects_reply = cursor.boolean()?,
            EXPECTS_STREAM => header.expects_stream = cursor.boolean()?,
            _ => header.response_timeout_ms = cursor.unsigned()?,
        }
        match cursor.next_token()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    // Only whitespace may follow.
    cursor.skip_whitespace();
    (cursor.at == bytes.len() && seen & REQUIRED == REQUIRED).then_some((header, payload))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied()
    }

    /// The next byte that is not whitespace, consumed.
    fn next_token(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_token()? == byte).then_some(())
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let length = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[length] != b'"' {
            return None;
        }
        self.at = start + length + 1;
        std::str::from_utf8(&rest[..length]).ok()
    }

    fn boolean(&mut self) -> Option<bool> {
        self.skip_whitespace();
        let rest = self.bytes.get(self.at..)?;
        let (value, length) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.at += length;
        self.delimited().then_some(value)
    }

    /// A plain non-negative integer (`0`, or digits without a leading zero) that
    /// fits in a `u64`; a fraction or an exponent is left to serde.
    fn unsigned(&mut self) -> Option<u64> {
        self.skip_whitespace();
        let rest = self.bytes.get(self.at..)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && rest[0] == b'0') {
            return None;
        }
        let mut value = 0u64;
        for &digit in &rest[..digits] {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        self.at += digits;
        self.delimited().then_some(value)
    }

    /// Whether the value just read ends here (the byte after it may not continue
    /// it: `truex`, `12.5` and `1e3` are not what was read).
    fn delimited(&self) -> bool {
        matches!(
            self.bytes.get(self.at),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}')
        )
    }

    /// Any JSON value, validated by serde_json, as its raw bytes.
    fn value(&mut self) -> Option<&'a [u8]> {
        self.skip_whitespace();
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
        values.next()?.ok()?;
        let length = values.byte_offset();
        let value = &rest[..length];
        // serde_json skips a value's strings without checking their UTF-8; its
        // `RawValue` checks the whole value.
        std::str::from_utf8(value).ok()?;
        let brackets = value.iter().filter(|&&b| b == b'{' || b == b'[').count();
        if brackets >= DEPTH_MARGIN {
            return None;
        }
        self.at = start + length;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::codec::envelope::parse_with_serde;

    /// `scan` either declines or agrees with serde exactly.
    fn agrees(text: &[u8]) {
        let Some((header, payload)) = scan(text) else {
            return;
        };
        let (expected, expected_payload) = parse_with_serde(text).unwrap_or_else(|error| {
            panic!(
                "scan accepted what serde refuses ({error}): {}",
                String::from_utf8_lossy(text)
            )
        });
        assert_eq!(header.correlation_id, expected.correlation_id);
        assert_eq!(header.target, expected.target);
        assert_eq!(header.message_type, expected.message_type);
        assert_eq!(header.expects_reply, expected.expects_reply);
        assert_eq!(header.expects_stream, expected.expects_stream);
        assert_eq!(header.response_timeout_ms, expected.response_timeout_ms);
        assert_eq!(payload, expected_payload);
    }

    const COMMON: &str = r#"{"correlation_id":"c-1","target":"calculator","message_type":"AddRequest","payload":{"a":1,"b":[2,{"c":"x"}]},"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000}"#;

    #[test]
    fn the_common_shape_is_read_without_serde() {
        let (header, payload) = scan(COMMON.as_bytes()).expect("the common shape");
        assert_eq!(header.correlation_id, "c-1");
        assert_eq!(header.target, "calculator");
        assert_eq!(header.message_type, "AddRequest");
        assert!(header.expects_reply && !header.expects_stream);
        assert_eq!(header.response_timeout_ms, 5000);
        assert_eq!(payload, br#"{"a":1,"b":[2,{"c":"x"}]}"#);
        agrees(COMMON.as_bytes());
        // Spaces anywhere, keys in any order, defaults.
        let spaced = b" {\n \"payload\" : [ 1 , 2 ] ,\t\"message_type\":\"A\", \"target\" :\"t\",\"correlation_id\":\"\" } \n";
        let (header, payload) = scan(spaced).expect("whitespace and order do not matter");
        assert_eq!(payload, b"[ 1 , 2 ]");
        assert_eq!(header.response_timeout_ms, 30_000);
        assert!(!header.expects_reply);
        agrees(spaced);
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        let declined: &[&[u8]] = &[
            br#"{"correlation_id":"c\"1","target":"t","message_type":"A","payload":1}"#,
            br#"{"correlation_id":"c\u0031","target":"t","message_type":"A","payload":1}"#,
            b"{\"correlation_id\":\"c\x01\",\"target\":\"t\",\"message_type\":\"A\",\"payload\":1}",
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"extra":2}"#,
            br#"{"correlation_id":"c","correlation_id":"d","target":"t","message_type":"A","payload":1}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A"}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"response_timeout_ms":1.5}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"response_timeout_ms":1e3}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"response_timeout_ms":01}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"response_timeout_ms":-1}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"response_timeout_ms":18446744073709551616}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"expects_reply":truex}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,"expects_reply":null}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1} x"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":1,}"#,
            br#"{"correlation_id":"c","target":"t","message_type":"A","payload":{"a":}}"#,
            br#"{"correlation_id":7,"target":"t","message_type":"A","payload":1}"#,
            b"{\"correlation_id\":\"\xff\",\"target\":\"t\",\"message_type\":\"A\",\"payload\":1}",
            b"",
            b"{",
            b"{}",
            b"[]",
        ];
        for text in declined {
            assert!(scan(text).is_none(), "{}", String::from_utf8_lossy(text));
        }
        let deep = format!(
            r#"{{"correlation_id":"c","target":"t","message_type":"A","payload":{}1{}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        assert!(
            scan(deep.as_bytes()).is_none(),
            "a deep payload is serde's to judge"
        );
    }

    #[test]
    fn every_damaged_envelope_is_declined_or_read_as_serde_reads_it() {
        // Each byte of the common envelope replaced by each of a set of bytes that
        // matter to JSON, and each prefix: never a different answer than serde's.
        let original = COMMON.as_bytes();
        let replacements = b" \"\\{}[],:0123456789.eE-+truefalsn\x00\x7f\xc3";
        for at in 0..original.len() {
            for &byte in replacements {
                let mut damaged = original.to_vec();
                damaged[at] = byte;
                agrees(&damaged);
            }
            agrees(&original[..at]);
        }
    }
}
