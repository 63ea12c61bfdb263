//! Uploading a publish body (`PUT /api/v1/crates/new`, the frame cargo builds) to a
//! registry's web API.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use crate::error::with_causes;
use crate::tls::client_config;
use crate::{ClientError, IndexUrl};

/// How long an upload may take before it is given up.
const UPLOAD_TIMEOUT: Duration = Duration::from_mins(2);

/// Sends `body` (a complete publish frame) to the registry at `registry`: its sparse index
/// URL (`sparse+http://host/index/`, whose `config.json` names the API) or its API root
/// (`http://host`). `token` goes verbatim in `Authorization`, as cargo sends it. Returns
/// the answer's JSON (`{"warnings":…}`); a refusal is [`ClientError::Status`] carrying the
/// registry's one-line reason.
pub fn upload_publish_body(
    registry: &str,
    token: Option<&str>,
    body: Vec<u8>,
    ca_certs: &[PathBuf],
) -> Result<serde_json::Value, ClientError> {
    let http = Client::builder()
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
        .timeout(UPLOAD_TIMEOUT)
        .tls_backend_preconfigured(client_config(ca_certs)?)
        .build()
        .map_err(|e| ClientError::HttpClient {
            reason: with_causes(&e),
        })?;
    let api = api_root(&http, registry, token)?;
    let url = format!("{}/api/v1/crates/new", api.trim_end_matches('/'));
    let mut request = http
        .put(&url)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(body);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token);
    }
    let response = request.send().map_err(|e| ClientError::Transport {
        url: url.clone(),
        reason: with_causes(&e),
    })?;
    let status = response.status();
    let text = response.text().map_err(|e| ClientError::Transport {
        url: url.clone(),
        reason: with_causes(&e),
    })?;
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if !status.is_success() {
        let detail = json
            .as_ref()
            .and_then(|v| v["errors"][0]["detail"].as_str())
            .map_or_else(|| text.trim().to_owned(), str::to_owned);
        return Err(ClientError::Status {
            url,
            status: status.as_u16(),
            detail: Some(detail),
        });
    }
    json.ok_or_else(|| ClientError::Status {
        url,
        status: status.as_u16(),
        detail: Some("the answer is not JSON".to_owned()),
    })
}

/// The API root: `config.json`'s `api` for an index URL, else the URL itself.
fn api_root(http: &Client, registry: &str, token: Option<&str>) -> Result<String, ClientError> {
    let trimmed = registry.trim_end_matches('/');
    if !(registry.starts_with("sparse+") || trimmed.ends_with("/index")) {
        return Ok(trimmed.to_owned());
    }
    let index = IndexUrl::parse(registry)?;
    let url = index.join("config.json");
    let mut request = http.get(&url);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token);
    }
    let response = request.send().map_err(|e| ClientError::Transport {
        url: url.clone(),
        reason: with_causes(&e),
    })?;
    let status = response.status();
    let config: serde_json::Value = response.json().map_err(|e| ClientError::InvalidConfig {
        url: url.clone(),
        reason: format!("HTTP {status}: {}", with_causes(&e)),
    })?;
    config["api"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ClientError::InvalidConfig {
            url,
            reason: "it has no `api` URL, so this registry takes no uploads".to_owned(),
        })
}
