//! What a running server serves: a registry (storage behind it) or a mirror copy (files a
//! `wharf mirror sync` wrote). The accept loop, connection limits and metrics are the same
//! for both; only the request handler and what is flushed at exit differ.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::Incoming;

use crate::connection::ConnectionLimits;
use crate::metrics::Metrics;
use crate::mirror::{self, MirrorState};
use crate::response::Resp;
use crate::router;
use crate::state::AppState;
use crate::tenants::Tenants;

/// The state behind one server.
#[derive(Debug, Clone)]
pub(crate) enum Site {
    /// A registry over storage.
    Registry(Arc<AppState>),
    /// A default registry and its tenants under `/t/{tenant}/`.
    Tenants(Arc<Tenants>),
    /// A read-only mirror copy.
    Mirror(Arc<MirrorState>),
}

impl Site {
    /// The connection timeouts and cap.
    pub(crate) fn connections(&self) -> ConnectionLimits {
        match self {
            Site::Registry(state) => state.config.connections,
            Site::Tenants(tenants) => tenants.default_state().config.connections,
            Site::Mirror(state) => state.connections,
        }
    }

    /// The counters `/metrics` shows.
    pub(crate) fn metrics(&self) -> &Metrics {
        match self {
            Site::Registry(state) => &state.metrics,
            Site::Tenants(tenants) => &tenants.default_state().metrics,
            Site::Mirror(state) => &state.metrics,
        }
    }

    /// Answers a request that needs no waiting (an index file of a public registry) at once;
    /// `None` for every other request, which goes to [`Site::handle`].
    pub(crate) fn answer_now<B>(&self, request: &http::Request<B>) -> Option<Resp> {
        match self {
            Site::Registry(state) => {
                router::answer_index_file_now(state, request, request.uri().path())
            }
            Site::Tenants(tenants) => tenants.answer_now(request),
            Site::Mirror(_) => None,
        }
    }

    /// Runs `answer` with the public registry and the index file path (see
    /// [`router::index_file_path`]) that the request path `path` names, as
    /// [`Site::answer_now`] would answer it; `None` when `path` is not such a file (another
    /// path, an `auth-required` registry or tenant, a mirror).
    pub(crate) fn with_index_file<R>(
        &self,
        path: &str,
        answer: impl FnOnce(&AppState, &str) -> R,
    ) -> Option<R> {
        match self {
            Site::Registry(state) => {
                let rest = router::index_file_path(path)?;
                (!state.config.auth_required).then(|| answer(state, rest))
            }
            Site::Tenants(tenants) => tenants.with_index_file(path, answer),
            Site::Mirror(_) => None,
        }
    }

    /// Answers one request.
    pub(crate) async fn handle(self, request: http::Request<Incoming>) -> Result<Resp, Infallible> {
        match self {
            Site::Registry(state) => router::handle(state, request).await,
            Site::Tenants(tenants) => tenants.handle(request).await,
            Site::Mirror(state) => mirror::handle(state, request).await,
        }
    }

    /// Waits for writes still running behind answers (a registry's index files; a mirror
    /// writes nothing).
    pub(crate) async fn settle(&self) {
        match self {
            Site::Registry(state) => state.storage.settle().await,
            Site::Tenants(tenants) => {
                tenants.default_state().storage.settle().await;
                for name in tenants.names() {
                    if let Some(state) = tenants.active(&name) {
                        state.storage.settle().await;
                    }
                }
            }
            Site::Mirror(_) => {}
        }
    }
}

/// The future of one request's answer, as the connection's service returns it.
///
/// Either the answer is already known ([`Site::answer_now`]), or it is the router's future,
/// boxed: hyper moves the future of every request into place, and the router's state machine,
/// which holds the largest handler's (a publish's), is big enough that copying it showed up in
/// profiles of index requests.
pub(crate) enum Answer {
    /// Answered while the request was read; taken by the first poll.
    Ready(Option<Resp>),
    /// The router's answer, still to come.
    Routed(Pin<Box<dyn Future<Output = Result<Resp, Infallible>> + Send>>),
}

impl Future for Answer {
    type Output = Result<Resp, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Answer::Ready(response) => Poll::Ready(Ok(response
                .take()
                .expect("hyper polls a request's future no more after it is ready"))),
            Answer::Routed(future) => future.as_mut().poll(cx),
        }
    }
}
