//! `GET /index/config.json` and `GET /index/{path}`: the sparse index.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::auth;
use crate::error::ApiError;
use crate::index_cache::CachedIndexFile;
use crate::response::{Resp, bytes_response, empty};
use crate::state::AppState;

/// Serves `config.json`. On an `auth-required` registry the anonymous probe gets 401 with
/// `WWW-Authenticate: Cargo login_url=…` (never 403), which makes cargo retry with its token.
pub(crate) fn config_json(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::reader(state, headers)?;
    let mut response = bytes_response(
        StatusCode::OK,
        "application/json",
        state.config_json.clone(),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Serves one index file from the in-memory cache, honouring `If-None-Match` or, when that is
/// absent, `If-Modified-Since`, and gzip when the client accepts it. Unknown names are 404.
pub(crate) fn index_file(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers)?;
    let Some(file) = state.cache.get(path) else {
        return Err(ApiError::not_found(format!(
            "no package at index path `{path}`"
        )));
    };
    let gzip = file.gzip.is_some() && accepts_gzip(headers);
    if not_modified(&file, headers) {
        // A 304 carries the caching fields a 200 would (RFC 9110 §15.4.5), so a proxy or
        // CDN that revalidates keeps the same rules for the copy it holds.
        let mut response = empty(StatusCode::NOT_MODIFIED);
        *response.headers_mut() = if gzip {
            file.headers.not_modified_gzip.clone()
        } else {
            file.headers.not_modified.clone()
        };
        return Ok(response);
    }
    let (body, prepared) = match &file.gzip {
        Some(gz) if gzip => (gz.clone(), &file.headers.ok_gzip),
        _ => (file.bytes.clone(), &file.headers.ok),
    };
    state.metrics.count_index_bytes(body.len());
    let mut response = Response::new(Full::new(body));
    *response.headers_mut() = prepared.clone();
    Ok(response)
}

/// `If-None-Match` wins when present (RFC 9110 §13.2.2); `If-Modified-Since` alone also works.
fn not_modified(file: &CachedIndexFile, headers: &HeaderMap) -> bool {
    if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
        return file.matches_if_none_match(tags.as_bytes());
    }
    if let Some(since) = headers.get(header::IF_MODIFIED_SINCE) {
        let Some(since) = since
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
        else {
            return false;
        };
        let since = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return file.last_modified_unix <= since;
    }
    false
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let zero_quality = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_quality
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, gzip"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&headers));
    }
}
