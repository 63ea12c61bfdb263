//! `GET /api/wharf/v1/usage`: what the registry uses against its plan, for any holder of a
//! valid token of the registry (the figures are the registry's own, not a user's), the
//! `wharf_usage_*` / `wharf_plan_limit_*` gauges of `/metrics`, and
//! `PUT /api/wharf/v1/plan` with `{"plan":"NAME"|null}`: a tenant admin of the default
//! registry (the operator) moves it to another plan of the plans file (the action
//! `change-plan`; a tenant's plan is set by the operator on its data directory, the tenants
//! gate refuses the path). The server's audit records it as `plan.set`.
//!
//! The answer is `{"plan":"free"|null,"plan_defined":bool,"month":"YYYY-MM",
//! "entitlements":[{"entitlement":"storage-bytes","usage":N,"limit":N|null},…]}`.

use std::fmt::Write as _;

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The path of the usage report.
pub(crate) const PATH: &str = "/api/wharf/v1/usage";

/// The path of the plan change.
pub(crate) const PLAN_PATH: &str = "/api/wharf/v1/plan";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    plan: Option<String>,
}

/// `PUT /api/wharf/v1/plan`: moves the registry to the plan named in the body (`null`: no
/// plan); answers `{"plan":…,"before":…}`.
pub(crate) async fn set_plan(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    body: &[u8],
) -> Result<Resp, ApiError> {
    if method != Method::PUT {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {PLAN_PATH}; use PUT with {{\"plan\":\"NAME\"}}"),
        ));
    }
    let principal = auth::writer(state, headers).await?;
    let request: PlanBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the plan body is not valid JSON: {e}; send {{\"plan\":\"NAME\"}} or {{\"plan\":null}}"
        ))
    })?;
    let before = state
        .storage
        .change_plan(&principal, request.plan.as_deref())?;
    let mut response = json_ok(&serde_json::json!({ "plan": request.plan, "before": before }));
    response
        .extensions_mut()
        .insert(crate::audit::AuditTarget(format!(
            "{} -> {}",
            before.as_deref().unwrap_or("none"),
            request.plan.as_deref().unwrap_or("none")
        )));
    Ok(response)
}

/// Answers the usage report to any valid token.
pub(crate) async fn usage(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::writer(state, headers).await?;
    let report = state.storage.usage().await?;
    let body =
        serde_json::to_value(&report).map_err(|e| ApiError::internal("showing usage", &e))?;
    Ok(json_ok(&body))
}

/// Appends one `wharf_usage_<entitlement>` gauge per entitlement, and a
/// `wharf_plan_limit_<entitlement>` gauge for each one the plan limits.
pub(crate) fn render_metrics(out: &mut String, state: &AppState) {
    let report = match state.storage.usage_now() {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, "usage could not be read for /metrics");
            return;
        }
    };
    for entry in &report.entitlements {
        let name = entry.entitlement.metric_name();
        let key = entry.entitlement.key();
        let _ = write!(
            out,
            "# HELP wharf_usage_{name} What the registry uses of `{key}`.\n# TYPE wharf_usage_{name} gauge\nwharf_usage_{name} {}\n",
            entry.usage
        );
        if let Some(limit) = entry.limit {
            let _ = write!(
                out,
                "# HELP wharf_plan_limit_{name} The limit `{key}` of the registry's plan.\n# TYPE wharf_plan_limit_{name} gauge\nwharf_plan_limit_{name} {limit}\n"
            );
        }
    }
}
