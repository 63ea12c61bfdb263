//! The transparency log over HTTP, under `/api/wharf/v1/log/`, and the signed timestamp at
//! `/index/.wharf/timestamp` (a path cargo never asks for: its index paths never start with
//! a dot).
//!
//! - `checkpoint`: the newest signed checkpoint (a C2SP signed note, text).
//! - `proof/inclusion?index=I&size=N`: `index I` and one base64 hash per line.
//! - `proof/consistency?from=M&to=N`: one base64 hash per line (none from the empty tree).
//! - `leaves?start=A&end=B`: `{"leaves":[{"index":A,"leaf":"<leaf text>"},…]}`, at most
//!   256 leaves per page (fewer at the log's end).
//! - `keyset`: `{"keysets":["<signed keyset v1>",…]}`, the chain from the root key.
//!
//! The snapshot bins (`/index/.wharf/bins` and `/index/.wharf/bins/NN`) carry an `ETag`, the
//! SHA-256 of their text, and answer 304 to an `If-None-Match` naming it.
//!
//! Every read follows the registry's read rule (a token with `--auth-required`). Sizes
//! beyond the newest checkpoint are 400 naming the size to ask for instead.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, bytes_response, json_ok};
use crate::state::AppState;

/// The prefix of the log endpoints.
pub(crate) const PREFIX: &str = "/api/wharf/v1/log/";
/// The path of the timestamp under `/index/`.
pub(crate) const TIMESTAMP_PATH: &str = ".wharf/timestamp";
/// The path of the snapshot's bin list under `/index/`; bin `NN` (two lowercase hex digits)
/// is below it.
pub(crate) const BINS_PATH: &str = ".wharf/bins";

fn text(body: String) -> Resp {
    let mut response = bytes_response(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        Bytes::from(body),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Reads the unsigned integer query parameter `name` (a 400 naming it when missing or not a
/// whole number).
pub(crate) fn param(query: Option<&str>, name: &str) -> Result<u64, ApiError> {
    let value = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "the query parameter `{name}` is missing; give it as a whole number, e.g. `?{name}=0`"
            ))
        })?;
    value.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "the query parameter `{name}={value}` is not a whole number; give one, e.g. `{name}=0`"
        ))
    })
}

/// Routes `/api/wharf/v1/log/<rest>`.
pub(crate) async fn route(
    state: &AppState,
    headers: &HeaderMap,
    rest: &str,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    match rest {
        "checkpoint" => Ok(text(state.storage.log_checkpoint().await?)),
        "proof/inclusion" => {
            let (index, size) = (param(query, "index")?, param(query, "size")?);
            let proof = state.storage.log_inclusion_proof(index, size).await?;
            Ok(text(proof.to_text()))
        }
        "proof/consistency" => {
            let (from, to) = (param(query, "from")?, param(query, "to")?);
            let proof = state.storage.log_consistency_proof(from, to).await?;
            Ok(text(proof.to_text()))
        }
        "leaves" => {
            let (start, end) = (param(query, "start")?, param(query, "end")?);
            let leaves = state.storage.log_leaves(start, end).await?;
            let leaves: Vec<_> = leaves
                .into_iter()
                .map(|leaf| {
                    json!({ "index": leaf.index, "leaf": String::from_utf8_lossy(&leaf.bytes) })
                })
                .collect();
            Ok(json_ok(&json!({ "leaves": leaves })))
        }
        "keyset" => Ok(json_ok(&json!({ "keysets": state.storage.keyset_chain() }))),
        _ => Err(ApiError::not_found(format!(
            "no such log endpoint: {PREFIX}{rest}; the log serves checkpoint, proof/inclusion, proof/consistency, leaves and keyset"
        ))),
    }
}

/// The timestamp the server serves, re-signed when the log has grown, half its validity
/// has passed or a keyset was installed while the server runs.
#[derive(Debug, Default)]
pub(crate) struct TimestampCache {
    current: tokio::sync::Mutex<Option<Signed>>,
}

/// A signed timestamp, the snapshot it binds, and when it was signed.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    note: String,
    tree_size: u64,
    snapshot: std::sync::Arc<wharf_trust::Snapshot>,
    made_at: Instant,
    /// The version of the keyset whose timestamp key signed it.
    keyset: u64,
}

/// Serves `/index/.wharf/timestamp`: a timestamp of the newest checkpoint and the index
/// files, valid for the configured expiry.
pub(crate) async fn timestamp(state: &AppState, headers: &HeaderMap) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    Ok(text(current_timestamp(state).await?.note))
}

/// Serves `/index/.wharf/bins` (the 256 bin hashes of the current timestamp's snapshot, in
/// hex, one per line) and `/index/.wharf/bins/NN` (bin `NN`: `<index path> <SHA-256>` per
/// file). They belong to the timestamp served at the same moment; a client that finds a bin
/// list not matching its timestamp's snapshot fetches both again.
pub(crate) async fn bins(
    state: &AppState,
    headers: &HeaderMap,
    rest: &str,
) -> Result<Resp, ApiError> {
    auth::reader(state, headers).await?;
    let bin = match rest.strip_prefix('/') {
        None if rest.is_empty() => None,
        Some(hex)
            if hex.len() == 2 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Some(u8::from_str_radix(hex, 16).map_err(|_| unknown_bin(rest))?)
        }
        _ => return Err(unknown_bin(rest)),
    };
    let signed = current_timestamp(state).await?;
    let body = match bin {
        None => signed.snapshot.bin_list(),
        Some(bin) => signed.snapshot.bin_text(bin),
    };
    Ok(validated(headers, body))
}

/// A snapshot text with its `ETag` (its SHA-256: a bin's is the hash the bin list gives it),
/// or 304 to an `If-None-Match` naming it.
fn validated(headers: &HeaderMap, body: String) -> Resp {
    let etag = format!(
        "\"{}\"",
        wharf_trust::Hash::sha256(body.as_bytes()).to_hex()
    );
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let mut response = if unchanged {
        let mut response = crate::response::empty(StatusCode::NOT_MODIFIED);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    } else {
        text(body)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn unknown_bin(rest: &str) -> ApiError {
    ApiError::not_found(format!(
        "no snapshot bin at /index/{BINS_PATH}{rest}; bins are /index/{BINS_PATH}/00 to /index/{BINS_PATH}/ff"
    ))
}

/// The current timestamp, signing a new one when needed.
pub(crate) async fn current_timestamp(state: &AppState) -> Result<Signed, ApiError> {
    let expiry = state.config.timestamp_expiry;
    let size = state.storage.log_size().await?;
    let keyset = state.storage.keyset_version();
    let mut current = state.timestamp.current.lock().await;
    if let Some(signed) = current.as_ref()
        && signed.tree_size == size
        && signed.keyset == keyset
        && signed.made_at.elapsed() < expiry / 2
    {
        return Ok(signed.clone());
    }
    let fresh = state.storage.sign_timestamp(expiry).await?;
    let signed = Signed {
        note: fresh.note,
        tree_size: fresh.tree_size,
        snapshot: std::sync::Arc::new(fresh.snapshot),
        made_at: Instant::now(),
        keyset,
    };
    *current = Some(signed.clone());
    Ok(signed)
}

/// Keeps the served timestamp fresh while the server runs: every half minute (or half the
/// expiry, if shorter) it signs a new one when the log has grown or half the expiry has
/// passed, so clients rarely wait for a signature.
pub fn spawn_timestamp_refresh(state: std::sync::Arc<AppState>) -> tokio::task::JoinHandle<()> {
    let period = (state.config.timestamp_expiry / 2).min(Duration::from_secs(30));
    tokio::spawn(async move {
        loop {
            if let Err(error) = current_timestamp(&state).await {
                tracing::warn!(
                    detail = error.detail(),
                    "signing the timestamp failed; retrying later"
                );
            }
            tokio::time::sleep(period).await;
        }
    })
}

/// The default validity of a timestamp: one day.
pub const DEFAULT_TIMESTAMP_EXPIRY: Duration = Duration::from_hours(24);
