//! Web login sessions and CSRF tokens.
//!
//! A user signs in once with an API token; the server stores the session in SQLite
//! (`Storage::create_web_session`) under the SHA-256 of a random 32-byte id and hands the
//! id to the browser in the cookie [`COOKIE`] (`HttpOnly; Secure; SameSite=Strict;
//! Path=/`, or `Path=/t/{tenant}/` for a tenant's pages). The row holds the token's id and the expiry, never the token's secret nor the
//! session id; every request authenticates the token again, so revoking or expiring the
//! token ends the session, and sessions survive a restart of the server.
//!
//! Every form carries the session's CSRF token in a hidden field `csrf`; a POST without it,
//! or with another, is refused with 403. The CSRF token is derived from the session id
//! (SHA-256 of a fixed label and the id), so it is not stored and cannot be computed from
//! what is stored. The login form, sent before there is a session, uses a double-submit
//! token: a random value in the cookie [`LOGIN_COOKIE`] and the same value in the form.

use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use wharf_storage::{Action, Principal, Scope, web_session_digest};

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie.
pub(crate) const COOKIE: &str = "wharf_session";
/// The login form's double-submit CSRF cookie.
pub(crate) const LOGIN_COOKIE: &str = "wharf_login";
/// How long a session lasts after sign-in.
pub(crate) const LIFETIME: Duration = Duration::from_hours(12);

/// Who is looking at a page: the signed-in user and the session's CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// The user, as the session's token authenticates.
    pub(crate) principal: Principal,
    /// The session's CSRF token, for the forms on the page.
    pub(crate) csrf: String,
    /// The digest of the session id (to end it).
    digest: String,
}

impl Viewer {
    /// Whether the user's role (and token) may moderate: the administrator's pages.
    pub(crate) fn is_admin(&self) -> bool {
        self.principal.allows(Action::ModerateReviews)
    }

    /// What templates see of the viewer.
    pub(crate) fn context(viewer: Option<&Self>) -> minijinja::Value {
        viewer.map_or(minijinja::Value::from(()), |viewer| {
            minijinja::context! {
                login => viewer.principal.login,
                csrf => viewer.csrf,
                admin => viewer.is_admin(),
            }
        })
    }
}

/// 64 random hex digits from the operating system's generator.
pub(crate) fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The CSRF token of the session with id `id`.
fn csrf_of(id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"wharf web csrf\0");
    hasher.update(id.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether two secrets are equal, compared by digest so the time taken reveals nothing of
/// either.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Starts a session for `token` (already checked by the caller or refused here); returns
/// the id for the cookie.
pub(crate) async fn start(
    state: &AppState,
    token: &str,
) -> Result<String, wharf_storage::StorageError> {
    let id = random_hex();
    let lifetime = i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX);
    state
        .storage
        .create_web_session(token, &web_session_digest(&id), lifetime)
        .await?;
    Ok(id)
}

/// The value of cookie `name` in the request, if sent.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value with the UI's attributes; `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; HttpOnly; Secure; SameSite=Strict; Path={}/; Max-Age={}",
        super::base(),
        max_age.as_secs()
    )
}

/// The signed-in viewer of a request, if its session is live and its token still valid.
/// A storage failure is logged and treated as signed out (reading pages keeps working).
pub(crate) async fn viewer(state: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let id = cookie(headers, COOKIE)?;
    let key = web_session_digest(id);
    match state.storage.web_session(&key).await {
        Ok(session) => session.map(|session| Viewer {
            principal: session.principal,
            csrf: csrf_of(id),
            digest: key,
        }),
        Err(error) => {
            tracing::warn!(%error, "looking up a web session failed");
            None
        }
    }
}

/// Ends the viewer's session.
pub(crate) async fn end(state: &AppState, viewer: &Viewer) -> Result<(), ApiError> {
    Ok(state.storage.end_web_session(&viewer.digest).await?)
}

/// With `auth-required`, reading pages needs a signed-in user whose token may read.
pub(crate) fn require_reader(state: &AppState, viewer: Option<&Viewer>) -> Result<(), ApiError> {
    if !state.config.auth_required {
        return Ok(());
    }
    match viewer {
        Some(viewer) => Ok(viewer.principal.require_scope(Scope::Read)?),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "this registry requires signing in; sign in at {}/login with an API token",
                super::base()
            ),
        )),
    }
}

/// The signed-in viewer, or 401 naming what needs it.
pub(crate) fn require_viewer<'v>(
    viewer: Option<&'v Viewer>,
    what: &str,
) -> Result<&'v Viewer, ApiError> {
    viewer.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "{what} needs signing in; sign in at {}/login with an API token",
                super::base()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::{cookie, csrf_of, same_secret};

    #[test]
    fn csrf_tokens_are_per_session_and_not_the_id() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        assert_eq!(csrf_of(&a), csrf_of(&a));
        assert_ne!(csrf_of(&a), csrf_of(&b));
        assert_ne!(csrf_of(&a), wharf_storage::web_session_digest(&a));
        assert_eq!(csrf_of(&a).len(), 64);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; wharf_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "wharf_session"), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        assert!(same_secret("x", "x") && !same_secret("x", "y"));
    }
}
