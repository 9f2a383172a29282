//! The subjects and headers of the NATS transport (docs/nats.md), shared by the
//! bridge and the Rust client so that both read one definition.
//!
//! ```text
//! request   {prefix}.{service}.{MessageType}     reply on the message's reply subject
//! push      {prefix}.push.{MessageType}
//! ```

use std::time::Duration;

use crate::ipc::Format;

/// The format of the payload: `json` (also when absent) or `msgpack`.
pub const FORMAT: &str = "Acton-Format";
/// What the caller waits for: `reply` (also when absent), `stream` or `send`
/// (an empty answer once the mailbox took the message).
pub const CALL: &str = "Acton-Call";
/// How long the caller waits (ms), for the whole stream of a stream call.
pub const TIMEOUT_MS: &str = "Acton-Timeout-Ms";
/// On a stream's replies: the item's number from 0; on its last message, how many
/// items came before it.
pub const SEQUENCE: &str = "Acton-Sequence";
/// On a stream's last message (an end or a failure): `true`.
pub const FINAL: &str = "Acton-Final";
/// On a stream request: the lowercase hex SHA-256 of a secret the caller
/// chose; a cancel of that stream must carry the secret (`CANCEL_SECRET`).
/// Whoever sees the request sees only the digest, so only the caller can
/// cancel its stream.
pub const CANCEL_DIGEST: &str = "Acton-Cancel-Digest";
/// On a cancel: the secret whose digest the stream's request carried.
pub const CANCEL_SECRET: &str = "Acton-Cancel-Secret";
/// The longest cancel secret the bridge hashes (the clients send 32 hex digits).
pub const MAX_CANCEL_SECRET: usize = 128;
/// On a push: unique per notification of the publishing process.
pub const NOTIFICATION_ID: &str = "Acton-Notification-Id";
/// On a push: when it was published (ms since the Unix epoch).
pub const TIMESTAMP_MS: &str = "Acton-Timestamp-Ms";
/// On a failure: what went wrong, for people (NATS's service convention).
pub const ERROR: &str = "Nats-Service-Error";
/// On a failure: the error code (`TIMEOUT`, or a declared error's name).
pub const ERROR_CODE: &str = "Nats-Service-Error-Code";

/// The subject token pushes are published under; no service may be named so.
pub const PUSH_TOKEN: &str = "push";

/// Under the prefix, where callers cancel a stream they gave up on (the payload
/// is the stream's reply subject); every replica listens.
pub const CANCEL_TOKEN: &str = "_cancel";

/// Under the prefix, where acton's discovery is answered.
pub const DISCOVER_TOKEN: &str = "_discover";

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "acton";

/// What a caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// One answer.
    Reply,
    /// Several answers, then a final message.
    Stream,
    /// An empty answer once the mailbox took the message.
    Send,
}

impl Call {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Stream => "stream",
            Self::Send => "send",
        }
    }

    /// Reads the header value; `None` for one this version does not know.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "reply" => Some(Self::Reply),
            "stream" => Some(Self::Stream),
            "send" => Some(Self::Send),
            _ => None,
        }
    }
}

/// The header value of a format.
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::MessagePack => "msgpack",
    }
}

/// Reads a format header value; `None` for one this version does not know.
pub fn parse_format(value: &str) -> Option<Format> {
    match value {
        "json" => Some(Format::Json),
        "msgpack" => Some(Format::MessagePack),
        _ => None,
    }
}

/// Whether `token` may be one token of a subject: not empty, and free of `.`,
/// the wildcards `*` and `>`, and white space (which NATS does not allow).
pub fn is_token(token: &str) -> bool {
    !token.is_empty()
        && !token
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control())
}

/// Whether `prefix` may start subjects: one or more tokens joined by `.`.
pub fn is_prefix(prefix: &str) -> bool {
    prefix.split('.').all(is_token)
}

/// The subject requests to `service` of type `message_type` are sent to.
pub fn request_subject(prefix: &str, service: &str, message_type: &str) -> String {
    format!("{prefix}.{service}.{message_type}")
}

/// The subject broadcasts of `message_type` are published on.
pub fn push_subject(prefix: &str, message_type: &str) -> String {
    format!("{prefix}.{PUSH_TOKEN}.{message_type}")
}

/// A header value holds one line: line breaks become spaces, and a very long
/// text is cut (at a character boundary) with an ellipsis.
pub fn header_text(text: &str) -> String {
    const LONGEST: usize = 1024;
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > LONGEST {
        let mut end = LONGEST;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// Reads a timeout header value (whole milliseconds).
pub fn parse_timeout(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_millis)
}

/// The value of [`CANCEL_DIGEST`] for `secret`: its SHA-256, lowercase hex.
pub fn cancel_digest(secret: &str) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Whether an answer may be published on the reply subject `reply` by a bridge
/// serving under `prefix`: not on a subject of its own namespace (`{prefix}` and
/// below: requests, pushes, discovery, cancels), where it would reach other
/// callers' subscriptions, nor on a `$` subject (`$SRV`, `$SYS`, `$JS`, `$KV`…:
/// NATS's own APIs).
pub fn may_answer_on(prefix: &str, reply: &str) -> bool {
    let own = reply
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    // Wildcards, empty tokens or white space would publish where the caller
    // cannot name a subject: to wildcard subscribers, or nowhere.
    !own && !reply.starts_with('$') && is_prefix(reply)
}

/// Who a request is from, as far as NATS tells: the first two tokens of its
/// reply subject — `_INBOX.<id>`, where the NATS clients' request API keeps one
/// `<id>` per connection (`_INBOX.<id>.<token>` for each request) — or `""` for
/// a message without a reply subject (all of them share one caller's share).
///
/// A heuristic: a caller chooses its reply subjects, so it may spread its
/// requests over many prefixes, or borrow another's; NATS tells a subscriber
/// nothing more about a message's publisher (docs/nats.md, "Threat model").
pub fn caller_of(reply: Option<&str>) -> &str {
    let Some(reply) = reply else {
        return "";
    };
    match reply.match_indices('.').nth(1) {
        Some((second_dot, _)) => &reply[..second_dot],
        None => reply,
    }
}

/// Whether a received message's subject or reply subject was not UTF-8: the
/// (patched) NATS connection delivers it read lossily, marked so; its reply
/// subject is not the one its publisher named, so it is never answered.
pub(crate) fn malformed_subject(
    status: Option<async_nats::StatusCode>,
    description: Option<&str>,
) -> bool {
    status.is_none() && description.is_some_and(|text| text.starts_with("malformed subject:"))
}

/// Why a received message's headers could not be read, when they could not:
/// the NATS connection delivers such a message (instead of closing) without
/// headers, with a description that starts `malformed headers`.
pub(crate) fn malformed_headers(
    status: Option<async_nats::StatusCode>,
    description: Option<&str>,
) -> Option<&str> {
    if status.is_some() {
        return None;
    }
    description.and_then(|description| description.strip_prefix("malformed headers: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refuse_what_nats_does() {
        assert!(is_token("calculator"));
        assert!(is_token("kv_store-2"));
        for bad in ["", "a.b", "a*", ">", "a b", "a\tb", "a\nb"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_prefix("acton"));
        assert!(is_prefix("org.team.desk"));
        assert!(!is_prefix("org..desk"));
        assert!(!is_prefix(""));
        assert!(!is_prefix("org.*"));
    }

    #[test]
    fn header_text_is_one_bounded_line() {
        assert_eq!(header_text("a\r\nb"), "a  b");
        let long = "é".repeat(2000);
        let cut = header_text(&long);
        assert!(cut.len() <= 1024 + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn calls_and_formats_read_back_what_they_write() {
        for call in [Call::Reply, Call::Stream, Call::Send] {
            assert_eq!(Call::parse(call.as_str()), Some(call));
        }
        for format in [Format::Json, Format::MessagePack] {
            assert_eq!(parse_format(format_name(format)), Some(format));
        }
        assert_eq!(Call::parse("later"), None);
        assert_eq!(parse_format("xml"), None);
        assert_eq!(parse_timeout(" 250 "), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("soon"), None);
    }

    #[test]
    fn answers_never_go_to_the_bridges_own_subjects_nor_to_nats_apis() {
        for refused in [
            "desk",
            "desk.push.PriceUpdate",
            "desk._discover",
            "desk._cancel",
            "desk.calculator.AddRequest",
            "$SRV.PING",
            "$SYS.REQ.SERVER.PING",
            "$JS.API.STREAM.DELETE.orders",
            "",
        ] {
            assert!(!may_answer_on("desk", refused), "{refused}");
        }
        for wild in ["_INBOX.*", "_INBOX.>", "_INBOX..x", ".x", "a b"] {
            assert!(!may_answer_on("desk", wild), "{wild}");
        }
        for allowed in ["_INBOX.abc.1", "desktop.reply", "reply"] {
            assert!(may_answer_on("desk", allowed), "{allowed}");
        }
    }

    #[test]
    fn the_cancel_digest_is_sha256_in_hex() {
        assert_eq!(
            cancel_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_caller_is_its_inbox() {
        assert_eq!(caller_of(Some("_INBOX.abc.17")), "_INBOX.abc");
        assert_eq!(caller_of(Some("_INBOX.abc")), "_INBOX.abc");
        assert_eq!(caller_of(Some("reply")), "reply");
        assert_eq!(caller_of(None), "");
    }
}
