//! A narrow HTTP/1.1 path for the requests cargo sends most: `GET` and `HEAD` of index files of
//! a public registry on plain TCP.
//!
//! Each plain connection starts here. Requests are read into one buffer, each head is parsed
//! with `httparse` ([`request`]), and an index file in the cache is answered with a head
//! prepared once per file version ([`wire`]) and a `Date` value refreshed once a second
//! ([`clock`]); pipelined requests in one read get their answers in one write. The first
//! request that is anything else (another path or method, a file not in the cache, a body,
//! `Expect`, `Upgrade`, an oversized head or a parse error) hands the connection to hyper
//! together with the bytes already read ([`rewind`]), so every other behaviour is hyper's.
//!
//! The connection's guarantees are kept here too: the header and idle timeouts (one timer per
//! connection, armed at accept and moved only when it fires or a head starts; times of
//! progress come from the coarse clock, so a timeout may run up to [`clock::TICK`] long), the
//! connection cap (the slot is held until the connection ends or moves on to hyper), the
//! request counts and latencies of `Route::IndexFile`, and graceful shutdown.
//!
//! Why this is written by hand rather than left to hyper: profiles of index requests through
//! hyper spent more than half of their user-space instructions in building and encoding
//! `http` request and response values (header maps, URI parsing, response encoding, the
//! per-poll deadline checks); this path reads the head with `httparse` (as hyper does) and
//! writes bytes prepared ahead. `BENCHMARKS.md` has the figures.

mod buffer;
pub(crate) mod clock;
pub(crate) mod request;
pub(crate) mod rewind;
pub(crate) mod wire;

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::connection::ConnectionLimits;
use crate::connection::counters::{ConnectionCounters, Expiry};
use crate::core_sharing;
use crate::metrics::Route;
use crate::site::Site;
use buffer::ReadBuffer;
use request::{FastRequest, Head};

/// The largest request head the fast path buffers; a longer one goes to hyper.
const MAX_HEAD: usize = 16 * 1024;

/// How a connection left the fast path.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It is closed (by the client, a timeout, `Connection: close`, an error or shutdown).
    Closed,
    /// A request the fast path does not answer arrived: hyper serves the connection from
    /// here, starting with these bytes.
    HandOff(TcpStream, BytesMut),
}

/// Serves `stream` on the fast path until it closes or must go to hyper. `stop` turns true
/// when the server shuts down.
pub(crate) async fn serve(
    stream: TcpStream,
    site: &Site,
    limits: &ConnectionLimits,
    counters: &ConnectionCounters,
    stop: watch::Receiver<bool>,
) -> Outcome {
    let accepted = Instant::now();
    let mut connection = Connection {
        stream,
        buf: ReadBuffer::new(),
        out: Vec::with_capacity(4096),
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        head_started: Some(accepted),
        idle_since: accepted,
        timer: Box::pin(tokio::time::sleep_until(accepted)),
        timer_polled: false,
        stop_seen: stop.clone(),
        stop_wake: Box::pin(wait_for_stop(stop)),
        stop_polled: false,
    };
    if let Some((at, _)) = connection.deadline() {
        connection.timer.as_mut().reset(at);
    } else {
        connection.timer = Box::pin(tokio::time::sleep(Duration::MAX));
    }
    let outcome = connection.run(site).await;
    match outcome {
        Ended::Closed => Outcome::Closed,
        Ended::Expired(why) => {
            counters.expired(why);
            tracing::debug!(reason = ?why, "closing a connection: {}", describe(why));
            Outcome::Closed
        }
        Ended::HandOff => Outcome::HandOff(connection.stream, connection.buf.into_unread()),
    }
}

async fn wait_for_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn describe(why: Expiry) -> &'static str {
    match why {
        Expiry::Header => "the request head did not arrive within header-timeout",
        Expiry::Idle | Expiry::Body => "no request came within idle-timeout",
    }
}

/// How the fast path's loop ended.
enum Ended {
    Closed,
    Expired(Expiry),
    HandOff,
}

/// What waiting for more bytes gave.
enum Wait {
    Read,
    Closed,
    Expired(Expiry),
}

struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet answered.
    buf: ReadBuffer,
    /// Answers not yet written.
    out: Vec<u8>,
    header_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// When the head at the front of `buf` began (coarse), if one has.
    head_started: Option<Instant>,
    /// When the connection was accepted or last answered (coarse).
    idle_since: Instant,
    /// Fires at the earliest deadline known when it was armed; deadlines that move later are
    /// noticed when it fires.
    timer: Pin<Box<Sleep>>,
    /// Whether the timer holds this task's waker.
    timer_polled: bool,
    stop_seen: watch::Receiver<bool>,
    stop_wake: Pin<Box<dyn Future<Output = ()> + Send>>,
    stop_polled: bool,
}

impl Connection {
    async fn run(&mut self, site: &Site) -> Ended {
        loop {
            let unanswered = self.buf.len();
            let (keep_alive, hand_off) = self.answer_buffered(site);
            if self.buf.len() < unanswered {
                // Answered: the header timeout of the next request starts with its first byte.
                self.head_started = None;
            }
            if !self.out.is_empty() {
                if self.write_out().await.is_err() {
                    return Ended::Closed;
                }
                self.idle_since = clock::now();
            }
            if hand_off {
                return Ended::HandOff;
            }
            if !keep_alive {
                let _ = self.stream.shutdown().await;
                return Ended::Closed;
            }
            if !self.buf.is_empty() && self.head_started.is_none() {
                // A head began and is not complete: its header timeout starts now, and may
                // come before the armed one.
                self.head_started = Some(clock::now());
                if let Some((at, _)) = self.deadline()
                    && at < self.timer.deadline()
                {
                    self.timer.as_mut().reset(at);
                    self.timer_polled = false;
                }
            }
            match poll_fn(|cx| self.poll_more(cx)).await {
                Wait::Read => {}
                Wait::Closed => return Ended::Closed,
                Wait::Expired(why) => return Ended::Expired(why),
            }
        }
    }

    /// Answers the complete heads at the front of the buffer. Returns whether the connection
    /// stays open, and whether hyper must take it (the buffer then starts at its request).
    fn answer_buffered(&mut self, site: &Site) -> (bool, bool) {
        let mut stamp = None;
        while !self.buf.is_empty() {
            let request = match request::read_head(self.buf.unread()) {
                Head::Fast(request) => request,
                Head::Partial => return (true, self.buf.len() > MAX_HEAD),
                Head::Other => return (true, true),
            };
            let stamp = stamp.get_or_insert_with(std::time::Instant::now);
            if !answer(site, &request, &mut self.out, stamp) {
                return (true, true);
            }
            let (length, keep_alive) = (request.length, request.keep_alive);
            self.buf.consume(length);
            if !keep_alive {
                return (false, false);
            }
        }
        (true, false)
    }

    /// Writes the pending answers: at once when the socket takes them, else waiting (a
    /// client that reads nothing is closed after the idle timeout).
    async fn write_out(&mut self) -> io::Result<()> {
        let mut written = 0;
        while written < self.out.len() {
            match self.stream.try_write(&self.out[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let rest = &self.out[written..];
                    let write = self.stream.write_all(rest);
                    match self.idle_timeout {
                        Some(limit) => tokio::time::timeout(limit, write)
                            .await
                            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??,
                        None => write.await?,
                    }
                    written = self.out.len();
                }
                Err(error) => return Err(error),
            }
        }
        self.out.clear();
        Ok(())
    }

    /// When the connection must have made progress by, and which timeout that is: the idle
    /// timeout from the last answer, and the header timeout from the start of a pending head.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        let idle = self
            .idle_timeout
            .map(|t| (self.idle_since + t + clock::TICK, Expiry::Idle));
        let header = self
            .header_timeout
            .zip(self.head_started)
            .map(|(t, from)| (from + t + clock::TICK, Expiry::Header));
        match (idle, header) {
            (Some(idle), Some(header)) => Some(if header.0 <= idle.0 { header } else { idle }),
            (one, other) => one.or(other),
        }
    }

    /// Reads more bytes, or notes the timeout or shutdown that ends the connection.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<Wait> {
        let mut room = ReadBuf::new(self.buf.room());
        match Pin::new(&mut self.stream).poll_read(cx, &mut room) {
            Poll::Ready(Ok(())) => {
                let n = room.filled().len();
                if n == 0 {
                    return Poll::Ready(Wait::Closed);
                }
                self.buf.filled(n);
                return Poll::Ready(Wait::Read);
            }
            Poll::Ready(Err(_)) => return Poll::Ready(Wait::Closed),
            Poll::Pending => {}
        }
        if self.stop_seen.has_changed().unwrap_or(true) && *self.stop_seen.borrow() {
            return Poll::Ready(Wait::Closed);
        }
        if !self.stop_polled {
            self.stop_polled = true;
            if self.stop_wake.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wait::Closed);
            }
        }
        while !self.timer_polled || self.timer.is_elapsed() {
            if self.timer.as_mut().poll(cx).is_pending() {
                self.timer_polled = true;
                break;
            }
            // The armed time passed; the deadline may have moved later since.
            let Some((at, why)) = self.deadline() else {
                self.timer_polled = true;
                break;
            };
            if Instant::now() >= at {
                return Poll::Ready(Wait::Expired(why));
            }
            self.timer.as_mut().reset(at);
            self.timer_polled = false;
        }
        Poll::Pending
    }
}

/// Appends the answer to `request` to `out` when it is an index file of a public registry
/// in the cache, and counts it in the registry's metrics with the time since `stamp` (then
/// moved to now); false when hyper must answer it.
fn answer(
    site: &Site,
    request: &FastRequest<'_>,
    out: &mut Vec<u8>,
    stamp: &mut std::time::Instant,
) -> bool {
    let answered = site.with_index_file(request.path, |state, rest| {
        let Some(file) = state.cache.get(rest) else {
            return false;
        };
        let choice = request.conditions.choose(&file);
        core_sharing::count_request();
        state.metrics.count_version(match request.version {
            wire::Version::Http10 => http::Version::HTTP_10,
            wire::Version::Http11 => http::Version::HTTP_11,
        });
        let heads = &file.wire;
        let status = if choice.not_modified {
            let head = if choice.gzip {
                &heads.not_modified_gzip
            } else {
                &heads.not_modified
            };
            head.write(request.version, request.keep_alive, out);
            304
        } else {
            let (head, body) = match &file.gzip {
                Some(gzip) if choice.gzip => (&heads.ok_gzip, gzip),
                _ => (&heads.ok, &file.bytes),
            };
            state.metrics.count_index_bytes(body.len());
            head.write(request.version, request.keep_alive, out);
            if !request.head_only {
                out.extend_from_slice(body);
            }
            200
        };
        let now = std::time::Instant::now();
        state.metrics.record(Route::IndexFile, status, now - *stamp);
        state.metrics.count_fast_path_answer();
        *stamp = now;
        true
    });
    answered == Some(true)
}
