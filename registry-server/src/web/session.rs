//! Web login sessions and CSRF tokens.
//!
//! A user signs in once with an API token; the server keeps the session in memory under the
//! SHA-256 of a random 32-byte id and hands the id to the browser in the cookie [`COOKIE`]
//! (`HttpOnly; Secure; SameSite=Strict; Path=/`). The session holds the token (never written
//! to disk), a random CSRF token and an expiry; every request authenticates the token again,
//! so revoking or expiring the token ends the session. Sessions do not survive a restart.
//!
//! Every form carries the session's CSRF token in a hidden field `csrf`; a POST without it,
//! or with another, is refused with 403. The login form, sent before there is a session,
//! uses a double-submit token: a random value in the cookie [`LOGIN_COOKIE`] and the same
//! value in the form.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use wharf_storage::{Action, Principal, Scope};

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie.
pub(crate) const COOKIE: &str = "wharf_session";
/// The login form's double-submit CSRF cookie.
pub(crate) const LOGIN_COOKIE: &str = "wharf_login";
/// How long a session lasts after sign-in.
pub(crate) const LIFETIME: Duration = Duration::from_hours(12);
/// The most sessions kept at once; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
struct Session {
    token: String,
    csrf: String,
    expires: Instant,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The sessions of one server, by the SHA-256 of their id.
#[derive(Debug, Default)]
pub(crate) struct WebSessions {
    by_digest: Mutex<HashMap<String, Session>>,
}

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

fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Whether two secrets are equal, compared by digest so the time taken reveals nothing of
/// either.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

impl WebSessions {
    /// Starts a session for `token`; returns the id for the cookie.
    pub(crate) fn create(&self, token: String) -> String {
        let id = random_hex();
        let now = Instant::now();
        let mut sessions = self.by_digest.lock().expect("never poisoned");
        sessions.retain(|_, session| session.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(key, _)| key.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            digest(&id),
            Session {
                token,
                csrf: random_hex(),
                expires: now + LIFETIME,
            },
        );
        id
    }

    /// The token and CSRF token of the live session with digest `key`.
    fn lookup(&self, key: &str) -> Option<(String, String)> {
        let mut sessions = self.by_digest.lock().expect("never poisoned");
        match sessions.get(key) {
            Some(session) if session.expires > Instant::now() => {
                Some((session.token.clone(), session.csrf.clone()))
            }
            Some(_) => {
                sessions.remove(key);
                None
            }
            None => None,
        }
    }

    /// Ends the session with digest `key`.
    fn end(&self, key: &str) {
        self.by_digest.lock().expect("never poisoned").remove(key);
    }
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
        "{name}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        max_age.as_secs()
    )
}

/// The signed-in viewer of a request, if its session is live and its token still valid.
pub(crate) fn viewer(state: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let id = cookie(headers, COOKIE)?;
    let key = digest(id);
    let (token, csrf) = state.web_sessions.lookup(&key)?;
    if let Ok(principal) = state.storage.authenticate(&token) {
        Some(Viewer {
            principal,
            csrf,
            digest: key,
        })
    } else {
        state.web_sessions.end(&key);
        None
    }
}

/// Ends the viewer's session.
pub(crate) fn end(state: &AppState, viewer: &Viewer) {
    state.web_sessions.end(&viewer.digest);
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
            "this registry requires signing in; sign in at /login with an API token",
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
            format!("{what} needs signing in; sign in at /login with an API token"),
        )
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::{WebSessions, cookie, digest, same_secret};

    #[test]
    fn sessions_are_kept_by_digest_and_end() {
        let sessions = WebSessions::default();
        let id = sessions.create("wharf_secret".to_owned());
        assert!(
            !sessions.by_digest.lock().unwrap().contains_key(&id),
            "the id itself is not stored"
        );
        let key = digest(&id);
        let (token, csrf) = sessions.lookup(&key).expect("live");
        assert_eq!(token, "wharf_secret");
        assert_eq!(csrf.len(), 64);
        sessions.end(&key);
        assert!(sessions.lookup(&key).is_none());
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
