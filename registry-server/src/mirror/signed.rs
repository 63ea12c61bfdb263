//! The upstream's signed material a copy carries (`<copy>/signed/`, `<copy>/snapshot/`),
//! served at the upstream's own paths so a client verifies a mirror against the origin's
//! root key exactly as it verifies the origin:
//!
//! - `/index/.wharf/timestamp`, `/index/.wharf/lifecycle`: the signed notes as served;
//! - `/index/.wharf/bins` and `/index/.wharf/bins/NN`: the copy's listing, with `ETag` (the
//!   SHA-256 of the text) and 304 to a matching `If-None-Match`: the snapshot the timestamp
//!   binds when the copy holds every file it names as the origin serves it, and otherwise
//!   the copy's own listing (`<copy>/listing/`, the files it holds), so a partial mirror
//!   never lists a file it cannot serve;
//! - `/index/.wharf/origin-bins` and `/index/.wharf/origin-bins/NN`: the snapshot the
//!   timestamp binds, always (a verifier whose timestamp does not bind the listing reads the
//!   bins there: a file the copy holds whole is checked against the origin's signatures);
//! - `/api/wharf/v1/log/keyset` and `/api/wharf/v1/log/checkpoint`: as served;
//! - `/api/wharf/v1/log/leaves?start=A&end=B`: the verified leaves, at most 256 a page;
//! - `/api/wharf/v1/log/proof/inclusion` and `proof/consistency`: computed from the leaves
//!   (a proof is a function of the leaves, so it checks against the origin's signed roots).
//!
//! A copy without this material (a git upstream, a registry without a log) answers 404.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use wharf_trust::MemoryHashStore;
use wharf_trust::merkle::{prove_consistency, prove_inclusion};

use crate::error::ApiError;
use crate::handlers::log::param;
use crate::response::{Resp, bytes_response, empty, json_ok};

/// The directory of a copy that holds the signed material.
const DIR: &str = "signed";
/// The directory of a partial copy that holds its own listing (the files it holds).
const LISTING_DIR: &str = "listing";
/// The prefix of the log endpoints.
pub(super) const LOG_PREFIX: &str = "/api/wharf/v1/log/";
/// The most leaves one page answers, as the origin does.
const LEAVES_PER_PAGE: u64 = 256;

/// The leaves and tree of the copy served last, so proofs are not rebuilt per request.
#[derive(Debug, Default)]
pub(super) struct LogCache {
    held: Mutex<Option<(PathBuf, Arc<Tree>)>>,
}

/// A copy's verified leaves and their Merkle tree.
#[derive(Debug)]
pub(super) struct Tree {
    leaves: Vec<String>,
    store: MemoryHashStore,
}

impl LogCache {
    /// The tree of `copy` (the canonical path `current` resolves to); `None` when the copy
    /// carries no leaves.
    fn tree(&self, copy: &Path) -> Result<Option<Arc<Tree>>, ApiError> {
        let resolved = std::fs::canonicalize(copy).unwrap_or_else(|_| copy.to_path_buf());
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((path, tree)) = held.as_ref()
            && *path == resolved
        {
            return Ok(Some(Arc::clone(tree)));
        }
        let Ok(bytes) = std::fs::read(resolved.join(DIR).join("leaves.json")) else {
            return Ok(None);
        };
        let leaves: Vec<String> = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal("reading the mirror's log leaves", &e))?;
        let mut store = MemoryHashStore::new();
        for leaf in &leaves {
            store.push(leaf.as_bytes());
        }
        let tree = Arc::new(Tree { leaves, store });
        *held = Some((resolved, Arc::clone(&tree)));
        Ok(Some(tree))
    }
}

fn no_log() -> ApiError {
    ApiError::not_found(
        "this mirror serves no signed log: its upstream served none (a git index, a registry without a log)",
    )
}

fn text(body: Vec<u8>) -> Resp {
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

async fn signed_file(copy: &Path, name: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    tokio::fs::read(copy.join(DIR).join(name))
        .await
        .map_err(|_| ApiError::not_found(format!("this mirror holds no {what} of its upstream")))
}

/// Serves `/index/<rest>` for the signed paths; `None` for any other index path.
pub(super) async fn index_path(
    copy: &Path,
    rest: &str,
    headers: &HeaderMap,
) -> Option<Result<Resp, ApiError>> {
    match rest {
        ".wharf/timestamp" => Some(signed_file(copy, "timestamp", "timestamp").await.map(text)),
        ".wharf/lifecycle" => Some(
            signed_file(copy, "lifecycle", "lifecycle feed")
                .await
                .map(text),
        ),
        _ => {
            let (origin, tail) = if let Some(tail) = rest.strip_prefix(".wharf/bins") {
                (false, tail)
            } else {
                (true, rest.strip_prefix(".wharf/origin-bins")?)
            };
            let name = match tail.strip_prefix('/') {
                None if tail.is_empty() => "bins".to_owned(),
                Some(hex)
                    if hex.len() == 2
                        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
                {
                    format!("bins-{hex}")
                }
                _ => {
                    return Some(Err(ApiError::not_found(format!(
                        "no snapshot bin at /index/{rest}; bins are /index/.wharf/bins/00 to /index/.wharf/bins/ff"
                    ))));
                }
            };
            Some(bin(copy, origin, &name, headers).await)
        }
    }
}

/// A bin text of the copy with its `ETag`, or 304 to an `If-None-Match` naming it: with
/// `origin`, the origin's signed snapshot (`snapshot/`); otherwise the copy's listing, which
/// is its own (`listing/`) when it holds part of the snapshot, and the snapshot when whole.
async fn bin(copy: &Path, origin: bool, name: &str, headers: &HeaderMap) -> Result<Resp, ApiError> {
    let listing = if origin {
        None
    } else {
        tokio::fs::read(copy.join(LISTING_DIR).join(name))
            .await
            .ok()
    };
    let body = match listing {
        Some(body) => body,
        None => tokio::fs::read(copy.join("snapshot").join(name))
            .await
            .map_err(|_| {
                ApiError::not_found("this mirror holds no snapshot bins of its upstream")
            })?,
    };
    let etag = format!("\"{}\"", wharf_trust::Hash::sha256(&body).to_hex());
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let mut response = if unchanged {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        text(body)
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    Ok(response)
}

/// Serves `/api/wharf/v1/log/<rest>` from the copy.
pub(super) async fn log(
    cache: &LogCache,
    copy: &Path,
    rest: &str,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    match rest {
        "checkpoint" => signed_file(copy, "checkpoint", "checkpoint")
            .await
            .map(text),
        "keyset" => {
            let body = signed_file(copy, "keyset.json", "keyset chain").await?;
            Ok(bytes_response(
                StatusCode::OK,
                "application/json",
                Bytes::from(body),
            ))
        }
        "leaves" | "proof/inclusion" | "proof/consistency" => {
            let tree = cache.tree(copy)?.ok_or_else(no_log)?;
            let size = tree.store.size();
            let beyond = |asked: u64| {
                ApiError::bad_request(format!(
                    "size {asked} is beyond this mirror's log of {size} leaves; ask for at most {size}"
                ))
            };
            let proof_error = |e: wharf_trust::TrustError| ApiError::bad_request(e.to_string());
            match rest {
                "leaves" => {
                    let start = param(query, "start")?;
                    let end = param(query, "end")?
                        .min(size)
                        .min(start.saturating_add(LEAVES_PER_PAGE));
                    let leaves: Vec<_> = (start..end.max(start))
                        .filter_map(|index| {
                            let leaf = tree.leaves.get(usize::try_from(index).ok()?)?;
                            Some(json!({ "index": index, "leaf": leaf }))
                        })
                        .collect();
                    Ok(json_ok(&json!({ "leaves": leaves })))
                }
                "proof/inclusion" => {
                    let (index, asked) = (param(query, "index")?, param(query, "size")?);
                    if asked > size {
                        return Err(beyond(asked));
                    }
                    let proof = prove_inclusion(&tree.store, index, asked).map_err(proof_error)?;
                    Ok(text(proof.to_text().into_bytes()))
                }
                _ => {
                    let (from, to) = (param(query, "from")?, param(query, "to")?);
                    if to > size {
                        return Err(beyond(to));
                    }
                    let proof = prove_consistency(&tree.store, from, to).map_err(proof_error)?;
                    Ok(text(proof.to_text().into_bytes()))
                }
            }
        }
        _ => Err(ApiError::not_found(format!(
            "no such log endpoint: {LOG_PREFIX}{rest}; the log serves checkpoint, proof/inclusion, proof/consistency, leaves and keyset"
        ))),
    }
}
