//! Plugin lifecycle over HTTP (docs/lifecycle.md):
//!
//! - `PUT|DELETE /api/wharf/v1/packages/{name}[/{version}]/deprecation` (owners with the
//!   `yank` scope, or the administrator): `{"message":"…","successor":"name[@version]"}`;
//! - `PUT|DELETE /api/wharf/v1/packages/{name}/{version}/quarantine` (the administrator):
//!   `{"reason":"…"}`;
//! - `GET /api/wharf/v1/packages/{name}/lifecycle`: the package's deprecations and
//!   quarantines;
//! - `GET|POST /api/wharf/v1/advisories`: the advisories and the signed feed; the
//!   administrator publishes one;
//! - `GET /index/.wharf/lifecycle`: the signed lifecycle feed, under the index so mirrors
//!   copy it with the index files (`lifecycle_feed.rs`: signed once per change, `ETag`/304).
//!
//! A quarantined version's blob is refused with 423 Locked (the file exists, so never 404;
//! nobody lacks a permission, so never 403) naming the quarantine and its reason.

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use wharf_storage::AdvisoryInput;

use crate::audit::AuditTarget;
use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The packages prefix of the lifecycle endpoints.
pub(crate) const PACKAGES_PREFIX: &str = "/api/wharf/v1/packages/";

/// The advisories endpoint.
pub(crate) const ADVISORIES_PATH: &str = "/api/wharf/v1/advisories";

/// The signed feed's path under `/index/`.
pub(crate) const FEED_PATH: &str = ".wharf/lifecycle";

/// Largest accepted request body (an advisory with its description).
pub(crate) const MAX_BODY_BYTES: u64 = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeprecationBody {
    message: String,
    #[serde(default)]
    successor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineBody {
    reason: String,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the {what} body is not valid JSON: {e}")))
}

fn with_target(mut response: Resp, target: String) -> Resp {
    response.extensions_mut().insert(AuditTarget(target));
    response
}

/// Routes `rest` (after [`PACKAGES_PREFIX`], already split into decoded segments).
pub(crate) async fn packages(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Result<Resp, ApiError> {
    match (method, segments) {
        (&Method::GET | &Method::HEAD, [name, "lifecycle"]) => {
            auth::reader(state, headers).await?;
            let lifecycle = state.storage.package_lifecycle(name).await?;
            let value = serde_json::to_value(&lifecycle)
                .map_err(|e| ApiError::internal("showing a lifecycle", &e))?;
            Ok(json_ok(&value))
        }
        (&Method::PUT, [name, "deprecation"]) => deprecate(state, headers, name, None, body).await,
        (&Method::PUT, [name, version, "deprecation"]) => {
            deprecate(state, headers, name, Some(version), body).await
        }
        (&Method::DELETE, [name, "deprecation"]) => undeprecate(state, headers, name, None).await,
        (&Method::DELETE, [name, version, "deprecation"]) => {
            undeprecate(state, headers, name, Some(version)).await
        }
        (&Method::PUT, [name, version, "quarantine"]) => {
            let principal = auth::writer(state, headers).await?;
            let request: QuarantineBody = parse(body, "quarantine")?;
            if let Some(snapshot) = state
                .storage
                .quarantine(&principal, name, version, &request.reason)
                .await?
            {
                state.cache.install(&snapshot);
            }
            Ok(with_target(
                json_ok(&serde_json::json!({ "ok": true })),
                format!("{name}@{version}: {}", request.reason),
            ))
        }
        (&Method::DELETE, [name, version, "quarantine"]) => {
            let principal = auth::writer(state, headers).await?;
            if let Some(snapshot) = state
                .storage
                .release_quarantine(&principal, name, version)
                .await?
            {
                state.cache.install(&snapshot);
            }
            Ok(with_target(
                json_ok(&serde_json::json!({ "ok": true })),
                format!("{name}@{version}"),
            ))
        }
        _ => Err(ApiError::not_found(format!(
            "no such endpoint: {method} {PACKAGES_PREFIX}{}",
            segments.join("/")
        ))),
    }
}

async fn deprecate(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    version: Option<&str>,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    let request: DeprecationBody = parse(body, "deprecation")?;
    state
        .storage
        .deprecate(
            &principal,
            name,
            version,
            &request.message,
            request.successor.as_deref(),
        )
        .await?;
    let target = version.map_or_else(|| name.to_owned(), |version| format!("{name}@{version}"));
    Ok(with_target(
        json_ok(&serde_json::json!({ "ok": true })),
        target,
    ))
}

async fn undeprecate(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    version: Option<&str>,
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    state.storage.undeprecate(&principal, name, version).await?;
    let target = version.map_or_else(|| name.to_owned(), |version| format!("{name}@{version}"));
    Ok(with_target(
        json_ok(&serde_json::json!({ "ok": true })),
        target,
    ))
}

/// `GET` lists the advisories with the signed feed; `POST` publishes one.
pub(crate) async fn advisories(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    body: &[u8],
) -> Result<Resp, ApiError> {
    match *method {
        Method::GET | Method::HEAD => {
            auth::reader(state, headers).await?;
            let advisories = state.storage.advisories().await?;
            let feed = state.storage.lifecycle_feed().await?;
            Ok(json_ok(
                &serde_json::json!({ "advisories": advisories, "feed": feed }),
            ))
        }
        Method::POST => {
            let principal = auth::writer(state, headers).await?;
            let input: AdvisoryInput = parse(body, "advisory")?;
            let advisory = state.storage.publish_advisory(&principal, input).await?;
            let target = format!("{} for {}", advisory.id, advisory.package);
            let value = serde_json::to_value(&advisory)
                .map_err(|e| ApiError::internal("showing an advisory", &e))?;
            Ok(with_target(json_ok(&value), target))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {ADVISORIES_PATH}; use GET or POST"),
        )
        .with_header(http::header::ALLOW, "GET, HEAD, POST")),
    }
}

/// Refuses (423) a download of a quarantined release.
pub(crate) async fn check_download(state: &AppState, cksum: &str) -> Result<(), ApiError> {
    match state.storage.quarantined_blob(cksum).await? {
        None => Ok(()),
        Some(quarantine) => Err(ApiError::new(
            StatusCode::LOCKED,
            format!(
                "{}@{} is quarantined by the registry administrator pending review ({}); it cannot be downloaded until the quarantine is released",
                quarantine.package, quarantine.version, quarantine.reason
            ),
        )),
    }
}
