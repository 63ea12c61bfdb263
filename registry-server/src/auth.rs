//! Reading the caller's token from a request.
//!
//! Cargo sends the raw token in `Authorization` (no `Bearer ` prefix); other clients may add one.

use http::HeaderMap;
use wharf_storage::{Action, Principal, Scope, StorageError};

use crate::error::ApiError;
use crate::state::AppState;

/// The presented token, if any, with an optional `Bearer ` prefix removed.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    (!token.is_empty()).then_some(token)
}

/// For reads (index, downloads, search): `Ok(None)` when the registry is public and no token
/// came; with `auth-required`, a missing or bad token is a 401 carrying cargo's login challenge.
pub(crate) async fn reader(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    if !state.config.auth_required {
        return Ok(None);
    }
    let Some(token) = presented_token(headers) else {
        let login_url = state.config.login_url();
        return Err(ApiError::unauthorized(
            format!(
                "this registry requires a token; create one with `wharf token create` (see {login_url}) and run `cargo login`"
            ),
            &login_url,
        ));
    };
    match state.storage.authenticate_async(token).await {
        // A token made without the `read` scope (e.g. a publish-only token for CI) may not
        // read a private registry: 403 naming the scope, never a silent pass.
        Ok(principal) => {
            principal.require_scope(Scope::Read)?;
            principal.require(Action::Read, "read this registry")?;
            Ok(Some(principal))
        }
        Err(
            error @ (StorageError::InvalidToken
            | StorageError::ExpiredToken
            | StorageError::RevokedToken),
        ) => Err(ApiError::unauthorized(
            error.to_string(),
            &state.config.login_url(),
        )),
        Err(other) => Err(other.into()),
    }
}

/// For the web API's writes (and owner listing): a valid token is required.
pub(crate) async fn writer(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(token) = presented_token(headers) else {
        return Err(ApiError::unauthorized(
            format!(
                "this action needs an API token; create one with `wharf token create` (see {}) and run `cargo login`",
                state.config.login_url()
            ),
            &state.config.login_url(),
        ));
    };
    Ok(state.storage.authenticate_async(token).await?)
}

/// The login behind a valid token presented with a request, or `anonymous` (for the audit
/// log and licence checks, which name who asked).
pub(crate) async fn login_or_anonymous(state: &AppState, headers: &HeaderMap) -> String {
    optional_principal(state, headers)
        .await
        .map_or_else(|| "anonymous".to_owned(), |principal| principal.login)
}

/// The principal of a valid token presented with a request, if any; a missing, bad or
/// expired token is `None` (for reads that only annotate, such as counting who downloaded).
pub(crate) async fn optional_principal(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let token = presented_token(headers)?;
    state.storage.authenticate_async(token).await.ok()
}
