//! The signed-in pages: the login form, the user's packages, tokens and publisher keys, and
//! the administrator's view of hidden reviews and users.

use http::StatusCode;
use minijinja::context;
use serde::Serialize;
use wharf_index_format::Pubtime;

use super::response::html;
use super::session::{self, LOGIN_COOKIE, Viewer, require_viewer};
use super::templates::render;
use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// How long the login form's CSRF cookie lives.
const LOGIN_FORM_LIFETIME: std::time::Duration = std::time::Duration::from_hours(1);

/// The login form with a fresh double-submit CSRF token (cookie and hidden field), with an
/// optional one-line problem from a previous attempt.
pub(crate) fn login_form(
    viewer: Option<&Viewer>,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<Resp, ApiError> {
    let csrf = session::random_hex();
    let body = render(
        "login.html",
        context! {
            title => "Sign in · Wharf",
            viewer => Viewer::context(viewer),
            login_csrf => csrf,
            problem,
        },
    )?;
    let mut response = html(status, body);
    let cookie = session::set_cookie(LOGIN_COOKIE, &csrf, LOGIN_FORM_LIFETIME);
    response.headers_mut().append(
        http::header::SET_COOKIE,
        http::HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("a cookie", &e))?,
    );
    Ok(response)
}

/// A token as the account page lists it.
#[derive(Debug, Serialize)]
struct TokenRow {
    id: i64,
    label: Option<String>,
    scopes: String,
    patterns: String,
    created: String,
    expires: Option<String>,
    revoked: bool,
    current: bool,
}

/// A publisher key as the account page lists it.
#[derive(Debug, Serialize)]
struct KeyRow {
    id: String,
    key: String,
    created: String,
    revoked: Option<String>,
    packages: String,
}

fn date(unix: i64) -> String {
    Pubtime::from_unix(unix).to_string()
}

/// A token just made, shown once on the account page.
#[derive(Debug, Serialize)]
pub(crate) struct NewTokenShown {
    /// Its id.
    pub(crate) id: i64,
    /// The secret, shown on this one page only.
    pub(crate) secret: String,
}

/// The signed-in user's packages, tokens (never their secrets) and publisher keys.
pub(crate) async fn account(state: &AppState, viewer: Option<&Viewer>) -> Result<Resp, ApiError> {
    let viewer = require_viewer(viewer, "your account page")?;
    account_page(state, viewer, None).await
}

/// The account page, with the secret of a token just made when there is one (the response
/// is then never stored by the browser or a cache).
pub(crate) async fn account_page(
    state: &AppState,
    viewer: &Viewer,
    created: Option<NewTokenShown>,
) -> Result<Resp, ApiError> {
    let login = &viewer.principal.login;
    state.catalogue.flush_downloads(&state.storage).await;
    let packages = state
        .storage
        .packages_owned_by(login)
        .await?
        .unwrap_or_default();
    let tokens: Vec<TokenRow> = state
        .storage
        .list_tokens(Some(login))?
        .into_iter()
        .map(|token| TokenRow {
            id: token.id,
            current: token.id == viewer.principal.token_id,
            label: token.label,
            scopes: token
                .scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            patterns: if token.name_patterns.is_empty() {
                "any name".to_owned()
            } else {
                token.name_patterns.join(", ")
            },
            created: date(token.created_at),
            expires: token.expires_at.map(date),
            revoked: token.revoked,
        })
        .collect();
    let keys: Vec<KeyRow> = state
        .storage
        .publisher_keys(&viewer.principal)
        .await?
        .into_iter()
        .map(|key| KeyRow {
            id: key.id,
            key: key.key,
            created: date(key.created),
            revoked: key.revoked.map(date),
            packages: key.packages.join(", "),
        })
        .collect();
    let report = state.storage.usage().await?;
    let usage: Vec<_> = report
        .entitlements
        .iter()
        .map(|entry| {
            let e = entry.entitlement;
            context! {
                key => e.key(),
                used => e.show(entry.usage),
                limit => entry.limit.map_or_else(|| "unlimited".to_owned(), |l| e.show(l)),
            }
        })
        .collect();
    let body = render(
        "account.html",
        context! {
            title => format!("{login} · Your account · Wharf"),
            viewer => Viewer::context(Some(viewer)),
            packages,
            tokens,
            keys,
            usage,
            usage_plan => report.plan,
            scopes => viewer.principal.scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>(),
            created => created.as_ref(),
        },
    )?;
    let mut response = html(StatusCode::OK, body);
    if created.is_some() {
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
    Ok(response)
}

/// The administrator's view: hidden reviews with their logged reasons, and every user.
pub(crate) async fn admin(state: &AppState, viewer: Option<&Viewer>) -> Result<Resp, ApiError> {
    let viewer = require_viewer(viewer, "the administration page")?;
    let (hidden, users) = tokio::try_join!(
        state.storage.hidden_reviews(&viewer.principal),
        state.storage.user_summaries(&viewer.principal),
    )?;
    let body = render(
        "admin.html",
        context! {
            title => "Administration · Wharf",
            viewer => Viewer::context(Some(viewer)),
            hidden,
            users,
        },
    )?;
    Ok(html(StatusCode::OK, body))
}
