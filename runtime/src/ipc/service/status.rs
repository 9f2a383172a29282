//! How a handler fails: a [`Status`] (a code and a message) for anything, or a
//! declared error of the schema; either becomes a [`Failure`] on its way to the
//! client, an ERROR frame (or a failed final STREAM frame) whose `error_code` is
//! the code, `error` the message and `payload` the error's fields.

use std::borrow::Cow;
use std::fmt;

use crate::ipc::client::ClientError;
use crate::ipc::protocol::ErrorCode;
use crate::message::Failure;

/// A failure that is not one of a method's declared errors: a wire error code
/// and a message for people.
///
/// ```
/// use acton_reactive::ipc::service::Status;
/// use acton_reactive::ipc::protocol::ErrorCode;
///
/// let status = Status::unimplemented("kv_store.get");
/// assert_eq!(status.code(), "UNIMPLEMENTED");
/// assert_eq!(status.protocol_code(), Some(ErrorCode::Unimplemented));
/// let custom = Status::new("QUOTA_EXCEEDED", "try again tomorrow");
/// assert_eq!(custom.to_string(), "QUOTA_EXCEEDED: try again tomorrow");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Status {
    code: Cow<'static, str>,
    message: String,
}

impl Status {
    /// A status with any wire code (by convention `SCREAMING_SNAKE_CASE`).
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A status with one of the protocol's codes.
    pub fn from_code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code.as_str(), message)
    }

    /// The method has no implementation (the default body of a generated handler
    /// method).
    pub fn unimplemented(method: &str) -> Self {
        Self::from_code(
            ErrorCode::Unimplemented,
            format!("`{method}` is not implemented by this server"),
        )
    }

    /// Something went wrong inside the handler; the message says what.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::from_code(ErrorCode::Internal, message)
    }

    /// The wire error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The code, if it is one of the protocol's.
    pub fn protocol_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

impl From<ClientError> for Status {
    /// What a client saw, as a status: the server's code and message, or the
    /// protocol code closest to a local failure.
    fn from(error: ClientError) -> Self {
        let code = match &error {
            ClientError::Server { code, message, .. }
            | ClientError::Rejected { code, message, .. } => {
                return Self::new(code.clone(), message.clone())
            }
            ClientError::Timeout(_) => ErrorCode::Timeout,
            ClientError::Closed => ErrorCode::ConnectionClosed,
            ClientError::Codec(_) => ErrorCode::SerializationError,
            ClientError::UnexpectedServer { .. } => ErrorCode::AccessDenied,
            _ => ErrorCode::IoError,
        };
        Self::from_code(code, error.to_string())
    }
}

/// What a handler's error becomes on the wire.
pub trait IntoFailure {
    /// The failure to send.
    fn into_failure(self) -> Failure;
}

impl IntoFailure for Status {
    fn into_failure(self) -> Failure {
        Failure::new(self.code, self.message)
    }
}

impl IntoFailure for Failure {
    fn into_failure(self) -> Failure {
        self
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        status.into_failure()
    }
}
