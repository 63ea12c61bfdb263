//! `GET /api/wharf/v1/plugins/{name}`: a plugin's kind, capabilities, entry point and host
//! API range, and a template's lineage and parameters, per version (what the index line
//! does not carry).

use http::HeaderMap;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The path prefix of the plugin catalogue.
pub(crate) const PREFIX: &str = "/api/wharf/v1/plugins/";

/// Answers `{"name","description","versions":[{"version","yanked","kind","capabilities",
/// "entry","host_api","min_host_version","template"?}]}`, or 404 when the package is unknown or no plugin.
pub(crate) async fn plugin(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let package = state.storage.plugin(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no plugin named `{name}` is published here; `GET /api/v1/crates?q={name}` searches every package"
        ))
    })?;
    let body =
        serde_json::to_value(&package).map_err(|e| ApiError::internal("showing a plugin", &e))?;
    Ok(json_ok(&body))
}
