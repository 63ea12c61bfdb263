//! The web UI's static files: one stylesheet and one script, embedded in the binary and served
//! under names that carry the first 16 hex digits of their SHA-256 (`wharf.3f…a1.css`), so
//! they are cached for a year and a new build changes the name. Each also has an ETag.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use super::response;
use crate::error::ApiError;
use crate::response::{Resp, bytes_response, empty};

/// Where the static files are served.
pub(crate) const PREFIX: &str = "/static/";

const STYLESHEET: &str = include_str!("static/wharf.css");
const SCRIPT: &str = include_str!("static/wharf.js");

/// One embedded file under its hashed name.
struct Asset {
    name: String,
    etag: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Self {
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        let short = &digest[..16];
        Self {
            name: format!("{stem}.{short}.{extension}"),
            etag: format!("\"{digest}\""),
            content_type,
            body,
        }
    }
}

fn assets() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            Asset::new("wharf", "css", "text/css; charset=utf-8", STYLESHEET),
            Asset::new("wharf", "js", "text/javascript; charset=utf-8", SCRIPT),
        ]
    })
}

/// The URL of the stylesheet.
pub(crate) fn stylesheet_url() -> String {
    format!("{PREFIX}{}", assets()[0].name)
}

/// The URL of the script.
pub(crate) fn script_url() -> String {
    format!("{PREFIX}{}", assets()[1].name)
}

/// Serves the file called `name` (its hashed name), or 304 when the client's ETag matches.
pub(crate) fn serve(name: &str, headers: &HeaderMap) -> Resp {
    let Some(asset) = assets().iter().find(|asset| asset.name == name) else {
        return response::error_page(&ApiError::not_found(format!(
            "no static file {PREFIX}{name}; pages name the current files"
        )));
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == asset.etag));
    let mut answer = if matches {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        bytes_response(
            StatusCode::OK,
            asset.content_type,
            Bytes::from_static(asset.body.as_bytes()),
        )
    };
    let out = answer.headers_mut();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        out.insert(header::ETAG, etag);
    }
    response::secure(answer)
}
