//! The web UI served at `/`: server-rendered HTML pages (home, search, package and publisher
//! pages; login, the signed-in user's account page and the administrator's view) built with
//! `minijinja` templates from the same storage and catalogue functions the JSON API uses.
//!
//! Every page is readable with JavaScript off. Responses carry a strict Content Security
//! Policy (`default-src 'self'`, no inline scripts or styles): the stylesheet and the one
//! script are static files under [`assets::PREFIX`] with content-hashed names. Forms are
//! protected by a per-session CSRF token ([`session`]). Design notes: `docs/web-ui.md`.
//!
//! A tenant's pages are the same pages under `/t/{tenant}/` ([`handle_under`]): every link,
//! form, redirect and cookie path carries that prefix ([`base`]), and the pages read only the
//! tenant's storage.

mod account;
mod assets;
mod chart;
mod forms;
mod package;
mod pages;
mod response;
mod session;
mod templates;
mod tokens;

use std::error::Error as StdError;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use hyper::body::Body;

use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// The largest form body the web UI reads.
const MAX_FORM_BYTES: u64 = 16 * 1024;

tokio::task_local! {
    /// The path prefix of the registry whose pages are being rendered (`/t/acme`; empty for
    /// the default registry).
    static BASE: String;
}

/// The path prefix of the pages being rendered: `/t/{tenant}` under a tenant, empty for the
/// default registry.
pub(crate) fn base() -> String {
    BASE.try_with(Clone::clone).unwrap_or_default()
}

/// Runs `answer` (a request's handling) with the pages' links, forms, redirects and cookies
/// under `base` (`/t/{tenant}`).
pub(crate) async fn under<F: std::future::Future>(base: String, answer: F) -> F::Output {
    BASE.scope(base, answer).await
}

/// The HTML error page of `error` with its links under `base` (`/t/{tenant}`).
pub(crate) fn error_page_under(base: String, error: &ApiError) -> Resp {
    BASE.sync_scope(base, || response::error_page(error))
}

/// Whether `path` belongs to the web UI (every other path keeps its cargo or API meaning).
pub(crate) fn is_web_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/search" | "/login" | "/logout" | "/account" | "/admin"
    ) || path.starts_with("/account/tokens")
        || path.starts_with("/packages/")
        || path.starts_with("/publishers/")
        || path.starts_with(assets::PREFIX)
}

/// Answers one web UI request; errors become HTML pages with their status.
pub(crate) async fn handle<B>(state: &AppState, request: Request<B>) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    let is_get = method == Method::GET || method == Method::HEAD;
    if let Some(name) = path.strip_prefix(assets::PREFIX) {
        return if is_get {
            assets::serve(name, &headers)
        } else {
            response::error_page(&not_allowed(&method, &path, "GET"))
        };
    }
    let result = if is_get {
        get(state, &path, query.as_deref(), &headers).await
    } else if method == Method::POST {
        match crate::router::read_small_body(state, request, MAX_FORM_BYTES).await {
            Ok(body) => forms::post(state, &path, &headers, &body).await,
            Err(error) => Err(error),
        }
    } else {
        Err(not_allowed(&method, &path, "GET or POST"))
    };
    result.unwrap_or_else(|error| response::error_page(&error))
}

/// The GET pages.
async fn get(
    state: &AppState,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    let viewer = session::viewer(state, headers).await;
    if path == "/login" {
        return account::login_form(viewer.as_ref(), None, StatusCode::OK);
    }
    session::require_reader(state, viewer.as_ref())?;
    match path {
        "/" => pages::home(state, viewer.as_ref()).await,
        "/search" => pages::search(state, viewer.as_ref(), query).await,
        "/account" => account::account(state, viewer.as_ref()).await,
        "/admin" => account::admin(state, viewer.as_ref()).await,
        _ => {
            if let Some(name) = path.strip_prefix("/packages/") {
                let name = decode(name)?;
                return package::page(state, viewer.as_ref(), &name).await;
            }
            if let Some(login) = path.strip_prefix("/publishers/") {
                let login = decode(login)?;
                return pages::publisher(state, viewer.as_ref(), &login).await;
            }
            Err(ApiError::not_found(format!("no such page: {path}")))
        }
    }
}

/// Percent-decodes one path segment; a segment with a `/` in it is no page.
fn decode(segment: &str) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| {
            ApiError::bad_request(format!("the path segment `{segment}` is not valid UTF-8"))
        })?;
    if decoded.is_empty() || decoded.contains('/') {
        return Err(ApiError::not_found(format!("no such page: {segment}")));
    }
    Ok(decoded.into_owned())
}

/// 405 naming the methods the path takes.
fn not_allowed(method: &Method, path: &str, allowed: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}; use {allowed}"),
    )
}
