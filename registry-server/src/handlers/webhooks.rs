//! `GET|POST /api/wharf/v1/webhooks`, `GET /api/wharf/v1/webhooks/deliveries` and
//! `POST /api/wharf/v1/webhooks/deliveries/retry`: the administrator registers webhooks
//! (`{"url":"…","secret":"…"}`), lists them (never their secrets), reads the delivery log
//! (every attempt, and each event's delivery state, `pending`, `delivered` or `failed`, from
//! the outbox with the row's `id`) and retries failed deliveries (`{"id":N}` or
//! `{"all_failed":true}`; audited as `webhook.retry`). Deliveries themselves are
//! `crate::webhooks`.

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;

use wharf_storage::WebhookRetry;

use crate::audit::AuditTarget;
use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The webhooks endpoint.
pub(crate) const PATH: &str = "/api/wharf/v1/webhooks";

/// The delivery log endpoint.
pub(crate) const DELIVERIES_PATH: &str = "/api/wharf/v1/webhooks/deliveries";

/// The endpoint retrying failed deliveries.
pub(crate) const RETRY_PATH: &str = "/api/wharf/v1/webhooks/deliveries/retry";

/// Delivery attempts shown.
const DELIVERIES_SHOWN: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    secret: String,
}

/// What a retry names: one failed delivery (an outbox row's `id`) or every failed one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryBody {
    id: Option<i64>,
    #[serde(default)]
    all_failed: bool,
}

impl RetryBody {
    fn which(&self) -> Result<WebhookRetry, ApiError> {
        match (self.id, self.all_failed) {
            (Some(id), false) => Ok(WebhookRetry::Delivery(id)),
            (None, true) => Ok(WebhookRetry::AllFailed),
            _ => Err(ApiError::bad_request(
                "a retry names one failed delivery, `{\"id\": N}` (the outbox row's id), or every failed one, `{\"all_failed\": true}`".to_owned(),
            )),
        }
    }
}

async fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
) -> Result<(), ApiError> {
    let principal = auth::writer(state, headers).await?;
    Ok(principal.require(wharf_storage::Action::Lifecycle, action)?)
}

/// Routes the three endpoints.
pub(crate) async fn route(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Resp, ApiError> {
    match (method, path) {
        (&Method::GET, PATH) => {
            require_admin(state, headers, "list webhooks").await?;
            let hooks: Vec<_> = state
                .storage
                .webhooks()
                .await?
                .into_iter()
                .map(|hook| serde_json::json!({ "id": hook.id, "url": hook.url }))
                .collect();
            Ok(json_ok(&serde_json::json!({ "webhooks": hooks })))
        }
        (&Method::POST, PATH) => {
            let principal = auth::writer(state, headers).await?;
            let request: WebhookBody = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the webhook body is not valid JSON: {e}"))
            })?;
            let id = state
                .storage
                .add_webhook(&principal, &request.url, &request.secret)
                .await?;
            Ok(json_ok(
                &serde_json::json!({ "id": id, "url": request.url }),
            ))
        }
        (&Method::GET, DELIVERIES_PATH) => {
            require_admin(state, headers, "read the webhook delivery log").await?;
            let deliveries = state.storage.webhook_deliveries(DELIVERIES_SHOWN).await?;
            let outbox = state.storage.webhook_outbox(DELIVERIES_SHOWN).await?;
            Ok(json_ok(
                &serde_json::json!({ "deliveries": deliveries, "outbox": outbox }),
            ))
        }
        (&Method::POST, RETRY_PATH) => {
            let principal = auth::writer(state, headers).await?;
            let request: RetryBody = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the retry body is not valid JSON: {e}"))
            })?;
            let which = request.which()?;
            let retried = state
                .storage
                .retry_webhook_deliveries(&principal, which)
                .await?;
            let target = match which {
                WebhookRetry::Delivery(id) => format!("webhook delivery {id}"),
                WebhookRetry::AllFailed => "every failed webhook delivery".to_owned(),
            };
            let mut response = json_ok(&serde_json::json!({ "retried": retried }));
            response.extensions_mut().insert(AuditTarget(target));
            Ok(response)
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{method} is not allowed on {path}; use GET (or POST on {PATH} and {RETRY_PATH})"
            ),
        )),
    }
}
