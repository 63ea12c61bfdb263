//! `/api/v1/crates/{name}/owners`: list, add, remove.

use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// `{"users":[…]}` as cargo sends it (crates.io also accepts `owners`).
#[derive(Deserialize)]
struct OwnersBody {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    owners: Vec<String>,
}

/// Lists the owners: `{"users":[{"id","login","name"}]}`.
pub(crate) async fn list(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Resp, ApiError> {
    if state.config.auth_required || headers.contains_key(http::header::AUTHORIZATION) {
        auth::writer(state, headers).await?;
    }
    let owners = state.storage.owners(name).await?;
    let users: Vec<_> = owners
        .into_iter()
        .map(|o| serde_json::json!({ "id": o.id, "login": o.login, "name": o.name }))
        .collect();
    Ok(json_ok(&serde_json::json!({ "users": users })))
}

/// Adds or removes owners; always answers `{"ok":true,"msg":…}` on success (cargo needs `msg`).
pub(crate) async fn change(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    body: &Bytes,
    add: bool,
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    let parsed: OwnersBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the owners request body must be {{\"users\":[\"login\",…]}}: {e}"
        ))
    })?;
    let logins: Vec<String> = parsed.users.into_iter().chain(parsed.owners).collect();
    if logins.is_empty() {
        return Err(ApiError::bad_request(
            "no users named in the owners request",
        ));
    }
    let msg = if add {
        let added = state.storage.add_owners(&principal, name, &logins).await?;
        format!(
            "user(s) {} are now owners of crate `{name}`",
            added.join(", ")
        )
    } else {
        let removed = state
            .storage
            .remove_owners(&principal, name, &logins)
            .await?;
        format!(
            "user(s) {} are no longer owners of crate `{name}`",
            removed.join(", ")
        )
    };
    Ok(json_ok(&serde_json::json!({ "ok": true, "msg": msg })))
}
