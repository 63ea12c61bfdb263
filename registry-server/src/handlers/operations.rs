//! `/health`, `/ready`, `/metrics` and the `/me` page cargo points people to.

use std::fmt::Write as _;
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

/// Prometheus text exposition: the server's counters plus storage gauges.
pub(crate) fn metrics(state: &AppState) -> Resp {
    let mut text = state.metrics.render();
    let _ = write!(
        text,
        "# HELP wharf_index_writes_pending Writes still running behind acknowledged answers (index files, audit anchors, download counts).\n# TYPE wharf_index_writes_pending gauge\nwharf_index_writes_pending {}\n\
         # HELP wharf_index_files_dirty Index files whose write failed, waiting for a background retry.\n# TYPE wharf_index_files_dirty gauge\nwharf_index_files_dirty {}\n",
        state.storage.pending_index_writes(),
        state.storage.dirty_index_files()
    );
    crate::metrics::render_readiness(&mut text, state.ready.load(Ordering::Acquire));
    state.follower_lag.render(&mut text);
    crate::metrics::render_disk_space(&mut text, state.storage.data_dir());
    crate::handlers::usage::render_metrics(&mut text, state);
    bytes_response(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        Bytes::from(text),
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
