//! Which of a connection's event sources woke its task, so that its loop polls
//! only those.
//!
//! A connection waits on eleven things at once (its socket both ways, its
//! outbox, its timers, the listener's shutdown). Polled together in a
//! `select!`, every one of them is polled on every turn of the loop, although
//! one request turns it two or three times and each turn is caused by one of
//! them. Here each source is polled with a waker of its own, which marks the
//! source before waking the task: the loop polls a source only when it is
//! marked. A source stays marked until it answers `Pending` (then its waker is
//! registered with it); one that answered `Ready` is polled again next time,
//! as a stream must be, and one whose future is replaced is marked by the loop.
//!
//! ```text
//! socket readable ─▶ waker(READ) ─▶ marks READ, wakes the task ─▶ loop polls READ only
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// One event source of the connection's loop: a bit of [`Wakes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Source(u32);

impl Source {
    pub(super) const CUT: Self = Self(0);
    pub(super) const STOP: Self = Self(1);
    pub(super) const OUTBOX: Self = Self(2);
    pub(super) const DEADLINE: Self = Self(3);
    pub(super) const ROOM: Self = Self(4);
    pub(super) const READ: Self = Self(5);
    pub(super) const WRITE: Self = Self(6);
    pub(super) const STALLED: Self = Self(7);
    pub(super) const PEER_CHECK: Self = Self(8);
    pub(super) const IDLE: Self = Self(9);
    pub(super) const FRAME: Self = Self(10);
    const COUNT: usize = 11;

    const fn bit(self) -> u32 {
        1 << self.0
    }
}

/// The task's side: the set of marked sources and the wakers that mark them.
pub(super) struct Wakes {
    shared: Arc<Shared>,
    wakers: [Waker; Source::COUNT],
    /// Marked and not yet polled to `Pending`.
    due: u32,
}

struct Shared {
    marked: AtomicU32,
    task: AtomicWaker,
}

/// The waker a source is polled with.
struct Marker {
    shared: Arc<Shared>,
    bit: u32,
}

impl Wake for Marker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.marked.fetch_or(self.bit, Ordering::AcqRel);
        self.shared.task.wake();
    }
}

impl Wakes {
    /// Every source marked: each is polled once before anything is awaited.
    pub(super) fn new() -> Self {
        let shared = Arc::new(Shared {
            marked: AtomicU32::new(0),
            task: AtomicWaker::new(),
        });
        let wakers = std::array::from_fn(|index| {
            Waker::from(Arc::new(Marker {
                shared: Arc::clone(&shared),
                bit: 1 << index,
            }))
        });
        Self {
            shared,
            wakers,
            due: u32::MAX,
        }
    }

    /// Starts a poll of the loop's task: registers its waker, and adds the
    /// sources that woke it since the last poll.
    pub(super) fn begin(&mut self, cx: &Context<'_>) {
        self.shared.task.register(cx.waker());
        self.due |= self.shared.marked.swap(0, Ordering::AcqRel);
    }

    /// Marks `source`: its future was replaced, or must be looked at again.
    pub(super) fn mark(&mut self, source: Source) {
        self.due |= source.bit();
    }

    /// Polls `source` with `poll` if it is `enabled` and marked; `Some` with its
    /// output when it is ready. A source not enabled keeps its mark.
    #[inline]
    pub(super) fn poll<T>(
        &mut self,
        source: Source,
        enabled: bool,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Option<T> {
        if !enabled || self.due & source.bit() == 0 {
            return None;
        }
        let mut cx = Context::from_waker(&self.wakers[source.0 as usize]);
        match poll(&mut cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => {
                self.due &= !source.bit();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::time::Duration;

    /// One poll of a loop's task: `source` is polled with `poll` (when enabled
    /// and marked); its output, if it was ready.
    async fn one_turn<T>(
        wakes: &mut Wakes,
        source: Source,
        enabled: bool,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Option<T> {
        let mut output = None;
        std::future::poll_fn(|cx| {
            wakes.begin(cx);
            output = wakes.poll(source, enabled, &mut poll);
            Poll::Ready(())
        })
        .await;
        output
    }

    /// One poll of the loop's task watching `notified` as the outbox source.
    async fn turn(
        wakes: &mut Wakes,
        notified: &mut std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        polls: &mut u32,
    ) -> bool {
        let ready = one_turn(wakes, Source::OUTBOX, true, |cx| {
            *polls += 1;
            notified.as_mut().poll(cx)
        });
        ready.await.is_some()
    }

    #[tokio::test]
    async fn a_source_is_polled_again_only_once_it_woke() {
        let notify = tokio::sync::Notify::new();
        let mut notified = pin!(notify.notified());
        let mut wakes = Wakes::new();
        let mut polls = 0;
        assert!(
            !turn(&mut wakes, &mut notified, &mut polls).await,
            "first poll: pending"
        );
        assert!(
            !turn(&mut wakes, &mut notified, &mut polls).await,
            "not woken: not polled"
        );
        assert_eq!(polls, 1);
        notify.notify_one();
        assert!(
            turn(&mut wakes, &mut notified, &mut polls).await,
            "woken: polled, ready"
        );
        assert_eq!(polls, 2);
    }

    #[tokio::test]
    async fn a_source_that_wakes_itself_while_pending_is_polled_again() {
        // What tokio's budget does: the resource wakes the waker it was polled
        // with, then answers Pending. The mark must survive the Pending.
        let mut wakes = Wakes::new();
        let mut polls = 0;
        for _ in 0..3 {
            let ready = one_turn(&mut wakes, Source::READ, true, |cx| {
                polls += 1;
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            });
            assert!(ready.await.is_none());
        }
        assert_eq!(polls, 3, "woken by itself each time: polled each turn");
    }

    /// One turn polling the deadline source, which always answers Pending.
    async fn pending_turn(wakes: &mut Wakes, polls: &mut u32) {
        let ready = one_turn(wakes, Source::DEADLINE, true, |_| {
            *polls += 1;
            Poll::<()>::Pending
        });
        assert!(ready.await.is_none());
    }

    #[tokio::test]
    async fn a_marked_source_is_polled_on_the_next_turn() {
        let mut wakes = Wakes::new();
        let mut polls = 0;
        pending_turn(&mut wakes, &mut polls).await;
        pending_turn(&mut wakes, &mut polls).await;
        assert_eq!(
            polls, 1,
            "polled first (all start marked), not again unmarked"
        );
        wakes.mark(Source::DEADLINE);
        pending_turn(&mut wakes, &mut polls).await;
        assert_eq!(polls, 2, "marked: polled");
    }

    #[tokio::test]
    async fn a_disabled_source_keeps_its_mark_and_a_ready_one_stays_due() {
        let mut wakes = Wakes::new();
        let mut sleep = pin!(tokio::time::sleep(Duration::from_millis(10)));
        let first = one_turn(&mut wakes, Source::IDLE, true, |cx| sleep.as_mut().poll(cx));
        assert!(first.await.is_none());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let disabled = one_turn(&mut wakes, Source::IDLE, false, |_| Poll::Ready(()));
        assert!(disabled.await.is_none());
        let mut polled = 0;
        for _ in 0..2 {
            let fired = one_turn(&mut wakes, Source::IDLE, true, |cx| {
                polled += 1;
                sleep.as_mut().poll(cx)
            });
            assert!(
                fired.await.is_some(),
                "woken while disabled, then ready, stays due"
            );
        }
        assert_eq!(polled, 2);
    }
}
