//! A worker's coarse clock: the `Date` header value and a time of day for the timeouts,
//! refreshed once a second by a task on the worker, so answering a request reads no clock.
//!
//! Both live in thread-locals of the worker thread (each worker runs a single-threaded
//! runtime, so its connections run on the thread its ticker updates). On a thread without a
//! ticker (unit tests) they are read from the clocks each time.

use std::cell::{Cell, RefCell};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, MissedTickBehavior};

/// How often the clock is refreshed; the timeouts add it as a grace, since a time read from
/// the coarse clock may be this much behind.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
const DATE_LENGTH: usize = 29;

thread_local! {
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
    static DATE: RefCell<Option<[u8; DATE_LENGTH]>> = const { RefCell::new(None) };
}

/// Keeps this worker's coarse clock: refreshes it now, then at every second boundary of the
/// wall clock (so the `Date` value changes when the second does, as hyper's does). Runs until
/// the worker's runtime ends.
pub(crate) async fn keep_ticking() {
    refresh();
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let to_next_second =
        TICK.saturating_sub(Duration::from_nanos(u64::from(since_epoch.subsec_nanos())));
    let mut ticks = tokio::time::interval_at(Instant::now() + to_next_second, TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        refresh();
    }
}

fn refresh() {
    NOW.set(Some(Instant::now()));
    DATE.with_borrow_mut(|date| *date = Some(formatted(SystemTime::now())));
}

fn formatted(time: SystemTime) -> [u8; DATE_LENGTH] {
    let mut out = [b' '; DATE_LENGTH];
    let text = httpdate::fmt_http_date(time);
    let n = text.len().min(DATE_LENGTH);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out
}

/// The time of the last refresh (at most [`TICK`] behind), or the time now without a ticker.
pub(crate) fn now() -> Instant {
    NOW.get().unwrap_or_else(Instant::now)
}

/// Appends the current `Date` header value.
pub(crate) fn write_date(out: &mut Vec<u8>) {
    DATE.with_borrow(|date| match date {
        Some(date) => out.extend_from_slice(date),
        None => out.extend_from_slice(&formatted(SystemTime::now())),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_an_imf_fixdate_of_now() {
        let mut out = Vec::new();
        write_date(&mut out);
        let text = String::from_utf8(out).unwrap();
        let parsed = httpdate::parse_http_date(&text).unwrap();
        let now = SystemTime::now();
        assert!(parsed <= now && now.duration_since(parsed).unwrap() < Duration::from_secs(5));
    }
}
