//! Host compatibility for catalogue searches: a package is compatible with a host API version
//! when the resolver finds an install set for some version of it (`*`, the newest that fits
//! wins) with the host pinned, over the index files this server serves. Answers are cached
//! per (package, latest version, host) until the log moves.
//!
//! A search with a host lists compatible packages first without checking every match: it
//! reads the ranked matches a chunk at a time and stops once the requested page is filled
//! with compatible ones, looking at no more than [`COMPAT_WINDOW`] matches. Within that
//! window compatible ones come first, each group in rank order; matches ranked beyond it
//! follow in rank order, each still marked.

use std::sync::Arc;
use std::time::Duration;

use wharf_index_format::{IndexEntry, index_path};
use wharf_resolver::{HostPin, IndexSource, Requirements, ResolveError, Resolver, Version};

use wharf_storage::{CatalogueHit, CatalogueQuery};

use super::catalogue::SearchResult;
use crate::error::ApiError;
use crate::index_cache::IndexCache;
use crate::state::AppState;

/// The most ranked matches a host search checks for compatibility to order a page.
pub(crate) const COMPAT_WINDOW: usize = 500;

/// Ranked matches read (and checked) at a time.
const CHUNK: usize = 100;

/// The longest one compatibility resolution may take; a slower one counts as incompatible.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The resolver's view of the index files in the server's cache.
struct CachedIndex<'a> {
    cache: &'a IndexCache,
}

impl IndexSource for CachedIndex<'_> {
    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        let Some(file) = self.cache.get(&index_path(name)) else {
            return Ok(Arc::from(Vec::new()));
        };
        let text = std::str::from_utf8(&file.bytes).map_err(|e| ResolveError::index(name, e))?;
        let entries = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(IndexEntry::from_line)
            .filter(|entry| entry.as_ref().map_or(true, |entry| entry.name == name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ResolveError::index(name, e))?;
        Ok(Arc::from(entries))
    }
}

/// The version of `name` the resolver installs with the host API pinned to `host`, or
/// `None` when no install set exists.
fn resolves(cache: &IndexCache, name: &str, host: &Version) -> Option<String> {
    let source = CachedIndex { cache };
    let outcome = Resolver::new(&source)
        .host_pin(HostPin::new(host.clone()))
        .timeout(RESOLVE_TIMEOUT)
        .resolve_requirements(&Requirements::new().require(name, "*"));
    match outcome {
        Ok(resolution) => resolution
            .versions_of(name)
            .first()
            .map(ToString::to_string),
        Err(error) => {
            tracing::debug!(name, %host, "not compatible: {error}");
            None
        }
    }
}

/// For each `(name, latest version)`, the version compatible with `host` (`None`: none is),
/// in order. Runs on the calling thread: only plugins and templates are checked, and
/// answers are cached.
pub(crate) fn compatibility(
    state: &AppState,
    releases: Vec<(String, String)>,
    host: &Version,
) -> Vec<Option<String>> {
    let seq = *state.storage.watch_log().borrow();
    let host_text = host.to_string();
    releases
        .into_iter()
        .map(|(name, version)| {
            let key = (name, version, host_text.clone());
            if let Some(known) = state.catalogue.cached_compat(&key, seq) {
                return known.0;
            }
            let compatible = resolves(&state.cache, &key.0, host);
            state
                .catalogue
                .remember_compat(key, seq, compatible.clone());
            compatible
        })
        .collect()
}

/// Marks hits with their compatibility with `host`.
fn marked(state: &AppState, hits: Vec<CatalogueHit>, host: &Version) -> Vec<SearchResult> {
    let releases = hits
        .iter()
        .map(|hit| (hit.name.clone(), hit.version.clone()))
        .collect();
    let compatible = compatibility(state, releases, host);
    hits.into_iter()
        .zip(compatible)
        .map(|(hit, compatible)| SearchResult {
            hit,
            compatible: Some(compatible.is_some()),
            compatible_version: compatible,
        })
        .collect()
}

/// The total and the page at `offset` of a search with compatible packages first (see the
/// module documentation for the bounded look-ahead).
pub(crate) async fn compatible_first(
    state: &AppState,
    mut query: CatalogueQuery,
    host: &Version,
    offset: usize,
    per_page: usize,
) -> Result<(u64, Vec<SearchResult>), ApiError> {
    let wanted = offset + per_page;
    let (mut compatible, mut incompatible) = (Vec::new(), Vec::new());
    let (mut looked, mut total, mut exhausted) = (0, 0, false);
    while compatible.len() < wanted && looked < COMPAT_WINDOW {
        let chunk = CHUNK.min(COMPAT_WINDOW - looked);
        query.offset = looked;
        query.limit = Some(chunk);
        let page = state.storage.catalogue_search(query.clone()).await?;
        total = page.total;
        looked += page.hits.len();
        let short = page.hits.len() < chunk;
        for result in marked(state, page.hits, host) {
            if result.compatible == Some(true) {
                compatible.push(result);
            } else {
                incompatible.push(result);
            }
        }
        if short {
            exhausted = true;
            break;
        }
    }
    let mut ordered: Vec<SearchResult> = compatible.into_iter().chain(incompatible).collect();
    if ordered.len() < wanted && !exhausted {
        // The page reaches past the window: the matches ranked after it, in rank order.
        query.offset = looked + offset.saturating_sub(ordered.len());
        query.limit = Some(wanted - ordered.len().max(offset));
        let beyond = state.storage.catalogue_search(query).await?;
        total = beyond.total;
        let start = offset.min(ordered.len());
        let mut page: Vec<SearchResult> = ordered.drain(start..).collect();
        page.extend(marked(state, beyond.hits, host));
        return Ok((total, page));
    }
    let page = ordered.into_iter().skip(offset).take(per_page).collect();
    Ok((total, page))
}
