//! The account page's token forms: make a token (`POST /account/tokens`; its secret is
//! shown once, on the page that answers) and revoke one of the user's own tokens
//! (`POST /account/tokens/ID/revoke`). A new token never has more power than the session's
//! own: its scopes must be among the session token's, and it keeps that token's name
//! patterns.

use std::str::FromStr;

use wharf_storage::{NewToken, Scope};

use super::account::{NewTokenShown, account_page};
use super::forms::Form;
use super::response::see_other;
use super::session::Viewer;
use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// The longest token lifetime the form takes, in days.
const MAX_DAYS: i64 = 3_650;
/// The longest label, in characters.
const MAX_LABEL_CHARS: usize = 200;

/// Answers a token form; `rest` is the path after `/account/tokens`.
pub(crate) async fn post(
    state: &AppState,
    viewer: &Viewer,
    rest: &str,
    form: &Form,
) -> Result<Resp, ApiError> {
    if rest.is_empty() {
        return create(state, viewer, form).await;
    }
    let Some(id) = rest
        .strip_prefix('/')
        .and_then(|rest| rest.strip_suffix("/revoke"))
    else {
        return Err(ApiError::not_found(format!(
            "no form is sent to /account/tokens{rest}"
        )));
    };
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::not_found(format!("`{id}` is not a token id; ids are numbers")))?;
    revoke(state, viewer, id)
}

/// The scopes ticked on the form, each one the session's token has.
fn scopes(viewer: &Viewer, form: &Form) -> Result<Vec<Scope>, ApiError> {
    let mut scopes = Vec::new();
    for text in form.all("scope") {
        let scope = Scope::from_str(text).map_err(|_| {
            ApiError::bad_request(format!(
                "`{text}` is not a token scope; tick some of {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            ))
        })?;
        if !viewer.principal.scopes.contains(&scope) {
            return Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                format!(
                    "the scope `{text}` is not one of the signed-in token's; a token made here can \
                 only have scopes the session's token has"
                ),
            ));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(ApiError::bad_request(
            "the form has no scope (field `scope`); tick at least one",
        ));
    }
    Ok(scopes)
}

/// Makes a token for the signed-in user and shows its secret once.
async fn create(state: &AppState, viewer: &Viewer, form: &Form) -> Result<Resp, ApiError> {
    let scopes = scopes(viewer, form)?;
    let label = form.get("label").map(str::to_owned);
    if let Some(label) = &label
        && label.chars().count() > MAX_LABEL_CHARS
    {
        return Err(ApiError::bad_request(format!(
            "the label has {} characters; keep it to {MAX_LABEL_CHARS}",
            label.chars().count()
        )));
    }
    let expires_at = match form.get("days") {
        None => None,
        Some(days) => {
            let days = days
                .parse::<i64>()
                .ok()
                .filter(|days| (1..=MAX_DAYS).contains(days))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{days}` days is not a lifetime; give a whole number from 1 to \
                         {MAX_DAYS}, or leave it empty for a token that does not expire"
                    ))
                })?;
            let now = i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_secs()),
            )
            .unwrap_or(i64::MAX);
            Some(now + days * 86_400)
        }
    };
    state.catalogue.take_review_write(&viewer.principal.login)?;
    let created = state.storage.create_token(NewToken {
        user: viewer.principal.login.clone(),
        scopes,
        expires_at,
        name_patterns: viewer.principal.name_patterns.clone(),
        label,
    })?;
    tracing::info!(user = %viewer.principal.login, token = created.info.id, "token made in the web UI");
    let shown = NewTokenShown {
        id: created.info.id,
        secret: created.secret.expose().to_owned(),
    };
    account_page(state, viewer, Some(shown)).await
}

/// Revokes token `id` when it is the signed-in user's; revoking the session's own token
/// ends the session.
fn revoke(state: &AppState, viewer: &Viewer, id: i64) -> Result<Resp, ApiError> {
    let login = &viewer.principal.login;
    let mine = state
        .storage
        .list_tokens(Some(login))?
        .iter()
        .any(|token| token.id == id);
    if !mine {
        return Err(ApiError::not_found(format!(
            "you have no token with id {id}; revoke one listed on your account page"
        )));
    }
    state.storage.revoke_token(id)?;
    tracing::info!(user = %login, token = id, "token revoked in the web UI");
    if id == viewer.principal.token_id {
        see_other("/login", &[])
    } else {
        see_other("/account#my-tokens", &[])
    }
}
