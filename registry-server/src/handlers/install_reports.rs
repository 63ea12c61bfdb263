//! `POST /api/wharf/v1/install-reports`: the install set a `wharf install` run reports when
//! its user opted in. The body names the install by the random id kept in its directory;
//! a token, when sent, marks the packages as installed by that user (for "verified install"
//! reviews) without being linked to the set. Bodies are small ([`MAX_BODY_BYTES`]) and each
//! client address may send [`REPORTS_PER_MINUTE`] reports a minute.

use std::net::IpAddr;

use http::HeaderMap;
use serde_json::Value;
use wharf_storage::{InstallReport, ReportOutcome};

use super::catalogue::to_json;
use crate::auth;
use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// Where reports are sent.
pub(crate) const PATH: &str = "/api/wharf/v1/install-reports";

/// The largest report body read (413 beyond).
pub(crate) const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Reports one client address may send per minute (429 beyond).
pub(crate) const REPORTS_PER_MINUTE: u32 = 30;

/// The body of a report.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "the shape is documented; the body is read field by field"
)]
pub(crate) struct InstallReportRequest {
    /// The install directory's random id: 32 lowercase hexadecimal digits.
    install_id: String,
    /// The host API version the set was resolved for.
    host_api: Option<String>,
    /// The packages installed, the host API left out (at most 1000).
    packages: Vec<ReportedPackage>,
}

/// One installed package.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "the shape is documented; the body is read field by field"
)]
pub(crate) struct ReportedPackage {
    /// Its name.
    name: String,
    /// Its version.
    version: String,
}

fn bad(detail: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{detail}; see docs/catalogue.md, \"Install reports\""
    ))
}

/// A string field of `object`, named `path` in errors.
fn text<'a>(object: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(bad(&format!("`{path}` must be a string, not `{other}`"))),
    }
}

/// Reads a report body, naming the field that is missing, unknown or of the wrong type.
fn parse(body: &[u8]) -> Result<InstallReport, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(&format!("the install report is not JSON ({e})")))?;
    let Value::Object(map) = &value else {
        return Err(bad("the install report must be a JSON object"));
    };
    if let Some(key) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "install_id" | "host_api" | "packages"))
    {
        return Err(bad(&format!(
            "unknown field `{key}`; a report has install_id, host_api and packages"
        )));
    }
    let install_id = text(&value, "install_id", "install_id")?
        .ok_or_else(|| bad("the field `install_id` is missing"))?
        .to_owned();
    let host_api = text(&value, "host_api", "host_api")?.map(str::to_owned);
    let Some(Value::Array(list)) = value.get("packages") else {
        return Err(bad(
            "the field `packages` is missing or not a list of {\"name\", \"version\"}",
        ));
    };
    let mut packages = Vec::with_capacity(list.len());
    for (index, entry) in list.iter().enumerate() {
        let at = |field: &str| format!("packages[{index}].{field}");
        if !entry.is_object() {
            return Err(bad(&format!(
                "`packages[{index}]` must be an object {{\"name\", \"version\"}}"
            )));
        }
        let name = text(entry, "name", &at("name"))?
            .ok_or_else(|| bad(&format!("the field `{}` is missing", at("name"))))?;
        let version = text(entry, "version", &at("version"))?
            .ok_or_else(|| bad(&format!("the field `{}` is missing", at("version"))))?;
        packages.push((name.to_owned(), version.to_owned()));
    }
    Ok(InstallReport {
        install_id,
        host_api,
        packages,
    })
}

/// Records an install directory's set.
#[utoipa::path(
    post,
    path = "/api/wharf/v1/install-reports",
    tag = "recommendations",
    request_body = InstallReportRequest,
    responses(
        (status = 200, description = "Recorded; packages this registry does not have are counted in `unknown`", body = ReportOutcome),
        (status = 400, description = "A field is missing, unknown or malformed (the message names it)", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many reports from this address", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn report(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    body: &[u8],
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let report = parse(body)?;
    state.catalogue.take_install_report(peer)?;
    let who = auth::optional_principal(state, headers).await;
    let outcome = state
        .storage
        .record_install_report(who.as_ref(), report)
        .await?;
    to_json(&outcome)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn malformed_reports_name_the_field() {
        for (body, needle) in [
            ("[]", "JSON object"),
            ("{", "not JSON"),
            (r#"{"packages": []}"#, "`install_id`"),
            (
                r#"{"install_id": 7, "packages": []}"#,
                "`install_id` must be a string",
            ),
            (r#"{"install_id": "x"}"#, "`packages`"),
            (
                r#"{"install_id": "x", "packages": [{"name": "a"}]}"#,
                "`packages[0].version`",
            ),
            (
                r#"{"install_id": "x", "packages": [{"name": 1, "version": "1.0.0"}]}"#,
                "`packages[0].name`",
            ),
            (
                r#"{"install_id": "x", "packages": [], "user": "me"}"#,
                "unknown field `user`",
            ),
        ] {
            let Err(error) = parse(body.as_bytes()) else {
                panic!("{body} was accepted");
            };
            assert!(
                error.detail().contains(needle),
                "{body}: {}",
                error.detail()
            );
        }
        let report = parse(
            br#"{"install_id": "x", "host_api": "2.1.0", "packages": [{"name": "a", "version": "1.0.0"}]}"#,
        )
        .unwrap();
        assert_eq!(report.packages, [("a".to_owned(), "1.0.0".to_owned())]);
    }
}
