//! Prometheus metrics, kept in fixed arrays of atomics so the request hot path never takes a
//! lock or allocates. (A metrics crate's label families hash and lock on every update; with a
//! closed set of routes and statuses, plain atomics are both simpler and faster.)
//!
//! The per-request counters are kept in [`SHARDS`] copies, each on cache lines of its own, and
//! every thread counts into one copy (threads take copies in turn as they first count); a
//! scrape adds the copies up. With one copy, every request of every worker wrote the same few
//! cache lines, which then moved between the cores on each request.

use std::cell::Cell;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::connection::counters::ConnectionCounters;

/// The routes the server knows, for labelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Route {
    /// `GET /index/config.json`
    Config,
    /// `GET /index/{path}`
    IndexFile,
    /// `GET /blobs/sha256/{hex}` and the API download path.
    Download,
    /// `PUT /api/v1/crates/new`
    Publish,
    /// yank and unyank
    Yank,
    /// owners list/add/remove
    Owners,
    /// `GET /api/v1/crates?q=` and `GET /api/wharf/v1/plugins/{name}`
    Search,
    /// `/health`, `/ready`, `/metrics`
    Operations,
    /// the transparency log and the signed timestamp
    Log,
    /// the git export under `/git/index`
    GitIndex,
    /// anything else
    Other,
}

impl Route {
    const ALL: [Route; 11] = [
        Route::Config,
        Route::IndexFile,
        Route::Download,
        Route::Publish,
        Route::Yank,
        Route::Owners,
        Route::Search,
        Route::Operations,
        Route::Log,
        Route::GitIndex,
        Route::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Route::Config => "config",
            Route::IndexFile => "index_file",
            Route::Download => "download",
            Route::Publish => "publish",
            Route::Yank => "yank",
            Route::Owners => "owners",
            Route::Search => "search",
            Route::Operations => "operations",
            Route::Log => "log",
            Route::GitIndex => "git_index",
            Route::Other => "other",
        }
    }
}

const STATUSES: [u16; 16] = [
    200, 206, 302, 304, 400, 401, 403, 404, 405, 408, 409, 413, 429, 500, 503, 507,
];
const OTHER_STATUS: usize = STATUSES.len();
const LATENCY_BUCKETS_SECONDS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];
const ROUTES: usize = Route::ALL.len();
/// The HTTP versions counted by `wharf_http_requests_by_version_total`, as `http` prints them.
const VERSIONS: [http::Version; 3] = [
    http::Version::HTTP_10,
    http::Version::HTTP_11,
    http::Version::HTTP_2,
];

/// Copies of the per-request counters; more threads than this share copies.
const SHARDS: usize = 16;

/// The next copy a thread counting for the first time takes.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The copy this thread counts into, taken on its first count.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The copy of the counters the current thread counts into.
fn shard_index() -> usize {
    SHARD.get().unwrap_or_else(|| {
        let index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
        SHARD.set(Some(index));
        index
    })
}

/// One copy of the counters every request updates.
#[derive(Debug)]
struct RequestCounters {
    requests: [[AtomicU64; OTHER_STATUS + 1]; ROUTES],
    latency_buckets: [[AtomicU64; LATENCY_BUCKETS_SECONDS.len()]; ROUTES],
    latency_count: [AtomicU64; ROUTES],
    latency_sum_micros: [AtomicU64; ROUTES],
    index_bytes_served: AtomicU64,
    fast_path_answers: AtomicU64,
    versions: [AtomicU64; VERSIONS.len()],
}

impl Default for RequestCounters {
    fn default() -> Self {
        Self {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency_buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency_count: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_micros: std::array::from_fn(|_| AtomicU64::new(0)),
            index_bytes_served: AtomicU64::new(0),
            fast_path_answers: AtomicU64::new(0),
            versions: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// All counters of the server.
#[derive(Debug)]
pub struct Metrics {
    shards: Box<[CachePadded<RequestCounters>]>,
    publishes: AtomicU64,
    http_workers: AtomicU64,
    /// Open connections, the cap and timeouts, shared with every connection's guard.
    pub(crate) connections: Arc<ConnectionCounters>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| CachePadded::default()).collect(),
            publishes: AtomicU64::new(0),
            http_workers: AtomicU64::new(0),
            connections: Arc::default(),
        }
    }
}

impl Metrics {
    /// The current thread's copy of the per-request counters.
    fn shard(&self) -> &RequestCounters {
        &self.shards[shard_index()]
    }

    /// The sum over all copies of one per-request counter.
    fn total(&self, counter: impl Fn(&RequestCounters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| counter(shard).load(Ordering::Relaxed))
            .sum()
    }

    /// Records one finished request.
    pub fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let shard = self.shard();
        let r = route as usize;
        let s = STATUSES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(OTHER_STATUS);
        shard.requests[r][s].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS_SECONDS.iter().position(|&b| seconds <= b) {
            shard.latency_buckets[r][bucket].fetch_add(1, Ordering::Relaxed);
        }
        shard.latency_count[r].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        shard.latency_sum_micros[r].fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a request by the HTTP version it came in (HTTP/1.0, HTTP/1.1 or HTTP/2.0).
    pub fn count_version(&self, version: http::Version) {
        if let Some(i) = VERSIONS.iter().position(|&v| v == version) {
            self.shard().versions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an acknowledged publish.
    pub fn count_publish(&self) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts body bytes of index files sent.
    pub fn count_index_bytes(&self, bytes: usize) {
        self.shard()
            .index_bytes_served
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts an index file answered by the HTTP fast path rather than hyper.
    pub(crate) fn count_fast_path_answer(&self) {
        self.shard()
            .fast_path_answers
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records how many HTTP worker threads are serving.
    pub fn set_http_workers(&self, workers: usize) {
        self.http_workers.store(workers as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP wharf_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE wharf_http_requests_total counter\n");
        for route in Route::ALL {
            for i in 0..=OTHER_STATUS {
                let value = self.total(|shard| &shard.requests[route as usize][i]);
                if value == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(i)
                    .map_or_else(|| "other".to_owned(), u16::to_string);
                let _ = writeln!(
                    out,
                    "wharf_http_requests_total{{route=\"{}\",status=\"{status}\"}} {value}",
                    route.label()
                );
            }
        }
        out.push_str(
            "# HELP wharf_http_requests_by_version_total HTTP requests by protocol version.\n\
             # TYPE wharf_http_requests_by_version_total counter\n",
        );
        for (i, version) in VERSIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "wharf_http_requests_by_version_total{{version=\"{version:?}\"}} {}",
                self.total(|shard| &shard.versions[i])
            );
        }
        out.push_str("# HELP wharf_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE wharf_http_request_duration_seconds histogram\n");
        for route in Route::ALL {
            let r = route as usize;
            let count = self.total(|shard| &shard.latency_count[r]);
            let mut cumulative = 0;
            for (i, bound) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
                cumulative += self.total(|shard| &shard.latency_buckets[r][i]);
                let _ = writeln!(
                    out,
                    "wharf_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{bound}\"}} {cumulative}",
                    route.label()
                );
            }
            #[expect(
                clippy::cast_precision_loss,
                reason = "a latency sum far below 2^52 µs"
            )]
            let sum = self.total(|shard| &shard.latency_sum_micros[r]) as f64 / 1e6;
            let label = route.label();
            let _ = writeln!(
                out,
                "wharf_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"+Inf\"}} {count}\n\
                 wharf_http_request_duration_seconds_sum{{route=\"{label}\"}} {sum}\n\
                 wharf_http_request_duration_seconds_count{{route=\"{label}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP wharf_publishes_total Acknowledged publishes.\n# TYPE wharf_publishes_total counter\nwharf_publishes_total {}",
            self.publishes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP wharf_index_bytes_served_total Body bytes of sparse index files sent.\n# TYPE wharf_index_bytes_served_total counter\nwharf_index_bytes_served_total {}",
            self.total(|shard| &shard.index_bytes_served)
        );
        let _ = writeln!(
            out,
            "# HELP wharf_index_fast_path_answers_total Index file requests answered by the HTTP/1.1 fast path (also counted in wharf_http_requests_total).\n# TYPE wharf_index_fast_path_answers_total counter\nwharf_index_fast_path_answers_total {}",
            self.total(|shard| &shard.fast_path_answers)
        );
        let _ = writeln!(
            out,
            "# HELP wharf_http_workers HTTP worker threads serving requests.\n# TYPE wharf_http_workers gauge\nwharf_http_workers {}",
            self.http_workers.load(Ordering::Relaxed)
        );
        self.connections.render(&mut out);
        out
    }
}

/// Appends the readiness gauge (`wharf_ready`, 1 once the server serves, as `/ready` says).
pub(crate) fn render_readiness(out: &mut String, ready: bool) {
    let _ = writeln!(
        out,
        "# HELP wharf_ready Whether the server is ready to serve (1) or still starting (0), as /ready answers.\n# TYPE wharf_ready gauge\nwharf_ready {}",
        u8::from(ready)
    );
}

/// Appends the space of the file system holding `data_dir`: bytes free for the server (not
/// counting blocks reserved for root) and the file system's size. Nothing is appended when the
/// file system cannot be asked, so a scrape never fails over it.
pub(crate) fn render_disk_space(out: &mut String, data_dir: &std::path::Path) {
    let Some((free, size)) = disk_space(data_dir) else {
        return;
    };
    let _ = writeln!(
        out,
        "# HELP wharf_data_dir_free_bytes Bytes available to the server on the file system holding the data directory.\n# TYPE wharf_data_dir_free_bytes gauge\nwharf_data_dir_free_bytes {free}\n\
         # HELP wharf_data_dir_size_bytes Size in bytes of the file system holding the data directory.\n# TYPE wharf_data_dir_size_bytes gauge\nwharf_data_dir_size_bytes {size}"
    );
}

/// Bytes available to unprivileged users and the total size of the file system holding `path`.
#[cfg(unix)]
fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    match rustix::fs::statvfs(path) {
        Ok(stat) => Some((
            stat.f_bavail.saturating_mul(stat.f_frsize),
            stat.f_blocks.saturating_mul(stat.f_frsize),
        )),
        Err(error) => {
            tracing::debug!(%error, path = %path.display(), "cannot read the free space of the data directory");
            None
        }
    }
}

#[cfg(not(unix))]
fn disk_space(_path: &std::path::Path) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_requests() {
        let metrics = Metrics::default();
        metrics.record(Route::IndexFile, 304, Duration::from_micros(80));
        metrics.record(Route::IndexFile, 599, Duration::from_millis(3));
        metrics.record(Route::Publish, 429, Duration::from_micros(30));
        metrics.count_publish();
        metrics.count_index_bytes(42);
        let text = metrics.render();
        assert!(text.contains("wharf_http_requests_total{route=\"index_file\",status=\"304\"} 1"));
        assert!(
            text.contains("wharf_http_requests_total{route=\"index_file\",status=\"other\"} 1")
        );
        assert!(text.contains("wharf_http_requests_total{route=\"publish\",status=\"429\"} 1"));
        assert!(text.contains(
            "wharf_http_request_duration_seconds_bucket{route=\"index_file\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains("wharf_http_request_duration_seconds_count{route=\"index_file\"} 2"));
        assert!(text.contains("wharf_publishes_total 1"));
        assert!(text.contains("wharf_index_bytes_served_total 42"));
        assert!(text.contains("wharf_http_workers 0"));
        assert!(text.contains("wharf_http_requests_by_version_total{version=\"HTTP/2.0\"} 0\n"));
        metrics.count_version(http::Version::HTTP_2);
        metrics.count_version(http::Version::HTTP_2);
        metrics.count_version(http::Version::HTTP_11);
        let text = metrics.render();
        assert!(text.contains("wharf_http_requests_by_version_total{version=\"HTTP/2.0\"} 2\n"));
        assert!(text.contains("wharf_http_requests_by_version_total{version=\"HTTP/1.1\"} 1\n"));
        assert!(text.contains("wharf_http_requests_by_version_total{version=\"HTTP/1.0\"} 0\n"));
        metrics.set_http_workers(3);
        assert!(metrics.render().contains("wharf_http_workers 3\n"));
    }

    #[test]
    fn counts_of_many_threads_add_up() {
        let metrics = Metrics::default();
        // More threads than copies, so some threads share one.
        std::thread::scope(|scope| {
            for _ in 0..SHARDS + 5 {
                scope.spawn(|| {
                    metrics.record(Route::IndexFile, 200, Duration::from_micros(50));
                    metrics.count_version(http::Version::HTTP_11);
                    metrics.count_index_bytes(10);
                });
            }
        });
        let text = metrics.render();
        let n = SHARDS + 5;
        assert!(
            text.contains(&format!(
                "wharf_http_requests_total{{route=\"index_file\",status=\"200\"}} {n}\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "wharf_http_request_duration_seconds_count{{route=\"index_file\"}} {n}\n"
        )));
        assert!(text.contains(&format!(
            "wharf_http_requests_by_version_total{{version=\"HTTP/1.1\"}} {n}\n"
        )));
        assert!(text.contains(&format!("wharf_index_bytes_served_total {}\n", n * 10)));
    }

    #[test]
    fn renders_readiness_and_the_space_of_the_data_directory() {
        let mut text = String::new();
        render_readiness(&mut text, false);
        render_readiness(&mut text, true);
        assert!(
            text.contains("wharf_ready 0\n") && text.contains("wharf_ready 1\n"),
            "{text}"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut text = String::new();
        render_disk_space(&mut text, dir.path());
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {text}"))
        };
        let (free, size) = (
            value("wharf_data_dir_free_bytes"),
            value("wharf_data_dir_size_bytes"),
        );
        assert!(size > 0 && free <= size, "{text}");
        let mut text = String::new();
        render_disk_space(&mut text, &dir.path().join("missing"));
        assert!(text.is_empty(), "{text}");
    }
}
