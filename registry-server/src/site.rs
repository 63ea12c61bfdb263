//! What a running server serves: a registry (storage behind it) or a mirror copy (files a
//! `wharf mirror sync` wrote). The accept loop, connection limits and metrics are the same
//! for both; only the request handler and what is flushed at exit differ.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;

use crate::connection::ConnectionLimits;
use crate::metrics::Metrics;
use crate::mirror::{self, MirrorState};
use crate::response::Resp;
use crate::router;
use crate::state::AppState;

/// The state behind one server.
#[derive(Debug, Clone)]
pub(crate) enum Site {
    /// A registry over storage.
    Registry(Arc<AppState>),
    /// A read-only mirror copy.
    Mirror(Arc<MirrorState>),
}

impl Site {
    /// The connection timeouts and cap.
    pub(crate) fn connections(&self) -> ConnectionLimits {
        match self {
            Site::Registry(state) => state.config.connections,
            Site::Mirror(state) => state.connections,
        }
    }

    /// The counters `/metrics` shows.
    pub(crate) fn metrics(&self) -> &Metrics {
        match self {
            Site::Registry(state) => &state.metrics,
            Site::Mirror(state) => &state.metrics,
        }
    }

    /// Answers one request.
    pub(crate) async fn handle(self, request: http::Request<Incoming>) -> Result<Resp, Infallible> {
        match self {
            Site::Registry(state) => router::handle(state, request).await,
            Site::Mirror(state) => mirror::handle(state, request).await,
        }
    }

    /// Waits for writes still running behind answers (a registry's index files; a mirror
    /// writes nothing).
    pub(crate) async fn settle(&self) {
        if let Site::Registry(state) = self {
            state.storage.settle().await;
        }
    }
}
