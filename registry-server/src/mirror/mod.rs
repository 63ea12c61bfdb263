//! Serving a mirror copy: the directory `wharf mirror sync` (or `wharf bundle import`) keeps
//! at `<data>/current`, a symbolic link switched by one rename to each finished copy.
//!
//! Every request opens its file through `current`, so the copy a finished sync switched in is
//! served from the next request on, without a restart, and a request never sees half of
//! one. The copy is read-only: publish, yank, unyank and owner changes are answered 405
//! (`Allow: GET, HEAD`) with a message naming the upstream the copy came from. Index files
//! carry an `ETag` (the SHA-256 of their bytes) and `Last-Modified` and answer 304 to a
//! matching `If-None-Match`/`If-Modified-Since`; a missing file is 404, never 403.
//! `config.json` is the serving server's own, so downloads come here too. A partial copy
//! serves, for each file it cut (`--roots`, `--lockfile`), the origin's whole file at
//! `/index/.wharf/origin/<index path>`, so a verifier proves the cut file against the
//! origin's signed snapshot.

mod files;
mod premium;
mod signed;

pub use premium::{MIRROR_ENTITLEMENTS, MirrorEntitlements};

use std::convert::Infallible;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use hyper::body::Body;
use serde::{Deserialize, Serialize};
use wharf_index_format::{RegistryConfig, index_path};

use crate::connection::ConnectionLimits;
use crate::error::ApiError;
use crate::metrics::{Metrics, Route};
use crate::response::{Resp, bytes_response};

/// The file in a copy's root that says where the copy came from ([`MirrorRecord`]).
pub const MIRROR_RECORD: &str = "mirror.json";

/// What a copy records about its origin, in `<copy>/mirror.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorRecord {
    /// The upstream's index URL as the sync was given it (`sparse+https://…/index/`,
    /// `git+https://…`, a path), or where a bundle came from.
    pub upstream: String,
}

/// A mirror directory being served.
#[derive(Debug)]
pub struct MirrorState {
    data: PathBuf,
    config_json: Bytes,
    /// Timeouts and the cap on open connections.
    pub(crate) connections: ConnectionLimits,
    /// Counters for `/metrics`.
    pub(crate) metrics: Metrics,
    /// The served copy's log leaves and tree.
    log: signed::LogCache,
}

impl MirrorState {
    /// Serves `<data>/current` as a registry reached at `public_url` (its `config.json`
    /// sends downloads and the API there).
    pub fn new(data: PathBuf, public_url: &str, connections: ConnectionLimits) -> Self {
        let config_json = Bytes::from(RegistryConfig::for_public_url(public_url, false).to_json());
        Self {
            data,
            config_json,
            connections,
            metrics: Metrics::default(),
            log: signed::LogCache::default(),
        }
    }

    /// The served copy: `<data>/current`, resolved again by every request.
    pub fn current(&self) -> PathBuf {
        self.data.join("current")
    }

    /// The upstream the served copy records, if it records one.
    fn upstream(&self) -> Option<String> {
        let bytes = std::fs::read(self.current().join(MIRROR_RECORD)).ok()?;
        serde_json::from_slice::<MirrorRecord>(&bytes)
            .ok()
            .map(|record| record.upstream)
    }
}

/// Handles one request to a mirror; never fails (errors become cargo-shaped JSON).
pub(crate) async fn handle<B>(
    state: Arc<MirrorState>,
    request: Request<B>,
) -> Result<Resp, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let start = Instant::now();
    state.metrics.count_version(request.version());
    let (route, result) = dispatch(
        &state,
        request.method(),
        request.uri().path(),
        request.uri().query(),
        request.headers(),
    )
    .await;
    let response = result.unwrap_or_else(ApiError::into_response);
    state
        .metrics
        .record(route, response.status().as_u16(), start.elapsed());
    Ok(response)
}

async fn dispatch(
    state: &MirrorState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> (Route, Result<Resp, ApiError>) {
    let is_get = method == Method::GET || method == Method::HEAD;
    if let Some(rest) = path.strip_prefix("/index/")
        && rest.starts_with(".wharf/")
    {
        if !is_get {
            return (Route::Log, Err(read_only(state, method, path)));
        }
        let current = state.current();
        if let Some(origin) = rest.strip_prefix(".wharf/origin/") {
            return (
                Route::IndexFile,
                files::origin_file(&current, origin, headers).await,
            );
        }
        return match signed::index_path(&current, rest, headers).await {
            Some(result) => (Route::Log, result),
            None => (
                Route::IndexFile,
                Err(ApiError::not_found(format!(
                    "no package at index path `{rest}` in this mirror"
                ))),
            ),
        };
    }
    if let Some(rest) = path.strip_prefix(signed::LOG_PREFIX) {
        if !is_get {
            return (Route::Log, Err(read_only(state, method, path)));
        }
        let current = state.current();
        return (
            Route::Log,
            signed::log(&state.log, &current, rest, query).await,
        );
    }
    if let Some(rest) = path.strip_prefix("/index/") {
        let route = if rest == "config.json" {
            Route::Config
        } else {
            Route::IndexFile
        };
        if !is_get {
            return (route, Err(read_only(state, method, path)));
        }
        if rest == "config.json" {
            return (route, Ok(config_json(state)));
        }
        return (
            route,
            files::index_file(&state.current(), rest, headers).await,
        );
    }
    if let Some(hex) = path.strip_prefix("/blobs/sha256/") {
        if !is_get {
            return (Route::Download, Err(read_only(state, method, path)));
        }
        let current = state.current();
        if let Err(refused) = premium::check_download(&current, hex, headers).await {
            return (Route::Download, Err(refused));
        }
        return (Route::Download, files::blob(&current, hex, headers).await);
    }
    if let Some(rest) = path.strip_prefix("/api/v1/crates") {
        return api(state, method, path, rest, headers).await;
    }
    match (is_get, path) {
        (true, premium::PATH) => (Route::Other, premium::info(&state.current()).await),
        (true, "/health") => (Route::Operations, Ok(text(StatusCode::OK, "ok\n"))),
        (true, "/ready") => (Route::Operations, Ok(ready(state))),
        (true, "/metrics") => (
            Route::Operations,
            Ok(bytes_response(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                Bytes::from(state.metrics.render()),
            )),
        ),
        _ => (
            Route::Other,
            Err(ApiError::not_found(format!(
                "no such endpoint on this mirror: {method} {path}"
            ))),
        ),
    }
}

/// The cargo web API: downloads by name and version are served; every change is refused.
async fn api(
    state: &MirrorState,
    method: &Method,
    path: &str,
    rest: &str,
    headers: &HeaderMap,
) -> (Route, Result<Resp, ApiError>) {
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let is_get = method == Method::GET || method == Method::HEAD;
    let route = match segments.as_slice() {
        ["new"] => Route::Publish,
        [_, _, "yank" | "unyank"] => Route::Yank,
        [_, "owners"] => Route::Owners,
        [_, _, "download"] => Route::Download,
        _ => Route::Other,
    };
    match (is_get, segments.as_slice()) {
        (true, [name, version, "download"]) => {
            let current = state.current();
            let found = files::cksum_of(&current, &index_path(name), version).await;
            let result = match found {
                Some(cksum) => match premium::check_download(&current, &cksum, headers).await {
                    Ok(()) => files::blob(&current, &cksum, headers).await,
                    Err(refused) => Err(refused),
                },
                None => Err(ApiError::not_found(format!(
                    "crate `{name}` has no version `{version}` in this mirror"
                ))),
            };
            (route, result)
        }
        (false, _) if route != Route::Other => (route, Err(read_only(state, method, path))),
        _ => (
            route,
            Err(ApiError::not_found(format!(
                "no such endpoint on this mirror: {method} {path}"
            ))),
        ),
    }
}

/// The answer to any change: 405 with `Allow: GET, HEAD` and the upstream to go to.
fn read_only(state: &MirrorState, method: &Method, path: &str) -> ApiError {
    let upstream = state
        .upstream()
        .map_or_else(|| "its upstream".to_owned(), |url| format!("`{url}`"));
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} {path} is refused: this server is a read-only mirror of {upstream}; publish, yank and change owners there, and the next `wharf mirror sync` brings the change here"
        ),
    )
    .with_header(http::header::ALLOW, "GET, HEAD")
}

fn config_json(state: &MirrorState) -> Resp {
    let mut response = bytes_response(
        StatusCode::OK,
        "application/json",
        state.config_json.clone(),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    response
}

/// Ready once a copy is switched in.
fn ready(state: &MirrorState) -> Resp {
    if Path::new(&state.current()).join("index").is_dir() {
        text(StatusCode::OK, "ready\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "no copy synced yet\n")
    }
}

fn text(status: StatusCode, body: &'static str) -> Resp {
    bytes_response(status, "text/plain", Bytes::from_static(body.as_bytes()))
}
