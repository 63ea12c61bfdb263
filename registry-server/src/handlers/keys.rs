//! Publisher keys under `/api/wharf/v1/keys` (a valid token, as for the rest of the web API):
//!
//! - `GET /api/wharf/v1/keys`: `{"origin","login","keys":[{"id","key","created",
//!   "revoked","compromised_since","packages"}]}` (times as RFC 3339, `null` when unset);
//!   the origin and login are what a key registration must name.
//! - `POST /api/wharf/v1/keys` with `{"registration":"<text>","signature":"<key id>:<sig>"}`:
//!   registers the key of a registration signed by that key (`wharf keys register`).
//! - `POST /api/wharf/v1/keys/{id}/revoke` with `{"compromised_since":"<RFC 3339>"}` or
//!   `{}`: revokes the key (`wharf keys revoke`).
//! - `POST /api/wharf/v1/keys/add-to` with `{"statement":"<owner-key-add text>",
//!   "signatures":["<key id>:<sig>",…]}`: adds a key to a package (`wharf keys add-to`).

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_storage::{PublisherKeyInfo, Scope};
use wharf_trust::UtcTime;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The prefix of the key endpoints (without a trailing slash).
pub(crate) const PREFIX: &str = "/api/wharf/v1/keys";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    registration: String,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddTo {
    statement: String,
    signatures: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Revocation {
    #[serde(default)]
    compromised_since: Option<String>,
}

fn time(seconds: Option<i64>) -> Value {
    seconds
        .and_then(|seconds| UtcTime::from_unix(seconds).ok())
        .map_or(Value::Null, |time| Value::String(time.to_string()))
}

fn key_json(key: &PublisherKeyInfo) -> Value {
    json!({
        "id": key.id,
        "key": key.key,
        "created": time(Some(key.created)),
        "revoked": time(key.revoked),
        "compromised_since": time(key.compromised_since),
        "packages": key.packages,
    })
}

fn body<T: for<'de> Deserialize<'de>>(body: &Bytes, shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body must be {shape}: {e}")))
}

/// Routes a request under [`PREFIX`]; `rest` is the path after it.
pub(crate) async fn route(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    rest: &str,
    request_body: &Bytes,
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    principal.require_scope(Scope::Owners)?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        (&Method::GET, []) => {
            let keys = state.storage.publisher_keys(&principal).await?;
            Ok(json_ok(&json!({
                "origin": state.storage.log_origin(),
                "login": principal.login,
                "keys": keys.iter().map(key_json).collect::<Vec<_>>(),
            })))
        }
        (&Method::POST, []) => {
            let request: Registration = body(
                request_body,
                r#"{"registration":"<text>","signature":"<key id>:<base64 signature>"}"#,
            )?;
            let key = state
                .storage
                .register_publisher_key(&principal, &request.registration, &request.signature)
                .await?;
            Ok(json_ok(&json!({ "key": key_json(&key) })))
        }
        (&Method::POST, ["add-to"]) => {
            let request: AddTo = body(
                request_body,
                r#"{"statement":"<owner-key-add text>","signatures":["<key id>:<base64 signature>"]}"#,
            )?;
            let key = state
                .storage
                .add_package_key(&principal, &request.statement, &request.signatures)
                .await?;
            Ok(json_ok(
                &json!({ "key": key.to_text(), "id": key.key_id().to_string() }),
            ))
        }
        (&Method::POST, [id, "revoke"]) => {
            let request: Revocation = if request_body.is_empty() {
                Revocation::default()
            } else {
                body(
                    request_body,
                    r#"{"compromised_since":"<RFC 3339 time>"} or {}"#,
                )?
            };
            let since = request
                .compromised_since
                .map(|text| {
                    UtcTime::parse(&text, "compromised_since").map_err(|e| {
                        ApiError::bad_request(format!(
                            "{e}; give the time as RFC 3339 UTC, e.g. 2026-08-20T10:11:12Z"
                        ))
                    })
                })
                .transpose()?
                .map(UtcTime::unix);
            let key = state
                .storage
                .revoke_publisher_key(&principal, id, since)
                .await?;
            Ok(json_ok(&json!({ "key": key_json(&key) })))
        }
        _ => Err(ApiError::not_found(format!(
            "no such endpoint: {method} {PREFIX}{rest}"
        ))),
    }
}
