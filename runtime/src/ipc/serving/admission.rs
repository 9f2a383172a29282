//! What a request must be granted before it is served, on every transport:
//! a token from the rate limiters ([`TokenBucket`]) and a share of what the
//! transport holds for its callers — slots for requests in flight and bytes of
//! payload waiting to be served ([`FairShare`]), of which no single caller may
//! take everything.
// The socket holds its callers to their connection's own limits; the NATS
// bridge shares one pool among callers it can only tell apart by heuristics.
#![cfg_attr(not(feature = "nats"), allow(dead_code))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

pub(crate) use super::rate_limit::TokenBucket;

/// Limits of a [`FairShare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShareLimits {
    /// Requests in flight, all callers together.
    pub(crate) slots: usize,
    /// Requests in flight of one caller.
    pub(crate) slots_per_caller: usize,
    /// Payload bytes held, all callers together.
    pub(crate) bytes: usize,
    /// Payload bytes held for one caller.
    pub(crate) bytes_per_caller: usize,
}

impl ShareLimits {
    /// `slots` and `bytes` in all, a quarter of each (at least one slot) for any
    /// one caller: three quarters stay for everyone else.
    pub(crate) fn quarter_each(slots: usize, bytes: usize) -> Self {
        Self {
            slots,
            slots_per_caller: (slots / 4).max(1),
            bytes,
            bytes_per_caller: (bytes / 4).max(1),
        }
    }
}

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    /// Its caller holds its share of slots already.
    CallerSlots(usize),
    /// Its caller holds its share of bytes already.
    CallerBytes(usize),
    /// Every slot is taken.
    Slots(usize),
    /// Every byte is taken.
    Bytes(usize),
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CallerSlots(limit) => write!(
                f,
                "this caller has {limit} requests in flight, its share of this server; retry later"
            ),
            Self::CallerBytes(limit) => write!(
                f,
                "this caller's requests waiting to be served hold {limit} bytes, its share of this server; retry later"
            ),
            Self::Slots(limit) => {
                write!(f, "{limit} requests are in flight on this server; retry later")
            }
            Self::Bytes(limit) => write!(
                f,
                "requests waiting to be served hold {limit} bytes, this server's limit; retry later"
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    slots: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Ledger {
    total: Held,
    /// Only callers holding something are here: the table is bounded by the
    /// slots.
    callers: HashMap<Arc<str>, Held>,
}

/// Slots and bytes shared fairly among callers. Cloning shares the ledger.
#[derive(Debug, Clone)]
pub(crate) struct FairShare {
    limits: ShareLimits,
    ledger: Arc<Mutex<Ledger>>,
}

impl FairShare {
    pub(crate) fn new(limits: ShareLimits) -> Self {
        Self {
            limits,
            ledger: Arc::default(),
        }
    }

    /// Slots taken now, by every caller.
    pub(crate) fn slots_taken(&self) -> usize {
        self.lock().total.slots
    }

    /// Bytes taken now, by every caller.
    #[cfg(test)]
    pub(crate) fn bytes_taken(&self) -> usize {
        self.lock().total.bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One slot and `bytes` for `caller`, held until the [`Share`] is dropped
    /// (its bytes may be given back earlier with [`Share::release_bytes`]).
    ///
    /// # Errors
    /// The limit the request ran into; nothing is taken then.
    pub(crate) fn try_take(&self, caller: &str, bytes: usize) -> Result<Share, Exhausted> {
        let limits = self.limits;
        let mut ledger = self.lock();
        if ledger.total.slots >= limits.slots {
            return Err(Exhausted::Slots(limits.slots));
        }
        // A request bigger than a caller's share is still served when nothing
        // else is held: otherwise it could never be.
        let held = ledger.callers.get(caller);
        let (caller_slots, caller_bytes) = held.map_or((0, 0), |held| (held.slots, held.bytes));
        if caller_slots >= limits.slots_per_caller {
            return Err(Exhausted::CallerSlots(limits.slots_per_caller));
        }
        if caller_bytes > 0 && caller_bytes.saturating_add(bytes) > limits.bytes_per_caller {
            return Err(Exhausted::CallerBytes(limits.bytes_per_caller));
        }
        if ledger.total.bytes > 0 && ledger.total.bytes.saturating_add(bytes) > limits.bytes {
            return Err(Exhausted::Bytes(limits.bytes));
        }
        ledger.total.slots += 1;
        ledger.total.bytes += bytes;
        let caller: Arc<str> = match ledger.callers.get_key_value(caller) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(caller),
        };
        let held = ledger.callers.entry(Arc::clone(&caller)).or_default();
        held.slots += 1;
        held.bytes += bytes;
        drop(ledger);
        Ok(Share {
            ledger: Arc::clone(&self.ledger),
            caller,
            bytes,
        })
    }
}

/// A caller's slot and bytes, given back when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    ledger: Arc<Mutex<Ledger>>,
    caller: Arc<str>,
    bytes: usize,
}

impl Share {
    /// Gives the bytes back now (the payload was delivered and dropped) and
    /// keeps the slot.
    pub(crate) fn release_bytes(&mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        if bytes > 0 {
            self.give_back(0, bytes);
        }
    }

    fn give_back(&self, slots: usize, bytes: usize) {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.total.slots -= slots;
        ledger.total.bytes -= bytes;
        if let Some(held) = ledger.callers.get_mut(&self.caller) {
            held.slots -= slots;
            held.bytes -= bytes;
            if held.slots == 0 && held.bytes == 0 {
                ledger.callers.remove(&self.caller);
            }
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.give_back(1, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_caller_takes_every_slot() {
        let share = FairShare::new(ShareLimits::quarter_each(8, 1000));
        let greedy: Vec<Share> = (0..2)
            .map(|_| share.try_take("greedy", 10).expect("its share"))
            .collect();
        assert_eq!(
            share.try_take("greedy", 10).unwrap_err(),
            Exhausted::CallerSlots(2)
        );
        // Everyone else still gets served.
        let others: Vec<Share> = ["a", "b", "c"]
            .iter()
            .flat_map(|caller| [share.try_take(caller, 1), share.try_take(caller, 1)])
            .collect::<Result<_, _>>()
            .expect("their shares");
        assert_eq!(share.slots_taken(), 8);
        assert_eq!(share.try_take("d", 1).unwrap_err(), Exhausted::Slots(8));
        drop(greedy);
        assert_eq!(share.slots_taken(), 6);
        assert!(share.try_take("greedy", 10).is_ok());
        drop(others);
        assert_eq!(share.slots_taken(), 0);
        assert_eq!(share.bytes_taken(), 0);
        assert!(
            share.lock().callers.is_empty(),
            "nothing held, nothing kept"
        );
    }

    #[test]
    fn bytes_are_shared_too_and_given_back_early() {
        let share = FairShare::new(ShareLimits::quarter_each(100, 1000));
        let mut first = share.try_take("big", 200).expect("within its share");
        assert_eq!(
            share.try_take("big", 100).unwrap_err(),
            Exhausted::CallerBytes(250)
        );
        first.release_bytes();
        assert_eq!(share.bytes_taken(), 0);
        assert!(share.try_take("big", 100).is_ok());
        // One request above a caller's share is served when it holds nothing.
        let huge = share.try_take("other", 900).expect("alone, it passes");
        assert_eq!(
            share.try_take("third", 200).unwrap_err(),
            Exhausted::Bytes(1000)
        );
        drop(huge);
        assert!(share.try_take("third", 200).is_ok());
    }
}
