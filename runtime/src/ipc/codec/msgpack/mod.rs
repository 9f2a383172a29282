//! Finds the bytes of one field of a MessagePack map without decoding the rest, so
//! that a REQUEST's payload can be decoded straight into its registered type.
//!
//! Walks values iteratively (no recursion, so no stack exhaustion from deep
//! nesting) and checks every length against the bytes that remain.
//!
//! [`scan_envelope`] reads a whole REQUEST envelope of the common shape this way,
//! without serde (see its documentation).

use std::borrow::Cow;

use super::fields::{Fields, Key};
use crate::ipc::protocol::RequestHeader;

/// The bytes of the value stored under `key` in the map that `bytes` encodes.
/// `None` when `bytes` is not a well-formed map or has no such key.
pub(crate) fn map_value<'a>(bytes: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let mut at = 0;
    let entries = map_len(bytes, &mut at)?;
    for _ in 0..entries {
        let name = read_key(bytes, &mut at)?;
        let start = at;
        skip_values(bytes, &mut at, 1)?;
        if name == Some(key) {
            return bytes.get(start..at);
        }
    }
    None
}

/// The header and the raw payload of a MessagePack REQUEST envelope of the
/// common shape, or `None` for serde to parse.
///
/// It is every MessagePack request's first parse, and serde's derive spends most
/// of its time matching field names and skipping the payload it ignores (before
/// [`map_value`] finds it again, after a nesting check of the whole envelope).
/// The common shape is one map of the envelope's known keys, each once, as
/// strings; its three names as valid UTF-8 strings, its flags as booleans, its
/// timeout as an unsigned integer, its payload any well-formed value, and nothing
/// after the map. Anything else — another key, a repeated one, a value of
/// another type, trailing bytes, a payload with enough arrays and maps to come
/// near the nesting limit — is declined, and serde then accepts or reports it
/// exactly as before. The payload's own grammar is checked where it is decoded
/// into its registered type.
pub(crate) fn scan_envelope(bytes: &[u8]) -> Option<(RequestHeader<'_>, &[u8])> {
    scan_envelope_at(bytes).map(|(header, payload, _)| (header, payload))
}

/// serde's path checks the envelope's nesting (the payload's plus one): a
/// payload nesting this many arrays and maps deep is left to it.
const DEPTH_MARGIN: usize = 100;

/// [`scan_envelope`], and where the correlation id's value (its marker and
/// length, then its bytes) starts.
pub(super) fn scan_envelope_at(bytes: &[u8]) -> Option<(RequestHeader<'_>, &[u8], usize)> {
    let mut at = 0;
    let mut id_at = 0;
    let entries = map_len(bytes, &mut at)?;
    let mut fields = Fields::new();
    for _ in 0..entries {
        let key = fields.first(Key::named(string(bytes, &mut at)?)?)?;
        let header = &mut fields.header;
        match key {
            Key::CorrelationId => {
                id_at = at;
                header.correlation_id = Cow::Borrowed(text(bytes, &mut at)?);
            }
            Key::Target => header.target = Cow::Borrowed(text(bytes, &mut at)?),
            Key::MessageType => header.message_type = Cow::Borrowed(text(bytes, &mut at)?),
            Key::Payload => fields.payload = payload(bytes, &mut at)?,
            Key::ExpectsReply => header.expects_reply = boolean(bytes, &mut at)?,
            Key::ExpectsStream => header.expects_stream = boolean(bytes, &mut at)?,
            Key::ResponseTimeoutMs => header.response_timeout_ms = unsigned(bytes, &mut at)?,
        }
    }
    if at != bytes.len() {
        return None;
    }
    let (header, payload) = fields.finish()?;
    Some((header, payload, id_at))
}

/// The payload's value at `at`, unless it nests near serde's depth limit.
pub(super) fn payload<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let start = *at;
    skip_values(bytes, at, 1)?;
    let payload = bytes.get(start..*at)?;
    nests_within(payload, DEPTH_MARGIN - 1).then_some(payload)
}

/// The bytes of a string (any of the four string markers).
pub(super) fn string<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let marker = *bytes.get(*at)?;
    *at += 1;
    let len = match marker {
        0xa0..=0xbf => u64::from(marker & 0x1f),
        0xd9 => read_be(bytes, at, 1)?,
        0xda => read_be(bytes, at, 2)?,
        0xdb => read_be(bytes, at, 4)?,
        _ => return None,
    };
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let string = bytes.get(*at..end)?;
    *at = end;
    Some(string)
}

/// A string that is valid UTF-8.
fn text<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a str> {
    std::str::from_utf8(string(bytes, at)?).ok()
}

fn boolean(bytes: &[u8], at: &mut usize) -> Option<bool> {
    let value = match *bytes.get(*at)? {
        0xc2 => false,
        0xc3 => true,
        _ => return None,
    };
    *at += 1;
    Some(value)
}

/// A positive fixint or an unsigned integer of any width.
fn unsigned(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let marker = *bytes.get(*at)?;
    *at += 1;
    match marker {
        0x00..=0x7f => Some(u64::from(marker)),
        0xcc => read_be(bytes, at, 1),
        0xcd => read_be(bytes, at, 2),
        0xce => read_be(bytes, at, 4),
        0xcf => read_be(bytes, at, 8),
        _ => None,
    }
}

/// How deep MessagePack values may nest (as deep as serde_json lets JSON nest).
/// Decoders recurse once per level: a limit keeps a hostile payload from
/// exhausting a thread's stack.
pub(crate) const MAX_DEPTH: usize = 128;

/// Whether the values in `bytes` nest at most `limit` (at most [`MAX_DEPTH`])
/// arrays and maps deep. Malformed bytes count as shallow: the decoder then
/// reports what is wrong. Walks iteratively, in constant stack space, and
/// allocates nothing (it runs twice on every MessagePack request).
pub(crate) fn nests_within(bytes: &[u8], limit: usize) -> bool {
    let limit = limit.min(MAX_DEPTH);
    // Each level takes a byte at least: a payload this short cannot nest deeper.
    if bytes.len() <= limit {
        return true;
    }
    // Each level of nesting starts with an array or map marker: bytes with fewer
    // such bytes in them (counting those inside strings too) cannot nest deeper,
    // and a small request has a handful. One cheap pass instead of the walk —
    // for small inputs only: the walk skips a long string or blob at once.
    let few_markers = bytes.len() <= COUNT_BELOW
        && bytes
            .iter()
            .filter(|&&byte| matches!(byte, 0x80..=0x9f | 0xdc..=0xdf))
            .count()
            <= limit;
    few_markers || walk_within(bytes, limit)
}

/// Inputs up to this size are checked by counting their marker bytes first.
const COUNT_BELOW: usize = 4096;

/// [`nests_within`] by walking the values.
fn walk_within(bytes: &[u8], limit: usize) -> bool {
    // The children still to read of each open array or map, innermost last.
    let mut open = [0u64; MAX_DEPTH];
    let mut depth = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Close the containers whose children have all been read.
        while depth > 0 && open[depth - 1] == 0 {
            depth -= 1;
        }
        if depth > 0 {
            open[depth - 1] -= 1;
        }
        let marker = bytes[at];
        at += 1;
        let header = |width: usize, at: &mut usize| read_be(bytes, at, width);
        let (skip, children) = match marker {
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xdc => match header(2, &mut at) {
                Some(n) => (0, n),
                None => return true,
            },
            0xdd => match header(4, &mut at) {
                Some(n) => (0, n),
                None => return true,
            },
            0xde => match header(2, &mut at) {
                Some(n) => (0, 2 * n),
                None => return true,
            },
            0xdf => match header(4, &mut at) {
                Some(n) => (0, 2 * n),
                None => return true,
            },
            _ => {
                // A scalar: skip it whole.
                let mut end = at - 1;
                if skip_values(bytes, &mut end, 1).is_none() {
                    return true;
                }
                (end - at, 0)
            }
        };
        at = at.saturating_add(skip).min(bytes.len());
        if children > 0 {
            if depth >= limit {
                return false;
            }
            open[depth] = children;
            depth += 1;
        }
    }
    true
}

fn map_len(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let marker = *bytes.get(*at)?;
    *at += 1;
    match marker {
        0x80..=0x8f => Some(u64::from(marker & 0x0f)),
        0xde => read_be(bytes, at, 2),
        0xdf => read_be(bytes, at, 4),
        _ => None,
    }
}

/// Reads a map key: `Some(Some(text))` for a string, `Some(None)` for a key of
/// another type (skipped), `None` when the bytes are malformed.
fn read_key<'a>(bytes: &'a [u8], at: &mut usize) -> Option<Option<&'a str>> {
    let marker = *bytes.get(*at)?;
    let (header, len) = match marker {
        0xa0..=0xbf => (1, u64::from(marker & 0x1f)),
        0xd9 => (2, u64::from(*bytes.get(*at + 1)?)),
        0xda => (3, read_be(bytes, &mut (*at + 1), 2)?),
        0xdb => (5, read_be(bytes, &mut (*at + 1), 4)?),
        _ => {
            skip_values(bytes, at, 1)?;
            return Some(None);
        }
    };
    let start = *at + header;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let text = std::str::from_utf8(bytes.get(start..end)?).ok();
    *at = end;
    Some(text)
}

fn read_be(bytes: &[u8], at: &mut usize, width: usize) -> Option<u64> {
    let slice = bytes.get(*at..*at + width)?;
    *at += width;
    Some(slice.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Skips `count` consecutive values.
fn skip_values(bytes: &[u8], at: &mut usize, count: u64) -> Option<()> {
    let mut pending = count;
    while pending > 0 {
        pending -= 1;
        // Every pending value takes at least one byte: a count beyond the bytes
        // left is malformed, whatever the header claims.
        if pending > (bytes.len().saturating_sub(*at)) as u64 {
            return None;
        }
        let marker = *bytes.get(*at)?;
        *at += 1;
        let (skip, children): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (read_be(bytes, at, 1)?, 0),
            0xc5 | 0xda => (read_be(bytes, at, 2)?, 0),
            0xc6 | 0xdb => (read_be(bytes, at, 4)?, 0),
            0xc7 => (read_be(bytes, at, 1)? + 1, 0),
            0xc8 => (read_be(bytes, at, 2)? + 1, 0),
            0xc9 => (read_be(bytes, at, 4)? + 1, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, read_be(bytes, at, 2)?),
            0xdd => (0, read_be(bytes, at, 4)?),
            0xde => (0, 2 * read_be(bytes, at, 2)?),
            0xdf => (0, 2 * read_be(bytes, at, 4)?),
            0xc1 => return None,
        };
        let end = (*at as u64).checked_add(skip)?;
        if end > bytes.len() as u64 {
            return None;
        }
        *at = usize::try_from(end).ok()?;
        pending = pending.checked_add(children)?;
    }
    Some(())
}

#[cfg(all(test, feature = "ipc-messagepack"))]
mod tests;
