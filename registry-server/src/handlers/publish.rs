//! `PUT /api/v1/crates/new`: cargo publish.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use wharf_index_format::{PreparedPublish, prepare_publish};
use wharf_storage::{ReleaseSigning, Upload};

use super::signatures::signed_release;

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
/// durable before we answer. Logs the outcome once: see [`PublishOutcome`].
pub(crate) async fn publish(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Resp, ApiError> {
    let mut outcome = PublishOutcome::default();
    let mut result = publish_checked(state, headers, body, &mut outcome).await;
    outcome.log(&result);
    if let (Ok(response), Some(krate)) = (&mut result, &outcome.krate) {
        response
            .extensions_mut()
            .insert(crate::audit::AuditTarget(krate.clone()));
    }
    result
}

async fn publish_checked(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
    outcome: &mut PublishOutcome,
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    outcome.user = Some(principal.login.clone());
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
    outcome.krate = Some(format!("{name}@{}", entry.vers));
    let upload = Upload {
        entry,
        crate_bytes: Bytes::from(crate_bytes),
        metadata,
    };
    // Storage checks the package's daily limit with its other rules, before anything is
    // written, and again inside the transaction.
    let signing = ReleaseSigning {
        signed: signed_release(headers)?,
        require_signatures: state.config.require_signatures,
    };
    let published = state
        .storage
        .publish_signed(&principal, upload, daily, signing)
        .await?;
    state.cache.install(&published.index_file);
    state.metrics.count_publish();
    Ok(json_ok(&serde_json::json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
    })))
}

/// What is known of a publish when it ends, for its one log line: who sent it (once the token
/// is verified; never the token itself) and which version (once the upload parsed).
/// Published is `info`, refused (4xx) `warn` with the reason the client was given, failed
/// (5xx) `error` (the cause is logged where it happened).
#[derive(Debug, Default)]
struct PublishOutcome {
    user: Option<String>,
    krate: Option<String>,
}

impl PublishOutcome {
    fn log(&self, result: &Result<Resp, ApiError>) {
        let user = self.user.as_deref().unwrap_or("-");
        let krate = self.krate.as_deref().unwrap_or("-");
        match result {
            Ok(response) => tracing::info!(
                status = response.status().as_u16(),
                user,
                krate,
                "publish stored"
            ),
            Err(error) if error.status().is_client_error() => tracing::warn!(
                status = error.status().as_u16(),
                user,
                krate,
                reason = error.detail(),
                "publish refused"
            ),
            Err(error) => tracing::error!(
                status = error.status().as_u16(),
                user,
                krate,
                reason = error.detail(),
                "publish failed"
            ),
        }
    }
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
