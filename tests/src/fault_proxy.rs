//! A real HTTP proxy on a loopback port in front of a registry that hits a configurable,
//! seeded share of requests with a fault: a connection reset, HTTP 503, HTTP 429 with
//! `Retry-After`, a body cut short, or a stall past the client's timeout.
//!
//! Every request is forwarded on a new upstream connection and answered on a connection the
//! proxy then closes. `config.json` is rewritten so its download URL points at the proxy too,
//! so downloads meet the same faults as index files. Requests whose path contains a pattern
//! set with [`FaultProxy::hold`] wait (counted by [`FaultProxy::held`]) until
//! [`FaultProxy::release`], so a test can stop a client at a known point, and every path
//! asked is recorded ([`FaultProxy::requests_for`]), so a test can count what a client asked.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request is read, then the connection is reset (TCP RST).
    Reset,
    /// `503 Service Unavailable`, empty body.
    Unavailable,
    /// `429 Too Many Requests` with `Retry-After: 1`.
    TooManyRequests,
    /// The upstream answer's head and half its body, then the connection closes.
    TruncatedBody,
    /// The upstream answer's head and half its body, then nothing for
    /// [`FaultConfig::stall`], then the connection closes.
    Stall,
}

impl Fault {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Reset,
        Self::Unavailable,
        Self::TooManyRequests,
        Self::TruncatedBody,
        Self::Stall,
    ];
}

/// Which requests get which faults.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// The share of requests that get a fault, `0.0..=1.0`.
    pub share: f64,
    /// The seed of the random choices, so a run can be repeated.
    pub seed: u64,
    /// The faults chosen from, uniformly.
    pub kinds: Vec<Fault>,
    /// How long a [`Fault::Stall`] holds its connection.
    pub stall: Duration,
}

impl FaultConfig {
    /// `share` of requests hit by any of [`Fault::ALL`], stalls of 40 s, seed `seed`.
    pub fn new(share: f64, seed: u64) -> Self {
        Self {
            share,
            seed,
            kinds: Fault::ALL.to_vec(),
            stall: Duration::from_secs(40),
        }
    }

    /// No faults: a plain proxy.
    pub fn none() -> Self {
        Self::new(0.0, 0)
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    public: String,
    config: FaultConfig,
    rng: Mutex<StdRng>,
    hold: Mutex<Option<String>>,
    held: AtomicU64,
    requests: AtomicU64,
    paths: Mutex<Vec<String>>,
    faults: AtomicU64,
    stop: AtomicBool,
}

/// A running fault proxy; stopped when dropped (connections still stalling end within
/// 50 ms).
#[derive(Debug)]
pub struct FaultProxy {
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str, config: FaultConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let public = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            public,
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config,
            hold: Mutex::new(None),
            held: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            paths: Mutex::new(Vec::new()),
            faults: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        listener
            .set_nonblocking(true)
            .expect("a listener can be non-blocking");
        let accepting = Arc::clone(&shared);
        thread::spawn(move || accept_loop(&listener, &accepting));
        Self { shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.shared.public.clone()
    }

    /// The registry's index through the proxy: `sparse+http://127.0.0.1:PORT/index/`.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.shared.public)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Requests received so far whose path (without the query) is `path`.
    pub fn requests_for(&self, path: &str) -> u64 {
        let count = lock(&self.shared.paths)
            .iter()
            .filter(|seen| seen.split('?').next() == Some(path))
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    /// Requests that got a fault so far.
    pub fn faults(&self) -> u64 {
        self.shared.faults.load(Ordering::Relaxed)
    }

    /// From now on, requests whose path contains `pattern` wait until [`Self::release`].
    pub fn hold(&self, pattern: &str) {
        *lock(&self.shared.hold) = Some(pattern.to_owned());
    }

    /// How many requests are waiting because of [`Self::hold`] now.
    pub fn held(&self) -> u64 {
        self.shared.held.load(Ordering::Relaxed)
    }

    /// Lets held requests (and later ones) through.
    pub fn release(&self) {
        *lock(&self.shared.hold) = None;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                thread::spawn(move || {
                    // A client that went away is no failure of the proxy.
                    let _ = serve(stream, &shared);
                });
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Sleeps `total`, or less once the proxy stops (or `until` says so).
fn sleep_while(shared: &Shared, total: Duration, until: impl Fn() -> bool) {
    let end = Instant::now() + total;
    while Instant::now() < end && !shared.stop.load(Ordering::Relaxed) && !until() {
        thread::sleep(Duration::from_millis(20));
    }
}

/// A request's head (through the blank line) and the body its `Content-Length` announces.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = find(&data, b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = header_value(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Some((head, body)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn serve(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let Some((head, body)) = read_request(&mut client)? else {
        return Ok(());
    };
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    lock(&shared.paths).push(path.clone());
    let pattern = lock(&shared.hold).clone();
    if pattern.is_some_and(|p| path.contains(p.as_str())) {
        shared.held.fetch_add(1, Ordering::Relaxed);
        sleep_while(shared, Duration::from_hours(1), || {
            lock(&shared.hold).is_none()
        });
        shared.held.fetch_sub(1, Ordering::Relaxed);
    }
    let fault = {
        let mut rng = lock(&shared.rng);
        (!shared.config.kinds.is_empty() && rng.random_bool(shared.config.share.clamp(0.0, 1.0)))
            .then(|| shared.config.kinds[rng.random_range(0..shared.config.kinds.len())])
    };
    if fault.is_some() {
        shared.faults.fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(Fault::Reset) => {
            socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO))?;
            return Ok(());
        }
        Some(Fault::Unavailable) => {
            client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )?;
            return close(&client);
        }
        Some(Fault::TooManyRequests) => {
            client.write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )?;
            return close(&client);
        }
        _ => {}
    }
    let config_json = path.ends_with("/config.json");
    let response = forward(shared, &head, &body, config_json)?;
    let Some(head_end) = find(&response, b"\r\n\r\n").map(|at| at + 4) else {
        client.write_all(&response)?;
        return close(&client);
    };
    let response = if config_json {
        rewrite_config(shared, &response, head_end)
    } else {
        response
    };
    if let Some(kind @ (Fault::TruncatedBody | Fault::Stall)) = fault {
        let body_len = response.len() - head_end;
        if body_len == 0 {
            socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO))?;
            return Ok(());
        }
        client.write_all(&response[..head_end + body_len / 2])?;
        client.flush()?;
        if kind == Fault::Stall {
            sleep_while(shared, shared.config.stall, || false);
        }
    } else {
        client.write_all(&response)?;
    }
    close(&client)
}

#[allow(clippy::unnecessary_wraps)] // the last step of `serve`, which returns a result
fn close(client: &TcpStream) -> std::io::Result<()> {
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}

/// Sends the request upstream on a new connection (`connection: close`; no compression for
/// `config.json`, which is rewritten) and reads the whole answer.
fn forward(
    shared: &Shared,
    head: &str,
    body: &[u8],
    config_json: bool,
) -> std::io::Result<Vec<u8>> {
    let authority = shared
        .upstream
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut upstream = TcpStream::connect(authority)?;
    let mut lines = head.split("\r\n");
    let mut out = String::new();
    out.push_str(lines.next().unwrap_or_default());
    out.push_str("\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        let skip = name.eq_ignore_ascii_case("connection")
            || name.eq_ignore_ascii_case("host")
            || (config_json && name.eq_ignore_ascii_case("accept-encoding"));
        if !skip {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    let _ = write!(out, "host: {authority}\r\nconnection: close\r\n\r\n");
    upstream.write_all(out.as_bytes())?;
    upstream.write_all(body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    Ok(response)
}

/// `config.json` with the upstream's URL replaced by the proxy's, and its length fixed.
fn rewrite_config(shared: &Shared, response: &[u8], head_end: usize) -> Vec<u8> {
    let head = String::from_utf8_lossy(&response[..head_end]);
    let body =
        String::from_utf8_lossy(&response[head_end..]).replace(&shared.upstream, &shared.public);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    let _ = write!(out, "content-length: {}\r\n\r\n", body.len());
    out.push_str(&body);
    out.into_bytes()
}
