//! The header and idle timeouts, kept by a wrapper around the connection's byte stream.
//!
//! The wrapper learns from the service whether a request is in flight ([`Activity::track`]).
//! When none is, every read or write computes the connection's deadline and arms one timer;
//! when the deadline passes, reads and writes fail with `TimedOut`, and hyper drops the
//! connection. Reads while a request is in flight, and the handler's own time, are never
//! timed here (uploads are timed by [`super::upload::TimedBody`]).
//!
//! The timer is only moved earlier, never later: a deadline that moves later (activity) is
//! noticed when the armed timer fires, so a busy connection resets no timer per request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::ConnectionLimits;
use super::counters::{ConnectionCounters, Expiry};

/// What the service tells the stream about one connection's requests.
#[derive(Debug)]
pub(crate) struct Activity {
    accepted: Instant,
    in_flight: AtomicU32,
    /// Requests finished so far; a change tells the stream a new idle period began.
    finished: AtomicU64,
    /// When the last request finished, in milliseconds after `accepted`.
    idle_since_ms: AtomicU64,
    /// Set by the first HTTP/2 request: frames between requests are not a request head.
    multiplexed: AtomicBool,
}

impl Activity {
    /// Runs `request` (the service's future for one request) as in flight.
    pub(crate) fn track<F: Future>(
        self: &Arc<Self>,
        version: http::Version,
        request: F,
    ) -> impl Future<Output = F::Output> + use<F> {
        if version >= http::Version::HTTP_2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let token = InFlight(Arc::clone(self));
        async move {
            let output = request.await;
            drop(token);
            output
        }
    }
}

impl Activity {
    /// Records a request answered at once, without a future to track: for the stream, it
    /// began and finished now.
    pub(crate) fn answered(&self, version: http::Version) {
        if version >= http::Version::HTTP_2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        self.finish();
    }

    /// Starts a new idle period: the last request finished now.
    fn finish(&self) {
        let since = self.accepted.elapsed().as_millis();
        self.idle_since_ms
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Release);
    }
}

/// Marks one request in flight until dropped (finished or cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finish();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's byte stream with the header and idle timeouts, holding a connection slot.
#[derive(Debug)]
pub(crate) struct GuardedStream<T> {
    inner: T,
    activity: Arc<Activity>,
    header_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// The value of `activity.finished` the fields below belong to.
    seen_finished: u64,
    /// The first byte read since the last request finished, if any.
    first_byte: Option<Instant>,
    last_write: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    armed: Option<Instant>,
    /// The waker the armed timer holds (it was polled with it and has not fired since).
    timer_waker: Option<Waker>,
    expired: Option<Expiry>,
    counters: Arc<ConnectionCounters>,
    _slot: OwnedSemaphorePermit,
}

/// Wraps an accepted stream; the service must run each request through the returned
/// [`Activity::track`].
pub(crate) fn guard<T>(
    inner: T,
    slot: OwnedSemaphorePermit,
    limits: &ConnectionLimits,
    counters: &Arc<ConnectionCounters>,
) -> (GuardedStream<T>, Arc<Activity>) {
    let activity = Arc::new(Activity {
        accepted: Instant::now(),
        in_flight: AtomicU32::new(0),
        finished: AtomicU64::new(0),
        idle_since_ms: AtomicU64::new(0),
        multiplexed: AtomicBool::new(false),
    });
    counters.opened();
    let stream = GuardedStream {
        inner,
        activity: Arc::clone(&activity),
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        seen_finished: 0,
        first_byte: None,
        last_write: None,
        timer: None,
        armed: None,
        timer_waker: None,
        expired: None,
        counters: Arc::clone(counters),
        _slot: slot,
    };
    (stream, activity)
}

impl<T> GuardedStream<T> {
    /// True when no request is in flight; starts a new idle period when one finished.
    fn between_requests(&mut self) -> bool {
        if self.activity.in_flight.load(Ordering::Acquire) > 0 {
            return false;
        }
        let finished = self.activity.finished.load(Ordering::Acquire);
        if finished != self.seen_finished {
            self.seen_finished = finished;
            self.first_byte = None;
        }
        true
    }

    /// When the connection must have made progress by, and which timeout that is.
    fn deadline(&mut self) -> Option<(Instant, Expiry)> {
        if !self.between_requests() {
            return None;
        }
        let accepted = self.activity.accepted;
        let (idle_from, header_from) = if self.seen_finished == 0 {
            (accepted, Some(accepted))
        } else {
            let ms = self.activity.idle_since_ms.load(Ordering::Relaxed);
            let finished_at = accepted + Duration::from_millis(ms);
            let idle_from = self.last_write.map_or(finished_at, |w| w.max(finished_at));
            let header_from = if self.activity.multiplexed.load(Ordering::Relaxed) {
                None
            } else {
                self.first_byte
            };
            (idle_from, header_from)
        };
        let idle = self.idle_timeout.map(|t| (idle_from + t, Expiry::Idle));
        let header = self
            .header_timeout
            .zip(header_from)
            .map(|(t, from)| (from + t, Expiry::Header));
        match (idle, header) {
            (Some(idle), Some(header)) => Some(if header.0 <= idle.0 { header } else { idle }),
            (one, other) => one.or(other),
        }
    }

    /// Fails once the deadline has passed; otherwise makes sure the timer will wake the task.
    /// Returns the time it read to compare with the deadline, if it read one (between
    /// requests), so the caller need not read the clock again.
    ///
    /// The timer is polled only when it does not already hold this task's waker: on a busy
    /// connection the armed timer stays registered across many reads and writes, and polling
    /// it again for each one (which registers the waker anew) was a tenth of the instructions
    /// of an index request.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<Option<Instant>> {
        if let Some(why) = self.expired {
            return Err(timed_out(why));
        }
        loop {
            let Some((at, why)) = self.deadline() else {
                return Ok(None);
            };
            let now = Instant::now();
            if now >= at {
                self.expire(why);
                return Err(timed_out(why));
            }
            if self.armed.is_none_or(|armed| armed > at) {
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(at),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                }
                self.armed = Some(at);
                self.timer_waker = None;
            }
            let timer = self.timer.as_mut().expect("armed above or before");
            if !timer.is_elapsed()
                && self
                    .timer_waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
            {
                return Ok(Some(now));
            }
            if timer.as_mut().poll(cx).is_pending() {
                self.timer_waker = Some(cx.waker().clone());
                return Ok(Some(now));
            }
            // The armed time passed; the deadline may have moved later since: look again.
            self.armed = None;
            self.timer_waker = None;
        }
    }

    fn expire(&mut self, why: Expiry) {
        self.expired = Some(why);
        self.counters.expired(why);
        tracing::debug!(
            reason = ?why,
            after = ?self.activity.accepted.elapsed(),
            "closing a connection: {}",
            describe(why)
        );
    }
}

fn describe(why: Expiry) -> &'static str {
    match why {
        Expiry::Header => "the request head did not arrive within header-timeout",
        Expiry::Idle => "no request came within idle-timeout",
        Expiry::Body => "the upload stalled (body-timeout)",
    }
}

fn timed_out(why: Expiry) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, describe(why))
}

impl<T> Drop for GuardedStream<T> {
    fn drop(&mut self) {
        self.counters.closed();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let now = this.check(cx)?;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && this.first_byte.is_none()
            && this.between_requests()
        {
            this.first_byte = Some(now.unwrap_or_else(Instant::now));
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> GuardedStream<T> {
    /// Notes a successful write; `now` is the time `check` read just before it, if any.
    fn wrote(&mut self, polled: &Poll<io::Result<usize>>, now: Option<Instant>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.last_write = Some(now.unwrap_or_else(Instant::now));
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let now = this.check(cx)?;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&polled, now);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let now = this.check(cx)?;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&polled, now);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
    use tokio::sync::Semaphore;

    use super::*;

    fn limits(header: u64, idle: u64) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Some(Duration::from_secs(header)),
            idle_timeout: Some(Duration::from_secs(idle)),
            ..ConnectionLimits::default()
        }
    }

    fn guarded(
        limits: &ConnectionLimits,
    ) -> (
        GuardedStream<tokio::io::DuplexStream>,
        Arc<Activity>,
        tokio::io::DuplexStream,
        Arc<ConnectionCounters>,
    ) {
        let (server, client) = duplex(1024);
        let slot = Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("a free slot");
        let counters = Arc::new(ConnectionCounters::default());
        let (stream, activity) = guard(server, slot, limits, &counters);
        (stream, activity, client, counters)
    }

    fn rendered(counters: &ConnectionCounters) -> String {
        let mut text = String::new();
        counters.render(&mut text);
        text
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_no_request_head_is_closed_after_the_header_timeout() {
        let (mut stream, _activity, mut client, counters) = guarded(&limits(10, 75));
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0; 64];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 8);
        let started = Instant::now();
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(
            rendered(&counters)
                .contains("wharf_connections_timed_out_total{reason=\"header_timeout\"} 1")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_timed_while_a_request_is_in_flight() {
        let (mut stream, activity, mut client, _counters) = guarded(&limits(1, 2));
        let handler = activity.track(http::Version::HTTP_11, async {
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let read = tokio::spawn(async move {
            let mut buf = [0; 8];
            let n = stream.read(&mut buf).await;
            (n.map_err(|e| e.kind()), stream)
        });
        handler.await;
        client.write_all(b"x").await.unwrap();
        let (n, _stream) = read.await.unwrap();
        assert_eq!(n, Ok(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
        let (mut stream, activity, _client, counters) = guarded(&limits(10, 75));
        activity.track(http::Version::HTTP_11, async {}).await;
        let finished = Instant::now();
        let mut buf = [0; 8];
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(finished.elapsed(), Duration::from_secs(75));
        assert!(
            rendered(&counters)
                .contains("wharf_connections_timed_out_total{reason=\"idle_timeout\"} 1")
        );
        drop(stream);
        assert!(rendered(&counters).contains("wharf_connections_open 0\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn http2_frames_between_requests_only_count_against_the_idle_timeout() {
        let (mut stream, activity, mut client, counters) = guarded(&limits(10, 75));
        activity.track(http::Version::HTTP_2, async {}).await;
        let finished = Instant::now();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 8];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 4);
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(finished.elapsed(), Duration::from_secs(75));
        assert!(
            rendered(&counters)
                .contains("wharf_connections_timed_out_total{reason=\"idle_timeout\"} 1")
        );
    }
}
