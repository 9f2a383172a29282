//! The payloads frames carry. Field names are the wire names.
//!
//! Types with a payload are generic over it: the server encodes `IpcResponse<&T>`
//! straight from a reply of type `T`, and a client decodes `IpcResponse<T>` straight
//! into the type it expects, with no intermediate value tree.
//!
//! ```
//! use acton_reactive::ipc::protocol::{ErrorCode, IpcResponse};
//!
//! let answer: IpcResponse<serde_json::Value> = serde_json::from_str(
//!     r#"{"correlation_id": "c1", "success": false, "error": "slow down", "error_code": "RATE_LIMITED"}"#,
//! ).unwrap();
//! assert_eq!(answer.code(), Some(ErrorCode::RateLimited));
//! assert!(answer.payload.is_none());
//! ```

use serde::{Deserialize, Serialize};

use super::UNKNOWN_CORRELATION_ID;

/// The error codes of the protocol, sent as `error_code` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// No type is registered under the request's `message_type`.
    UnknownMessageType,
    /// No actor is exposed under the request's `target`.
    ActorNotFound,
    /// The payload could not be decoded (or a reply encoded).
    SerializationError,
    /// The target's mailbox is full.
    TargetBusy,
    /// The connection is closing.
    ConnectionClosed,
    /// The frame violates the protocol.
    ProtocolError,
    /// The handler dropped its reply path without replying, or I/O failed.
    IoError,
    /// No reply (or no end of stream) within `response_timeout_ms`.
    Timeout,
    /// The connection exceeded its request rate; the message says when to retry.
    RateLimited,
    /// The server is shutting down.
    ShuttingDown,
    /// The server is at its connection limit.
    ConnectionLimitReached,
    /// The frame's version byte is not supported.
    UnsupportedProtocolVersion,
    /// The stream failed.
    StreamError,
    /// The peer is not allowed to connect.
    AccessDenied,
    /// A limit of the server refused the frame or the answer: an oversized
    /// `correlation_id` or name, a `correlation_id` already in flight, too many
    /// subscriptions, an answer above the frame size limit, or answers the client
    /// does not read. The message says which.
    LimitExceeded,
    /// The server has no implementation of the method (a generated handler
    /// method left at its default body).
    Unimplemented,
    /// The handler failed for a reason of its own; the message says which.
    Internal,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownMessageType => "UNKNOWN_MESSAGE_TYPE",
            Self::ActorNotFound => "ACTOR_NOT_FOUND",
            Self::SerializationError => "SERIALIZATION_ERROR",
            Self::TargetBusy => "TARGET_BUSY",
            Self::ConnectionClosed => "CONNECTION_CLOSED",
            Self::ProtocolError => "PROTOCOL_ERROR",
            Self::IoError => "IO_ERROR",
            Self::Timeout => "TIMEOUT",
            Self::RateLimited => "RATE_LIMITED",
            Self::ShuttingDown => "SHUTTING_DOWN",
            Self::ConnectionLimitReached => "CONNECTION_LIMIT_REACHED",
            Self::UnsupportedProtocolVersion => "UNSUPPORTED_PROTOCOL_VERSION",
            Self::StreamError => "STREAM_ERROR",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::Internal => "INTERNAL",
        }
    }

    /// Every code, for documentation and tests.
    pub const ALL: [Self; 17] = [
        Self::UnknownMessageType,
        Self::ActorNotFound,
        Self::SerializationError,
        Self::TargetBusy,
        Self::ConnectionClosed,
        Self::ProtocolError,
        Self::IoError,
        Self::Timeout,
        Self::RateLimited,
        Self::ShuttingDown,
        Self::ConnectionLimitReached,
        Self::UnsupportedProtocolVersion,
        Self::StreamError,
        Self::AccessDenied,
        Self::LimitExceeded,
        Self::Unimplemented,
        Self::Internal,
    ];

    /// The code for a wire string, if it is one of ours.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn unknown_id() -> String {
    UNKNOWN_CORRELATION_ID.to_owned()
}

fn yes() -> bool {
    true
}

/// A REQUEST: a message for an exposed actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpcEnvelope<P> {
    /// Echoed in every frame that answers this request.
    pub correlation_id: String,
    /// The name the actor is exposed under.
    pub target: String,
    /// The name the message's type is registered under.
    pub message_type: String,
    /// The message's fields.
    pub payload: P,
    /// Request-response: one RESPONSE (or ERROR) answers.
    #[serde(default)]
    pub expects_reply: bool,
    /// Request-stream: STREAM frames answer, the last with `is_final`. Wins over
    /// `expects_reply`.
    #[serde(default)]
    pub expects_stream: bool,
    /// Deadline for the reply, or for the whole stream.
    #[serde(default = "default_timeout_ms")]
    pub response_timeout_ms: u64,
}

/// The fields of a REQUEST other than its payload, which the server decodes
/// separately, straight into the registered type. Names are borrowed from the
/// frame where they contain no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct RequestHeader<'a> {
    #[serde(borrow)]
    pub(crate) correlation_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) target: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) message_type: std::borrow::Cow<'a, str>,
    #[serde(default)]
    pub(crate) expects_reply: bool,
    #[serde(default)]
    pub(crate) expects_stream: bool,
    #[serde(default = "default_timeout_ms")]
    pub(crate) response_timeout_ms: u64,
}

/// Only the `correlation_id` of a frame, to route it before decoding the rest;
/// also the whole payload of a CANCEL frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationId {
    /// The frame's correlation id.
    #[serde(default = "unknown_id")]
    pub correlation_id: String,
}

/// A RESPONSE or ERROR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpcResponse<P> {
    /// The request's correlation id.
    pub correlation_id: String,
    /// Whether the request succeeded.
    pub success: bool,
    /// What went wrong, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong, for programs (an [`ErrorCode`] string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The reply.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
}

impl<P> IpcResponse<P> {
    /// A successful answer carrying `payload`.
    pub fn success(correlation_id: impl Into<String>, payload: P) -> Self {
        Self {
            correlation_id: correlation_id.into(),
            success: true,
            error: None,
            error_code: None,
            payload: Some(payload),
        }
    }

    /// A failed answer.
    pub fn failure(
        correlation_id: impl Into<String>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            correlation_id: correlation_id.into(),
            success: false,
            error: Some(message.into()),
            error_code: Some(code.as_str().to_owned()),
            payload: None,
        }
    }

    /// The error code, if the answer carries one of ours.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error_code.as_deref().and_then(ErrorCode::parse)
    }
}

/// The payload of a fire-and-forget answer: `{"status": "delivered"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// Always `"delivered"`.
    pub status: String,
}

impl Delivered {
    /// `{"status": "delivered"}`.
    pub fn new() -> Self {
        Self {
            status: "delivered".to_owned(),
        }
    }
}

impl Default for Delivered {
    fn default() -> Self {
        Self::new()
    }
}

/// The payload of a RATE_LIMITED answer: how long to wait before a token is
/// available again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryAfter {
    /// Milliseconds until the next request would be accepted.
    pub retry_after_ms: u64,
}

/// The payload of the frame refusing a connection at the limit: `{"limit": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionLimit {
    /// The server's connection limit.
    pub limit: usize,
}

/// A STREAM frame: one item of a request-stream, or its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpcStreamFrame<P> {
    /// The request's correlation id.
    pub correlation_id: String,
    /// 0 for the first frame, then one more for each.
    pub sequence: u32,
    /// Whether this frame ends the stream.
    #[serde(default)]
    pub is_final: bool,
    /// Why the stream failed (final frames only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The [`ErrorCode`] of a failed stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The item.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
}

impl<P> IpcStreamFrame<P> {
    /// The error code, if the frame carries one of ours.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error_code.as_deref().and_then(ErrorCode::parse)
    }
}

/// A PUSH: a broadcast the connection subscribed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpcPushNotification<P> {
    /// Unique per notification.
    pub notification_id: String,
    /// The registered name of the broadcast's type.
    pub message_type: String,
    /// The actor that broadcast it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_actor: Option<String>,
    /// The broadcast message.
    pub payload: P,
    /// When the server sent it, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// How many notifications for this connection were dropped just before this
    /// one because the client read too slowly (absent when none were): a
    /// subscriber can tell that it missed some.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// SUBSCRIBE and UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcSubscribeRequest {
    /// Echoed in the answer.
    #[serde(default = "unknown_id")]
    pub correlation_id: String,
    /// Registered type names. For UNSUBSCRIBE an empty list means all.
    #[serde(default)]
    pub message_types: Vec<String>,
}

/// SUBSCRIBE_PATTERNS and UNSUBSCRIBE_PATTERNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcPatternRequest {
    /// Echoed in the answer.
    #[serde(default = "unknown_id")]
    pub correlation_id: String,
    /// `prefix*` or `*` (or an exact name).
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// The answer to SUBSCRIBE / UNSUBSCRIBE / their pattern forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcSubscriptionResponse {
    /// The request's correlation id.
    pub correlation_id: String,
    /// Whether the request succeeded.
    pub success: bool,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The [`ErrorCode`] of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Every type the connection is now subscribed to (type answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed_types: Option<Vec<String>>,
    /// Every pattern the connection now holds (pattern answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed_patterns: Option<Vec<String>>,
}

/// DISCOVER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcDiscoverRequest {
    /// Echoed in the answer.
    #[serde(default = "unknown_id")]
    pub correlation_id: String,
    /// List the exposed actors.
    #[serde(default = "yes")]
    pub include_actors: bool,
    /// List the registered types.
    #[serde(default = "yes")]
    pub include_message_types: bool,
    /// Also send the server's schema (an extension: servers of the published
    /// crate ignore it and answer without).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_schema: bool,
}

/// An exposed actor, as discovery lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorInfo {
    /// The name it is exposed under.
    pub name: String,
    /// Its full name in the runtime (the published crate sends its ERN here).
    pub ern: String,
}

/// What the server supports, as booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProtocolCapabilities {
    /// MessagePack frames.
    #[serde(default)]
    pub messagepack: bool,
    /// Request-stream.
    #[serde(default)]
    pub streaming: bool,
    /// Subscriptions and PUSH frames.
    #[serde(default)]
    pub push: bool,
    /// DISCOVER.
    #[serde(default)]
    pub discovery: bool,
    /// CANCEL frames (`0x10`). Absent (false) on servers that close the
    /// connection on an unknown kind, such as the published crate's.
    #[serde(default)]
    pub cancel: bool,
}

/// The server's protocol version range and capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolVersionInfo {
    /// The version the server answers with.
    pub current: u8,
    /// The oldest version it accepts.
    pub min_supported: u8,
    /// The newest version it accepts.
    pub max_supported: u8,
    /// For people.
    pub description: String,
    /// What it supports.
    pub capabilities: ProtocolCapabilities,
}

impl ProtocolVersionInfo {
    /// This build's version info.
    pub fn current() -> Self {
        Self {
            current: super::PROTOCOL_VERSION,
            min_supported: super::MIN_SUPPORTED_VERSION,
            max_supported: super::MAX_SUPPORTED_VERSION,
            description: "v2 (multi-format, streaming, push, discovery)".to_owned(),
            capabilities: ProtocolCapabilities {
                messagepack: cfg!(feature = "ipc-messagepack"),
                streaming: true,
                push: true,
                discovery: true,
                cancel: true,
            },
        }
    }
}

/// The answer to DISCOVER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcDiscoverResponse {
    /// The request's correlation id.
    pub correlation_id: String,
    /// Whether the request succeeded.
    pub success: bool,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The server's protocol versions and capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersionInfo>,
    /// The exposed actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actors: Option<Vec<ActorInfo>>,
    /// Every registered type name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_types: Option<Vec<String>>,
    /// The server's schema (`acton-schema/1`), when asked for and registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// The fingerprint of the schema's wire contract, sent with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_fingerprint: Option<String>,
}
