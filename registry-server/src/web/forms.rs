//! The forms: sign in and out, rate and review a package, report a review, the owner's
//! reply, the administrator's hide and unhide, and making and revoking the user's tokens
//! (`tokens.rs`). Every POST must carry the CSRF token in the field `csrf` (403 otherwise,
//! before anything else is looked at); writes go through the same storage calls and per-user
//! rate limit as the JSON API, then redirect (303) back to the page.

use http::{HeaderMap, StatusCode};
use wharf_storage::{ReviewInput, StorageError};

use super::account::login_form;
use super::response::see_other;
use super::session::{
    self, COOKIE, LIFETIME, LOGIN_COOKIE, Viewer, require_viewer, same_secret, set_cookie,
};
use super::tokens;
use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// The fields of a form body (`application/x-www-form-urlencoded`), in order; a field may
/// come more than once (check boxes).
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    pub(super) fn parse(body: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(body)
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// A field's first value, trimmed; `None` when missing or blank.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// Every non-blank value of a field, trimmed.
    pub(super) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
            .collect()
    }

    /// A field that must be there.
    pub(super) fn require(&self, key: &str, what: &str) -> Result<&str, ApiError> {
        self.get(key).ok_or_else(|| {
            ApiError::bad_request(format!(
                "the form has no {what} (field `{key}`); fill it in"
            ))
        })
    }
}

/// 403 for a form whose CSRF token is missing or is not the expected one.
fn csrf_refused(problem: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("the form was refused: {problem}; reload the page and send the form from it again"),
    )
}

/// Checks the form's CSRF token against `expected`.
fn check_csrf(form: &Form, expected: Option<&str>) -> Result<(), ApiError> {
    let Some(sent) = form.get("csrf") else {
        return Err(csrf_refused("it carries no CSRF token (field `csrf`)"));
    };
    match expected {
        Some(expected) if same_secret(sent, expected) => Ok(()),
        Some(_) => Err(csrf_refused(
            "its CSRF token is not this session's (an old page, or a form from another site)",
        )),
        None => Err(csrf_refused(
            "there is no session for its CSRF token (signed out, or cookies are blocked)",
        )),
    }
}

/// Answers a form POST to `path`.
pub(crate) async fn post(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let form = Form::parse(body);
    if path == "/login" {
        return login(state, headers, &form).await;
    }
    let viewer = session::viewer(state, headers).await;
    check_csrf(&form, viewer.as_ref().map(|viewer| viewer.csrf.as_str()))?;
    if path == "/logout" {
        if let Some(viewer) = &viewer {
            session::end(state, viewer).await?;
        }
        return see_other("/", &[set_cookie(COOKIE, "", std::time::Duration::ZERO)]);
    }
    if let Some(rest) = path.strip_prefix("/account/tokens") {
        let viewer = require_viewer(viewer.as_ref(), "managing tokens")?;
        return tokens::post(state, viewer, rest, &form).await;
    }
    let Some(rest) = path.strip_prefix("/packages/") else {
        return Err(ApiError::not_found(format!("no form is sent to {path}")));
    };
    let segments = rest
        .split('/')
        .map(super::decode)
        .collect::<Result<Vec<_>, _>>()?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let viewer = require_viewer(viewer.as_ref(), "this form")?;
    match segments.as_slice() {
        [name, "review"] => review(state, viewer, name, &form).await,
        [
            name,
            "reviews",
            id,
            action @ ("report" | "hide" | "unhide" | "reply"),
        ] => {
            let id = id.parse::<i64>().map_err(|_| {
                ApiError::not_found(format!("`{id}` is not a review id; ids are numbers"))
            })?;
            let who = &viewer.principal;
            if *action == "reply" {
                let body = form.require("body", "reply")?;
                state.catalogue.take_review_write(&who.login)?;
                state.storage.reply_to_review(who, name, id, body).await?;
                return back_to_reviews(name);
            }
            let reason = form.require("reason", "reason")?;
            state.catalogue.take_review_write(&who.login)?;
            match *action {
                "report" => state.storage.report_review(who, name, id, reason).await?,
                "hide" => state.storage.hide_review(who, name, id, reason).await?,
                _ => state.storage.unhide_review(who, name, id, reason).await?,
            }
            back_to_reviews(name)
        }
        _ => Err(ApiError::not_found(format!("no form is sent to {path}"))),
    }
}

/// Signs in with the token from the form: checks the double-submit CSRF token, then the API
/// token, starts a session and goes to the account page.
async fn login(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Resp, ApiError> {
    check_csrf(form, session::cookie(headers, LOGIN_COOKIE))?;
    let Some(token) = form.get("token") else {
        return login_form(
            None,
            Some("enter an API token (made with `wharf token create`)"),
            StatusCode::BAD_REQUEST,
        );
    };
    match session::start(state, token).await {
        Ok(id) => see_other(
            "/account",
            &[
                set_cookie(COOKIE, &id, LIFETIME),
                set_cookie(LOGIN_COOKIE, "", std::time::Duration::ZERO),
            ],
        ),
        Err(
            error @ (StorageError::InvalidToken
            | StorageError::ExpiredToken
            | StorageError::RevokedToken),
        ) => login_form(
            None,
            Some(&format!(
                "that token was not accepted: {error}; check it or make a new one with `wharf token create`"
            )),
            StatusCode::UNAUTHORIZED,
        ),
        Err(other) => Err(other.into()),
    }
}

/// Rates and reviews `name` (or edits the viewer's review).
async fn review(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    form: &Form,
) -> Result<Resp, ApiError> {
    let rating = form.require("rating", "rating")?;
    let rating = rating
        .parse::<i64>()
        .ok()
        .filter(|rating| (1..=5).contains(rating))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "the rating `{rating}` is not a whole number from 1 to 5; pick one"
            ))
        })?;
    let input = ReviewInput {
        rating,
        body: form.get("body").map(str::to_owned),
        version: form.get("version").map(str::to_owned),
    };
    state.catalogue.take_review_write(&viewer.principal.login)?;
    state
        .storage
        .save_review(&viewer.principal, name, input)
        .await?;
    back_to_reviews(name)
}

/// 303 to the package page's reviews.
fn back_to_reviews(name: &str) -> Result<Resp, ApiError> {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    let name: String = percent_encoding::utf8_percent_encode(name, SEGMENT).collect();
    see_other(&format!("/packages/{name}#reviews"), &[])
}

#[cfg(test)]
mod tests {
    use super::{Form, check_csrf};

    #[test]
    fn forms_without_the_right_csrf_token_are_refused_with_403() {
        let missing = check_csrf(&Form::parse(b"rating=5"), Some("abc")).unwrap_err();
        assert_eq!(missing.status(), 403);
        assert!(
            missing.detail().contains("no CSRF token"),
            "{}",
            missing.detail()
        );
        let wrong = check_csrf(&Form::parse(b"csrf=abd"), Some("abc")).unwrap_err();
        assert_eq!(wrong.status(), 403);
        let no_session = check_csrf(&Form::parse(b"csrf=abc"), None).unwrap_err();
        assert_eq!(no_session.status(), 403);
        assert!(check_csrf(&Form::parse(b"csrf=abc"), Some("abc")).is_ok());
    }
}
