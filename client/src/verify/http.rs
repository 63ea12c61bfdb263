//! GET requests with a byte cap and a time limit per answer, so a hostile server can neither
//! fill memory with an endless body nor hold the client with a slow one.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::VerifyError;
use crate::error::with_causes;
use crate::tls::client_config;
use crate::{ClientError, ClientOptions};

/// The most a signed note (timestamp, checkpoint), proof or bin list may have.
pub(crate) const SMALL_CAP: u64 = 256 * 1024;
/// The most an index file, a page of leaves or the keyset chain may have.
pub(crate) const LARGE_CAP: u64 = 32 * 1024 * 1024;
/// The most a `.crate` file may have.
pub(crate) const CRATE_CAP: u64 = 64 * 1024 * 1024;

/// A GET client that sends the token and enforces caps and a time limit.
#[derive(Debug)]
pub(crate) struct CappedHttp {
    http: Client,
    token: Option<String>,
    timeout: Duration,
    /// How many requests were sent.
    pub(crate) requests: std::sync::atomic::AtomicU64,
}

impl CappedHttp {
    /// A client trusting `options.ca_certs`, with `timeout` per answer.
    pub(crate) fn new(
        token: Option<String>,
        options: &ClientOptions,
        timeout: Duration,
    ) -> Result<Self, VerifyError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("cargo-protocol"),
            HeaderValue::from_static("version=1"),
        );
        let http = Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(timeout)
            .timeout(timeout)
            .tls_backend_preconfigured(client_config(&options.ca_certs)?)
            .build()
            .map_err(|e| ClientError::HttpClient {
                reason: with_causes(&e),
            })?;
        Ok(Self {
            http,
            token,
            timeout,
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The body of `url`, `None` on 404/410/451; every other non-200 status is an error.
    pub(crate) fn get_optional(
        &self,
        url: &str,
        what: &str,
        cap: u64,
    ) -> Result<Option<Vec<u8>>, VerifyError> {
        let started = Instant::now();
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token);
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(url, "fetching for verification");
        let response = request.send().map_err(|e| self.failure(url, &e, started))?;
        let status = response.status().as_u16();
        if matches!(status, 404 | 410 | 451) {
            return Ok(None);
        }
        if status != 200 {
            let hint = match status {
                401 if self.token.is_none() => "; the registry needs a token: pass `--token`",
                401 | 403 => "; the token was refused",
                _ => "",
            };
            return Err(VerifyError::Fetch {
                url: url.to_owned(),
                reason: format!("HTTP {status}{hint}"),
            });
        }
        if response.content_length().is_some_and(|length| length > cap) {
            return Err(too_large(url, what, cap));
        }
        let mut body = Vec::new();
        let mut reader = response.take(cap + 1);
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if started.elapsed() > self.timeout {
                return Err(self.too_slow(url, body.len()));
            }
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if started.elapsed() > self.timeout => {
                    tracing::debug!(url, %error, "read failed after the time limit");
                    return Err(self.too_slow(url, body.len()));
                }
                Err(error) => {
                    return Err(VerifyError::Fetch {
                        url: url.to_owned(),
                        reason: error.to_string(),
                    });
                }
            };
            body.extend_from_slice(&buffer[..read]);
            if body.len() as u64 > cap {
                return Err(too_large(url, what, cap));
            }
        }
        Ok(Some(body))
    }

    /// The body of `url`; "no such file" is an error too.
    pub(crate) fn get(&self, url: &str, what: &str, cap: u64) -> Result<Vec<u8>, VerifyError> {
        self.get_optional(url, what, cap)?
            .ok_or_else(|| VerifyError::Fetch {
                url: url.to_owned(),
                reason: format!("HTTP 404: the registry serves no {what} there"),
            })
    }

    /// The body of `url` as UTF-8 text.
    pub(crate) fn get_text(&self, url: &str, what: &str, cap: u64) -> Result<String, VerifyError> {
        String::from_utf8(self.get(url, what, cap)?).map_err(|_| VerifyError::Malformed {
            url: url.to_owned(),
            what: what.to_owned(),
            reason: "it is not UTF-8 text".to_owned(),
        })
    }

    fn failure(&self, url: &str, error: &reqwest::Error, started: Instant) -> VerifyError {
        if error.is_timeout() || started.elapsed() > self.timeout {
            return self.too_slow(url, 0);
        }
        VerifyError::Fetch {
            url: url.to_owned(),
            reason: with_causes(error),
        }
    }

    fn too_slow(&self, url: &str, received: usize) -> VerifyError {
        VerifyError::TooSlow {
            url: url.to_owned(),
            seconds: self.timeout.as_secs(),
            received: received as u64,
        }
    }
}

fn too_large(url: &str, what: &str, cap: u64) -> VerifyError {
    VerifyError::TooLarge {
        url: url.to_owned(),
        what: what.to_owned(),
        cap,
    }
}
