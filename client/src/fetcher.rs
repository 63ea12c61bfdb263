//! One HTTP request per index file, with cargo's status rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED,
};
use rustls::ClientConfig;
use wharf_index_format::RegistryConfig;

use crate::cache_gc;
use crate::connections::Connections;
use crate::disk_cache::{CachedFile, DiskCache};
use crate::error::with_causes;
use crate::options::RetryPolicy;
use crate::snapshot_bins::{BinStore, SnapshotBins};
use crate::tls::tls_failure;
use crate::{ClientError, ClientOptions, IndexUrl};

/// The largest body whose buffer is reserved whole from its `Content-Length` (larger ones
/// grow as they arrive).
const MAX_PRESIZED_BODY: usize = 64 * 1024 * 1024;

/// Sends the requests of one index and counts them.
#[derive(Debug)]
pub(crate) struct Fetcher {
    http: Connections,
    url: IndexUrl,
    token: Option<String>,
    retry: RetryPolicy,
    /// The on-disk cache of this index's files, when one is set.
    cache: Option<DiskCache>,
    /// The registry's snapshot bins read this run, telling which cached files are current.
    bins: SnapshotBins,
    requests: AtomicU64,
    /// Answers 304 served from the on-disk cache.
    revalidated: AtomicU64,
    /// Cached files served without a request because the snapshot bins list their hash.
    unchanged_by_snapshot: AtomicU64,
}

/// The headers cargo sends with every index request: `cargo-protocol: version=1` and
/// `Accept: text/plain`.
pub(crate) fn cargo_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("cargo-protocol"),
        HeaderValue::from_static("version=1"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("text/plain"));
    headers
}

impl Fetcher {
    /// A client for `url` that sends `token` (verbatim, as cargo does) when given, speaks
    /// TLS with `tls` and retries as `options` say.
    pub(crate) fn new(
        url: IndexUrl,
        token: Option<String>,
        tls: ClientConfig,
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let http = Connections::new(tls, cargo_headers(), options.stall_timeout)?;
        let cache = options.cache_dir.as_deref().map(|root| {
            if let Some(max_age) = options.cache_max_age {
                cache_gc::collect_if_due(root, max_age, std::time::SystemTime::now());
            }
            DiskCache::new(root, &url)
        });
        Ok(Self {
            http,
            url,
            token,
            retry: options.retry_policy(),
            cache,
            bins: SnapshotBins::default(),
            requests: AtomicU64::new(0),
            revalidated: AtomicU64::new(0),
            unchanged_by_snapshot: AtomicU64::new(0),
        })
    }

    /// The index URL.
    pub(crate) fn url(&self) -> &IndexUrl {
        &self.url
    }

    /// How many requests were sent so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// How many answers were 304 and served from the on-disk cache.
    pub(crate) fn revalidated(&self) -> u64 {
        self.revalidated.load(Ordering::Relaxed)
    }

    /// How many cached files were served without a request because the registry's snapshot
    /// bins list their hash.
    pub(crate) fn unchanged_by_snapshot(&self) -> u64 {
        self.unchanged_by_snapshot.load(Ordering::Relaxed)
    }

    /// Fetches and parses `config.json`. A registry that wants a token gets a clear error
    /// when none is given or the one given is refused.
    pub(crate) fn config(&self) -> Result<RegistryConfig, ClientError> {
        let url = self.url.join("config.json");
        // Always fresh: it says whether a token is needed and where downloads are.
        let response = self.get(&url, &HeaderMap::new(), true)?;
        if let Some(error) = self.url.missing_config(&url, response.status.as_u16()) {
            return Err(error);
        }
        let body = self.success_body(&url, response)?;
        self.url.read_config(&url, &body, self.token.is_some())
    }

    /// The text of the index file at `path`, or `None` when the package does not exist
    /// (404, 410 or 451, as cargo reads them).
    ///
    /// With an on-disk cache, a cached file is revalidated (`If-None-Match` /
    /// `If-Modified-Since`): a 304 serves the cached text, a 200 replaces the entry (through
    /// the [`CacheWrite`] returned, for [`Fetcher::store`] to do off the caller's path), and
    /// "no such package" removes it.
    pub(crate) fn index_file(&self, path: &str) -> Result<Option<Fetched>, ClientError> {
        let url = self.url.join(path);
        let cached = self.cache.as_ref().and_then(|cache| cache.read(path));
        if let (Some(file), Some(cache)) = (&cached, &self.cache) {
            let store = Bins {
                fetcher: self,
                cache,
            };
            if self.bins.lists(&store, path, &file.sha256) {
                self.unchanged_by_snapshot.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    url,
                    "listed unchanged in the snapshot; using the cached file"
                );
                return Ok(cached.map(|file| Fetched::kept(file.body)));
            }
        }
        let response = self.get(&url, &conditional_headers(cached.as_ref()), true)?;
        let status = response.status.as_u16();
        if let (304, Some(cached)) = (status, cached) {
            self.revalidated.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(url, "not modified; using the cached file");
            return Ok(Some(Fetched::kept(cached.body)));
        }
        if matches!(status, 404 | 410 | 451) {
            if let Some(cache) = &self.cache {
                cache.remove(path);
            }
            return Ok(None);
        }
        let etag = header_text(&response.headers, &ETAG);
        let last_modified = header_text(&response.headers, &LAST_MODIFIED);
        let body = Arc::new(self.success_body(&url, response)?);
        if let Some(cache) = &self.cache {
            if etag.is_some() || last_modified.is_some() {
                return Ok(Some(Fetched {
                    text: Arc::clone(&body),
                    store: Some(CacheWrite {
                        path: path.to_owned(),
                        etag,
                        last_modified,
                        body,
                    }),
                }));
            }
            // Nothing to revalidate with: an older entry's validators would be wrong.
            cache.remove(path);
        }
        Ok(Some(Fetched::kept(body)))
    }

    /// Keeps a fetched file in the on-disk cache: its SHA-256 (for the snapshot bins) and
    /// CRC-32 computed, and its record appended to the pack.
    pub(crate) fn store(&self, write: CacheWrite) {
        if let Some(cache) = &self.cache {
            let file = CachedFile::new(write.etag, write.last_modified, write.body);
            cache.write(&write.path, &file);
        }
    }

    /// The bytes at `url` (an absolute URL, e.g. a download), retried as index files are;
    /// any answer but 200 is an error. The token goes along only when `with_token` (cargo
    /// sends it to download URLs only for registries that require authentication).
    pub(crate) fn download(&self, url: &str, with_token: bool) -> Result<Vec<u8>, ClientError> {
        let answer = self.get(url, &HeaderMap::new(), with_token)?;
        if answer.status == StatusCode::OK {
            return Ok(answer.body);
        }
        self.success_body(url, answer).map(String::into_bytes)
    }

    /// [`Self::download`] with one extra header, the token always sent.
    pub(crate) fn download_with_header(
        &self,
        url: &str,
        name: &'static str,
        value: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let mut extra = HeaderMap::new();
        let value = HeaderValue::from_str(value).map_err(|_| ClientError::InvalidConfig {
            url: url.to_owned(),
            reason: format!("the `{name}` header value is not valid header text"),
        })?;
        extra.insert(name, value);
        let answer = self.get(url, &extra, true)?;
        if answer.status == StatusCode::OK {
            return Ok(answer.body);
        }
        // The registry's one-line reason (which licence check failed) is kept.
        Err(ClientError::Status {
            url: url.to_owned(),
            status: answer.status.as_u16(),
            detail: error_detail(&String::from_utf8_lossy(&answer.body)),
        })
    }

    /// Sends a GET, again after a wait when it failed in a way that may pass: no answer or
    /// a body cut short or stalled (but not a TLS failure: a certificate does not fix
    /// itself), HTTP 429 or 5xx. Waits double from the first one with up to half again of
    /// random jitter, so clients that failed together do not come back together; a
    /// `Retry-After` is followed as given. The last outcome is returned as it is (a 304
    /// too: it is an answer, not a failure).
    fn get(&self, url: &str, extra: &HeaderMap, with_token: bool) -> Result<Answer, ClientError> {
        let mut retry = 0;
        loop {
            let outcome = self.send(url, extra, with_token);
            let may_pass = match &outcome {
                Ok(answer) => (answer.status.is_server_error()
                    || answer.status == StatusCode::TOO_MANY_REQUESTS)
                    .then(|| retry_after(&answer.headers)),
                Err(ClientError::Transport { .. }) => Some(None),
                Err(_) => None,
            };
            match may_pass {
                Some(hint) if retry < self.retry.retries => {
                    let wait = match hint {
                        Some(_) => self.retry.delay_before(retry, hint),
                        None => with_jitter(self.retry.delay_before(retry, None)),
                    };
                    tracing::debug!(url, retry, ?wait, "retrying a failed request");
                    std::thread::sleep(wait);
                    retry += 1;
                }
                _ => return outcome,
            }
        }
    }

    /// One GET, its body read whole. A body that ends before its `Content-Length`, does not
    /// decode, or stops arriving for the stall timeout is a [`ClientError::Transport`].
    fn send(&self, url: &str, extra: &HeaderMap, with_token: bool) -> Result<Answer, ClientError> {
        let connection = self.http.for_this_thread()?;
        let mut request = connection.client().get(url).headers(extra.clone());
        if let Some(token) = self.token.as_ref().filter(|_| with_token) {
            request = request.header(AUTHORIZATION, token);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(url, "fetching");
        let since = std::time::Instant::now();
        let answer = connection.run(async {
            let mut response = request.send().await.map_err(|e| transport_error(url, &e))?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            // Sized from `Content-Length` when the server gives one: growing the vector by
            // doubling made the allocator fault in (and the kernel zero) fresh pages at each
            // step, the largest cost of a cold resolve. Capped, so a lying header cannot make
            // it reserve much.
            let expected = response
                .content_length()
                .and_then(|length| usize::try_from(length).ok())
                .unwrap_or(0);
            let mut body = Vec::with_capacity(expected.min(MAX_PRESIZED_BODY));
            // Each read waits at most the stall timeout.
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(error) => {
                        return Err(ClientError::Transport {
                            url: url.to_owned(),
                            reason: format!(
                                "the answer's body broke off after {} bytes: {}",
                                body.len(),
                                with_causes(&error)
                            ),
                        });
                    }
                }
            }
            Ok(Answer {
                status,
                headers,
                body,
            })
        });
        if let Ok(answer) = &answer {
            tracing::debug!(
                url,
                bytes = answer.body.len(),
                micros = since.elapsed().as_micros(),
                "fetched"
            );
        }
        answer
    }

    /// The body of a 200 answer; every other status becomes the matching error. A UTF-8
    /// body (every index file) becomes the text without a copy: a copy of a large body
    /// costs fresh pages the kernel has to zero.
    fn success_body(&self, url: &str, answer: Answer) -> Result<String, ClientError> {
        let status = answer.status;
        if status == StatusCode::OK {
            return Ok(String::from_utf8(answer.body)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()));
        }
        match (status.as_u16(), self.token.is_some()) {
            (401, false) => Err(ClientError::AuthRequired {
                url: url.to_owned(),
            }),
            (401 | 403, true) => Err(ClientError::TokenRefused {
                url: url.to_owned(),
                status: status.as_u16(),
            }),
            (code, _) => Err(ClientError::Status {
                url: url.to_owned(),
                status: code,
                detail: error_detail(&String::from_utf8_lossy(&answer.body)),
            }),
        }
    }
}

/// The snapshot bins' way to the registry (the index's own requests, token and retries) and
/// to the on-disk cache.
struct Bins<'a> {
    fetcher: &'a Fetcher,
    cache: &'a DiskCache,
}

impl BinStore for Bins<'_> {
    fn fetch(&self, path: &str) -> Option<String> {
        let url = self.fetcher.url.join(path);
        match self.fetcher.get(&url, &HeaderMap::new(), true) {
            Ok(answer) if answer.status == StatusCode::OK => String::from_utf8(answer.body).ok(),
            Ok(answer) => {
                tracing::debug!(
                    url,
                    status = answer.status.as_u16(),
                    "no snapshot bins here"
                );
                None
            }
            Err(error) => {
                tracing::debug!(url, %error, "cannot read the snapshot bins");
                None
            }
        }
    }

    fn read_cached(&self, path: &str) -> Option<String> {
        self.cache.read_text(path)
    }

    fn write_cached(&self, path: &str, text: &str) {
        self.cache.write_text(path, text);
    }
}

/// An index file's text as fetched, and the cache entry still to be written for it.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The file's text.
    pub(crate) text: Arc<String>,
    /// What [`Fetcher::store`] keeps on disk, when the file is new to the cache.
    pub(crate) store: Option<CacheWrite>,
}

impl Fetched {
    /// A text with nothing to write (served by the cache, or no cache).
    fn kept(text: Arc<String>) -> Self {
        Self { text, store: None }
    }
}

/// A fetched index file the on-disk cache has yet to keep. Hashing and writing a body costs
/// more than fetching it on loopback, so it is done by whichever prefetch worker is idle, not
/// by the thread that waits for the file.
#[derive(Debug)]
pub(crate) struct CacheWrite {
    path: String,
    etag: Option<String>,
    last_modified: Option<String>,
    body: Arc<String>,
}

/// One answer, its body read whole.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// `wait` plus a random share of up to half of it.
fn with_jitter(wait: Duration) -> Duration {
    let extra: f64 = rand::random_range(0.0..=0.5);
    wait + wait.mul_f64(extra)
}

/// `If-None-Match` / `If-Modified-Since` from a cached file's validators (none without one;
/// a validator that is not a valid header value is left out).
fn conditional_headers(cached: Option<&CachedFile>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(cached) = cached else {
        return headers;
    };
    for (name, value) in [
        (IF_NONE_MATCH, &cached.etag),
        (IF_MODIFIED_SINCE, &cached.last_modified),
    ] {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    headers
}

/// A response header as text, when present and readable.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// The `Retry-After` of an answer in seconds: a number of seconds, or an HTTP date (the
/// seconds until then, 0 when it has passed).
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse() {
        return Some(seconds);
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map_or(0, |wait| wait.as_secs()),
    )
}

/// A request to `url` that got no answer: a TLS failure when it is one, else a transport
/// error.
fn transport_error(url: &str, error: &reqwest::Error) -> ClientError {
    tls_failure(url, error).unwrap_or_else(|| ClientError::Transport {
        url: url.to_owned(),
        reason: with_causes(error),
    })
}

/// `errors[0].detail` of a registry's JSON error body (`{"errors":[{"detail":"…"}]}`).
fn error_detail(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value
        .get("errors")?
        .get(0)?
        .get("detail")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_detail_reads_the_first_error() {
        assert_eq!(
            error_detail(r#"{"errors":[{"detail":"disk full"},{"detail":"later"}]}"#).as_deref(),
            Some("disk full")
        );
        assert_eq!(error_detail("<html>oops</html>"), None);
        assert_eq!(error_detail(r#"{"errors":[]}"#), None);
    }
}
