//! `DELETE /api/v1/crates/{name}/{version}/yank` and `PUT …/unyank`.

use http::HeaderMap;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// Sets or clears the `yanked` flag; the `.crate` stays downloadable for locked builds.
pub(crate) async fn set_yanked(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    version: &str,
    yanked: bool,
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    let snapshot = state
        .storage
        .set_yanked(&principal, name, version, yanked)
        .await?;
    state.cache.install(&snapshot);
    Ok(json_ok(&serde_json::json!({ "ok": true })))
}
