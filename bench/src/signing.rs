//! Signed publishes for the load tools: a publisher key registered to the token's account,
//! and each upload carrying the release statement headers `wharf publish` sends.

use bytes::Bytes;
use wharf_trust::{KeyRegistration, SigningKey, UtcTime};

use crate::{BenchError, SyntheticCrate};

/// One publish request: the framed body and any extra headers.
#[derive(Debug, Clone)]
pub struct PublishUpload {
    /// The `PUT /api/v1/crates/new` body.
    pub body: Bytes,
    /// Extra headers, e.g. the release statement and its signature.
    pub headers: Vec<(&'static str, String)>,
}

impl From<Bytes> for PublishUpload {
    fn from(body: Bytes) -> Self {
        Self {
            body,
            headers: Vec::new(),
        }
    }
}

/// A publisher key registered to the account of a token, and the registry's origin.
#[derive(Debug)]
pub struct RegisteredKey {
    key: SigningKey,
    origin: String,
}

impl RegisteredKey {
    /// Makes a key and registers it at the registry `base_url` with `token`
    /// (`GET` then `POST /api/wharf/v1/keys`).
    pub async fn register(base_url: &str, token: &str) -> Result<Self, BenchError> {
        let client = crate::http_client::client_builder()
            .no_proxy()
            .build()
            .map_err(BenchError::Client)?;
        let url = format!("{}/api/wharf/v1/keys", base_url.trim_end_matches('/'));
        let http = |source| BenchError::Http {
            url: url.clone(),
            source,
        };
        let account: serde_json::Value = client
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(http)?
            .json()
            .await
            .map_err(http)?;
        let field = |name: &str| {
            account[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| BenchError::Signing(format!("`{url}` names no `{name}`")))
        };
        let (origin, login) = (field("origin")?, field("login")?);
        let key = SigningKey::generate();
        let registration = KeyRegistration::new(&origin, &login, key.public_key(), UtcTime::now())
            .map_err(|e| BenchError::Signing(e.to_string()))?;
        let answer = client
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, token)
            .json(&serde_json::json!({
                "registration": registration.to_text(),
                "signature": registration.sign(&key).to_text(),
            }))
            .send()
            .await
            .map_err(http)?;
        if !answer.status().is_success() {
            return Err(BenchError::Status {
                url,
                status: answer.status().as_u16(),
            });
        }
        Ok(Self { key, origin })
    }

    /// The signed upload of `krate`, dated now (the registry accepts statements dated
    /// within five minutes of its clock).
    pub fn sign(&self, krate: &SyntheticCrate) -> Result<PublishUpload, BenchError> {
        let json = krate.metadata_json().to_string();
        let tarball = krate.tarball()?;
        let headers = wharf_test_support::signed_publish_headers(
            &self.key,
            &self.origin,
            json.as_bytes(),
            &tarball,
            UtcTime::now(),
        )
        .map_err(|e| BenchError::Signing(e.to_string()))?;
        let body = wharf_index_format::encode_publish_frame(json.as_bytes(), &tarball).map_err(
            |source| BenchError::Frame {
                package: krate.metadata_json()["name"].to_string(),
                source,
            },
        )?;
        Ok(PublishUpload {
            body: Bytes::from(body),
            headers,
        })
    }
}
