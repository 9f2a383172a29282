//! A handler's failure, sent through its reply envelope like a reply.

use std::borrow::Cow;

use super::ActonMessage;

/// A handler's failure on its way to its requester, sent through the reply
/// envelope like a reply: over IPC it becomes an ERROR frame (or a failed final
/// STREAM frame) carrying the code, the message and the details; to a local
/// `ask` it is [`AskError::Failed`](crate::error::AskError::Failed). Generated
/// error enums and `ipc::service::Status` turn into one (`IntoFailure`).
///
/// ```
/// use acton_reactive::message::Failure;
///
/// let failure = Failure::new("INTERNAL", "disk full");
/// assert_eq!(failure.code(), "INTERNAL");
/// assert!(failure.details().is_none());
/// ```
#[derive(Debug)]
pub struct Failure {
    code: Cow<'static, str>,
    message: String,
    details: Option<Box<dyn ActonMessage>>,
}

impl Failure {
    /// A failure without details.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// A failure whose `details` (over IPC, a registered type: a declared
    /// error's struct) travel as the frame's `payload`.
    pub fn with_details<T: ActonMessage>(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        details: T,
    ) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: Some(Box::new(details)),
        }
    }

    /// The wire error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details, if any.
    pub fn details(&self) -> Option<&dyn ActonMessage> {
        self.details.as_deref()
    }
}
