//! A request's way from its transport to its actor's mailbox, the same on every
//! transport: its target and type are looked up, its payload decoded into the
//! registered type (a panic there is a bad payload like any other), its deadline
//! capped, and its envelope put in the mailbox — at once, or after waiting for
//! room. Every way this can fail is a [`Refusal`]: an error code and a message
//! for the caller, which the transport writes in its own form.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::actor::ActorHandle;
use crate::ipc::protocol::ErrorCode;
use crate::ipc::registry::Registration;
use crate::ipc::Format;
use crate::message::{ActonMessage, Envelope};

/// The longest deadline kept (about a year); longer means never.
pub(crate) const MAX_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a request was not served, for its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Nothing is exposed as `target` (a stream request is told STREAM_ERROR,
    /// as acton-reactive's server tells it).
    pub(crate) fn not_exposed(target: &str, stream: bool) -> Self {
        let code = if stream {
            ErrorCode::StreamError
        } else {
            ErrorCode::ActorNotFound
        };
        Self::new(code, format!("no actor is exposed as `{}`", shown(target)))
    }

    /// No type is registered as `message_type`.
    pub(crate) fn not_registered(message_type: &str) -> Self {
        Self::new(
            ErrorCode::UnknownMessageType,
            format!("no message type is registered as `{}`", shown(message_type)),
        )
    }

    /// The target's actor stopped.
    pub(crate) fn stopped(target: &str) -> Self {
        Self::new(
            ErrorCode::ActorNotFound,
            format!("actor `{}` has stopped", shown(target)),
        )
    }

    /// The target's mailbox stayed full for as long as the request could wait.
    pub(crate) fn busy(target: &str, capacity: usize, waited: Duration) -> Self {
        Self::new(
            ErrorCode::TargetBusy,
            format!(
                "actor `{}`'s mailbox ({capacity} messages) stayed full for {} ms; the message was not delivered",
                shown(target),
                waited.as_millis()
            ),
        )
    }
}

/// A name from a caller, as a message shows it: control characters as spaces,
/// cut after 64 characters.
pub(crate) fn shown(name: &str) -> String {
    const SHOWN: usize = 64;
    let cut = match name.char_indices().nth(SHOWN) {
        Some((at, _)) => &name[..at],
        None => name,
    };
    let mut text: String = cut
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cut.len() < name.len() {
        text.push('…');
    }
    text
}

/// Decodes `payload` into `registration`'s type.
///
/// # Errors
/// SERIALIZATION_ERROR when the payload is not that type's, also when the
/// type's `Deserialize` panics.
#[inline(always)]
pub(crate) fn decode(
    registration: &Registration,
    format: Format,
    payload: &[u8],
) -> Result<Box<dyn ActonMessage>, Refusal> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| registration.decode(format, payload))) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(error)) => Err(Refusal::new(
            ErrorCode::SerializationError,
            error.to_string(),
        )),
        Err(_) => Err(Refusal::new(
            ErrorCode::SerializationError,
            format!("decoding `{}` panicked", registration.name),
        )),
    }
}

/// How long a request may take: what its caller asked for, at most `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeout {
    pub(crate) timeout: Duration,
    /// Whether the caller asked for more than the cap.
    pub(crate) capped: bool,
}

impl Timeout {
    #[inline]
    pub(crate) fn capped(requested: Duration, cap: Duration) -> Self {
        let cap = cap.min(MAX_DEADLINE);
        Self {
            timeout: requested.min(cap),
            capped: requested > cap,
        }
    }

    /// The instant the request fails with TIMEOUT, counted from `arrived`.
    #[inline(always)]
    pub(crate) fn deadline_from(self, arrived: Instant) -> Instant {
        arrived
            .checked_add(self.timeout)
            .unwrap_or_else(|| arrived + MAX_DEADLINE)
    }
}

/// What became of an envelope handed to a mailbox.
pub(crate) enum Delivery {
    /// The mailbox took it.
    Delivered,
    /// The mailbox is full: the envelope waits for room, up to a time.
    Waiting(MailboxWait),
    /// Not delivered. The envelope is given back: it carries the request's reply
    /// path, which the transport ends (with the refusal) before dropping it.
    Refused(Refusal, Envelope),
}

/// Puts `envelope` in `target`'s mailbox; when it is full, waits for room for
/// up to `wait` (nothing waits when that is zero).
// Once per request, on its hot path.
#[inline(always)]
pub(crate) fn deliver(
    target: &ActorHandle,
    target_name: &str,
    envelope: Envelope,
    wait: Duration,
) -> Delivery {
    match target.mailbox().try_send(envelope) {
        Ok(()) => Delivery::Delivered,
        Err(mpsc::error::TrySendError::Full(envelope)) => {
            let capacity = target.mailbox_capacity();
            if wait.is_zero() {
                return Delivery::Refused(Refusal::busy(target_name, capacity, wait), envelope);
            }
            Delivery::Waiting(MailboxWait {
                envelope: Some(envelope),
                target: target_name.into(),
                capacity,
                waited: wait,
                room: Box::pin(tokio::time::timeout(
                    wait,
                    target.mailbox().clone().reserve_owned(),
                )),
            })
        }
        Err(mpsc::error::TrySendError::Closed(envelope)) => {
            Delivery::Refused(Refusal::stopped(target_name), envelope)
        }
    }
}

type Room = Result<
    Result<mpsc::OwnedPermit<Envelope>, mpsc::error::SendError<()>>,
    tokio::time::error::Elapsed,
>;

/// An envelope waiting for room in a full mailbox, up to a time. Polled to its
/// end, it is delivered or given back with its refusal.
pub(crate) struct MailboxWait {
    envelope: Option<Envelope>,
    target: Box<str>,
    capacity: usize,
    waited: Duration,
    room: Pin<Box<dyn Future<Output = Room> + Send>>,
}

/// How a [`MailboxWait`] ended: `Err` gives the envelope back with its refusal.
pub(crate) type WaitOutcome = Result<(), (Refusal, Envelope)>;

impl MailboxWait {
    /// Waits for room; delivers the envelope when there is.
    pub(crate) fn poll_deliver(&mut self, cx: &mut Context<'_>) -> Poll<WaitOutcome> {
        if self.envelope.is_none() {
            // Polled again after its end: nothing is left to deliver (and the
            // finished wait must not be polled again).
            return Poll::Ready(Ok(()));
        }
        let outcome = std::task::ready!(self.room.as_mut().poll(cx));
        let Some(envelope) = self.envelope.take() else {
            return Poll::Ready(Ok(()));
        };
        Poll::Ready(match outcome {
            Ok(Ok(permit)) => {
                permit.send(envelope);
                Ok(())
            }
            Ok(Err(_)) => Err((Refusal::stopped(&self.target), envelope)),
            Err(_) => Err((
                Refusal::busy(&self.target, self.capacity, self.waited),
                envelope,
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_short_and_on_one_line() {
        assert_eq!(shown("calc"), "calc");
        assert_eq!(shown("a\nb"), "a b");
        let long = "x".repeat(300);
        assert_eq!(shown(&long).chars().count(), 65);
        assert!(shown(&long).ends_with('…'));
    }

    #[test]
    fn a_timeout_is_capped_and_says_so() {
        let cap = Duration::from_secs(60);
        assert_eq!(
            Timeout::capped(Duration::from_secs(5), cap),
            Timeout {
                timeout: Duration::from_secs(5),
                capped: false
            }
        );
        assert_eq!(
            Timeout::capped(Duration::from_secs(3600), cap),
            Timeout {
                timeout: cap,
                capped: true
            }
        );
        // No deadline overflows the clock.
        let forever = Timeout::capped(Duration::MAX, Duration::MAX);
        assert_eq!(forever.timeout, MAX_DEADLINE);
        let now = Instant::now();
        assert!(forever.deadline_from(now) > now);
    }
}
