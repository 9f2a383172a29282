//! A connection's last request envelope as the template of its next.
//!
//! A client sends its requests in one shape: the same keys in the same order, the
//! same target, type, flags and timeout; only the correlation id and the payload
//! change. [`EnvelopeTemplate::fit`] checks that an envelope is the template with
//! another id and payload — the bytes around those two compared as bytes, the two
//! read exactly as the scanner of its format reads them — and then answers what
//! that scanner ([`scan`] for JSON, [`scan_envelope`] for MessagePack) answers
//! for those bytes, without reading the rest again. Anything else is read by the
//! scanner (and serde after it), and becomes the template when the scanner reads
//! it.
//!
//! Why the answers are the same: a scanner's reading of an envelope depends on
//! each byte only through the token it belongs to, and every token outside the id
//! and the payload lies whole within the bytes compared. In JSON the id's hole is
//! its contents, ending at its closing quote, which the next piece starts with; in
//! MessagePack it is the whole string value, whose marker gives its length. The
//! payload's hole ends where its value ends (in JSON a delimiter follows, which
//! the next piece starts with). The id and the payload are read by the scanner's
//! own functions, and the strings pass the same UTF-8 checks (in JSON one of the
//! whole envelope; in MessagePack one per string).
//!
//! ```text
//! template  {"correlation_id":"c1","target":"calc","message_type":"Add","payload":{"a":1},"expects_reply":true}
//! pieces    [{"correlation_id":"]  [","target":"calc","message_type":"Add","payload":]  [,"expects_reply":true}]
//! holes                          c1                                                 {"a":1}
//! ```

use std::borrow::Cow;
use std::ops::Range;

use super::format::Format;
use super::msgpack::{self, scan_envelope_at};
use super::scan::{scan, string_stop, value_extent};
use crate::ipc::protocol::RequestHeader;

/// The most bytes a template keeps outside its holes; a longer envelope is not
/// learned (its shape is unusual, and the scanner reads it as before).
const MAX_PIECES: usize = 512;

/// What a hole holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Hole {
    /// The correlation id's contents, between its quotes.
    #[default]
    Id,
    /// The payload's value.
    Payload,
}

/// Where a string field of the header lies in the template: its piece (0, 1 or
/// 2) and its place within it.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    piece: usize,
    start: usize,
    len: usize,
}

/// The last envelope a scanner read on a connection, without its id and
/// payload. Empty until one is learned.
#[derive(Debug, Default)]
pub(crate) struct EnvelopeTemplate {
    /// The format it was learned in (`None` until one is); an envelope in the
    /// other fits no template.
    format: Option<Format>,
    /// The three pieces around the two holes, one after another.
    pieces: Vec<u8>,
    /// Where the second and third pieces start in `pieces`.
    cuts: [usize; 2],
    /// The holes, in the order they come.
    holes: [Hole; 2],
    target: Place,
    message_type: Place,
    expects_reply: bool,
    expects_stream: bool,
    response_timeout_ms: u64,
}

impl EnvelopeTemplate {
    /// Reads an envelope as its format's scanner does: through the template when
    /// the envelope fits it, otherwise with the scanner, learning the envelope as
    /// the next template. `None` when the scanner declines (serde reads it then).
    pub(crate) fn read<'b>(
        &mut self,
        format: Format,
        bytes: &'b [u8],
    ) -> Option<(RequestHeader<'b>, &'b [u8])> {
        if let Some(read) = self.fit(format, bytes) {
            return Some(read);
        }
        self.format = None;
        let (header, payload, id) = match format {
            Format::Json => {
                let (header, payload) = scan(bytes)?;
                let id = within(bytes, header.correlation_id.as_bytes());
                (header, payload, id)
            }
            Format::MessagePack => {
                let (header, payload, id_at) = scan_envelope_at(bytes)?;
                // The id's whole value: its marker and length, then its bytes.
                let id = within(bytes, header.correlation_id.as_bytes())
                    .map(|contents| id_at..contents.end);
                (header, payload, id)
            }
        };
        if let Some(id) = id {
            self.learn(format, bytes, &header, payload, id);
        }
        Some((header, payload))
    }

    fn piece(&self, index: usize) -> &[u8] {
        let [first, second] = self.cuts;
        match index {
            0 => &self.pieces[..first],
            1 => &self.pieces[first..second],
            _ => &self.pieces[second..],
        }
    }

    /// The envelope read through the template, or `None` when it does not fit.
    fn fit<'b>(&self, format: Format, bytes: &'b [u8]) -> Option<(RequestHeader<'b>, &'b [u8])> {
        if self.format != Some(format) {
            return None;
        }
        let mut at = 0;
        let mut starts = [0usize; 3];
        let mut id = 0..0;
        let mut payload = 0..0;
        for (index, hole) in self.holes.iter().enumerate() {
            let piece = self.piece(index);
            if bytes.get(at..at + piece.len())? != piece {
                return None;
            }
            starts[index] = at;
            at += piece.len();
            match (hole, format) {
                (Hole::Id, Format::Json) => {
                    // The scanner's plain string: it ends at its first stop
                    // byte, which must be the closing quote.
                    let length = string_stop(bytes.get(at..)?)?;
                    if bytes[at + length] != b'"' {
                        return None;
                    }
                    id = at..at + length;
                    at += length;
                }
                (Hole::Id, Format::MessagePack) => {
                    let length = msgpack::string(bytes, &mut at)?.len();
                    id = at - length..at;
                }
                (Hole::Payload, Format::Json) => {
                    payload = value_extent(bytes, at)?;
                    at = payload.end;
                }
                (Hole::Payload, Format::MessagePack) => {
                    let start = at;
                    msgpack::payload(bytes, &mut at)?;
                    payload = start..at;
                }
            }
        }
        starts[2] = at;
        if bytes.get(at..)? != self.piece(2) {
            return None;
        }
        let range = |place: Place| {
            let start = starts[place.piece] + place.start;
            start..start + place.len
        };
        let (correlation_id, target, message_type) = match format {
            // The scanner's one UTF-8 check; the strings are then slices of it,
            // their ends at quotes (character boundaries).
            Format::Json => {
                let text = std::str::from_utf8(bytes).ok()?;
                (
                    text.get(id)?,
                    text.get(range(self.target))?,
                    text.get(range(self.message_type))?,
                )
            }
            // The scanner's check of each string.
            Format::MessagePack => (
                std::str::from_utf8(&bytes[id]).ok()?,
                std::str::from_utf8(&bytes[range(self.target)]).ok()?,
                std::str::from_utf8(&bytes[range(self.message_type)]).ok()?,
            ),
        };
        let header = RequestHeader {
            correlation_id: Cow::Borrowed(correlation_id),
            target: Cow::Borrowed(target),
            message_type: Cow::Borrowed(message_type),
            expects_reply: self.expects_reply,
            expects_stream: self.expects_stream,
            response_timeout_ms: self.response_timeout_ms,
        };
        Some((header, &bytes[payload]))
    }

    /// Keeps `bytes`, which the scanner read as `header` and `payload` with the
    /// id's hole at `id`, as the template (when its pieces are short enough).
    fn learn(
        &mut self,
        format: Format,
        bytes: &[u8],
        header: &RequestHeader<'_>,
        payload: &[u8],
        id: Range<usize>,
    ) {
        let (Cow::Borrowed(target), Cow::Borrowed(message_type)) =
            (&header.target, &header.message_type)
        else {
            return;
        };
        let (Some(payload), Some(target), Some(message_type)) = (
            within(bytes, payload),
            within(bytes, target.as_bytes()),
            within(bytes, message_type.as_bytes()),
        ) else {
            return;
        };
        let (first, second) = if id.start < payload.start {
            ((Hole::Id, id), (Hole::Payload, payload))
        } else {
            ((Hole::Payload, payload), (Hole::Id, id))
        };
        let spans = [
            0..first.1.start,
            first.1.end..second.1.start,
            second.1.end..bytes.len(),
        ];
        let total: usize = spans.iter().map(ExactSizeIterator::len).sum();
        if total > MAX_PIECES {
            return;
        }
        let place = |field: Range<usize>| {
            let piece = spans
                .iter()
                .position(|span| span.start <= field.start && field.end <= span.end)?;
            Some(Place {
                piece,
                start: field.start - spans[piece].start,
                len: field.len(),
            })
        };
        let (Some(target), Some(message_type)) = (place(target), place(message_type)) else {
            return;
        };
        self.pieces.clear();
        self.pieces.reserve_exact(total);
        for span in &spans {
            self.pieces.extend_from_slice(&bytes[span.clone()]);
        }
        self.cuts = [spans[0].len(), spans[0].len() + spans[1].len()];
        self.holes = [first.0, second.0];
        self.target = target;
        self.message_type = message_type;
        self.expects_reply = header.expects_reply;
        self.expects_stream = header.expects_stream;
        self.response_timeout_ms = header.response_timeout_ms;
        self.format = Some(format);
    }
}

/// Where `part`, a slice of `whole`, lies in it.
fn within(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON: &str = r#"{"correlation_id":"c-1","target":"calculator","message_type":"AddRequest","payload":{"a":1,"b":[2,{"c":"x"}]},"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000}"#;

    /// Through a template learned from `learned`, `bytes` reads exactly as the
    /// scanner of `format` reads it, or not at all when the scanner declines.
    fn agrees_in(format: Format, learned: &[u8], bytes: &[u8]) -> bool {
        let mut template = EnvelopeTemplate::default();
        assert!(
            template.read(format, learned).is_some(),
            "the template's envelope is read"
        );
        let fitted = template.fit(format, bytes);
        let scanned = match format {
            Format::Json => scan(bytes),
            Format::MessagePack => msgpack::scan_envelope(bytes),
        };
        match (&fitted, &scanned) {
            (Some(fitted), Some(scanned)) => {
                assert_eq!(fitted, scanned, "{}", String::from_utf8_lossy(bytes));
            }
            (Some(_), None) => panic!(
                "the template read what the scanner declines: {}",
                String::from_utf8_lossy(bytes)
            ),
            (None, _) => {}
        }
        fitted.is_some()
    }

    fn agrees(learned: &[u8], bytes: &[u8]) -> bool {
        agrees_in(Format::Json, learned, bytes)
    }

    #[test]
    fn another_id_and_payload_fit_the_template() {
        let next = br#"{"correlation_id":"a-much-longer-id-42","target":"calculator","message_type":"AddRequest","payload":[1, "two", {"3": null}],"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000}"#;
        assert!(agrees(COMMON.as_bytes(), next), "fits");
        let mut template = EnvelopeTemplate::default();
        template.read(Format::Json, COMMON.as_bytes());
        let (header, payload) = template.fit(Format::Json, next).expect("fits");
        assert_eq!(header.correlation_id, "a-much-longer-id-42");
        assert_eq!(header.target, "calculator");
        assert_eq!(header.message_type, "AddRequest");
        assert_eq!(header.response_timeout_ms, 5000);
        assert_eq!(payload, br#"[1, "two", {"3": null}]"#);
        // A payload before the id, a bare payload, an empty id.
        let first = br#"{"payload":7,"correlation_id":"x","target":"t","message_type":"M"}"#;
        let second = br#"{"payload":"seven","correlation_id":"","target":"t","message_type":"M"}"#;
        assert!(
            agrees(first, second),
            "fits with the holes the other way round"
        );
    }

    #[test]
    fn anything_else_does_not_fit() {
        let learned = COMMON.as_bytes();
        let others: &[&[u8]] = &[
            // Another target, type, flag or timeout.
            br#"{"correlation_id":"c-2","target":"calculatoR","message_type":"AddRequest","payload":{},"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000}"#,
            br#"{"correlation_id":"c-2","target":"calculator","message_type":"AddRequest","payload":{},"expects_reply":false,"expects_stream":false,"response_timeout_ms":5000}"#,
            br#"{"correlation_id":"c-2","target":"calculator","message_type":"AddRequest","payload":{},"expects_reply":true,"expects_stream":false,"response_timeout_ms":50000}"#,
            // An id with an escape, a payload that does not end where it should.
            br#"{"correlation_id":"c\"2","target":"calculator","message_type":"AddRequest","payload":{},"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000}"#,
            br#"{"correlation_id":"c-2","target":"calculator","message_type":"AddRequest","payload":{}},"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000}"#,
            // Bytes after the end; not UTF-8.
            br#"{"correlation_id":"c-2","target":"calculator","message_type":"AddRequest","payload":{},"expects_reply":true,"expects_stream":false,"response_timeout_ms":5000} x"#,
            b"{\"correlation_id\":\"c-\xff\",\"target\":\"calculator\",\"message_type\":\"AddRequest\",\"payload\":{},\"expects_reply\":true,\"expects_stream\":false,\"response_timeout_ms\":5000}",
        ];
        for other in others {
            assert!(
                !agrees(learned, other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn every_damaged_envelope_reads_as_the_scanner_reads_it() {
        // Each byte replaced by each of a set of bytes that matter to JSON, and
        // each prefix and extension, against templates of three shapes.
        let templates: [&[u8]; 3] = [
            COMMON.as_bytes(),
            br#"{"payload":true,"target":"t","correlation_id":"id","message_type":"m"}"#,
            br#" { "correlation_id" : "" , "target":"t", "message_type":"m", "payload" : [ 1 ] } "#,
        ];
        let replacements = b" \"\\{}[],:0123456789.eE-+truefalsn\x00\x7f\xc3\x80\xff";
        let mut fitted = 0;
        for original in templates {
            for at in 0..original.len() {
                for &byte in replacements {
                    let mut damaged = original.to_vec();
                    damaged[at] = byte;
                    fitted += usize::from(agrees(original, &damaged));
                    damaged.insert(at, byte);
                    fitted += usize::from(agrees(original, &damaged));
                }
                agrees(original, &original[..at]);
            }
        }
        assert!(
            fitted > 1_000,
            "most damage to the id or payload still fits ({fitted})"
        );
    }

    #[test]
    fn randomly_damaged_envelopes_read_as_the_scanner_reads_them() {
        // Up to four bytes replaced, inserted or removed at once, in places that
        // a seeded generator picks: the template never answers otherwise than
        // the scanner.
        let alphabet = b" \"\\{}[],:0123456789.eE-+truefalsnxyz\x00\x1f\x7f\xc3\xa9\x80\xff";
        let original = COMMON.as_bytes();
        let fitted = random_damages(original, alphabet, 0x9e37_79b9_7f4a_7c15)
            .filter(|damaged| agrees(original, damaged))
            .count();
        assert!(
            fitted > 200,
            "damage inside the holes still fits ({fitted})"
        );
    }

    /// A MessagePack envelope in the order clients write it.
    fn packed(id: &str, payload: &serde_json::Value, timeout: u64) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            correlation_id: &'a str,
            target: &'a str,
            message_type: &'a str,
            payload: &'a serde_json::Value,
            expects_reply: bool,
            response_timeout_ms: u64,
        }
        rmp_serde::to_vec_named(&Envelope {
            correlation_id: id,
            target: "calculator",
            message_type: "AddRequest",
            payload,
            expects_reply: true,
            response_timeout_ms: timeout,
        })
        .expect("encodes")
    }

    #[test]
    fn messagepack_envelopes_fit_as_json_ones_do() {
        let learned = packed("c-1", &serde_json::json!({"a": 1, "b": 2}), 5000);
        // A longer id (another string marker) and another payload fit.
        let long_id = "x".repeat(40);
        let next = packed(&long_id, &serde_json::json!([1, "two", {"3": null}]), 5000);
        assert!(agrees_in(Format::MessagePack, &learned, &next), "fits");
        let mut template = EnvelopeTemplate::default();
        template.read(Format::MessagePack, &learned);
        let (header, _) = template.fit(Format::MessagePack, &next).expect("fits");
        assert_eq!(header.correlation_id, long_id);
        assert_eq!(header.target, "calculator");
        // Another timeout does not; nor does the same envelope in the other format.
        let other = packed("c-2", &serde_json::json!({}), 5001);
        assert!(!agrees_in(Format::MessagePack, &learned, &other));
        assert!(template.fit(Format::Json, &next).is_none());
        let mut json = EnvelopeTemplate::default();
        json.read(Format::Json, COMMON.as_bytes());
        assert!(json.fit(Format::MessagePack, &next).is_none());
    }

    #[test]
    fn damaged_messagepack_envelopes_read_as_the_scanner_reads_them() {
        let original = packed("c-1", &serde_json::json!({"a": 1, "b": [2, "x"]}), 5000);
        let markers = [
            0x00u8, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1, 0xa3, 0xbf, 0xc0,
            0xc2, 0xc3, 0xc4, 0xcc, 0xcd, 0xd9, 0xda, 0xdc, 0xde, 0xff,
        ];
        let mut fitted = 0;
        for at in 0..original.len() {
            for &byte in &markers {
                let mut damaged = original.clone();
                damaged[at] = byte;
                fitted += usize::from(agrees_in(Format::MessagePack, &original, &damaged));
                damaged.insert(at, byte);
                fitted += usize::from(agrees_in(Format::MessagePack, &original, &damaged));
            }
            agrees_in(Format::MessagePack, &original, &original[..at]);
        }
        assert!(
            fitted > 100,
            "damage inside the holes still fits ({fitted})"
        );
        for damaged in random_damages(&original, &markers, 0x2545_f491_4f6c_dd1d) {
            agrees_in(Format::MessagePack, &original, &damaged);
        }
    }

    /// 20,000 copies of `original`, each with one to four bytes replaced,
    /// inserted (from `alphabet`) or removed, in places a generator seeded with
    /// `seed` picks.
    fn random_damages<'a>(
        original: &'a [u8],
        alphabet: &'a [u8],
        seed: u64,
    ) -> impl Iterator<Item = Vec<u8>> + 'a {
        let mut state = seed;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        (0..20_000).map(move |_| {
            let mut damaged = original.to_vec();
            for _ in 0..=next(4) {
                let at = next(damaged.len() + 1);
                let byte = alphabet[next(alphabet.len())];
                match next(3) {
                    0 if at < damaged.len() => damaged[at] = byte,
                    1 if at < damaged.len() => {
                        damaged.remove(at);
                    }
                    _ => damaged.insert(at, byte),
                }
            }
            damaged
        })
    }

    #[test]
    fn a_long_envelope_is_not_kept() {
        let target = "t".repeat(MAX_PIECES);
        let long = format!(
            r#"{{"correlation_id":"c","target":"{target}","message_type":"m","payload":1}}"#
        );
        let mut template = EnvelopeTemplate::default();
        assert!(
            template.read(Format::Json, long.as_bytes()).is_some(),
            "read by the scanner"
        );
        assert!(
            template.fit(Format::Json, long.as_bytes()).is_none(),
            "but not learned"
        );
        assert!(template.pieces.capacity() == 0);
    }
}
