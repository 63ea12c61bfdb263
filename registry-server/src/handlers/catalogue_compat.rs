//! Host compatibility for catalogue searches: a package is compatible with a host API version
//! when the resolver finds an install set for some version of it (`*`, the newest that fits
//! wins) with the host pinned, over the index files this server serves. Answers are cached
//! per (package, latest version, host) until the log moves.

use std::sync::Arc;
use std::time::Duration;

use wharf_index_format::{IndexEntry, index_path};
use wharf_resolver::{HostPin, IndexSource, Requirements, ResolveError, Resolver, Version};

use crate::index_cache::IndexCache;
use crate::state::AppState;

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
