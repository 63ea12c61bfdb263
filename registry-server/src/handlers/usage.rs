//! `GET /api/wharf/v1/usage`: what the registry uses against its plan, for any holder of a
//! valid token of the registry (the figures are the registry's own, not a user's), and the
//! `wharf_usage_*` / `wharf_plan_limit_*` gauges of `/metrics`.
//!
//! The answer is `{"plan":"free"|null,"plan_defined":bool,"month":"YYYY-MM",
//! "entitlements":[{"entitlement":"storage-bytes","usage":N,"limit":N|null},…]}`.

use std::fmt::Write as _;

use http::HeaderMap;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The path of the usage report.
pub(crate) const PATH: &str = "/api/wharf/v1/usage";

/// Answers the usage report to any valid token.
pub(crate) async fn usage(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::writer(state, headers)?;
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
