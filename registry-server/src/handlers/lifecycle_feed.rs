//! `GET /index/.wharf/lifecycle`: the signed lifecycle feed, signed once per change.
//!
//! Each request reads the feed's serial (one row); while it is the serial of the feed
//! signed last, the cached bytes are served as they are, with a strong `ETag` (their
//! SHA-256), and a request whose `If-None-Match` names it gets 304 without a body. A change
//! (deprecation, quarantine, advisory or their withdrawal) moves the serial on, and the next
//! request reads and signs the feed again. The cache is keyed by the serial read *before*
//! the feed is built, so a change racing with the build makes the next request sign again:
//! the served feed is never older than the serial it is cached under. A keyset installed
//! while the registry runs (a new release key) has the feed signed again too.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, bytes_response};
use crate::state::AppState;

/// The feed signed last: the serial it is current for, its bytes and their `ETag`.
#[derive(Debug, Clone)]
struct Signed {
    serial: u64,
    /// The version of the keyset whose release key signed it.
    keyset: u64,
    body: Bytes,
    etag: HeaderValue,
}

/// The feed signed last, shared by every request of one registry.
#[derive(Debug, Default)]
pub(crate) struct FeedCache(RwLock<Option<Arc<Signed>>>);

impl FeedCache {
    fn current(&self, serial: u64, keyset: u64) -> Option<Arc<Signed>> {
        let slot = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_ref()
            .filter(|signed| signed.serial == serial && signed.keyset == keyset)
            .map(Arc::clone)
    }

    fn store(&self, signed: Arc<Signed>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(signed);
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    headers
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.as_bytes() == etag.as_bytes())
}

/// Answers the signed feed (or 304), signing it only when it changed.
pub(crate) async fn feed(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let serial = state.storage.lifecycle_serial().await?;
    let keyset = state.storage.keyset_version();
    let signed = if let Some(signed) = state.lifecycle_feed.current(serial, keyset) {
        signed
    } else {
        let body = Bytes::from(state.storage.lifecycle_feed().await?);
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(Sha256::digest(&body))))
            .map_err(|e| ApiError::internal("the lifecycle feed's ETag", &e))?;
        tracing::debug!(serial, "lifecycle feed signed");
        let signed = Arc::new(Signed {
            serial,
            keyset,
            body,
            etag,
        });
        state.lifecycle_feed.store(Arc::clone(&signed));
        signed
    };
    let mut response = if not_modified(headers, &signed.etag) {
        bytes_response(
            StatusCode::NOT_MODIFIED,
            "text/plain; charset=utf-8",
            Bytes::new(),
        )
    } else {
        bytes_response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            signed.body.clone(),
        )
    };
    response
        .headers_mut()
        .insert(http::header::ETAG, signed.etag.clone());
    Ok(response)
}
