//! `GET /api/wharf/v1/packages/{name}/recommendations`: what to install beside a package,
//! what could replace it and which templates use it, each item explained with its figure
//! (computed in storage, `wharf_storage::Recommendations`).

use http::HeaderMap;
use wharf_storage::Recommendations;

use super::catalogue::to_json;
use crate::auth;
use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// The path prefix; the package name and `/recommendations` follow.
pub(crate) const PREFIX: &str = "/api/wharf/v1/packages/";

/// The last path segment.
pub(crate) const SUFFIX: &str = "/recommendations";

/// Recommendations for a package.
#[utoipa::path(
    get,
    path = "/api/wharf/v1/packages/{name}/recommendations",
    tag = "recommendations",
    params(("name" = String, Path, description = "The package name (case and -/_ are folded)")),
    responses(
        (status = 200, description = "Often installed together, alternatives and templates using it, each explained", body = Recommendations),
        (status = 404, description = "No such package", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn recommendations(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    to_json(&state.storage.recommendations(name).await?)
}
