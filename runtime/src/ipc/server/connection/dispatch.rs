//! A REQUEST's way from the connection to its actor: the envelope is parsed,
//! checked against the limits (correlation id length, rate, duplicates), its target
//! and type are looked up, its payload decoded, and it goes into the actor's
//! mailbox — at once, or after waiting for room — with the reply path
//! ([`RequestReplies`]) its handler answers through. Deadlines and the ends of
//! requests come back here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use smol_str::SmolStr;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::routes::Miss;
use super::state::{Answering, Connection, Pending};
use crate::ipc::codec::envelope;
use crate::ipc::codec::frames::value_frame;
use crate::ipc::protocol::{
    Delivered, ErrorCode, Frame, IpcResponse, MessageKind, UNKNOWN_CORRELATION_ID,
};
use crate::ipc::server::hub::shorten;
use crate::ipc::server::outbox::Ended;
use crate::ipc::server::reply::RequestReplies;
use crate::ipc::server::stats::Counters;
use crate::ipc::Format;
use crate::message::{Envelope, ReplyTarget, RequestOrigin, SinkRef};

/// The longest deadline kept (about two years); longer means never.
const MAX_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a request becomes once its target's mailbox accepted it.
struct Accepted {
    correlation_id: SmolStr,
    format: Format,
    /// `None` for fire-and-forget.
    replies: Option<Arc<RequestReplies>>,
    /// When it fails with TIMEOUT, counted from its arrival.
    deadline: Instant,
}

pub(crate) type RoomOutcome = Result<
    Result<mpsc::OwnedPermit<Envelope>, mpsc::error::SendError<()>>,
    tokio::time::error::Elapsed,
>;

/// A request waiting for room in a full mailbox, up to a deadline. While one
/// waits, the connection reads no further frames.
pub(crate) struct Parked {
    accepted: Accepted,
    envelope: Envelope,
    target: String,
    capacity: usize,
    waited: Duration,
    room: Pin<Box<dyn Future<Output = RoomOutcome> + Send>>,
}

fn busy_message(target: &str, capacity: usize, waited: Duration) -> String {
    format!(
        "actor `{}`'s mailbox ({capacity} messages) stayed full for {} ms; the message was not delivered",
        shorten(target),
        waited.as_millis()
    )
}

impl Connection {
    pub(super) fn on_request(&mut self, frame: &Frame) {
        let format = frame.format;
        self.traffic.request();
        if !format.is_supported() {
            let to = Answering::frame(Format::Json, UNKNOWN_CORRELATION_ID);
            if self.admit(to) {
                let message = "MessagePack is not enabled on this server".to_owned();
                self.refuse(to, ErrorCode::SerializationError, message);
            }
            return;
        }
        let (header, payload) =
            match envelope::parse_remembering(&mut self.envelopes, format, &frame.payload) {
                Ok(parsed) => parsed,
                Err(error) => {
                    let message = format!("not a valid request envelope: {error}");
                    return self.malformed(format, &frame.payload, message);
                }
            };
        if self.id_too_long(format, &header.correlation_id) {
            return;
        }
        let stream = header.expects_stream;
        let to = Answering {
            format,
            correlation_id: &header.correlation_id,
            stream,
        };
        if !self.admit(to) {
            return;
        }
        if self.pending.contains_key(&*header.correlation_id) {
            Counters::add(&self.shared.counters.limit_refusals, 1);
            let message = format!(
                "correlation_id `{}` is already in flight on this connection",
                shorten(&header.correlation_id)
            );
            return self.refuse(to, ErrorCode::LimitExceeded, message);
        }
        // Borrowed from the connection's route cache (fields apart from the rest,
        // so the request takes no reference of its own on either).
        let shared = &*self.shared;
        let route = self.routes.resolve(
            shared.runtime.ipc_state(),
            &shared.registry,
            &header.target,
            &header.message_type,
        );
        let (target, registration) = match route {
            Ok(route) => route,
            Err(Miss::Target) => {
                let code = if stream {
                    ErrorCode::StreamError
                } else {
                    ErrorCode::ActorNotFound
                };
                let message = format!("no actor is exposed as `{}`", shorten(&header.target));
                return self.refuse(to, code, message);
            }
            Err(Miss::MessageType) => {
                let message = format!(
                    "no message type is registered as `{}`",
                    shorten(&header.message_type)
                );
                return self.refuse(to, ErrorCode::UnknownMessageType, message);
            }
        };
        // A panic in the type's `Deserialize` is a bad payload like any other.
        let decoded =
            std::panic::catch_unwind(AssertUnwindSafe(|| registration.decode(format, payload)));
        let message = match decoded {
            Ok(Ok(message)) => message,
            Ok(Err(error)) => {
                return self.refuse(to, ErrorCode::SerializationError, error.to_string())
            }
            Err(_) => {
                let message = format!("decoding `{}` panicked", registration.name);
                return self.refuse(to, ErrorCode::SerializationError, message);
            }
        };

        let requested = Duration::from_millis(header.response_timeout_ms);
        let cap = shared.options.max_request_timeout;
        if requested > cap {
            Counters::add(&shared.counters.deadlines_capped, 1);
        }
        let deadline = requested.min(cap).min(MAX_DEADLINE);
        let correlation_id = SmolStr::new(&*header.correlation_id);
        let expects_answer = stream || header.expects_reply;
        let (reply_to, replies) = if expects_answer {
            let span = tracing::debug_span!(
                parent: &self.span,
                "ipc.request",
                target = %shorten(&header.target),
                message_type = %registration.name,
                correlation_id = %correlation_id,
                outcome = tracing::field::Empty,
                duration_us = tracing::field::Empty,
            );
            self.next_serial += 1;
            let replies = Arc::new(RequestReplies::new(
                correlation_id.clone(),
                self.next_serial,
                format,
                stream,
                Arc::clone(&self.reply_path),
                stream.then(|| Arc::clone(target.parked())),
                span,
            ));
            let sink = SinkRef::new(Arc::clone(&replies) as Arc<dyn crate::message::ReplySink>);
            (ReplyTarget::Sink(sink), Some(replies))
        } else {
            (ReplyTarget::Discard, None)
        };
        let arrived = Instant::now();
        let accepted = Accepted {
            correlation_id,
            format,
            replies,
            deadline: arrived
                .checked_add(deadline)
                .unwrap_or_else(|| arrived + MAX_DEADLINE),
        };
        // A refused envelope carries its reply path (a `SinkRef`): dropped, it
        // would answer the request ("finished without replying");
        // `refuse_accepted` ends the request first.
        let origin = RequestOrigin::with_id(
            self.peer,
            accepted.correlation_id.clone(),
            Some(accepted.deadline.into_std()),
        );
        match target
            .mailbox()
            .try_send(Envelope::from_peer(message, reply_to, origin))
        {
            Ok(()) => self.accept(accepted),
            Err(mpsc::error::TrySendError::Full(envelope)) => {
                let waited = shared.options.mailbox_wait.min(deadline);
                let capacity = target.mailbox_capacity();
                if waited.is_zero() {
                    let message = busy_message(&header.target, capacity, waited);
                    return self.refuse_accepted(&accepted, ErrorCode::TargetBusy, message);
                }
                let room = Box::pin(tokio::time::timeout(
                    waited,
                    target.mailbox().clone().reserve_owned(),
                ));
                self.parked = Some(Parked {
                    accepted,
                    envelope,
                    target: header.target.into_owned(),
                    capacity,
                    waited,
                    room,
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                let message = format!("actor `{}` has stopped", shorten(&header.target));
                self.refuse_accepted(&accepted, ErrorCode::ActorNotFound, message);
            }
        }
    }

    /// Polls the parked request's wait for room; `Pending` when nothing is parked.
    pub(crate) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<RoomOutcome> {
        match &mut self.parked {
            Some(parked) => parked.room.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    /// The parked request's wait is over: it goes in, or is refused.
    pub(crate) fn on_room(&mut self, outcome: RoomOutcome) {
        let Some(parked) = self.parked.take() else {
            return;
        };
        match outcome {
            Ok(Ok(permit)) => {
                permit.send(parked.envelope);
                self.accept(parked.accepted);
            }
            Ok(Err(_)) => {
                let message = format!("actor `{}` has stopped", shorten(&parked.target));
                self.refuse_accepted(&parked.accepted, ErrorCode::ActorNotFound, message);
            }
            Err(_) => {
                let message = busy_message(&parked.target, parked.capacity, parked.waited);
                self.refuse_accepted(&parked.accepted, ErrorCode::TargetBusy, message);
            }
        }
    }

    /// A request the mailbox took: fire-and-forget is answered now, the others
    /// wait for their replies until their deadline.
    fn accept(&mut self, accepted: Accepted) {
        let Some(replies) = accepted.replies else {
            let delivered = IpcResponse::success(&*accepted.correlation_id, Delivered::new());
            self.outbox.force(&value_frame(
                MessageKind::Response,
                accepted.format,
                &delivered,
            ));
            return;
        };
        if replies.has_ended() {
            // Answered before we got here (a handler that replied at once).
            return;
        }
        let deadline = accepted.deadline;
        if self.next_deadline.is_none_or(|next| deadline < next) {
            self.next_deadline = Some(deadline);
        }
        self.pending
            .insert(accepted.correlation_id, Pending { replies, deadline });
    }

    /// Refuses a request that never reached its actor.
    fn refuse_accepted(&self, accepted: &Accepted, code: ErrorCode, message: String) {
        match &accepted.replies {
            // Ends its reply path, so that dropping the envelope adds nothing.
            Some(replies) => {
                replies.fail(code, message);
            }
            None => self.refuse(
                Answering::frame(accepted.format, &accepted.correlation_id),
                code,
                message,
            ),
        }
    }

    /// Requests that ended from their handler's side: their slots are free.
    pub(crate) fn on_ended(&mut self, ended: &mut Vec<Ended>) {
        for ended in ended.drain(..) {
            // One lookup: the entry is taken out, and put back in the rare case
            // that it is a newer request reusing the id.
            if let Some((id, pending)) = self.pending.remove_entry(&ended.correlation_id) {
                if pending.replies.serial != ended.serial {
                    self.pending.insert(id, pending);
                }
            }
        }
        if self.pending.is_empty() {
            self.next_deadline = None;
        }
    }

    /// When the connection must next call [`on_deadlines`](Self::on_deadlines):
    /// no request in flight has an earlier deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// It is `now`: every request in flight whose deadline has passed fails with
    /// TIMEOUT (earliest first), and the next deadline is found. A scan of the
    /// requests in flight (at most `max_in_flight`), done only when the earliest
    /// known deadline comes: answering a request costs nothing here.
    pub(crate) fn on_deadlines(&mut self, now: Instant) {
        let mut expired: Vec<(Instant, u64, SmolStr)> = Vec::new();
        let mut next: Option<Instant> = None;
        for (id, pending) in &self.pending {
            if pending.deadline <= now {
                expired.push((pending.deadline, pending.replies.serial, id.clone()));
            } else if next.is_none_or(|next| pending.deadline < next) {
                next = Some(pending.deadline);
            }
        }
        self.next_deadline = next;
        expired.sort_unstable_by_key(|(deadline, serial, _)| (*deadline, *serial));
        for (_, _, id) in expired {
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            let message = if pending.replies.stream {
                "the stream did not end within its response_timeout_ms"
            } else {
                "no reply within its response_timeout_ms"
            };
            pending.replies.fail(ErrorCode::Timeout, message.to_owned());
        }
    }

    /// Refuses the request waiting for a mailbox, if one is.
    pub(super) fn refuse_parked(&mut self, code: ErrorCode, message: &str) {
        if let Some(parked) = self.parked.take() {
            self.refuse_accepted(&parked.accepted, code, message.to_owned());
        }
    }

    /// Drops the request waiting for a mailbox if it is `correlation_id`'s;
    /// returns whether it was.
    pub(super) fn cancel_parked(&mut self, correlation_id: &str) -> bool {
        let is_it = self
            .parked
            .as_ref()
            .is_some_and(|parked| &*parked.accepted.correlation_id == correlation_id);
        if is_it {
            if let Some(parked) = self.parked.take() {
                if let Some(replies) = &parked.accepted.replies {
                    replies.abandon();
                }
            }
        }
        is_it
    }
}
