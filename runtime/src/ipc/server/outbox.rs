//! The answers waiting to be written to one connection, bounded in bytes.
//!
//! Every frame for a connection — answers, stream items, pushes, refusals — is
//! encoded by whoever produces it (a handler's reply, the broker's broadcast, the
//! connection itself) and appended here; the connection's task takes what is
//! waiting and writes it. Nothing that appends ever waits on the socket, and the
//! outbox owns the decision of what happens when it is full:
//!
//! | frame | taken while | when full |
//! |---|---|---|
//! | answer of a request-response call | unsent + frame ≤ budget | the call fails with LIMIT_EXCEEDED |
//! | stream item | unsent + frame ≤ budget / 2 | the producer waits ([`Outbox::wait_room`]), parked |
//! | push | unsent + frame ≤ budget / 2 | dropped; the next push delivered says how many |
//! | refusal, end of a request, control answer | always | — (small; bounded by requests in flight and by reading) |
//!
//! A frame is always taken when nothing is unsent, so one frame as large as the
//! protocol allows always gets through. Half the budget is kept for answers, so a
//! connection's streams can never starve its own calls.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_util::task::AtomicWaker;
use smol_str::SmolStr;
use tokio::sync::Notify;

/// A request that ended from its handler's side: the connection frees its slot.
/// `serial` tells it from a later request that reuses the correlation id.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub(crate) correlation_id: SmolStr,
    pub(crate) serial: u64,
}

/// What a producer appends, which decides the rule it is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The answer of a request-response call: refused above the budget.
    Answer,
    /// A stream item or a push: refused above half the budget.
    Flow,
    /// Always taken.
    Forced,
}

#[derive(Default)]
struct State {
    /// Bytes appended and not yet taken by the connection's task.
    buffer: BytesMut,
    /// Bytes appended and not yet written to the socket.
    unsent: usize,
    /// Requests that ended by their handler's side since the last take.
    ended: Vec<Ended>,
    /// Producers waiting for room.
    waiting: usize,
    /// The connection is gone: nothing more is taken.
    closed: bool,
}

/// One connection's outbox.
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Wakes the connection's task: bytes or ended requests wait for it (set
    /// before `ready` is woken; taken by [`poll_ready`](Self::poll_ready)).
    has_news: AtomicBool,
    ready: AtomicWaker,
    /// Wakes producers waiting for room.
    room: Notify,
    budget: usize,
    /// `State::unsent`, readable without the lock (the connection's loop asks on
    /// every turn); written under it.
    unsent: AtomicUsize,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Outbox")
            .field("unsent", &state.unsent)
            .field("budget", &self.budget)
            .field("closed", &state.closed)
            .finish()
    }
}

impl Outbox {
    /// An outbox holding at most `budget` unsent bytes of answers.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            has_news: AtomicBool::new(false),
            ready: AtomicWaker::new(),
            room: Notify::new(),
            budget: budget.max(1),
            unsent: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn limit(&self, lane: Lane) -> usize {
        match lane {
            Lane::Answer => self.budget,
            Lane::Flow => self.budget / 2,
            Lane::Forced => usize::MAX,
        }
    }

    fn fits(&self, state: &State, lane: Lane, len: usize) -> bool {
        state.unsent == 0 || state.unsent.saturating_add(len) <= self.limit(lane)
    }

    /// Appends `frame` if its lane has room; `false` (and nothing appended) when
    /// it has not, or when the connection is gone.
    pub(crate) fn offer(&self, lane: Lane, frame: &[u8]) -> bool {
        let mut state = self.lock();
        if state.closed || !self.fits(&state, lane, frame.len()) {
            return false;
        }
        self.append(&mut state, frame);
        true
    }

    /// [`offer`](Self::offer), and when taken, records that `request` ended.
    pub(crate) fn offer_end(&self, lane: Lane, frame: &[u8], request: Ended) -> bool {
        let mut state = self.lock();
        if state.closed || !self.fits(&state, lane, frame.len()) {
            return false;
        }
        let wake = state.buffer.is_empty() && state.ended.is_empty();
        state.buffer.extend_from_slice(frame);
        let unsent = state.unsent + frame.len();
        self.set_unsent(&mut state, unsent);
        state.ended.push(request);
        drop(state);
        if wake {
            self.wake_connection();
        }
        true
    }

    /// Appends `frame` whatever the budget: refusals, the ends of requests and the
    /// connection's own answers, all small and bounded elsewhere.
    pub(crate) fn force(&self, frame: &[u8]) {
        self.offer(Lane::Forced, frame);
    }

    /// Appends `frame` and records that `request` ended (by its handler's side),
    /// so that the connection frees its slot.
    pub(crate) fn force_end(&self, frame: &[u8], request: Ended) {
        self.offer_end(Lane::Forced, frame, request);
    }

    fn append(&self, state: &mut State, frame: &[u8]) {
        let wake = state.buffer.is_empty() && state.ended.is_empty();
        state.buffer.extend_from_slice(frame);
        let unsent = state.unsent + frame.len();
        self.set_unsent(state, unsent);
        if wake {
            self.wake_connection();
        }
    }

    /// Tells the connection's task that something waits to be taken. One atomic
    /// store and, when its task is registered, one wake: no lock, no list.
    fn wake_connection(&self) {
        self.has_news.store(true, Ordering::Release);
        self.ready.wake();
    }

    /// Whether a flow frame of `need` bytes (0: any small one) would be taken now.
    pub(crate) fn has_room(&self, need: usize) -> bool {
        let state = self.lock();
        state.closed || self.fits(&state, Lane::Flow, need)
    }

    /// Waits until a flow frame of `need` bytes would be taken, or the connection
    /// is gone.
    pub(crate) async fn wait_room(&self, need: usize) {
        loop {
            let notified = self.room.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed || self.fits(&state, Lane::Flow, need) {
                    return;
                }
                state.waiting += 1;
            }
            let _unregister = Unregister(self);
            notified.await;
        }
    }

    /// Bytes appended and not yet written.
    pub(crate) fn unsent(&self) -> usize {
        self.unsent.load(Ordering::Acquire)
    }

    fn set_unsent(&self, state: &mut State, unsent: usize) {
        state.unsent = unsent;
        self.unsent.store(unsent, Ordering::Release);
    }

    /// Whether nothing waits to be taken.
    pub(crate) fn is_empty(&self) -> bool {
        let state = self.lock();
        state.buffer.is_empty() && state.ended.is_empty()
    }

    /// `Ready` when something was appended since this last answered `Ready`;
    /// otherwise the task of `cx` is woken when something is. The connection's
    /// task is the only one that polls it.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before the flag is read: an append after the read wakes it.
        self.ready.register(cx.waker());
        if self.has_news.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// The connection's task takes every waiting byte (appended to `out`) and
    /// every request that ended.
    pub(crate) fn take(&self, out: &mut BytesMut, ended: &mut Vec<Ended>) {
        let mut state = self.lock();
        if out.is_empty() {
            std::mem::swap(out, &mut state.buffer);
        } else {
            out.extend_from_slice(&state.buffer);
            state.buffer.clear();
        }
        ended.append(&mut state.ended);
    }

    /// `n` bytes reached the socket.
    pub(crate) fn written(&self, n: usize) {
        let mut state = self.lock();
        let unsent = state.unsent.saturating_sub(n);
        self.set_unsent(&mut state, unsent);
        if state.waiting > 0 {
            drop(state);
            self.room.notify_waiters();
        }
    }

    /// The connection is gone: nothing more is taken, and waiting producers learn
    /// it. Returns what was still unsent.
    pub(crate) fn close(&self) -> usize {
        let mut state = self.lock();
        state.closed = true;
        state.buffer = BytesMut::new();
        state.ended.clear();
        let unsent = state.unsent;
        self.set_unsent(&mut state, 0);
        drop(state);
        self.room.notify_waiters();
        unsent
    }

    /// Whether the connection is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// Counts a waiting producer out when its wait ends (or is dropped).
struct Unregister<'a>(&'a Outbox);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.waiting = state.waiting.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_connection_is_woken_once_per_news_and_told_once() {
        let outbox = Outbox::new(100);
        let wakes = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        assert!(outbox.poll_ready(&mut cx).is_pending(), "nothing yet");
        assert!(outbox.offer(Lane::Answer, &[1; 10]));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken by the append");
        assert!(outbox.offer(Lane::Answer, &[2; 10]));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "not again before a take");
        assert!(outbox.poll_ready(&mut cx).is_ready());
        assert!(outbox.poll_ready(&mut cx).is_pending(), "told once");
        let (mut out, mut ended) = (BytesMut::new(), Vec::new());
        outbox.take(&mut out, &mut ended);
        assert_eq!(out.len(), 20);
        // News that came while nobody was registered is kept for the next poll.
        let fresh = Outbox::new(100);
        fresh.force_end(
            &[3; 4],
            Ended {
                correlation_id: "a".into(),
                serial: 1,
            },
        );
        assert!(fresh.poll_ready(&mut cx).is_ready());
    }

    #[test]
    fn news_from_another_thread_is_never_lost() {
        for _ in 0..1_000 {
            let outbox = Arc::new(Outbox::new(1 << 20));
            let producer = {
                let outbox = Arc::clone(&outbox);
                std::thread::spawn(move || assert!(outbox.offer(Lane::Answer, &[7; 3])))
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    std::future::poll_fn(|cx| outbox.poll_ready(cx)),
                )
                .await
                .expect("an append on another thread never woke the connection");
            });
            producer.join().unwrap();
        }
    }

    #[test]
    fn answers_fill_the_budget_flow_frames_half_of_it() {
        let outbox = Outbox::new(100);
        assert!(outbox.offer(Lane::Flow, &[0; 40]));
        assert!(
            !outbox.offer(Lane::Flow, &[0; 20]),
            "flow frames stop at half"
        );
        assert!(outbox.offer(Lane::Answer, &[0; 60]), "answers use the rest");
        assert!(!outbox.offer(Lane::Answer, &[0; 1]));
        outbox.force(&[0; 5]);
        assert_eq!(outbox.unsent(), 105);
        let mut out = BytesMut::new();
        let mut ended = Vec::new();
        outbox.take(&mut out, &mut ended);
        assert_eq!(out.len(), 105);
        assert_eq!(outbox.unsent(), 105, "taken is not written");
        outbox.written(105);
        assert_eq!(outbox.unsent(), 0);
    }

    #[test]
    fn one_frame_larger_than_the_budget_passes_when_nothing_is_unsent() {
        let outbox = Outbox::new(10);
        assert!(outbox.offer(Lane::Flow, &[0; 1000]));
        assert!(!outbox.offer(Lane::Answer, &[0; 1]));
    }

    #[tokio::test]
    async fn a_waiting_producer_wakes_when_bytes_are_written_or_the_connection_closes() {
        let outbox = Arc::new(Outbox::new(100));
        assert!(outbox.offer(Lane::Flow, &[0; 50]));
        assert!(!outbox.has_room(10));
        let waiter = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.wait_room(10).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        outbox.written(20);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");

        outbox.written(30);
        assert!(outbox.offer(Lane::Flow, &[0; 45]));
        let waiter = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { outbox.wait_room(10).await }
        });
        tokio::task::yield_now().await;
        outbox.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken by the close")
            .expect("no panic");
        assert!(
            !outbox.offer(Lane::Answer, b"x"),
            "a closed outbox takes nothing"
        );
    }
}
