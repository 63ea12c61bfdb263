//! A registry in process: storage in a temporary directory, the server's state over it, and
//! requests sent straight to the router.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use wharf_registry_server::{AppState, ServerConfig, handle, warm_cache};
use wharf_storage::{BlobBackend, LogEvent, NewToken, Scope, Storage, StorageConfig};

/// The URL the registry believes it is reached at; it appears in challenges and `/me`.
pub(crate) const PUBLIC_URL: &str = "http://wharf.test";

/// A registry whose router is called directly.
pub(crate) struct Registry {
    /// The data directory; removed when the registry is dropped.
    dir: tempfile::TempDir,
    /// The server's state over the storage in `dir`.
    pub(crate) state: Arc<AppState>,
    /// A token of user `admin` with every scope.
    pub(crate) admin: String,
}

impl Registry {
    /// A public registry with the default limits.
    pub(crate) async fn start() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A registry whose configuration `configure` adjusts first.
    pub(crate) async fn with_config(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let storage = Storage::open(StorageConfig {
            data_dir: dir.path().to_path_buf(),
            blobs: BlobBackend::Local,
        })
        .await
        .expect("storage opens in a fresh directory");
        let mut config = ServerConfig::new(PUBLIC_URL, false);
        configure(&mut config);
        let state = Arc::new(AppState::new(storage, config));
        warm_cache(&state).await.expect("the index cache fills");
        let mut registry = Self {
            dir,
            state,
            admin: String::new(),
        };
        registry.admin = registry.token("admin", &Scope::ALL);
        registry
    }

    /// A new token for `user` (created if needed) with `scopes`.
    pub(crate) fn token(&self, user: &str, scopes: &[Scope]) -> String {
        self.state
            .storage
            .create_token(NewToken {
                user: user.to_owned(),
                scopes: scopes.to_vec(),
                expires_at: None,
                name_patterns: Vec::new(),
                label: None,
            })
            .expect("the token is created")
            .secret
            .expose()
            .to_owned()
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every event in the log, to show a refused request wrote nothing.
    pub(crate) fn events(&self) -> Vec<LogEvent> {
        self.state
            .storage
            .events(0, usize::MAX)
            .expect("the log is readable")
    }

    /// Sends one request through the router.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let response = handle(Arc::clone(&self.state), request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .expect("the body is read whole (a blob from the store too)")
            .to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET path` without a token.
    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(
            request(Method::GET, path)
                .body(Full::default())
                .expect("a request"),
        )
        .await
    }

    /// `PUT /api/v1/crates/new` with `body` and `token`.
    pub(crate) async fn publish(&self, token: &str, body: Vec<u8>) -> Answer {
        self.send(
            request(Method::PUT, "/api/v1/crates/new")
                .header(http::header::AUTHORIZATION, token)
                .body(Full::new(Bytes::from(body)))
                .expect("a request"),
        )
        .await
    }

    /// Publishes `name` `version` as `admin`, which must succeed.
    pub(crate) async fn seed(&self, name: &str, version: &str) {
        let answer = self
            .publish(&self.admin, wharf_test_support::publish_body(name, version))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
}

/// A request builder for `method` on `path` (and query).
pub(crate) fn request(method: Method, path: &str) -> http::request::Builder {
    Request::builder().method(method).uri(path)
}

/// What the router answered.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status.
    pub(crate) status: StatusCode,
    /// Every header.
    pub(crate) headers: HeaderMap,
    /// The body bytes.
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Status, headers and body as one JSON value for a snapshot: a JSON body is parsed, any
    /// other body kept as text. `Retry-After` is replaced by `[seconds]` (after checking it is
    /// a positive number of seconds) and the wait a refusal names by `[wait]`, since both
    /// depend on how long the machine took between the requests.
    pub(crate) fn snapshot(&self) -> Value {
        let mut headers = BTreeMap::new();
        for (name, value) in &self.headers {
            let value = value.to_str().expect("ASCII header values");
            let value = if name == http::header::RETRY_AFTER {
                let seconds: u64 = value.parse().expect("Retry-After is a number of seconds");
                assert!(seconds > 0, "Retry-After must be positive");
                "[seconds]"
            } else {
                value
            };
            headers.insert(name.as_str().to_owned(), value.to_owned());
        }
        let is_json = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let mut body = if is_json {
            serde_json::from_slice(&self.body).expect("a JSON body parses")
        } else {
            Value::String(self.text())
        };
        if headers.contains_key("retry-after") {
            redact_wait(&mut body);
        }
        json!({
            "status": self.status.to_string(),
            "headers": headers,
            "body": body,
        })
    }
}

/// Replaces the wait after the last " in " of each error detail by `[wait]`, up to the end
/// of that sentence.
fn redact_wait(body: &mut Value) {
    let Some(errors) = body["errors"].as_array_mut() else {
        return;
    };
    for error in errors {
        let Some(detail) = error["detail"].as_str() else {
            continue;
        };
        let Some(at) = detail.rfind(" in ") else {
            continue;
        };
        let start = at + " in ".len();
        let end = detail[start..]
            .find(". ")
            .map_or(detail.len(), |offset| start + offset);
        error["detail"] = Value::String(format!("{}[wait]{}", &detail[..start], &detail[end..]));
    }
}
