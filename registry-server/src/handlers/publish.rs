//! `PUT /api/v1/crates/new`: cargo publish.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use wharf_index_format::{PreparedPublish, prepare_publish};
use wharf_storage::Upload;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The largest request body accepted: the frame's two length fields plus both limits.
pub(crate) fn max_body_len(state: &AppState) -> u64 {
    state.config.limits.max_json_bytes + state.config.limits.max_crate_bytes + 8
}

/// Checks the publish rate limits, validates the upload completely (frame, metadata, tarball,
/// manifest), then hands it to storage, which checks ownership and duplicates and makes it
/// durable before we answer.
pub(crate) async fn publish(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers)?;
    // Rate limits first: before the costly validation, and before anything is written.
    state.publish_limiter.take(&principal.login)?;
    let daily = state.publish_limiter.limits().daily();
    state
        .storage
        .check_daily_limits(&principal, None, daily)
        .await?;
    let limits = state.config.limits.clone();
    let prepared: PreparedPublish =
        tokio::task::spawn_blocking(move || prepare_publish(&body, &limits))
            .await
            .map_err(|e| ApiError::internal("validating an upload", &e))??;
    let PreparedPublish {
        name,
        entry,
        crate_bytes,
        metadata,
    } = prepared;
    tracing::info!(krate.name = %name, krate.version = %entry.vers, user = %principal.login, "publish accepted for storage");
    let upload = Upload {
        entry,
        crate_bytes: Bytes::from(crate_bytes),
        metadata,
    };
    // Storage checks the package's daily limit with its other rules, before anything is
    // written, and again inside the transaction.
    let published = state
        .storage
        .publish_limited(&principal, upload, daily)
        .await?;
    state.cache.install(&published.index_file);
    state.metrics.count_publish();
    Ok(json_ok(&serde_json::json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
    })))
}

/// How big an upload over the limit is: as its `Content-Length` declares, or only known to be
/// longer than the limit (a body without one is cut off there).
#[derive(Debug, Clone, Copy)]
pub(crate) enum UploadSize {
    /// The declared length, in bytes.
    Declared(u64),
    /// More than this many bytes arrived.
    MoreThan(u64),
}

/// The 413 answer for a body over the limit, given before or while it is read.
pub(crate) fn too_large(state: &AppState, size: UploadSize) -> ApiError {
    let size = match size {
        UploadSize::Declared(bytes) => format!("{bytes} bytes"),
        UploadSize::MoreThan(bytes) => format!("more than {bytes} bytes"),
    };
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is {size}; this registry accepts at most {} bytes of crate and {} bytes of metadata: leave files out of the package (`exclude` in Cargo.toml; `cargo package --list` shows what goes in)",
            state.config.limits.max_crate_bytes, state.config.limits.max_json_bytes
        ),
    )
}
