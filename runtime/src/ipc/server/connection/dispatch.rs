//! A REQUEST's way from the connection to its actor: the envelope is parsed,
//! checked against the limits (correlation id length, rate, duplicates), its target
//! and type are looked up, its payload decoded, and it goes into the actor's
//! mailbox — at once, or after waiting for room — with the reply path
//! ([`RequestReplies`]) its handler answers through. Deadlines and the ends of
//! requests come back here.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use smol_str::SmolStr;
use tokio::time::Instant;

use super::routes::Miss;
use super::state::{Accepted, Answering, Connection, Parked, Pending};
use crate::ipc::codec::envelope;
use crate::ipc::codec::frames::value_frame;
use crate::ipc::protocol::{Delivered, ErrorCode, Frame, IpcResponse, MessageKind};
use crate::ipc::server::outbox::Ended;
use crate::ipc::server::reply::RequestReplies;
use crate::ipc::server::stats::Counters;
use crate::ipc::serving::intake::{self, shown, Delivery, Refusal, Timeout, WaitOutcome};
use crate::ipc::Format;
use crate::message::{Envelope, ReplyTarget, RequestOrigin, SinkRef};

impl Connection {
    pub(super) fn on_request(&mut self, frame: &Frame) {
        let format = frame.format;
        self.traffic.request();
        if !format.is_supported() {
            let to = Answering::frame(Format::Json, crate::ipc::protocol::UNKNOWN_CORRELATION_ID);
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
        let stream = header.expects_stream;
        let to = Answering {
            format,
            correlation_id: &header.correlation_id,
            stream,
        };
        // Charged first: every refusal below costs a token too.
        if !self.admit(to) || self.id_too_long(format, &header.correlation_id) {
            return;
        }
        if self.pending.contains_key(&*header.correlation_id) {
            Counters::add(&self.shared.counters.limit_refusals, 1);
            let message = format!(
                "correlation_id `{}` is already in flight on this connection",
                shown(&header.correlation_id)
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
                let refusal = Refusal::not_exposed(&header.target, stream);
                return self.refuse(to, refusal.code, refusal.message);
            }
            Err(Miss::MessageType) => {
                let refusal = Refusal::not_registered(&header.message_type);
                return self.refuse(to, refusal.code, refusal.message);
            }
        };
        let message = match intake::decode(registration, format, payload) {
            Ok(message) => message,
            Err(refusal) => return self.refuse(to, refusal.code, refusal.message),
        };

        let timeout = Timeout::capped(
            Duration::from_millis(header.response_timeout_ms),
            shared.options.max_request_timeout,
        );
        if timeout.capped {
            Counters::add(&shared.counters.deadlines_capped, 1);
        }
        let correlation_id = SmolStr::new(&*header.correlation_id);
        let expects_answer = stream || header.expects_reply;
        let (reply_to, replies) = if expects_answer {
            let span = tracing::debug_span!(
                parent: &self.span,
                "ipc.request",
                target = %shown(&header.target),
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
        let accepted = Accepted {
            correlation_id,
            format,
            replies,
            deadline: timeout.deadline_from(Instant::now()),
        };
        let origin = RequestOrigin::with_id(
            self.peer,
            accepted.correlation_id.clone(),
            Some(accepted.deadline.into_std()),
        );
        let envelope = Envelope::from_peer(message, reply_to, origin);
        let wait = shared.options.mailbox_wait.min(timeout.timeout);
        match intake::deliver(target, &header.target, envelope, wait) {
            Delivery::Delivered => self.accept(accepted),
            Delivery::Waiting(wait) => self.parked = Some(Parked { accepted, wait }),
            Delivery::Refused(refusal, envelope) => {
                self.refuse_accepted(&accepted, refusal);
                drop(envelope);
            }
        }
    }

    /// Polls the parked request's wait for room (it is delivered when room
    /// comes); `Pending` when nothing is parked.
    pub(crate) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<WaitOutcome> {
        match &mut self.parked {
            Some(parked) => parked.wait.poll_deliver(cx),
            None => Poll::Pending,
        }
    }

    /// The parked request's wait is over: it went in, or is refused.
    pub(crate) fn on_room(&mut self, outcome: WaitOutcome) {
        let Some(parked) = self.parked.take() else {
            return;
        };
        match outcome {
            Ok(()) => self.accept(parked.accepted),
            Err((refusal, envelope)) => {
                // Its reply path ends first: dropped, the envelope adds nothing.
                self.refuse_accepted(&parked.accepted, refusal);
                drop(envelope);
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
    fn refuse_accepted(&self, accepted: &Accepted, refusal: Refusal) {
        match &accepted.replies {
            // Ends its reply path, so that dropping the envelope adds nothing.
            Some(replies) => {
                replies.fail(refusal.code, refusal.message);
            }
            None => self.refuse(
                Answering::frame(accepted.format, &accepted.correlation_id),
                refusal.code,
                refusal.message,
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
            self.refuse_accepted(&parked.accepted, Refusal::new(code, message));
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
