//! Binding, accepting connections and shutting down gracefully.
//!
//! The server runs one worker thread per core, each with its own single-threaded Tokio
//! runtime and its own listening socket on the same address (`SO_REUSEPORT`), the way nginx
//! runs its worker processes: the kernel spreads connections over the workers, and every
//! request is read, answered and written on the thread that accepted its connection. A
//! work-stealing runtime instead wakes requests on whichever thread polled the socket and
//! hands them across threads, which on a busy machine costs a scheduler tick (4 ms) at the
//! tail. For the same reason a busy worker offers its core to other runnable threads every
//! few requests (`core_sharing`).
//!
//! Every accepted connection takes a slot of the shared cap (`max-connections`) and runs on
//! a stream that enforces the header and idle timeouts (the `connection` module).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::audit::PeerAddr;
use crate::connection::gate::ConnectionGate;
use crate::connection::guard;
use crate::core_sharing::{self, DEFAULT_YIELD_EVERY};
use crate::mirror::MirrorState;
use crate::site::{Answer, Site};
use crate::state::AppState;
use crate::tenants::Tenants;
use crate::tls::Tls;

/// How long open connections get to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pending connections the kernel queues per listening socket.
const BACKLOG: i32 = 1024;

/// Loads every index file from storage into the in-memory cache and marks the server ready.
pub async fn warm_cache(state: &AppState) -> Result<usize, wharf_storage::StorageError> {
    let files = state.storage.all_index_files().await?;
    for file in &files {
        state.cache.install(file);
    }
    state.ready.store(true, Ordering::Release);
    tracing::info!(index_files = files.len(), "index cache warm");
    Ok(files.len())
}

/// A bound server, not yet accepting: one listening socket per worker, all on one address.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
    yield_every: u32,
    tls: Option<Tls>,
    index_fast_path: bool,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) with one worker per available core.
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::bind_with_workers(addr, workers)
    }

    /// Binds `addr` with `workers` worker threads (at least one). Fails with
    /// `ErrorKind::AddrInUse` when any other socket, of this or another process, listens on
    /// `addr`.
    pub fn bind_with_workers(addr: SocketAddr, workers: usize) -> std::io::Result<Self> {
        let first = listener(addr, Bind::Exclusive)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..workers.max(1) {
            listeners.push(listener(addr, Bind::JoinOwn)?);
        }
        Ok(Self {
            listeners,
            addr,
            yield_every: DEFAULT_YIELD_EVERY,
            tls: None,
            index_fast_path: true,
        })
    }

    /// Makes every worker offer its core to other runnable threads after each `every`
    /// requests (0: never; default [`DEFAULT_YIELD_EVERY`]). See the `core_sharing` module.
    #[must_use]
    pub fn with_yield_every(mut self, every: u32) -> Self {
        self.yield_every = every;
        self
    }

    /// Answers index file GETs of public registries on plain connections with the fast path
    /// (the `fast_path` module) when `on` (the default); off, hyper serves every request.
    #[must_use]
    pub fn with_index_fast_path(mut self, on: bool) -> Self {
        self.index_fast_path = on;
        self
    }

    /// How many worker threads will serve.
    pub fn workers(&self) -> usize {
        self.listeners.len()
    }

    /// Serves HTTPS with `tls` (HTTP/2 or HTTP/1.1 as the client chooses by ALPN) instead of
    /// plain HTTP. Each worker runs the handshakes of the connections it accepts.
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }

    /// Serves HTTP/1.1 (and HTTP/2 with prior knowledge), or HTTPS with HTTP/2 and HTTP/1.1
    /// by ALPN after [`Server::with_tls`], until `shutdown` resolves, then stops accepting
    /// and lets open connections finish for up to ten seconds. Cargo's `Upgrade: h2c` header
    /// on HTTP/1.1 requests is ignored, which cargo handles.
    pub async fn run(self, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
        self.run_site(Site::Registry(state), shutdown).await;
    }

    /// Serves a default registry and its tenants (see [`Tenants`]) the way [`Server::run`]
    /// serves one registry; tenants activated or suspended while it runs take effect at once.
    pub async fn run_tenants(self, tenants: Arc<Tenants>, shutdown: impl Future<Output = ()>) {
        self.run_site(Site::Tenants(tenants), shutdown).await;
    }

    /// Serves a mirror copy read-only (see [`MirrorState`]) the way [`Server::run`] serves a
    /// registry: same protocols, limits and shutdown.
    pub async fn run_mirror(self, mirror: Arc<MirrorState>, shutdown: impl Future<Output = ()>) {
        self.run_site(Site::Mirror(mirror), shutdown).await;
    }

    async fn run_site(self, site: Site, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let mut workers = Vec::with_capacity(self.listeners.len());
        let yield_every = self.yield_every;
        let fast_path = self.index_fast_path && !matches!(site, Site::Mirror(_));
        let gate = Arc::new(ConnectionGate::new(
            site.connections().max_connections,
            Arc::clone(&site.metrics().connections),
        ));
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let state = site.clone();
            let stopped = stopped.clone();
            let gate = Arc::clone(&gate);
            let tls = self.tls.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("wharf-http-{index}"))
                .spawn(move || {
                    worker(listener, state, gate, stopped, yield_every, tls, fast_path);
                });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(error) => tracing::error!(%error, "cannot start an HTTP worker thread"),
            }
        }
        site.metrics().set_http_workers(workers.len());
        tracing::info!(
            workers = workers.len(),
            yield_every,
            index_fast_path = fast_path,
            "HTTP workers serving"
        );
        shutdown.await;
        tracing::info!("shutting down: draining open connections");
        let _ = stop.send(true);
        let joined = tokio::task::spawn_blocking(move || {
            for handle in workers {
                let _ = handle.join();
            }
        });
        let _ = joined.await;
    }
}

/// How a listening socket takes its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind {
    /// The first socket: bound without `SO_REUSEPORT`, so the bind fails if any socket (a second
    /// `wharf serve` included) already holds the address, then marked `SO_REUSEPORT` before
    /// `listen` so this process's other workers can join it.
    Exclusive,
    /// The other workers' sockets: `SO_REUSEPORT` from the start, joining the first.
    JoinOwn,
}

/// A listening socket on `addr`; see [`Bind`].
///
/// Why not `SO_REUSEPORT` on every socket: Linux lets any socket of the same user with that
/// option join the address, so a second `wharf serve` on a busy port started silently and the
/// kernel split connections between two registries. A probe bind (without the option, then
/// closed) would leave a window between probe and bind in which two starting servers both pass.
/// Binding the first socket without it leaves none: the bind itself is the check, and once the
/// first socket is bound no other exclusive bind can succeed. (One listener shared by all
/// workers would also be exclusive, but it would change how connections reach the workers —
/// every worker woken for each one instead of the kernel spreading them — and the serving
/// model's measurements were made with one socket per worker; this keeps that model as is.)
fn listener(addr: SocketAddr, bind: Bind) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets a restarted server bind while connections of the previous one are in TIME_WAIT; on
    // Linux it never lets two sockets listen on one address.
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if bind == Bind::JoinOwn {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    #[cfg(unix)]
    if bind == Bind::Exclusive {
        socket.set_reuse_port(true)?;
    }
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// One worker thread: a single-threaded runtime accepting on its own socket.
fn worker(
    listener: std::net::TcpListener,
    state: Site,
    gate: Arc<ConnectionGate>,
    stopped: watch::Receiver<bool>,
    yield_every: u32,
    tls: Option<Tls>,
    fast_path: bool,
) {
    core_sharing::set_yield_every(yield_every);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start an HTTP worker runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "cannot register a listening socket");
                return;
            }
        };
        accept_loop(listener, state, &gate, stopped, tls, fast_path).await;
    });
}

/// The service hyper runs for each request of one connection: answers an index file at
/// once ([`Site::answer_now`]), anything else through the router, as in flight for the guard.
fn hyper_service(
    state: Site,
    activity: Arc<guard::Activity>,
    peer: SocketAddr,
) -> impl Fn(http::Request<hyper::body::Incoming>) -> Answer + Clone + Send + 'static {
    move |mut request: http::Request<hyper::body::Incoming>| {
        if let Some(response) = state.answer_now(&request) {
            activity.answered(request.version());
            return Answer::Ready(Some(response));
        }
        request.extensions_mut().insert(PeerAddr(peer));
        let version = request.version();
        Answer::Routed(Box::pin(
            activity.track(version, state.clone().handle(request)),
        ))
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Site,
    gate: &ConnectionGate,
    mut stopped: watch::Receiver<bool>,
    tls: Option<Tls>,
    fast_path: bool,
) {
    if tls.is_none() && fast_path {
        tokio::spawn(crate::fast_path::clock::keep_ticking());
    }
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The connection guard times request heads and idle connections, for both protocols.
    builder.http1().header_read_timeout(None);
    let limits = state.connections();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // Over the cap, wait (accepting nothing else) until a connection closes.
                let slot = tokio::select! {
                    slot = gate.admit() => slot,
                    _ = stopped.changed() => break,
                };
                if tls.is_none() && fast_path {
                    // Plain connections start on the fast path; hyper takes over at the first
                    // request it does not answer.
                    let (state, limits, watcher) = (state.clone(), limits, graceful.watcher());
                    let (builder, stopped) = (builder.clone(), stopped.clone());
                    tokio::spawn(async move {
                        let counters = &state.metrics().connections;
                        counters.opened();
                        let outcome =
                            crate::fast_path::serve(stream, &state, &limits, counters, stopped).await;
                        counters.closed();
                        let crate::fast_path::Outcome::HandOff(stream, read) = outcome else {
                            return;
                        };
                        let stream = crate::fast_path::rewind::Rewind::new(stream, read);
                        let (stream, activity) = guard::guard(stream, slot, &limits, counters);
                        let service = service_fn(hyper_service(state.clone(), activity, peer));
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        if let Err(error) = watcher.watch(connection.into_owned()).await {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    });
                    continue;
                }
                let (stream, activity) =
                    guard::guard(stream, slot, &limits, &state.metrics().connections);
                let service = service_fn(hyper_service(state.clone(), activity, peer));
                if let Some(tls) = &tls {
                    // The handshake runs in the connection's task, so a slow client never
                    // holds up accepting; it reads through the guard, so the header timeout
                    // covers it too.
                    let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
                    tokio::spawn(async move {
                        let Some(stream) = tls.accept(stream).await else { return };
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        if let Err(error) = watcher.watch(connection).await {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    });
                    continue;
                }
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after the drain timeout");
    }
    // Index files written behind answers run on this runtime: let them finish.
    if tokio::time::timeout(DRAIN_TIMEOUT, state.settle())
        .await
        .is_err()
    {
        tracing::warn!(
            "index files were still being written at exit; the next start rebuilds them"
        );
    }
}
