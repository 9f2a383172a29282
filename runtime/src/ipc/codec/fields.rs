//! The request envelope's keys and the fields the scanners ([`super::scan`],
//! [`super::msgpack::scan_envelope`]) collect from them, with the defaults
//! serde's derive gives the optional ones.

use std::borrow::Cow;

use crate::ipc::protocol::RequestHeader;

/// A request's deadline when its envelope gives none.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 30_000;

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
