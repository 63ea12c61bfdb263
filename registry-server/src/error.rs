//! How failures become HTTP responses.
//!
//! Policy: every error a client sees is `{"errors":[{"detail":"…"}]}` with a real status (cargo
//! shows `detail` to the user, even on 200, and panics on `"ok": false`, so we never send that).
//! Business errors from storage and bad input from the publish path carry messages written for the
//! person running cargo; internal failures are logged in full and answered with a generic message,
//! and a full disk is 507 Insufficient Storage (nothing was stored; retry once space is freed).
//! Storage's and `wharf-index-format`'s errors each carry a kind; the statuses for both are
//! chosen here and nowhere else.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use wharf_index_format::{ErrorKind as FormatErrorKind, FormatError};
use wharf_storage::{ErrorKind, StorageError};

use crate::response::{Resp, json_response};

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    headers: Vec<(http::HeaderName, String)>,
}

impl ApiError {
    /// An error with a status and a message for the user.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 400 with a message.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 with a message.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// Adds a header to the answer (one of each name; a later value replaces an earlier one).
    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 401 carrying cargo's login challenge.
    pub fn unauthorized(detail: impl Into<String>, login_url: &str) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, detail);
        error.headers.push((
            http::header::WWW_AUTHENTICATE,
            format!("Cargo login_url=\"{login_url}\""),
        ));
        error
    }

    /// 429 with `Retry-After: <seconds>` (cargo honours it, up to its own cap).
    pub fn too_many_requests(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, detail);
        error
            .headers
            .push((http::header::RETRY_AFTER, retry_after_seconds.to_string()));
        error
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for the user.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// A failure the client cannot fix: logged here, reported generically.
    pub fn internal(context: &str, error: &dyn fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error while {context}; the registry log has the details"),
        )
    }

    /// 507: the registry's disk or quota is full. What failed (which file, which store) is
    /// logged for the operator; the client learns that nothing was stored and when to retry.
    pub fn storage_full(error: &dyn fmt::Display) -> Self {
        tracing::error!(error = %error, "storage is full; refusing writes until space is freed");
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the registry's storage is full, so nothing was stored; retry once an operator has freed space",
        )
    }

    /// Turns the error into cargo's JSON error envelope.
    pub fn into_response(self) -> Resp {
        let body = serde_json::json!({ "errors": [ { "detail": self.detail } ] });
        let mut response = json_response(self.status, Bytes::from(body.to_string()));
        for (name, value) in self.headers {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        if let StorageError::DailyLimitReached {
            limit,
            max,
            counted,
            login,
            name,
            retry_after_secs,
        } = &error
        {
            return crate::daily_limits::refusal(
                *limit,
                *max,
                *counted,
                login,
                name.as_deref(),
                *retry_after_secs,
            );
        }
        if let StorageError::QuotaExceeded {
            retry_after_secs: Some(wait),
            ..
        } = &error
        {
            return Self::too_many_requests(error.to_string(), *wait);
        }
        let status = match error.kind() {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            // The cargo web API answers a bad token with 403 (the Cargo Book); 401 is kept for
            // index and download requests, where cargo reacts to it by asking for a token.
            ErrorKind::Unauthorized | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            // A feature whose tables are not on this registry's database engine.
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::InsufficientStorage => return Self::storage_full(&error),
            ErrorKind::Internal => return Self::internal("accessing storage", &error),
        };
        Self::new(status, error.to_string())
    }
}

impl From<FormatError> for ApiError {
    fn from(error: FormatError) -> Self {
        let status = match error.kind() {
            FormatErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            // `Invalid`, and any kind a newer `wharf-index-format` adds: the input is at fault.
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, format!("{error} ({})", error.code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_not_on_postgres_is_501_naming_it() {
        let error = ApiError::from(StorageError::NotOnPostgres {
            feature: "webhooks".to_owned(),
        });
        assert_eq!(error.status(), StatusCode::NOT_IMPLEMENTED);
        assert!(
            error
                .detail()
                .starts_with("webhooks is not supported on PostgreSQL yet")
        );
    }

    #[test]
    fn a_full_disk_is_507_and_says_nothing_was_stored() {
        let error = ApiError::from(StorageError::from(std::io::Error::from(
            std::io::ErrorKind::StorageFull,
        )));
        assert_eq!(error.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(
            error.detail(),
            "the registry's storage is full, so nothing was stored; retry once an operator has freed space"
        );
    }
}
