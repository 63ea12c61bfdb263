//! The upstream registry over HTTP: plain and conditional GETs with cargo's token, on one
//! async client driven by the sync's single-threaded runtime (no thread hand-off per request).

use anyhow::{Context, bail};

/// The validators an upstream gave a file (`ETag`, `Last-Modified`), sent back as
/// `If-None-Match`/`If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to send back.
    pub(crate) fn is_some(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}

/// The answer to a conditional GET.
pub(crate) enum Fetched {
    /// 304: the copy held is current.
    NotModified,
    /// 404/410/451.
    Missing,
    /// 200 with the body and its validators.
    Body(Vec<u8>, Validators),
}

/// The answer to a premium blob's download with a licence.
pub(crate) enum Licensed {
    /// 200 with the blob.
    Body(Vec<u8>),
    /// 404/410/451.
    Missing,
    /// 403: the upstream refused the licence; its reason.
    Refused(String),
}

/// The header a licence is presented in, as the installer sends it.
const LICENCE_HEADER: &str = "Wharf-Licence";

/// An upstream's sparse index and the client reaching it.
pub(crate) struct Upstream {
    pub(crate) http: reqwest::Client,
    /// The index URL without `sparse+` and the trailing `/`.
    pub(crate) index: String,
    pub(crate) token: Option<String>,
}

impl Upstream {
    /// The body of `url`, `None` on 404/410/451.
    pub(crate) async fn get(&self, url: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.get_if(url, None).await? {
            Fetched::Body(bytes, _) => Ok(Some(bytes)),
            Fetched::Missing | Fetched::NotModified => Ok(None),
        }
    }

    /// A GET of `url` with cargo's token.
    fn request(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.token {
            Some(token) => request.header("Authorization", token),
            None => request,
        }
    }

    /// GET the premium blob at `url` presenting `licence`; a 403 is the upstream's refusal
    /// of the licence, with the reason it gives.
    pub(crate) async fn get_licensed(&self, url: &str, licence: &str) -> anyhow::Result<Licensed> {
        let response = self
            .request(url)
            .header(LICENCE_HEADER, licence)
            .send()
            .await
            .with_context(|| format!("fetching `{url}`"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading `{url}`"))?
            .to_vec();
        match status.as_u16() {
            200 => Ok(Licensed::Body(body)),
            404 | 410 | 451 => Ok(Licensed::Missing),
            403 => Ok(Licensed::Refused(refusal(&body))),
            _ => bail!("`{url}` answered {status}"),
        }
    }

    /// GET `url`, with `If-None-Match`/`If-Modified-Since` from `held` when given.
    pub(crate) async fn get_if(
        &self,
        url: &str,
        held: Option<&Validators>,
    ) -> anyhow::Result<Fetched> {
        let mut request = self.request(url);
        if let Some(held) = held {
            if let Some(etag) = &held.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(date) = &held.last_modified {
                request = request.header("If-Modified-Since", date);
            }
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("fetching `{url}`"))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match response.status().as_u16() {
            200 => {
                let validators = Validators {
                    etag: header("etag"),
                    last_modified: header("last-modified"),
                };
                let bytes = response
                    .bytes()
                    .await
                    .with_context(|| format!("reading `{url}`"))?
                    .to_vec();
                Ok(Fetched::Body(bytes, validators))
            }
            304 if held.is_some() => Ok(Fetched::NotModified),
            404 | 410 | 451 => Ok(Fetched::Missing),
            401 | 403 => bail!(
                "`{url}` answered {}: the upstream requires a token with the `read` scope; give it with --token or WHARF_MIRROR_TOKEN",
                response.status()
            ),
            _ => bail!("`{url}` answered {}", response.status()),
        }
    }
}

/// The reason in a refusal's body: cargo's `{"errors":[{"detail":…}]}`, or its text.
fn refusal(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value["errors"][0]["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}
