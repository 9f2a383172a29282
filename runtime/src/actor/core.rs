//! The message loop of one actor.
//!
//! Ordering rules (pinned by `tests/runtime.rs`):
//! - messages are taken from the mailbox in the order they were accepted;
//! - a `mutate_on` handler runs alone: its body runs with `&mut` state, and its future
//!   is awaited before the next message is taken (futures of earlier `act_on`
//!   handlers keep making progress meanwhile);
//! - an `act_on` handler's body runs with `&` state, and its future joins the set of
//!   in-flight futures, at most `max_concurrent` of them; at that bound the loop
//!   stops taking messages until one finishes (backpressure through the mailbox);
//! - on stop, the mailbox is closed, every message it already holds is handled,
//!   every in-flight future finishes, children stop, then `before_stop` runs.

use std::any::{Any, TypeId};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use futures_util::future::CatchUnwind;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;

use super::handler::{Handler, HandlerTable, HookFn};
use super::ManagedActor;
use crate::message::{Envelope, FutureBox, NoHandler, ReplyTarget};

type Guarded = CatchUnwind<AssertUnwindSafe<FutureBox>>;
type InFlight = FuturesUnordered<Guarded>;
type Panic = Box<dyn Any + Send>;

/// How many messages the loop takes through its fast path before it waits on its
/// mailbox through `poll_recv` (which spends the task's scheduling budget, and so
/// yields when it is spent).
const FAST_PATH_RUN: u32 = 32;

pub(crate) struct ActorCore<S> {
    pub(crate) actor: ManagedActor<S>,
    pub(crate) handlers: HandlerTable<S>,
    pub(crate) mailbox: mpsc::Receiver<Envelope>,
    pub(crate) after_start: Option<HookFn<S>>,
    pub(crate) before_stop: Option<HookFn<S>>,
    pub(crate) max_concurrent: usize,
}

impl<S: Send + 'static> ActorCore<S> {
    pub(crate) async fn run(mut self) {
        let mut in_flight = InFlight::new();
        if let Some(hook) = self.after_start.take() {
            self.run_hook(hook, "after_start", &mut in_flight).await;
        }

        let handle = self.actor.handle().clone();
        let parked = std::sync::Arc::clone(handle.parked());
        let mut stop_requested = std::pin::pin!(handle.stop_request());
        let mut closing = false;
        let mut fast_run = 0u32;
        loop {
            // Fast path: with nothing in flight, take ready messages with
            // `try_recv`. Every FAST_PATH_RUN messages the loop waits through
            // `poll_recv` below instead, which yields to the scheduler when the
            // task's budget is spent.
            if in_flight.is_empty() && fast_run < FAST_PATH_RUN {
                if !closing && handle.stop_requested() {
                    closing = true;
                    self.mailbox.close();
                }
                match self.mailbox.try_recv() {
                    Ok(envelope) => {
                        fast_run += 1;
                        self.handle(envelope, &mut in_flight).await;
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
            }
            fast_run = 0;
            if in_flight.is_empty() && !closing {
                // Nothing in flight (the usual case once the mailbox runs dry): the
                // select below narrowed to its two live branches, the stop request
                // first, without its machinery on every message.
                let next = std::future::poll_fn(|cx| {
                    if stop_requested.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    self.mailbox.poll_recv(cx).map(Some)
                })
                .await;
                match next {
                    None => {
                        closing = true;
                        self.mailbox.close();
                    }
                    Some(None) => break,
                    Some(Some(envelope)) => self.handle(envelope, &mut in_flight).await,
                }
                continue;
            }
            // Parked handlers wait for a slow receiver: they do not hold a slot.
            let slots = self.max_concurrent.saturating_add(parked.count());
            tokio::select! {
                biased;
                () = &mut stop_requested, if !closing => {
                    closing = true;
                    self.mailbox.close();
                }
                Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                    report(self.actor.name(), outcome, "an act_on handler");
                }
                envelope = self.mailbox.recv(), if in_flight.len() < slots => {
                    let Some(envelope) = envelope else { break };
                    self.handle(envelope, &mut in_flight).await;
                }
                // At the bound, a handler that parks frees a slot.
                () = parked.parked(), if in_flight.len() >= slots => {}
            }
        }
        while let Some(outcome) = in_flight.next().await {
            report(self.actor.name(), outcome, "an act_on handler");
        }

        let children = self.actor.handle().take_children();
        futures_util::future::join_all(children.iter().map(|child| child.stop())).await;

        if let Some(hook) = self.before_stop.take() {
            self.run_hook(hook, "before_stop", &mut in_flight).await;
        }
    }

    async fn handle(&mut self, envelope: Envelope, in_flight: &mut InFlight) {
        let type_id = (&*envelope.message as &dyn Any).type_id();
        let message_type = (*envelope.message).type_name();
        match self.handlers.get(&type_id) {
            Some(Handler::Act(handler)) => {
                let actor = &self.actor;
                match std::panic::catch_unwind(AssertUnwindSafe(|| handler(actor, envelope))) {
                    Ok(future) => {
                        // Most handlers finish on their first poll (a reply sent into
                        // a channel with room): run that poll now, and only a future
                        // that has to wait joins the in-flight set.
                        let mut future = AssertUnwindSafe(future).catch_unwind();
                        match std::future::poll_fn(|cx| Poll::Ready(future.poll_unpin(cx))).await {
                            Poll::Ready(outcome) => {
                                report(self.actor.name(), outcome, message_type)
                            }
                            Poll::Pending => in_flight.push(future),
                        }
                    }
                    Err(panic) => report(self.actor.name(), Err(panic), message_type),
                }
            }
            Some(Handler::Mutate(handler)) => {
                let actor = &mut self.actor;
                match std::panic::catch_unwind(AssertUnwindSafe(|| handler(actor, envelope))) {
                    Ok(future) => {
                        let name = self.actor.name();
                        let outcome = exclusive(
                            AssertUnwindSafe(future).catch_unwind(),
                            in_flight,
                            |outcome| {
                                report(name, outcome, "an act_on handler");
                            },
                        )
                        .await;
                        report(name, outcome, message_type);
                    }
                    Err(panic) => report(self.actor.name(), Err(panic), message_type),
                }
            }
            None => self.reject(envelope, type_id),
        }
    }

    async fn run_hook(&mut self, hook: HookFn<S>, name: &'static str, in_flight: &mut InFlight) {
        let actor = &mut self.actor;
        match std::panic::catch_unwind(AssertUnwindSafe(|| hook(actor))) {
            Ok(future) => {
                let actor = self.actor.name();
                let outcome = exclusive(
                    AssertUnwindSafe(future).catch_unwind(),
                    in_flight,
                    |outcome| {
                        report(actor, outcome, "an act_on handler");
                    },
                )
                .await;
                report(actor, outcome, name);
            }
            Err(panic) => report(self.actor.name(), Err(panic), name),
        }
    }

    /// A message nobody handles: dropped, and a waiting requester is told why.
    fn reject(&self, envelope: Envelope, type_id: TypeId) {
        let message_type = (*envelope.message).type_name();
        tracing::debug!(
            actor = self.actor.name(),
            message_type,
            ?type_id,
            "no handler for message"
        );
        let notice = || {
            Box::new(NoHandler {
                actor: self.actor.name().to_owned(),
                message_type,
            })
        };
        match &envelope.reply_to {
            // A fresh reply channel always has room for this one notice.
            ReplyTarget::Channel(replies) => {
                let _ = replies.try_send(notice());
            }
            // A sink takes it without waiting, whatever its state.
            #[cfg(feature = "ipc")]
            ReplyTarget::Sink(sink) => sink.no_handler(*notice()),
            ReplyTarget::Discard | ReplyTarget::Actor(_) => {}
        }
    }
}

/// Logs a handler's panic; the actor goes on with its next message.
fn report(actor: &str, outcome: Result<(), Panic>, what: &str) {
    if let Err(panic) = outcome {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string panic payload>".to_owned());
        tracing::error!(actor, handler = what, %reason, "handler panicked; the actor keeps running");
    }
}

/// Awaits `future` while still driving the in-flight `act_on` futures.
async fn exclusive(
    future: Guarded,
    in_flight: &mut InFlight,
    mut on_done: impl FnMut(Result<(), Panic>),
) -> Result<(), Panic> {
    let mut future = std::pin::pin!(future);
    if in_flight.is_empty() {
        return future.await;
    }
    loop {
        tokio::select! {
            biased;
            outcome = &mut future => return outcome,
            Some(outcome) = in_flight.next(), if !in_flight.is_empty() => on_done(outcome),
        }
    }
}
