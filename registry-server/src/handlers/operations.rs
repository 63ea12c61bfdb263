//! `/health`, `/ready`, `/metrics` and the `/me` page cargo points people to.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::StatusCode;

use crate::response::{Resp, bytes_response};
use crate::state::AppState;

/// Liveness: the process answers.
pub(crate) fn health() -> Resp {
    bytes_response(StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
}

/// Readiness: storage is open and the index cache is warm.
pub(crate) fn ready(state: &AppState) -> Resp {
    if state.ready.load(Ordering::Acquire) {
        bytes_response(StatusCode::OK, "text/plain", Bytes::from_static(b"ready\n"))
    } else {
        bytes_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            Bytes::from_static(b"starting\n"),
        )
    }
}

/// Prometheus text exposition.
pub(crate) fn metrics(state: &AppState) -> Resp {
    bytes_response(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        Bytes::from(state.metrics.render()),
    )
}

/// Where `cargo login` sends people: how to get a token.
pub(crate) fn me(state: &AppState) -> Resp {
    let text = format!(
        "Wharf issues API tokens from the command line on the registry host:\n\n    wharf token create --data <DATA DIR> --user <LOGIN>\n\nThen run `cargo login --registry <NAME>` and paste the token.\nRegistry: {}/index/\n",
        state.config.public_url
    );
    bytes_response(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        Bytes::from(text),
    )
}
