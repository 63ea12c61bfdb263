//! Reading a mirror copy's files: index files with cargo's caching headers, the origin's
//! whole file of each file a partial copy cut, blobs, and a version's checksum for the
//! download-by-version path.

use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::response::{Resp, bytes_response, empty};

/// Whether `path` is an index path a copy can hold: `/`-separated segments of ASCII letters,
/// digits, `-` and `_`, none empty (no `..`, no hidden files, nothing outside `index/`).
fn is_index_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Reads a file of the copy; `None` when it does not exist (or is not readable as a file).
async fn read(path: &Path) -> Option<Bytes> {
    tokio::fs::read(path).await.ok().map(Bytes::from)
}

/// Serves `<copy>/index/<path>` with `ETag` (its SHA-256), `Last-Modified` (its mtime) and
/// `Cache-Control: no-cache`; 304 for a matching `If-None-Match`, or `If-Modified-Since` when
/// no `If-None-Match` is sent; 404 when the copy has no such file.
pub(super) async fn index_file(
    copy: &Path,
    path: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    serve_file(copy, "index", path, headers).await
}

/// Serves `<copy>/origin/<path>` as `index_file` serves an index file: the origin's whole
/// index file for a file the copy holds with versions cut (`--roots`, `--lockfile`), byte
/// for byte, so a verifier proves it against the origin's signed snapshot; 404 when the copy
/// holds the origin's file as it is (or not at all).
pub(super) async fn origin_file(
    copy: &Path,
    path: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    serve_file(copy, ORIGIN_DIR, path, headers).await
}

/// The directory of a copy that holds the origin's whole file of each file it cut.
const ORIGIN_DIR: &str = "origin";

/// Serves `<copy>/<dir>/<path>` with the caching headers of an index file.
async fn serve_file(
    copy: &Path,
    dir: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<Resp, ApiError> {
    let missing =
        || ApiError::not_found(format!("no package at index path `{path}` in this mirror"));
    if !is_index_path(path) {
        return Err(missing());
    }
    let file = copy.join(dir).join(path);
    // The file is opened once, through `current`: its bytes and mtime are of one copy.
    let opened = tokio::fs::File::open(&file).await.map_err(|_| missing())?;
    let modified = opened
        .metadata()
        .await
        .ok()
        .and_then(|meta| meta.modified().ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut { opened }, &mut bytes)
        .await
        .map_err(|_| missing())?;
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let last_modified = httpdate::fmt_http_date(modified);
    let unchanged = match headers.get(header::IF_NONE_MATCH) {
        Some(tags) => tags
            .to_str()
            .unwrap_or_default()
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == etag || tag == "*"),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                httpdate::parse_http_date(&last_modified).is_ok_and(|at| at <= since)
            }),
    };
    let mut response = if unchanged {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        bytes_response(StatusCode::OK, "text/plain", Bytes::from(bytes))
    };
    let h = response.headers_mut();
    for (name, value) in [
        (header::ETAG, etag.as_str()),
        (header::LAST_MODIFIED, last_modified.as_str()),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            h.insert(name, value);
        }
    }
    Ok(response)
}

/// Serves `<copy>/blobs/sha256/<hex>`: immutable, cacheable forever; 404 when absent.
pub(super) async fn blob(copy: &Path, hex: &str, headers: &HeaderMap) -> Result<Resp, ApiError> {
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::not_found(format!(
            "`{hex}` is not a blob address: expected 64 lowercase hex digits of a SHA-256"
        )));
    }
    let etag = format!("\"{hex}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok(empty(StatusCode::NOT_MODIFIED));
    }
    let Some(bytes) = read(&copy.join("blobs/sha256").join(hex)).await else {
        return Err(ApiError::not_found(format!(
            "no blob with sha256 `{hex}` in this mirror"
        )));
    };
    let mut response = bytes_response(StatusCode::OK, "application/gzip", bytes);
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    Ok(response)
}

/// The `cksum` of `version` in the copy's index file at `path`, if it lists that version.
pub(super) async fn cksum_of(copy: &Path, path: &str, version: &str) -> Option<String> {
    if !is_index_path(path) {
        return None;
    }
    let bytes = read(&copy.join("index").join(path)).await?;
    String::from_utf8_lossy(&bytes).lines().find_map(|line| {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        (entry["vers"].as_str()? == version).then(|| entry["cksum"].as_str().map(str::to_owned))?
    })
}

#[cfg(test)]
mod tests {
    use super::is_index_path;

    #[test]
    fn only_index_paths_inside_the_copy_are_read() {
        for good in ["1/a", "2/ab", "3/a/abc", "se/rd/serde", "my/-c/my-crate_x"] {
            assert!(is_index_path(good), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/../../etc",
            ".wharf/bins/00",
            "a//b",
            "/etc/passwd",
            "a/b.json",
        ] {
            assert!(!is_index_path(bad), "{bad}");
        }
    }
}
