//! What the server writes to the audit log: every write request (publish, yank, unyank,
//! owner and key changes: who, from where, on what, how it ended) and every refused
//! authorisation (401 and 403, on any path, reads included).
//!
//! The actor is the login behind the presented token (`anonymous` when there is none or it
//! is not valid); the token itself is never written. Records go through the storage's
//! writer queue and join its next group commit, so the answer does not wait for an fsync
//! of its own (`Storage::settle` waits for them).

use std::net::SocketAddr;

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use wharf_storage::AuditEntry;

use crate::state::AppState;

/// The client's address, put into each request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub SocketAddr);

/// What an answer was about, when the path does not say (a publish's `name@version`), put
/// into the response's extensions by its handler.
#[derive(Debug, Clone)]
pub(crate) struct AuditTarget(pub(crate) String);

/// What is kept of a request until its answer is known.
#[derive(Debug)]
pub(crate) struct PendingAudit {
    method: Method,
    uri: Uri,
    token: Option<HeaderValue>,
    peer: Option<SocketAddr>,
}

impl PendingAudit {
    /// Keeps the method, path, presented token (to name the actor later) and peer.
    pub(crate) fn begin<B>(request: &http::Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            token: request.headers().get(http::header::AUTHORIZATION).cloned(),
            peer: request.extensions().get::<PeerAddr>().map(|peer| peer.0),
        }
    }

    /// Records the request when it is a write or its authorisation was refused: its answer's
    /// `status`, and the [`AuditTarget`] its handler named, if any.
    pub(crate) async fn finish(
        self,
        state: &AppState,
        status: StatusCode,
        target: Option<AuditTarget>,
        detail: Option<&str>,
    ) {
        let is_read = self.method == Method::GET || self.method == Method::HEAD;
        let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
        if is_read && !denied {
            return;
        }
        let path = self.uri.path();
        let action = if denied && is_read {
            "auth.denied".to_owned()
        } else {
            classify(&self.method, path)
        };
        let target = target.map_or_else(|| path.to_owned(), |target| target.0);
        let outcome = if status.is_success() {
            "ok".to_owned()
        } else {
            format!("{}: {}", status.as_u16(), detail.unwrap_or(""))
        };
        let actor = self.actor(state).await;
        let entry = AuditEntry::new(
            actor,
            self.peer
                .map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string()),
            action,
            target,
            outcome,
        );
        state.storage.audit(entry);
    }

    /// The login behind the presented token, or `anonymous`.
    async fn actor(&self, state: &AppState) -> String {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token {
            headers.insert(http::header::AUTHORIZATION, token.clone());
        }
        crate::auth::login_or_anonymous(state, &headers).await
    }
}

/// The action a write request is, from its method and path.
fn classify(method: &Method, path: &str) -> String {
    let method_is = |m: &Method| method == m;
    if path == "/api/v1/crates/new" {
        return "publish".to_owned();
    }
    if path.starts_with("/api/v1/crates/") {
        if path.ends_with("/yank") {
            return "yank".to_owned();
        }
        if path.ends_with("/unyank") {
            return "unyank".to_owned();
        }
        if path.ends_with("/owners") {
            return if method_is(&Method::PUT) {
                "owner.add".to_owned()
            } else {
                "owner.remove".to_owned()
            };
        }
    }
    if path.starts_with(crate::handlers::lifecycle::PACKAGES_PREFIX) {
        let undo = method_is(&Method::DELETE);
        if path.ends_with("/deprecation") {
            return if undo { "undeprecate" } else { "deprecate" }.to_owned();
        }
        if path.ends_with("/quarantine") {
            return if undo { "unquarantine" } else { "quarantine" }.to_owned();
        }
    }
    if let Some(action) = access_action(method, path) {
        return action.to_owned();
    }
    if path == crate::handlers::webhooks::RETRY_PATH {
        return "webhook.retry".to_owned();
    }
    if path == crate::handlers::lifecycle::ADVISORIES_PATH {
        return "advisory.publish".to_owned();
    }
    if let Some(rest) = path.strip_prefix(crate::handlers::keys::PREFIX) {
        let rest = rest.trim_matches('/');
        return if rest.ends_with("revoke") {
            "key.revoke".to_owned()
        } else if rest == "add-to" {
            "key.add".to_owned()
        } else {
            "key.register".to_owned()
        };
    }
    format!("{method} {path}")
}

/// The action of a role, token, team or plan change.
fn access_action(method: &Method, path: &str) -> Option<&'static str> {
    use crate::handlers::{roles, teams};
    let delete = method == Method::DELETE;
    if path.starts_with(roles::USERS_PATH) && path.ends_with("/role") {
        return Some("role.set");
    }
    if path.starts_with(roles::TOKENS_PATH) {
        return Some(if delete {
            "token.revoke"
        } else {
            "token.create"
        });
    }
    if path == teams::PATH {
        return Some("team.create");
    }
    if path == crate::handlers::usage::PLAN_PATH {
        return Some("plan.set");
    }
    if path.starts_with(teams::PATH) && path.ends_with("/members") {
        return Some(if delete {
            "team.member.remove"
        } else {
            "team.member.add"
        });
    }
    None
}
