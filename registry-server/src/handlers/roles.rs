//! Roles, tokens and the audit log over HTTP (docs/roles.md):
//!
//! - `GET /api/wharf/v1/users`: every user's role (needs `manage-users`);
//! - `PUT /api/wharf/v1/users/{login}/role` with `{"role":"…"}` (needs `manage-users`);
//! - `POST /api/wharf/v1/tokens` with `{"user","scopes","role","crate_patterns",
//!   "expires_at","label"}`: a token for oneself, never wider than the token presented
//!   (scopes, role, name patterns, expiry), or for another user (needs `manage-tokens`);
//! - `DELETE /api/wharf/v1/tokens/{id}`: revokes one's own token, or anyone's with
//!   `manage-tokens`;
//! - `GET /api/wharf/v1/audit[?since=UNIX]`: the audit records (needs `read-audit`).

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use wharf_storage::{Action, NewToken, Principal, Role, Scope, StorageError};

use crate::audit::AuditTarget;
use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The users endpoint and the prefix of `/{login}/role`.
pub(crate) const USERS_PATH: &str = "/api/wharf/v1/users";
/// The tokens endpoint and the prefix of `/{id}`.
pub(crate) const TOKENS_PATH: &str = "/api/wharf/v1/tokens";
/// The audit endpoint.
pub(crate) const AUDIT_PATH: &str = "/api/wharf/v1/audit";
/// Largest accepted request body.
pub(crate) const MAX_BODY_BYTES: u64 = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    user: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    role: Option<String>,
    #[serde(default)]
    crate_patterns: Vec<String>,
    expires_at: Option<i64>,
    label: Option<String>,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the {what} body is not valid JSON: {e}")))
}

fn with_target(mut response: Resp, target: String) -> Resp {
    response.extensions_mut().insert(AuditTarget(target));
    response
}

fn not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}"),
    )
}

/// Routes the users, tokens and audit endpoints (`segments` follow `/api/wharf/v1/`).
pub(crate) async fn route(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    segments: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    match (method, segments) {
        (&Method::GET, ["users"]) => {
            principal.require(Action::ManageUsers, "list users and their roles")?;
            let users: Vec<_> = state
                .storage
                .roles()?
                .into_iter()
                .map(|(login, role)| serde_json::json!({ "login": login, "role": role }))
                .collect();
            Ok(json_ok(&serde_json::json!({ "users": users })))
        }
        (&Method::PUT, ["users", login, "role"]) => {
            let request: RoleBody = parse(body, "role")?;
            let role: Role = request.role.parse()?;
            let before = state.storage.set_role(Some(&principal), login, role)?;
            Ok(with_target(
                json_ok(&serde_json::json!({ "login": login, "role": role, "before": before })),
                format!("{login}: {before} -> {role}"),
            ))
        }
        (&Method::POST, ["tokens"]) => create_token(state, &principal, body),
        (&Method::DELETE, ["tokens", id]) => {
            let id: i64 = id.parse().map_err(|_| {
                ApiError::bad_request(format!("`{id}` is not a token id (a number)"))
            })?;
            let own = state
                .storage
                .list_tokens(Some(&principal.login))?
                .iter()
                .any(|token| token.id == id);
            if !own {
                principal.require(Action::ManageTokens, &format!("revoke token {id}"))?;
            }
            state.storage.revoke_token(id)?;
            Ok(with_target(
                json_ok(&serde_json::json!({ "ok": true, "revoked": id })),
                format!("token {id}"),
            ))
        }
        (&Method::GET, ["audit"]) => {
            principal.require(Action::ReadAudit, "read the audit log")?;
            let since = query
                .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("since=")))
                .map(|text| {
                    text.parse::<i64>().map_err(|_| {
                        ApiError::bad_request(format!(
                            "`since={text}` is not a time; give Unix seconds"
                        ))
                    })
                })
                .transpose()?;
            let records = state.storage.audit_records(since)?;
            Ok(json_ok(&serde_json::json!({ "records": records })))
        }
        _ => Err(not_allowed(method, path)),
    }
}

/// A token for oneself stays within the token presented; one for another user needs
/// `manage-tokens`.
fn create_token(state: &AppState, principal: &Principal, body: &[u8]) -> Result<Resp, ApiError> {
    let request: TokenBody = parse(body, "token")?;
    let user = request.user.unwrap_or_else(|| principal.login.clone());
    let scopes = match &request.scopes {
        None => principal.scopes.clone(),
        Some(names) => names
            .iter()
            .map(|name| name.parse::<Scope>())
            .collect::<Result<Vec<_>, StorageError>>()?,
    };
    let role = request
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()?;
    if user == principal.login {
        check_within(
            principal,
            &scopes,
            role,
            &request.crate_patterns,
            request.expires_at,
        )?;
    } else {
        principal.require(
            Action::ManageTokens,
            &format!("create a token for `{user}`"),
        )?;
    }
    let role = role.or(if user == principal.login {
        principal.token_role
    } else {
        None
    });
    let created = state.storage.create_narrowed_token(
        NewToken {
            user: user.clone(),
            scopes,
            expires_at: request.expires_at,
            name_patterns: request.crate_patterns,
            label: request.label,
        },
        role,
    )?;
    let info = &created.info;
    Ok(with_target(
        json_ok(&serde_json::json!({
            "id": info.id,
            "user": info.user,
            "scopes": info.scopes,
            "role": info.role,
            "crate_patterns": info.name_patterns,
            "expires_at": info.expires_at,
            "token": created.secret.expose(),
        })),
        format!("token {} for {user}", info.id),
    ))
}

/// Refuses a token for oneself that could do more than the token presented.
fn check_within(
    principal: &Principal,
    scopes: &[Scope],
    role: Option<Role>,
    patterns: &[String],
    expires_at: Option<i64>,
) -> Result<(), ApiError> {
    let forbidden = |reason: String| ApiError::new(StatusCode::FORBIDDEN, reason);
    if let Some(scope) = scopes
        .iter()
        .find(|scope| !principal.scopes.contains(scope))
    {
        return Err(forbidden(format!(
            "a new token cannot have the scope `{scope}`, which the token presented lacks"
        )));
    }
    if let (Some(requested), Some(current)) = (role, principal.token_role)
        && !requested.within(current)
    {
        return Err(forbidden(format!(
            "a new token cannot have the role {requested}: the token presented is narrowed to {current}"
        )));
    }
    if !principal.name_patterns.is_empty()
        && (patterns.is_empty()
            || patterns
                .iter()
                .any(|p| !principal.name_patterns.contains(p)))
    {
        return Err(forbidden(format!(
            "a new token must keep to the crate patterns of the token presented ({}); name some of them in `crate_patterns`",
            principal.name_patterns.join(", ")
        )));
    }
    if let Some(limit) = principal.expires_at
        && expires_at.is_none_or(|at| at > limit)
    {
        return Err(forbidden(format!(
            "a new token must expire no later than the token presented (Unix time {limit}); set `expires_at`"
        )));
    }
    Ok(())
}
