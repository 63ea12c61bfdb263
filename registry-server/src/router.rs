//! One place that maps requests to handlers, grouped by caller: the sparse index and
//! downloads (cargo's fetches), the cargo web API, and operations.
//!
//! The router takes any request body (hyper's `Incoming` from a connection, or a body built in
//! memory by the in-process tests), so everything but the socket is exercised without one.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;

use crate::audit::{AuditTarget, PeerAddr, PendingAudit};
use crate::connection::counters::Expiry;
use crate::connection::upload::{TimedBody, UploadTimedOut};
use crate::core_sharing;
use crate::error::ApiError;
use crate::handlers::{
    catalogue, download, entitlements, git, index, install_reports, keys, lifecycle, log, openapi,
    operations, owners, plugins, publish, recommendations, reviews, roles, search, teams, webhooks,
    yank,
};
use crate::metrics::Route;
use crate::response::Resp;
use crate::state::AppState;

/// Handles one request; never fails (errors become cargo-shaped JSON responses). The body may
/// be any [`Body`] of [`Bytes`] whose error converts into a boxed error: hyper's `Incoming`
/// when serving, `http_body_util::Full` in tests.
pub async fn handle<B>(state: Arc<AppState>, request: Request<B>) -> Result<Resp, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let start = Instant::now();
    core_sharing::count_request();
    state.metrics.count_version(request.version());
    let audit = PendingAudit::begin(&request);
    let (route, result) = dispatch(&state, request).await;
    let (response, detail) = match result {
        Ok(response) => (response, None),
        Err(error) => {
            let detail = error.detail().to_owned();
            (error.into_response(), Some(detail))
        }
    };
    let target = response.extensions().get::<AuditTarget>().cloned();
    audit
        .finish(&state, response.status(), target, detail.as_deref())
        .await;
    state
        .metrics
        .record(route, response.status().as_u16(), start.elapsed());
    Ok(response)
}

/// Answers a GET or HEAD of an index file on a public registry at once, while the request is
/// being read, or returns `None` when the request needs [`handle`]. This is the path cargo's
/// fetches take; it gives the same answers and counts the same metrics as [`handle`], without
/// building the router's state machine (which hyper would move into place for every request),
/// copying the request's method and URI for the audit log, or storing the peer address in the
/// request. A public registry's index reads are never written to the audit log (they cannot be
/// refused); with `auth-required` they go through [`handle`], which records refusals. `path` is
/// the request's path within the registry (a tenant's without its `/t/{tenant}` prefix).
pub(crate) fn answer_index_file_now<B>(
    state: &AppState,
    request: &Request<B>,
    path: &str,
) -> Option<Resp> {
    if state.config.auth_required
        || (request.method() != Method::GET && request.method() != Method::HEAD)
    {
        return None;
    }
    let rest = index_file_path(path)?;
    let start = Instant::now();
    core_sharing::count_request();
    state.metrics.count_version(request.version());
    let response =
        // A public registry: no token to check.
        index::serve_index_file(state, rest, request.headers())
            .unwrap_or_else(ApiError::into_response);
    state.metrics.record(
        Route::IndexFile,
        response.status().as_u16(),
        start.elapsed(),
    );
    Some(response)
}

/// The index file a registry path names (`/index/{rest}`), when it is one the cache holds:
/// not `config.json`, the signed timestamp, the lifecycle feed or the log's bins, which have
/// handlers of their own.
pub(crate) fn index_file_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/index/")?;
    let own_handler = rest == "config.json"
        || rest == log::TIMESTAMP_PATH
        || rest == lifecycle::FEED_PATH
        || rest.starts_with(log::BINS_PATH);
    (!own_handler).then_some(rest)
}

async fn dispatch<B>(state: &AppState, request: Request<B>) -> (Route, Result<Resp, ApiError>)
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let is_get = request.method() == Method::GET || request.method() == Method::HEAD;

    // Sparse index: the hot path, matched first, borrowing the path rather than copying it.
    if let Some(rest) = request.uri().path().strip_prefix("/index/") {
        if !is_get {
            let error = method_not_allowed(request.method(), request.uri().path());
            return (Route::IndexFile, Err(error));
        }
        if rest == "config.json" {
            return (
                Route::Config,
                index::config_json(state, request.headers()).await,
            );
        }
        if rest == log::TIMESTAMP_PATH {
            return (Route::Log, log::timestamp(state, request.headers()).await);
        }
        if rest == lifecycle::FEED_PATH {
            return (
                Route::Log,
                crate::handlers::lifecycle_feed::feed(state, request.headers()).await,
            );
        }
        if let Some(bin) = rest.strip_prefix(log::BINS_PATH) {
            return (Route::Log, log::bins(state, request.headers(), bin).await);
        }
        return (
            Route::IndexFile,
            index::index_file(state, rest, request.headers()).await,
        );
    }
    // The other routes may consume the request (bodies), so they work on owned copies.
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if let Some(hex) = path.strip_prefix("/blobs/sha256/") {
        if !is_get {
            return (Route::Download, Err(method_not_allowed(&method, &path)));
        }
        return (
            Route::Download,
            download::blob(state, hex, request.headers()).await,
        );
    }
    if let Some(rest) = path.strip_prefix(git::PREFIX) {
        return (
            Route::GitIndex,
            git_index(state, request, &method, rest).await,
        );
    }
    if let Some(rest) = path.strip_prefix("/api/v1/crates") {
        return api(state, request, &method, rest).await;
    }
    if is_access_path(&path) {
        return (
            Route::Other,
            access_route(state, request, &method, &path).await,
        );
    }
    if path.starts_with(WHARF_API) {
        return wharf_api(state, request, &method, &path).await;
    }
    if crate::web::is_web_path(&path) {
        return (Route::Other, Ok(crate::web::handle(state, request).await));
    }
    match (is_get, path.as_str()) {
        (true, "/health") => (Route::Operations, Ok(operations::health())),
        (true, "/ready") => (Route::Operations, Ok(operations::ready(state))),
        (true, "/metrics") => (Route::Operations, Ok(operations::metrics(state))),
        (true, "/me") => (Route::Operations, Ok(operations::me(state))),
        _ => (
            Route::Other,
            Err(ApiError::not_found(format!(
                "no such endpoint: {method} {path}"
            ))),
        ),
    }
}

/// The read-only endpoints about the registry itself (its usage and plan, its entitlement
/// keys); `None` for any other path.
async fn registry_facts(
    state: &AppState,
    headers: &http::HeaderMap,
    method: &Method,
    path: &str,
) -> Option<Result<Resp, ApiError>> {
    let is_usage = path == crate::handlers::usage::PATH;
    if !is_usage && path != entitlements::PATH {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        return Some(Err(method_not_allowed(method, path)));
    }
    Some(if is_usage {
        crate::handlers::usage::usage(state, headers).await
    } else {
        entitlements::info(state, headers).await
    })
}

/// The prefix of Wharf's own API (keys, plugins, entitlements, log, catalogue, OpenAPI).
const WHARF_API: &str = "/api/wharf/";

/// Wharf's own API under [`WHARF_API`]; anything else there is a 404 naming the endpoint.
async fn wharf_api<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    path: &str,
) -> (Route, Result<Resp, ApiError>)
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let is_get = method == Method::GET || method == Method::HEAD;
    if let Some(rest) = path.strip_prefix(keys::PREFIX)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let headers = request.headers().clone();
        let body = if method == Method::POST {
            match read_body(state, request).await {
                Ok(body) => body,
                Err(e) => return (Route::Other, Err(e)),
            }
        } else {
            Bytes::new()
        };
        return (
            Route::Other,
            keys::route(state, &headers, method, rest, &body).await,
        );
    }
    if let Some(name) = path.strip_prefix(plugins::PREFIX) {
        if !is_get {
            return (Route::Search, Err(method_not_allowed(method, path)));
        }
        return (
            Route::Search,
            plugins::plugin(state, request.headers(), name).await,
        );
    }
    if let Some(answer) = registry_facts(state, request.headers(), method, path).await {
        return (Route::Other, answer);
    }
    if let Some(rest) = path.strip_prefix(log::PREFIX) {
        if !is_get {
            return (Route::Log, Err(method_not_allowed(method, path)));
        }
        let query = request.uri().query();
        return (
            Route::Log,
            log::route(state, request.headers(), rest, query).await,
        );
    }
    if path == install_reports::PATH {
        return (
            Route::Other,
            install_report(state, request, method, path).await,
        );
    }
    if let Some(name) = path
        .strip_prefix(recommendations::PREFIX)
        .and_then(|rest| rest.strip_suffix(recommendations::SUFFIX))
        .filter(|name| !name.is_empty() && !name.contains('/'))
    {
        if !is_get {
            return (Route::Search, Err(method_not_allowed(method, path)));
        }
        let name = match decode_segment(name) {
            Ok(name) => name,
            Err(e) => return (Route::Search, Err(e)),
        };
        return (
            Route::Search,
            recommendations::recommendations(state, request.headers(), &name).await,
        );
    }
    if path == lifecycle::ADVISORIES_PATH
        || path.starts_with(lifecycle::PACKAGES_PREFIX)
        || path == webhooks::PATH
        || path == webhooks::DELIVERIES_PATH
        || path == webhooks::RETRY_PATH
    {
        return (
            Route::Other,
            lifecycle_route(state, request, method, path).await,
        );
    }
    if let Some(rest) = path.strip_prefix(catalogue::PREFIX) {
        let rest = rest.to_owned();
        return catalogue_route(state, request, method, &rest).await;
    }
    if path == openapi::PATH && is_get {
        return (Route::Search, Ok(openapi::document()));
    }
    (
        Route::Other,
        Err(ApiError::not_found(format!(
            "no such endpoint: {method} {path}"
        ))),
    )
}

/// `POST /api/wharf/v1/install-reports`: an install set reported by `wharf install` (opt-in).
async fn install_report<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    path: &str,
) -> Result<Resp, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    if method != Method::POST {
        return Err(method_not_allowed(method, path));
    }
    let headers = request.headers().clone();
    let peer = request
        .extensions()
        .get::<PeerAddr>()
        .map(|peer| peer.0.ip());
    let body = read_small_body(state, request, install_reports::MAX_BODY_BYTES).await?;
    install_reports::report(state, &headers, peer, &body).await
}

/// The git export under `/git/index`: refused requests are answered before a body is read.
async fn git_index<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    rest: &str,
) -> Result<Resp, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let query = request.uri().query().map(str::to_owned);
    let kind = git::classify(state, method, rest, query.as_deref())?;
    git::check_reader(state, request.headers()).await?;
    let headers = request.headers().clone();
    let body = match kind {
        git::GitRequest::UploadPack => read_body(state, request).await?,
        git::GitRequest::Read => Bytes::new(),
    };
    git::serve(state, method, rest, query.as_deref(), &headers, body).await
}

/// The cargo web API under `/api/v1/crates`.
async fn api<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    rest: &str,
) -> (Route, Result<Resp, ApiError>)
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let segments: Vec<String> = match rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect::<Result<_, _>>()
    {
        Ok(segments) => segments,
        Err(e) => return (Route::Other, Err(e)),
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let headers = request.headers().clone();
    let query = request.uri().query().map(str::to_owned);
    match (method, segments.as_slice()) {
        (&Method::GET, []) => (
            Route::Search,
            search::search(state, &headers, query.as_deref()).await,
        ),
        (&Method::PUT, ["new"]) => {
            let body = match read_body(state, request).await {
                Ok(body) => body,
                Err(e) => return (Route::Publish, Err(e)),
            };
            (
                Route::Publish,
                publish::publish(state, &headers, body).await,
            )
        }
        (&Method::GET | &Method::HEAD, [name, version, "download"]) => (
            Route::Download,
            download::by_version(state, name, version, &headers).await,
        ),
        (&Method::DELETE, [name, version, "yank"]) => (
            Route::Yank,
            yank::set_yanked(state, &headers, name, version, true).await,
        ),
        (&Method::PUT, [name, version, "unyank"]) => (
            Route::Yank,
            yank::set_yanked(state, &headers, name, version, false).await,
        ),
        (&Method::GET, [name, "owners"]) => {
            (Route::Owners, owners::list(state, &headers, name).await)
        }
        (&Method::PUT | &Method::DELETE, [name, "owners"]) => {
            let add = method == Method::PUT;
            let body = match read_body(state, request).await {
                Ok(body) => body,
                Err(e) => return (Route::Owners, Err(e)),
            };
            (
                Route::Owners,
                owners::change(state, &headers, name, &body, add).await,
            )
        }
        _ => (
            Route::Other,
            Err(ApiError::not_found(format!(
                "no such endpoint: {method} /api/v1/crates{rest}"
            ))),
        ),
    }
}

/// Whether `path` is one of the users, tokens, audit or teams endpoints.
fn is_access_path(path: &str) -> bool {
    [
        roles::USERS_PATH,
        roles::TOKENS_PATH,
        roles::AUDIT_PATH,
        teams::PATH,
        crate::handlers::usage::PLAN_PATH,
    ]
    .iter()
    .any(|base| {
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Users' roles, tokens, the audit log and teams (`handlers/roles.rs`, `handlers/teams.rs`).
async fn access_route<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    path: &str,
) -> Result<Resp, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let headers = request.headers().clone();
    let query = request.uri().query().map(str::to_owned);
    let body = if method == Method::GET || method == Method::HEAD {
        Bytes::new()
    } else {
        read_small_body(state, request, roles::MAX_BODY_BYTES).await?
    };
    let segments: Vec<String> = path
        .trim_start_matches("/api/wharf/v1/")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect::<Result<_, _>>()?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if path.starts_with(teams::PATH) {
        return teams::route(state, &headers, method, path, &segments, &body).await;
    }
    if path == crate::handlers::usage::PLAN_PATH {
        return crate::handlers::usage::set_plan(state, &headers, method, &body).await;
    }
    roles::route(
        state,
        &headers,
        method,
        path,
        &segments,
        query.as_deref(),
        &body,
    )
    .await
}

/// Deprecations, quarantines and advisories (`handlers/lifecycle.rs`).
async fn lifecycle_route<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    path: &str,
) -> Result<Resp, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let headers = request.headers().clone();
    let body = if method == Method::GET || method == Method::HEAD {
        Bytes::new()
    } else {
        read_small_body(state, request, lifecycle::MAX_BODY_BYTES).await?
    };
    if path == lifecycle::ADVISORIES_PATH {
        return lifecycle::advisories(state, &headers, method, &body).await;
    }
    if path == webhooks::PATH || path == webhooks::DELIVERIES_PATH || path == webhooks::RETRY_PATH {
        return webhooks::route(state, &headers, method, path, &body).await;
    }
    let rest = path
        .strip_prefix(lifecycle::PACKAGES_PREFIX)
        .unwrap_or_default();
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect::<Result<_, _>>()?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    lifecycle::packages(state, &headers, method, &segments, &body).await
}

/// The catalogue under `/api/wharf/v1/catalogue/`: reads count as searches, review writes
/// as other requests.
async fn catalogue_route<B>(
    state: &AppState,
    request: Request<B>,
    method: &Method,
    rest: &str,
) -> (Route, Result<Resp, ApiError>)
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let segments: Vec<String> = match rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect::<Result<_, _>>()
    {
        Ok(segments) => segments,
        Err(e) => return (Route::Other, Err(e)),
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let headers = request.headers().clone();
    let query = request.uri().query().map(str::to_owned);
    match (method, segments.as_slice()) {
        (&Method::GET, ["search"]) => (
            Route::Search,
            catalogue::search(state, &headers, query.as_deref()).await,
        ),
        (&Method::GET, ["packages", name]) => (
            Route::Search,
            catalogue::package(state, &headers, name).await,
        ),
        (&Method::GET, ["packages", name, "downloads"]) => (
            Route::Search,
            catalogue::downloads(state, &headers, name).await,
        ),
        (_, ["packages", name, "reviews", rest @ ..]) => {
            let body = if method == Method::GET {
                Bytes::new()
            } else {
                match read_small_body(state, request, reviews::MAX_BODY_BYTES).await {
                    Ok(body) => body,
                    Err(e) => return (Route::Other, Err(e)),
                }
            };
            (
                Route::Other,
                reviews::route(state, &headers, method, name, rest, &body).await,
            )
        }
        _ => (
            Route::Other,
            Err(ApiError::not_found(format!(
                "no such endpoint: {method} {}{rest}",
                catalogue::PREFIX
            ))),
        ),
    }
}

/// Reads a small request body (at most `limit` bytes; 413 beyond), with the same stall
/// timeouts as uploads.
pub(crate) async fn read_small_body<B>(
    state: &AppState,
    request: Request<B>,
    limit: u64,
) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes; send less"),
        )
    };
    if request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|declared| declared > limit)
    {
        return Err(too_large());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = TimedBody::new(Box::pin(request.into_body()), &state.config.connections);
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) if e.is::<UploadTimedOut>() => {
            state.metrics.connections.expired(Expiry::Body);
            Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, e.to_string()))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// Reads a request body, refusing (413) anything over the upload limit before reading it, and
/// (408) an upload that stalls or goes slower than the configured minimum.
async fn read_body<B>(state: &AppState, request: Request<B>) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let limit = publish::max_body_len(state);
    if let Some(declared) = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && declared > limit
    {
        return Err(publish::too_large(
            state,
            publish::UploadSize::Declared(declared),
        ));
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = TimedBody::new(Box::pin(request.into_body()), &state.config.connections);
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(publish::too_large(
            state,
            publish::UploadSize::MoreThan(limit),
        )),
        Err(e) if e.is::<UploadTimedOut>() => {
            let timed_out = e.to_string();
            state.metrics.connections.expired(Expiry::Body);
            tracing::warn!("upload answered with 408 and its connection closed: {timed_out}");
            Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, timed_out))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// Percent-decodes one path segment (`1.0.0%2Bbuild` → `1.0.0+build`); a literal `+` stays `+`.
fn decode_segment(segment: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            ApiError::bad_request(format!("the path segment `{segment}` is not valid UTF-8"))
        })
}

/// 405 for the read-only trees (index files, blobs), with the `Allow` header RFC 9110 asks for.
fn method_not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}; use GET"),
    )
    .with_header(http::header::ALLOW, "GET, HEAD")
}
