//! [`AsyncSparseIndex`]: a registry's sparse index read with an async HTTP client, as a
//! [`wharf_resolver::AsyncIndexSource`] (the resolver then runs on a thread of its own, see
//! [`wharf_resolver::run_with_async_source`], which also fetches dependencies ahead).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{Client, StatusCode};
use wharf_index_format::{IndexEntry, IndexFile, RegistryConfig, index_path};
use wharf_resolver::{AsyncIndexSource, ResolveError};

use crate::error::with_causes;
use crate::index_files::is_fetchable_name;
use crate::tls::{client_config, tls_failure};
use crate::{ClientError, ClientOptions, IndexUrl};

/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);

/// A sparse index over HTTP or HTTPS read asynchronously (on a tokio runtime), as cargo
/// reads one: `config.json` first, then one file per package; 404, 410 and 451 mean "no
/// such package"; `Authorization: <token>` on every request when a token is given. Uses the
/// CA certificates of [`ClientOptions::ca_certs`]; no on-disk cache and no retries.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use wharf_client::{AsyncSparseIndex, ClientOptions};
/// use wharf_resolver::{Requirements, Resolver, run_with_async_source};
///
/// let index =
///     AsyncSparseIndex::connect("sparse+https://registry.example/index/", None, &ClientOptions::default())
///         .await?;
/// let wanted = Requirements::new().require("serde", "1");
/// let resolution = run_with_async_source(&index, move |source| {
///     Resolver::new(source).resolve_requirements(&wanted)
/// })
/// .await?;
/// println!("{}", resolution.to_json());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncSparseIndex {
    connection: Connection,
    config: RegistryConfig,
}

/// The client, the index URL and the token.
#[derive(Debug)]
struct Connection {
    http: Client,
    url: IndexUrl,
    token: Option<String>,
    requests: AtomicU64,
}

impl AsyncSparseIndex {
    /// Opens the index at `url` (`sparse+https://host/…/index/`; `sparse+` and the trailing
    /// slash optional) and fetches its `config.json`.
    pub async fn connect(
        url: &str,
        token: Option<String>,
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let url = IndexUrl::parse(url)?;
        let headers = crate::fetcher::cargo_headers();
        let http = Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .gzip(true)
            .timeout(REQUEST_TIMEOUT)
            .tls_backend_preconfigured(client_config(&options.ca_certs)?)
            .build()
            .map_err(|e| ClientError::HttpClient {
                reason: with_causes(&e),
            })?;
        let connection = Connection {
            http,
            url,
            token,
            requests: AtomicU64::new(0),
        };
        let config = connection.read_config().await?;
        Ok(Self { connection, config })
    }

    /// The registry's `config.json`.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// How many HTTP requests were sent so far, `config.json` included.
    pub fn requests(&self) -> u64 {
        self.connection.requests.load(Ordering::Relaxed)
    }
}

impl Connection {
    async fn read_config(&self) -> Result<RegistryConfig, ClientError> {
        let url = self.url.join("config.json");
        let response = self.get(&url).await?;
        if let Some(error) = self.url.missing_config(&url, response.status().as_u16()) {
            return Err(error);
        }
        let body = self.success_body(&url, response).await?;
        self.url.read_config(&url, &body, self.token.is_some())
    }

    /// Every supported entry of `name`'s index file (empty when the package does not exist).
    async fn read(&self, name: &str) -> Result<Arc<[IndexEntry]>, ClientError> {
        if !is_fetchable_name(name) {
            return Ok(Arc::from([]));
        }
        let url = self.url.join(&index_path(name));
        let response = self.get(&url).await?;
        if matches!(response.status().as_u16(), 404 | 410 | 451) {
            return Ok(Arc::from([]));
        }
        let text = self.success_body(&url, response).await?;
        let (file, errors) = IndexFile::parse_lenient(&text);
        for (line, error) in errors {
            tracing::debug!(url, line, %error, "skipping unreadable index line");
        }
        // Names that differ only in case share a file; each gets its own lines.
        Ok(file
            .entries
            .into_iter()
            .filter(|entry| entry.name == name && entry.is_supported())
            .collect())
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, ClientError> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(url, "fetching");
        request.send().await.map_err(|e| transport_error(url, &e))
    }

    /// The body of a 200 answer; every other status becomes the matching error.
    async fn success_body(
        &self,
        url: &str,
        response: reqwest::Response,
    ) -> Result<String, ClientError> {
        let status = response.status();
        if status == StatusCode::OK {
            return response.text().await.map_err(|e| transport_error(url, &e));
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
                detail: None,
            }),
        }
    }
}

impl AsyncIndexSource for AsyncSparseIndex {
    async fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        self.connection
            .read(name)
            .await
            .map_err(|error| error.for_package(name))
    }
}

/// A request to `url` that got no answer: a TLS failure when it is one, else a transport
/// error.
fn transport_error(url: &str, error: &reqwest::Error) -> ClientError {
    tls_failure(url, error).unwrap_or_else(|| ClientError::Transport {
        url: url.to_owned(),
        reason: with_causes(error),
    })
}
