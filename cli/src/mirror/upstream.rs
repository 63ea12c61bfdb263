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

    /// GET `url`, with `If-None-Match`/`If-Modified-Since` from `held` when given.
    pub(crate) async fn get_if(
        &self,
        url: &str,
        held: Option<&Validators>,
    ) -> anyhow::Result<Fetched> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", token);
        }
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
