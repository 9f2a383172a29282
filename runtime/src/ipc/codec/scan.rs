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
//! serde's depth limit. The payload is found by its structure and checked to be
//! UTF-8; its grammar is checked by the decoding into its registered type, which
//! parses it in any case (a payload serde would refuse is refused there, with
//! SERIALIZATION_ERROR, as the envelope was). Everything else accepted here is
//! what serde accepts, and reads as serde reads it.

use std::borrow::Cow;
use std::ops::Range;

use super::fields::{Fields, Key};
use crate::ipc::protocol::RequestHeader;

/// serde_json refuses input nested deeper than 128; a payload with this many
/// opening brackets might come near it inside the envelope, and is left to serde.
const DEPTH_MARGIN: usize = 100;

/// The header and the raw payload of a JSON envelope of the common shape, or
/// `None` for serde to parse.
pub(crate) fn scan(bytes: &[u8]) -> Option<(RequestHeader<'_>, &[u8])> {
    // One UTF-8 check of the whole envelope (serde's derive made one per string);
    // its strings are then slices of this text.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut cursor = Cursor { bytes, text, at: 0 };
    cursor.expect(b'{')?;
    let mut fields = Fields::new();
    loop {
        // Keys are compared as bytes where they stand: one that is none of the
        // envelope's (or has an escape) is left to serde.
        let key = fields.first(cursor.key()?)?;
        cursor.expect(b':')?;
        let header = &mut fields.header;
        match key {
            Key::CorrelationId => header.correlation_id = Cow::Borrowed(cursor.text()?),
            Key::Target => header.target = Cow::Borrowed(cursor.text()?),
            Key::MessageType => header.message_type = Cow::Borrowed(cursor.text()?),
            Key::Payload => fields.payload = cursor.value()?,
            Key::ExpectsReply => header.expects_reply = cursor.boolean()?,
            Key::ExpectsStream => header.expects_stream = cursor.boolean()?,
            Key::ResponseTimeoutMs => header.response_timeout_ms = cursor.unsigned()?,
        }
        match cursor.next_token()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    // Only whitespace may follow.
    cursor.skip_whitespace();
    if cursor.at != bytes.len() {
        return None;
    }
    fields.finish()
}

/// Whether a byte ends a plain string's run: its closing quote, an escape, or a
/// control character (which JSON does not allow in strings).
const fn string_stops() -> [bool; 256] {
    let mut stops = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        stops[byte] = true;
        byte += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
}

static STRING_STOPS: [bool; 256] = string_stops();

/// Where the first byte that ends a plain string's run is (see
/// [`string_stops`]), looked for eight bytes at a time.
///
/// In each 64-bit word a byte is flagged when it equals `"` or `\` (it is zero
/// after the XOR) or is below 0x20; the borrow of the subtractions can flag
/// bytes only after the first real hit, so the lowest flag is the answer.
pub(super) fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    const SPACES: u64 = ONES * 0x20;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let quote = word ^ QUOTES;
        let backslash = word ^ BACKSLASHES;
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(SPACES) & !word))
            & HIGHS;
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    tail.iter()
        .position(|&byte| STRING_STOPS[usize::from(byte)])
        .map(|found| at + found)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    /// The same bytes, known to be UTF-8.
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, consumed.
    fn next_token(&mut self) -> Option<u8> {
        self.skip_whitespace();
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_token()? == byte).then_some(())
    }

    /// An envelope key, as a string without escapes.
    fn key(&mut self) -> Option<Key> {
        self.expect(b'"')?;
        let (key, length) = Key::starting(self.bytes.get(self.at..)?, b'"')?;
        self.at += length;
        Some(key)
    }

    /// The bytes of a string without escapes or control characters.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let rest = self.bytes.get(self.at..)?;
        let length = string_stop(rest)?;
        if rest[length] != b'"' {
            return None;
        }
        self.at += length + 1;
        Some(&rest[..length])
    }

    /// A string without escapes or control characters, borrowed.
    fn text(&mut self) -> Option<&'a str> {
        let length = self.plain_string()?.len();
        // Between two quotes: on character boundaries.
        self.text.get(self.at - 1 - length..self.at - 1)
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

    /// The raw bytes of the payload's value (UTF-8, as the whole envelope); see
    /// [`value_extent`].
    fn value(&mut self) -> Option<&'a [u8]> {
        let range = value_extent(self.bytes, self.at)?;
        self.at = range.end;
        Some(&self.bytes[range])
    }
}

/// Where the value that starts at `at` (after any whitespace) lies: found by its
/// structure — strings (with their escapes), brackets, or a bare word up to its
/// delimiter. Its grammar is checked where it is read: decoding it into the
/// registered type fails on anything serde_json would refuse, as the request's
/// SERIALIZATION_ERROR.
pub(super) fn value_extent(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let mut start = at;
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(start) {
        start += 1;
    }
    let rest = bytes.get(start..)?;
    let length = match *rest.first()? {
        b'"' => string_end(rest, 1)?,
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = 0;
            loop {
                match *rest.get(at)? {
                    b'"' => at = string_end(rest, at + 1)?,
                    b'{' | b'[' => {
                        depth += 1;
                        if depth >= DEPTH_MARGIN {
                            return None;
                        }
                        at += 1;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        at += 1;
                        if depth == 0 {
                            break at;
                        }
                    }
                    _ => at += 1,
                }
            }
        }
        // A number, `true`, `false` or `null`: only the characters they are
        // made of (anything after them must then be a delimiter).
        _ => rest
            .iter()
            .position(|&byte| {
                !matches!(byte, b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.')
            })
            .unwrap_or(rest.len()),
    };
    if length == 0 {
        return None; // no value at all: serde reports it
    }
    Some(start..start + length)
}

/// The index just past the closing quote of the string whose contents start at
/// `from`; `None` when it does not close or holds a control character.
#[inline]
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let stop = from + string_stop(bytes.get(from..)?)?;
        match bytes[stop] {
            b'"' => return Some(stop + 1),
            // An escape: whatever it escapes, the next byte does not end the string.
            b'\\' => from = stop + 2,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::codec::serde_envelope::parse_json;

    /// `scan` either declines or agrees with serde exactly — except for a
    /// payload serde refuses, which the decoding of its type must refuse too.
    fn agrees(text: &[u8]) {
        let Some((header, payload)) = scan(text) else {
            return;
        };
        let (expected, expected_payload) = match parse_json(text) {
            Ok(parsed) => parsed,
            Err(error) => {
                assert!(
                    serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err(),
                    "scan accepted what serde refuses ({error}), and not for its payload: {}",
                    String::from_utf8_lossy(text)
                );
                return;
            }
        };
        let text = String::from_utf8_lossy(text);
        assert_eq!(header, expected, "{text}");
        assert_eq!(payload, expected_payload, "{text}");
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
    fn the_word_at_a_time_search_finds_what_a_byte_at_a_time_search_finds() {
        let simple = |bytes: &[u8]| bytes.iter().position(|&b| STRING_STOPS[usize::from(b)]);
        // Every stop byte and a few others, at every position of strings of
        // every length up to 40, over a background of plain and non-ASCII bytes.
        let specials = [
            b'"',
            b'\\',
            0x00,
            0x1f,
            0x20,
            0x21,
            0x5c ^ 0x80,
            0x22 ^ 0x80,
            0x7f,
            0xff,
        ];
        for background in [b'a', 0xc3, 0x80, b' '] {
            for length in 0..40 {
                let plain = vec![background; length];
                assert_eq!(string_stop(&plain), simple(&plain));
                for at in 0..length {
                    for special in specials {
                        let mut bytes = plain.clone();
                        bytes[at] = special;
                        assert_eq!(string_stop(&bytes), simple(&bytes), "{bytes:?}");
                        // A second stop later must not shadow the first.
                        if at + 3 < length {
                            bytes[at + 3] = b'"';
                            assert_eq!(string_stop(&bytes), simple(&bytes), "{bytes:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_damaged_envelope_is_declined_or_read_as_serde_reads_it() {
        // Each byte of the common envelope replaced by each of a set of bytes that
        // matter to JSON, and each prefix: never a different answer than serde's.
        let original = COMMON.as_bytes();
        let replacements = b" \"\\{}[],:0123456789.eE-+truefalsn\x00\x7f\xc3\x80\xff";
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
