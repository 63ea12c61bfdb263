//! One HTTP request per index file, with cargo's status rules.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rustls::ClientConfig;
use wharf_index_format::RegistryConfig;

use crate::error::with_causes;
use crate::options::RetryPolicy;
use crate::tls::tls_failure;
use crate::{ClientError, ClientOptions, IndexUrl};

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request (connect, send, read the body) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);

/// Sends the requests of one index and counts them.
#[derive(Debug)]
pub(crate) struct Fetcher {
    http: Client,
    url: IndexUrl,
    token: Option<String>,
    retry: RetryPolicy,
    requests: AtomicU64,
}

impl Fetcher {
    /// A client for `url` that sends `token` (verbatim, as cargo does) when given, speaks
    /// TLS with `tls` and retries as `options` say.
    pub(crate) fn new(
        url: IndexUrl,
        token: Option<String>,
        tls: ClientConfig,
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("cargo-protocol"),
            HeaderValue::from_static("version=1"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("text/plain"));
        let http = Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .gzip(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ClientError::HttpClient {
                reason: with_causes(&e),
            })?;
        Ok(Self {
            http,
            url,
            token,
            retry: options.retry_policy(),
            requests: AtomicU64::new(0),
        })
    }

    /// The index URL.
    pub(crate) fn url(&self) -> &IndexUrl {
        &self.url
    }

    /// How many requests were sent so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Fetches and parses `config.json`. A registry that wants a token gets a clear error
    /// when none is given or the one given is refused.
    pub(crate) fn config(&self) -> Result<RegistryConfig, ClientError> {
        let url = self.url.join("config.json");
        let response = self.get(&url)?;
        let status = response.status();
        if matches!(status.as_u16(), 404 | 410 | 451) {
            return Err(ClientError::InvalidConfig {
                url,
                reason: format!(
                    "HTTP {}: there is no sparse index at `{}`",
                    status.as_u16(),
                    self.url
                ),
            });
        }
        let body = self.success_body(&url, response)?;
        let config: RegistryConfig =
            serde_json::from_str(&body).map_err(|e| ClientError::InvalidConfig {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if config.auth_required && self.token.is_none() {
            return Err(ClientError::AuthRequired {
                url: self.url.to_string(),
            });
        }
        Ok(config)
    }

    /// The text of the index file at `path`, or `None` when the package does not exist
    /// (404, 410 or 451, as cargo reads them).
    pub(crate) fn index_file(&self, path: &str) -> Result<Option<String>, ClientError> {
        let url = self.url.join(path);
        let response = self.get(&url)?;
        if matches!(response.status().as_u16(), 404 | 410 | 451) {
            return Ok(None);
        }
        self.success_body(&url, response).map(Some)
    }

    /// Sends a GET, again after a wait when it failed in a way that may pass: no answer
    /// (but not a TLS failure: a certificate does not fix itself), HTTP 429 or 5xx. The last
    /// outcome is returned as it is.
    fn get(&self, url: &str) -> Result<Response, ClientError> {
        let mut retry = 0;
        loop {
            let outcome = self.send(url);
            let may_pass = match &outcome {
                Ok(response) => {
                    let status = response.status();
                    (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                        .then(|| retry_after(response))
                }
                Err(ClientError::Transport { .. }) => Some(None),
                Err(_) => None,
            };
            match may_pass {
                Some(hint) if retry < self.retry.retries => {
                    let wait = self.retry.delay_before(retry, hint);
                    tracing::debug!(url, retry, ?wait, "retrying a failed request");
                    std::thread::sleep(wait);
                    retry += 1;
                }
                _ => return outcome,
            }
        }
    }

    fn send(&self, url: &str) -> Result<Response, ClientError> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(url, "fetching");
        request.send().map_err(|e| transport_error(url, &e))
    }

    /// The body of a 200 answer; every other status becomes the matching error.
    fn success_body(&self, url: &str, response: Response) -> Result<String, ClientError> {
        let status = response.status();
        if status == StatusCode::OK {
            return response.text().map_err(|e| transport_error(url, &e));
        }
        match (status.as_u16(), self.token.is_some()) {
            (401, false) => Err(ClientError::AuthRequired {
                url: url.to_owned(),
            }),
            (401 | 403, true) => Err(ClientError::TokenRefused {
                url: url.to_owned(),
                status: status.as_u16(),
            }),
            (code, _) => Err(ClientError::Status {
                url: url.to_owned(),
                status: code,
                detail: response.text().ok().and_then(|body| error_detail(&body)),
            }),
        }
    }
}

/// The `Retry-After` of an answer, when it is a number of seconds.
fn retry_after(response: &Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A request to `url` that got no answer: a TLS failure when it is one, else a transport
/// error.
fn transport_error(url: &str, error: &reqwest::Error) -> ClientError {
    tls_failure(url, error).unwrap_or_else(|| ClientError::Transport {
        url: url.to_owned(),
        reason: with_causes(error),
    })
}

/// `errors[0].detail` of a registry's JSON error body (`{"errors":[{"detail":"…"}]}`).
fn error_detail(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value
        .get("errors")?
        .get(0)?
        .get("detail")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_detail_reads_the_first_error() {
        assert_eq!(
            error_detail(r#"{"errors":[{"detail":"disk full"},{"detail":"later"}]}"#).as_deref(),
            Some("disk full")
        );
        assert_eq!(error_detail("<html>oops</html>"), None);
        assert_eq!(error_detail(r#"{"errors":[]}"#), None);
    }
}
