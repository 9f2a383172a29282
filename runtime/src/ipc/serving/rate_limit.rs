//! A token bucket: `burst` requests at once, refilled at `rate` per second.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ipc::config::RateLimitConfig;

#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub(crate) fn new(config: RateLimitConfig) -> Self {
        let capacity = f64::from(config.burst_size.max(1));
        Self {
            capacity,
            per_second: f64::from(config.requests_per_second),
            tokens: capacity,
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is available.
    pub(crate) fn try_acquire(&mut self) -> Result<(), Duration> {
        self.try_acquire_at(Instant::now())
    }

    /// [`try_acquire`](Self::try_acquire) on a bucket several holders share
    /// (a uid's connections, a NATS bridge's callers).
    pub(crate) fn try_acquire_shared(bucket: &Mutex<Self>) -> Result<(), Duration> {
        bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_acquire()
    }

    fn try_acquire_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if self.per_second <= 0.0 {
            return Err(Duration::MAX);
        }
        let wait = (1.0 - self.tokens) / self.per_second;
        Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(RateLimitConfig {
            requests_per_second: 10,
            burst_size: 3,
        });
        bucket.refilled_at = start;
        for _ in 0..3 {
            assert!(bucket.try_acquire_at(start).is_ok());
        }
        let wait = bucket.try_acquire_at(start).unwrap_err();
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(bucket
            .try_acquire_at(start + Duration::from_millis(100))
            .is_ok());
        assert!(bucket
            .try_acquire_at(start + Duration::from_millis(100))
            .is_err());
        // Refill never exceeds the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.try_acquire_at(later).is_ok());
        }
        assert!(bucket.try_acquire_at(later).is_err());
    }
}
