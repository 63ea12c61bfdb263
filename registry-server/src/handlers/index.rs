//! `GET /index/config.json` and `GET /index/{path}`: the sparse index.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::auth;
use crate::error::ApiError;
use crate::index_cache::CachedIndexFile;
use crate::response::{Resp, bytes_response, empty};
use crate::state::AppState;

/// Serves `config.json`. On an `auth-required` registry the anonymous probe gets 401 with
/// `WWW-Authenticate: Cargo login_url=…` (never 403), which makes cargo retry with its token.
pub(crate) async fn config_json(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
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

/// Serves one index file to a reader the registry admits ([`auth::reader`]).
pub(crate) async fn index_file(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    serve_index_file(state, path, headers)
}

/// Serves one index file from the in-memory cache, honouring `If-None-Match` or, when that is
/// absent, `If-Modified-Since`, and gzip when the client accepts it. Unknown names are 404.
/// Checks no token: for [`index_file`], and for a public registry's index as it is.
pub(crate) fn serve_index_file(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    let Some(file) = state.cache.get(path) else {
        return Err(ApiError::not_found(format!(
            "no package at index path `{path}`"
        )));
    };
    let choice = Conditions::of(headers).choose(&file);
    if choice.not_modified {
        // A 304 carries the caching fields a 200 would (RFC 9110 §15.4.5), so a proxy or
        // CDN that revalidates keeps the same rules for the copy it holds.
        let mut response = empty(StatusCode::NOT_MODIFIED);
        *response.headers_mut() = if choice.gzip {
            file.headers.not_modified_gzip.clone()
        } else {
            file.headers.not_modified.clone()
        };
        return Ok(response);
    }
    let gzip = choice.gzip;
    let (body, prepared) = match &file.gzip {
        Some(gz) if gzip => (gz.clone(), &file.headers.ok_gzip),
        _ => (file.bytes.clone(), &file.headers.ok),
    };
    state.metrics.count_index_bytes(body.len());
    let mut response = Response::new(crate::response::Body::full(body));
    *response.headers_mut() = prepared.clone();
    Ok(response)
}

/// Which of an index file's prepared answers a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    /// 304 rather than 200.
    pub(crate) not_modified: bool,
    /// The gzip representation rather than the identity one.
    pub(crate) gzip: bool,
}

/// The request headers an index file's answer depends on (the first value of each), found in
/// one pass over the request's headers (a request carries a handful; looking each name up
/// hashes it).
#[derive(Debug, Default)]
pub(crate) struct Conditions<'a> {
    /// `If-None-Match`.
    pub(crate) if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub(crate) if_modified_since: Option<&'a [u8]>,
    /// `Accept-Encoding`.
    pub(crate) accept_encoding: Option<&'a [u8]>,
}

impl<'a> Conditions<'a> {
    /// The first value of each of the three headers, as `HeaderMap::get` would give it.
    fn of(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = if name == header::IF_NONE_MATCH {
                &mut found.if_none_match
            } else if name == header::IF_MODIFIED_SINCE {
                &mut found.if_modified_since
            } else if name == header::ACCEPT_ENCODING {
                &mut found.accept_encoding
            } else {
                continue;
            };
            slot.get_or_insert(value.as_bytes());
        }
        found
    }

    /// The answer `file` gets under these conditions.
    pub(crate) fn choose(&self, file: &CachedIndexFile) -> Choice {
        Choice {
            not_modified: self.not_modified(file),
            gzip: file.gzip.is_some() && self.accept_encoding.is_some_and(accepts_gzip_value),
        }
    }

    /// `If-None-Match` wins when present (RFC 9110 §13.2.2); `If-Modified-Since` alone also
    /// works.
    fn not_modified(&self, file: &CachedIndexFile) -> bool {
        if let Some(tags) = self.if_none_match {
            return file.matches_if_none_match(tags);
        }
        if let Some(since) = self.if_modified_since {
            return modified_no_later_than(file, since);
        }
        false
    }
}

/// Whether `file` was last modified at or before the `If-Modified-Since` date `since` (false
/// when the date does not parse).
fn modified_no_later_than(file: &CachedIndexFile, since: &[u8]) -> bool {
    let Some(since) = std::str::from_utf8(since)
        .ok()
        .and_then(|s| httpdate::parse_http_date(s).ok())
    else {
        return false;
    };
    let since = since
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    file.last_modified_unix <= since
}

/// Whether an `Accept-Encoding` value lists gzip with a non-zero quality.
fn accepts_gzip_value(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
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
        let accepts = |value: &'static str| accepts_gzip_value(value.as_bytes());
        assert!(accepts("deflate, gzip"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0, br"));
        assert!(!accepts("br"));
        assert!(Conditions::of(&HeaderMap::new()).accept_encoding.is_none());
    }

    #[test]
    fn conditions_take_the_first_value_of_each_header() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example.org"));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\""));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"b\""));
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let found = Conditions::of(&headers);
        let first = |name| headers.get(name).map(HeaderValue::as_bytes);
        assert_eq!(found.if_none_match, Some(&b"\"a\""[..]));
        assert_eq!(found.if_modified_since, first(header::IF_MODIFIED_SINCE));
        assert_eq!(found.accept_encoding, first(header::ACCEPT_ENCODING));
    }
}
