//! The HTTP clients of one index: one async reqwest client on a single-threaded tokio runtime
//! per calling thread, so a request is written and its answer read on the thread that needs
//! it.
//!
//! reqwest's blocking client runs every connection on a runtime thread of its own and hands
//! each request, and every chunk of each answer, across threads: a cold resolve of 730 index
//! files cost about 12,600 `futex` calls and as many context switches. Here the thread that
//! fetches drives its own connection: a request is a `writev`, its answer a few `recvfrom`
//! and `epoll_wait` calls. Each thread keeps its connection alive between requests; a client
//! is never shared between runtimes (a pooled connection only moves while its runtime runs).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use reqwest::Client;
use rustls::ClientConfig;

use crate::ClientError;
use crate::error::with_causes;

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One thread's client and the runtime it runs on.
#[derive(Debug)]
pub(crate) struct Connection {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Connection {
    /// The client, for requests run by [`Connection::run`].
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `work` (requests of [`Connection::client`]) to its end on this thread.
    pub(crate) fn run<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }
}

/// Every thread's [`Connection`] to one index, made on its first request.
#[derive(Debug)]
pub(crate) struct Connections {
    tls: ClientConfig,
    headers: reqwest::header::HeaderMap,
    stall_timeout: Duration,
    by_thread: Mutex<HashMap<ThreadId, Arc<Connection>>>,
}

impl Connections {
    /// Clients that send `headers` with every request, speak TLS with `tls`, and give up on
    /// an answer that sends nothing for `stall_timeout`. One is built now, so a setting the
    /// client refuses fails here.
    pub(crate) fn new(
        tls: ClientConfig,
        headers: reqwest::header::HeaderMap,
        stall_timeout: Duration,
    ) -> Result<Self, ClientError> {
        let connections = Self {
            tls,
            headers,
            stall_timeout,
            by_thread: Mutex::default(),
        };
        connections.for_this_thread()?;
        Ok(connections)
    }

    /// This thread's connection, made now when it has none.
    pub(crate) fn for_this_thread(&self) -> Result<Arc<Connection>, ClientError> {
        let thread = std::thread::current().id();
        let mut by_thread = self
            .by_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = by_thread.get(&thread) {
            return Ok(Arc::clone(connection));
        }
        let connection = Arc::new(self.connect()?);
        by_thread.insert(thread, Arc::clone(&connection));
        Ok(connection)
    }

    fn connect(&self) -> Result<Connection, ClientError> {
        let failed = |reason: String| ClientError::HttpClient { reason };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start an HTTP runtime: {e}")))?;
        let client = Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .default_headers(self.headers.clone())
            .gzip(true)
            .connect_timeout(CONNECT_TIMEOUT)
            // Applied to the wait for the answer's head and to each read of its body: a
            // limit on time without progress, not on the whole transfer, so a slow but
            // moving download is never cut.
            .read_timeout(self.stall_timeout)
            .tls_backend_preconfigured(self.tls.clone())
            .build()
            .map_err(|e| failed(with_causes(&e)))?;
        Ok(Connection { runtime, client })
    }
}
