//! Ratings and reviews under `/api/wharf/v1/catalogue/packages/{name}/reviews`: list, rate
//! or edit one's own review (`PUT`), an owner's reply, a user's report and the administrator's
//! hide with a reason. Writes need a token, count against the per-user review rate limit,
//! and bodies are small JSON documents (at most [`MAX_BODY_BYTES`]).

use http::{HeaderMap, Method};
use serde::Deserialize;
use wharf_storage::{Review, ReviewInput};

use super::catalogue::to_json;
use crate::auth;
use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// The largest request body a review endpoint reads.
pub(crate) const MAX_BODY_BYTES: u64 = 16 * 1024;

/// `PUT …/reviews`: a rating, optional text and the version reviewed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewRequest {
    /// 1 to 5.
    rating: i64,
    /// Optional text (at most 5000 characters).
    #[serde(default)]
    body: Option<String>,
    /// The version reviewed; the latest when left out.
    #[serde(default)]
    version: Option<String>,
}

/// `POST …/reviews/{id}/reply`: the owner's reply.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplyRequest {
    /// The text (at most 2000 characters).
    body: String,
}

/// `POST …/reviews/{id}/report` and `…/hide`: why.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonRequest {
    /// The reason (at most 500 characters).
    reason: String,
}

/// Parses a JSON body, naming the endpoint and the problem.
fn parse<T: for<'de> Deserialize<'de>>(what: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the {what} body is not the expected JSON ({e}); see docs/catalogue.md"
        ))
    })
}

/// Routes `rest` (what follows `reviews` in the path, already split) to its handler.
pub(crate) async fn route(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    name: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Resp, ApiError> {
    match (method, rest) {
        (&Method::GET, []) => list(state, headers, name).await,
        (&Method::PUT, []) => save(state, headers, name, body).await,
        (&Method::POST, [id, action @ ("reply" | "report" | "hide")]) => {
            let id = id.parse::<i64>().map_err(|_| {
                ApiError::not_found(format!(
                    "`{id}` is not a review id; ids are numbers, as listed by GET …/reviews"
                ))
            })?;
            match *action {
                "reply" => reply(state, headers, name, id, body).await,
                "report" => report(state, headers, name, id, body).await,
                _ => hide(state, headers, name, id, body).await,
            }
        }
        _ => Err(ApiError::not_found(format!(
            "no such endpoint: {method} {}packages/{name}/reviews/{}",
            super::catalogue::PREFIX,
            rest.join("/")
        ))),
    }
}

/// The reviews of a package.
#[utoipa::path(
    get,
    path = "/api/wharf/v1/catalogue/packages/{name}/reviews",
    tag = "reviews",
    params(("name" = String, Path, description = "The package name")),
    responses(
        (status = 200, description = "Visible reviews, newest first (the administrator also sees hidden ones with the reason)", body = [Review]),
        (status = 404, description = "No such package", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn list(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    state.catalogue.flush_downloads(&state.storage).await;
    let viewer = auth::optional_principal(state, headers).await;
    let reviews = state.storage.reviews(name, viewer.as_ref()).await?;
    to_json(&reviews)
}

/// Rates a package, or edits one's rating and review.
#[utoipa::path(
    put,
    path = "/api/wharf/v1/catalogue/packages/{name}/reviews",
    tag = "reviews",
    params(("name" = String, Path, description = "The package name")),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "The review as shown", body = Review),
        (status = 400, description = "Rating out of range, text too long or empty, bad JSON", body = super::openapi::ErrorBody),
        (status = 403, description = "No valid token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such package or version", body = super::openapi::ErrorBody),
        (status = 429, description = "Review rate limit reached", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn save(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let who = auth::writer(state, headers).await?;
    let request: ReviewRequest = parse("review", body)?;
    state.catalogue.take_review_write(&who.login)?;
    state.catalogue.flush_downloads(&state.storage).await;
    let input = ReviewInput {
        rating: request.rating,
        body: request.body,
        version: request.version,
    };
    let review = state.storage.save_review(&who, name, input).await?;
    to_json(&review)
}

/// An owner replies to a review (a second reply replaces the first).
#[utoipa::path(
    post,
    path = "/api/wharf/v1/catalogue/packages/{name}/reviews/{id}/reply",
    tag = "reviews",
    params(("name" = String, Path), ("id" = i64, Path)),
    request_body = ReplyRequest,
    responses(
        (status = 200, description = "The review with its reply", body = Review),
        (status = 400, description = "Text too long or empty, bad JSON", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an owner of the package", body = super::openapi::ErrorBody),
        (status = 404, description = "No such package or review", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn reply(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    id: i64,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let who = auth::writer(state, headers).await?;
    let request: ReplyRequest = parse("reply", body)?;
    state.catalogue.take_review_write(&who.login)?;
    let review = state
        .storage
        .reply_to_review(&who, name, id, &request.body)
        .await?;
    to_json(&review)
}

/// A user reports a review to the administrator.
#[utoipa::path(
    post,
    path = "/api/wharf/v1/catalogue/packages/{name}/reviews/{id}/report",
    tag = "reviews",
    params(("name" = String, Path), ("id" = i64, Path)),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Recorded: `{\"reported\": id}`"),
        (status = 400, description = "Reason too long or empty, bad JSON", body = super::openapi::ErrorBody),
        (status = 404, description = "No such package or review", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn report(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    id: i64,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let who = auth::writer(state, headers).await?;
    let request: ReasonRequest = parse("report", body)?;
    state.catalogue.take_review_write(&who.login)?;
    state
        .storage
        .report_review(&who, name, id, &request.reason)
        .await?;
    to_json(&serde_json::json!({ "reported": id }))
}

/// The administrator hides a review, giving a reason that is logged.
#[utoipa::path(
    post,
    path = "/api/wharf/v1/catalogue/packages/{name}/reviews/{id}/hide",
    tag = "reviews",
    params(("name" = String, Path), ("id" = i64, Path)),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Hidden: `{\"hidden\": id}`"),
        (status = 400, description = "Reason too long or empty, bad JSON", body = super::openapi::ErrorBody),
        (status = 403, description = "Not the administrator", body = super::openapi::ErrorBody),
        (status = 404, description = "No such package or review", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn hide(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    id: i64,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let who = auth::writer(state, headers).await?;
    let request: ReasonRequest = parse("hide", body)?;
    state.catalogue.take_review_write(&who.login)?;
    state
        .storage
        .hide_review(&who, name, id, &request.reason)
        .await?;
    to_json(&serde_json::json!({ "hidden": id }))
}
