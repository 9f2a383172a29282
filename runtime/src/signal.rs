//! [`Signal`]: a one-shot, many-waiter flag whose waiting futures are cheap to poll
//! again and again.
//!
//! Actor loops and IPC connections keep a "stop" wait among the branches of a
//! `select!` that runs once per message. `tokio_util`'s `CancellationToken` takes a
//! mutex on every poll of its wait future; on that path the lock showed up as one
//! of the largest costs in profiles. A [`SignalWait`] takes the lock only when it
//! first registers its task (and again only if the task's waker changes); later
//! polls are one atomic load.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

/// A flag that is raised once and wakes everyone waiting for it.
#[derive(Default)]
pub(crate) struct Signal {
    raised: AtomicBool,
    waiters: Mutex<HashMap<u64, Waker>>,
    next_waiter: AtomicU64,
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal")
            .field("raised", &self.is_raised())
            .finish()
    }
}

impl Signal {
    /// Raises the flag and wakes every waiter. Raising twice is harmless.
    pub(crate) fn raise(&self) {
        if self.raised.swap(true, Ordering::SeqCst) {
            return;
        }
        // Nobody ever waited (most requests' end signals): no lock. A waiter takes
        // its number before it checks the flag under the lock; both are sequentially
        // consistent with the swap above, so either this load sees the number, or
        // that check sees the flag raised.
        if self.next_waiter.load(Ordering::SeqCst) == 0 {
            return;
        }
        let waiters =
            std::mem::take(&mut *self.waiters.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    /// Whether the flag is raised.
    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// A future that completes once the flag is raised.
    pub(crate) fn wait(&self) -> SignalWait<'_> {
        SignalWait {
            signal: self,
            registration: None,
        }
    }
}

/// Completes once its [`Signal`] is raised. Unregisters itself when dropped.
pub(crate) struct SignalWait<'a> {
    signal: &'a Signal,
    registration: Option<(u64, Waker)>,
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_raised() {
            return Poll::Ready(());
        }
        if let Some((_, waker)) = &self.registration {
            if waker.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        let id = match &self.registration {
            Some((id, _)) => *id,
            None => self.signal.next_waiter.fetch_add(1, Ordering::SeqCst),
        };
        {
            let mut waiters = self
                .signal
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Checked under the lock: `raise` takes the waiters after setting the
            // flag, so either it sees this waker or this poll sees the flag.
            if self.signal.is_raised() {
                return Poll::Ready(());
            }
            waiters.insert(id, cx.waker().clone());
        }
        self.registration = Some((id, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for SignalWait<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = self.registration.take() {
            self.signal
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_every_waiter_once_raised() {
        let signal = Arc::new(Signal::default());
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let signal = Arc::clone(&signal);
                tokio::spawn(async move { signal.wait().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!signal.is_raised());
        signal.raise();
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .unwrap()
                .unwrap();
        }
        // Waiting after the fact completes at once.
        signal.wait().await;
    }

    /// The first waiter registering while the flag is raised on another thread:
    /// `raise` skips the lock only when nobody has taken a number yet, so the
    /// waiter either sees the flag or is woken.
    #[test]
    fn a_first_waiter_racing_the_raise_is_never_lost() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        for _ in 0..2_000 {
            let signal = Arc::new(Signal::default());
            let waiting = Arc::clone(&signal);
            let waiter = runtime.spawn(async move { waiting.wait().await });
            let raising = Arc::clone(&signal);
            let raiser = std::thread::spawn(move || raising.raise());
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), waiter)
                    .await
                    .expect("a waiter racing the raise was never woken")
                    .unwrap();
            });
            raiser.join().unwrap();
        }
    }

    #[tokio::test]
    async fn dropped_waits_unregister() {
        let signal = Signal::default();
        {
            let mut wait = std::pin::pin!(signal.wait());
            assert!(futures_util::poll!(wait.as_mut()).is_pending());
            assert!(futures_util::poll!(wait.as_mut()).is_pending());
            assert_eq!(signal.waiters.lock().unwrap().len(), 1);
        }
        assert!(signal.waiters.lock().unwrap().is_empty());
    }
}
