//! `GET /api/v1/crates?q=…&per_page=…`: cargo search.

use http::HeaderMap;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// Largest page cargo asks for (`--limit` is clamped to 100).
const MAX_PER_PAGE: usize = 100;

/// Searches names and descriptions; `meta.total` counts every match.
pub(crate) async fn search(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let mut q = String::new();
    let mut per_page = 10;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "q" => q = value.into_owned(),
            "per_page" => {
                per_page = value.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!("`per_page` must be a number, got `{value}`"))
                })?;
            }
            _ => {}
        }
    }
    let results = state
        .storage
        .search(&q, per_page.clamp(1, MAX_PER_PAGE))
        .await?;
    let crates: Vec<_> = results
        .hits
        .into_iter()
        .map(|h| {
            let mut hit = serde_json::json!({ "name": h.name, "max_version": h.max_version, "description": h.description });
            if let Some(kind) = h.plugin_kind {
                // An extra field cargo ignores: `plugin` or `template`.
                hit["plugin_kind"] = kind.into();
            }
            hit
        })
        .collect();
    Ok(json_ok(
        &serde_json::json!({ "crates": crates, "meta": { "total": results.total } }),
    ))
}
