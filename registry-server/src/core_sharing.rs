//! Letting other busy threads onto a worker's core.
//!
//! A worker that always has requests waiting never blocks, so the kernel takes its core away
//! only when its time slice runs out, which it notices at a scheduler tick (4 ms with
//! `HZ=250`). Whatever else is runnable on that core then waits a tick or two: the clients of a
//! load test on the same machine, a TLS proxy or sidecar in front of Wharf, Wharf's own
//! threads writing blobs. Everything those threads carry ages with them, and the answers
//! Wharf has already written wait in sockets nobody reads.
//!
//! So every [`DEFAULT_YIELD_EVERY`] requests (`wharf serve --yield-every N`), a worker calls
//! `sched_yield`: the kernel runs whatever else waits on that core, or returns at once when
//! nothing does. That is one system call per N requests, and it changes nothing when Wharf
//! has its cores to itself. `BENCHMARKS.md` has the figures.

use std::cell::Cell;

/// Requests a worker answers between two offers of its core, unless configured.
pub const DEFAULT_YIELD_EVERY: u32 = 32;

/// Counts requests and says when the core should be offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct YieldCounter {
    every: u32,
    since_last: u32,
}

impl YieldCounter {
    const fn new(every: u32) -> Self {
        Self {
            every,
            since_last: 0,
        }
    }

    /// Counts one request; true when this request completes a run of `every` (never when
    /// `every` is 0).
    fn count(&mut self) -> bool {
        if self.every == 0 {
            return false;
        }
        self.since_last += 1;
        if self.since_last >= self.every {
            self.since_last = 0;
            true
        } else {
            false
        }
    }
}

thread_local! {
    /// The counter of the worker running on this thread; off on any other thread.
    static COUNTER: Cell<YieldCounter> = const { Cell::new(YieldCounter::new(0)) };
}

/// Makes the current thread offer its core every `every` requests (0: never). Called once by
/// each worker thread before it serves.
pub(crate) fn set_yield_every(every: u32) {
    COUNTER.set(YieldCounter::new(every));
}

/// Counts a request on the current thread and offers the core when a run is complete.
pub(crate) fn count_request() {
    let mut counter = COUNTER.get();
    let offer = counter.count();
    COUNTER.set(counter);
    if offer {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_once_per_run_of_requests() {
        let mut counter = YieldCounter::new(4);
        let offers: Vec<bool> = (0..12).map(|_| counter.count()).collect();
        let expected = [false, false, false, true];
        assert_eq!(offers, expected.repeat(3));
    }

    #[test]
    fn zero_never_offers_and_one_always_does() {
        let mut off = YieldCounter::new(0);
        assert!((0..1000).all(|_| !off.count()));
        let mut always = YieldCounter::new(1);
        assert!((0..10).all(|_| always.count()));
    }

    #[test]
    fn threads_that_are_not_workers_count_nothing() {
        // No `set_yield_every` on this thread: the counter stays off.
        for _ in 0..100 {
            count_request();
        }
        assert_eq!(COUNTER.get(), YieldCounter::new(0));
        set_yield_every(3);
        count_request();
        count_request();
        assert_eq!(
            COUNTER.get(),
            YieldCounter {
                every: 3,
                since_last: 2
            }
        );
        count_request();
        assert_eq!(COUNTER.get(), YieldCounter::new(3));
    }
}
