//! The body timeout and the minimum upload rate, applied while a handler reads an upload.
//!
//! A slow upload is fine as long as it moves: the clock starts when the handler first asks for
//! the body (after hyper's `100 Continue`), restarts with every byte, and runs only while the
//! handler waits for more. With a minimum rate, each `body-timeout` window of the upload must
//! also bring `rate × window` bytes. A failing upload ends with [`UploadTimedOut`], which the
//! router answers with 408; hyper then closes the connection, since the body was not read to
//! its end.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::ConnectionLimits;

/// Why an upload was cut off; its message is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UploadTimedOut {
    /// No byte arrived for the body timeout.
    #[error(
        "the request body stalled: no bytes arrived for {stalled_for:?} (body-timeout) after {received} bytes; check the network and send the request again"
    )]
    Stalled {
        /// The body timeout that ran out.
        stalled_for: Duration,
        /// Bytes received before the stall.
        received: u64,
    },
    /// A window brought fewer bytes than the minimum rate asks for.
    #[error(
        "the request body arrived too slowly: {bytes} bytes in {window:?}, below min-upload-rate ({min_rate} bytes/s); send it again over a faster connection"
    )]
    TooSlow {
        /// Bytes that arrived in the window.
        bytes: u64,
        /// The window (the body timeout).
        window: Duration,
        /// The minimum rate in bytes per second.
        min_rate: u64,
    },
}

/// A request body that fails with [`UploadTimedOut`] when it stalls or goes too slowly.
#[derive(Debug)]
pub(crate) struct TimedBody<B> {
    inner: B,
    stall: Option<Duration>,
    min_rate: u64,
    clock: Option<Clock>,
    timer: Option<Pin<Box<Sleep>>>,
}

/// Progress since the handler first asked for the body.
#[derive(Debug, Clone, Copy)]
struct Clock {
    last_byte: Instant,
    window_start: Instant,
    window_bytes: u64,
    received: u64,
}

impl<B> TimedBody<B> {
    /// Times `inner` with the body timeout and minimum rate of `limits`.
    pub(crate) fn new(inner: B, limits: &ConnectionLimits) -> Self {
        Self {
            inner,
            stall: limits.body_timeout,
            min_rate: limits.min_upload_rate,
            clock: None,
            timer: None,
        }
    }

    /// The window the minimum rate is checked over, when one is set.
    fn rate_window(&self) -> Option<Duration> {
        self.stall.filter(|_| self.min_rate > 0)
    }

    /// Closes every rate window that ended by `now`; fails if one brought too few bytes.
    fn check_windows(&self, clock: &mut Clock, now: Instant) -> Result<(), UploadTimedOut> {
        let Some(window) = self.rate_window() else {
            return Ok(());
        };
        while now >= clock.window_start + window {
            let required = u128::from(self.min_rate) * window.as_millis() / 1000;
            if u128::from(clock.window_bytes) < required {
                return Err(UploadTimedOut::TooSlow {
                    bytes: clock.window_bytes,
                    window,
                    min_rate: self.min_rate,
                });
            }
            clock.window_start += window;
            clock.window_bytes = 0;
        }
        Ok(())
    }

    /// The next moment something must be checked while waiting for data.
    fn next_check(&self, clock: &Clock) -> Option<Instant> {
        let stall = self.stall.map(|t| clock.last_byte + t);
        let window = self.rate_window().map(|w| clock.window_start + w);
        match (stall, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let now = Instant::now();
        let mut clock = this.clock.unwrap_or(Clock {
            last_byte: now,
            window_start: now,
            window_bytes: 0,
            received: 0,
        });
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let result = match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Bytes::len) as u64;
                if len > 0 {
                    clock.last_byte = now;
                    clock.window_bytes += len;
                    clock.received += len;
                }
                this.check_windows(&mut clock, now)
                    .map(|()| Poll::Ready(Some(Ok(frame))))
            }
            Poll::Ready(Some(Err(error))) => Ok(Poll::Ready(Some(Err(error.into())))),
            Poll::Ready(None) => Ok(Poll::Ready(None)),
            Poll::Pending => this.wait(&mut clock, now, cx).map(|()| Poll::Pending),
        };
        this.clock = Some(clock);
        match result {
            Ok(poll) => poll,
            Err(timed_out) => Poll::Ready(Some(Err(Box::new(timed_out)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> TimedBody<B> {
    /// No data yet: fails if a limit has run out, otherwise arms the timer for the next check.
    fn wait(
        &mut self,
        clock: &mut Clock,
        mut now: Instant,
        cx: &mut Context<'_>,
    ) -> Result<(), UploadTimedOut> {
        loop {
            if let Some(stall) = self.stall
                && now >= clock.last_byte + stall
            {
                return Err(UploadTimedOut::Stalled {
                    stalled_for: stall,
                    received: clock.received,
                });
            }
            self.check_windows(clock, now)?;
            let Some(at) = self.next_check(clock) else {
                return Ok(());
            };
            let timer = match &mut self.timer {
                Some(timer) => {
                    if timer.deadline() != at {
                        timer.as_mut().reset(at);
                    }
                    timer
                }
                None => self.timer.insert(Box::pin(tokio::time::sleep_until(at))),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            now = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    use super::*;

    /// A body fed chunk by chunk through a channel.
    struct ChannelBody(mpsc::Receiver<Bytes>);

    impl Body for ChannelBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
        }
    }

    fn body(stall: u64, min_rate: u64) -> (mpsc::Sender<Bytes>, TimedBody<ChannelBody>) {
        let (sender, receiver) = mpsc::channel(16);
        let limits = ConnectionLimits {
            body_timeout: Some(Duration::from_secs(stall)),
            min_upload_rate: min_rate,
            ..ConnectionLimits::default()
        };
        (sender, TimedBody::new(ChannelBody(receiver), &limits))
    }

    /// Sends `chunks` chunks of `size` bytes, one every `every`; the body ends when the last
    /// sender is dropped.
    fn send_every(sender: mpsc::Sender<Bytes>, every: Duration, chunks: usize, size: usize) {
        tokio::spawn(async move {
            for _ in 0..chunks {
                tokio::time::sleep(every).await;
                if sender.send(Bytes::from(vec![b'x'; size])).await.is_err() {
                    return;
                }
            }
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_upload_that_keeps_moving_is_read_whole() {
        let (sender, body) = body(10, 0);
        send_every(sender, Duration::from_secs(9), 20, 100);
        let collected = body.collect().await.expect("the upload completes");
        assert_eq!(collected.to_bytes().len(), 2000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_that_stops_sending_fails_after_the_body_timeout() {
        let (sender, body) = body(10, 0);
        send_every(sender.clone(), Duration::from_secs(1), 3, 100);
        let error = body.collect().await.expect_err("the stall is detected");
        let timed_out = error.downcast_ref::<UploadTimedOut>().expect("a timeout");
        assert_eq!(
            *timed_out,
            UploadTimedOut::Stalled {
                stalled_for: Duration::from_secs(10),
                received: 300
            }
        );
        assert!(timed_out.to_string().contains("body-timeout"));
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_below_the_minimum_rate_fails_at_the_end_of_its_window() {
        let (sender, body) = body(10, 100);
        // 50 bytes every 3 s is under 17 bytes/s: moving, but below 100 bytes/s.
        send_every(sender, Duration::from_secs(3), 100, 50);
        let error = body.collect().await.expect_err("the rate is checked");
        let timed_out = error.downcast_ref::<UploadTimedOut>().expect("a timeout");
        assert_eq!(
            *timed_out,
            UploadTimedOut::TooSlow {
                bytes: 150,
                window: Duration::from_secs(10),
                min_rate: 100
            }
        );
        assert!(timed_out.to_string().contains("min-upload-rate"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_at_the_minimum_rate_is_read_whole() {
        let (sender, body) = body(10, 100);
        send_every(sender, Duration::from_secs(1), 50, 150);
        let collected = body.collect().await.expect("the upload completes");
        assert_eq!(collected.to_bytes().len(), 7500);
    }
}
