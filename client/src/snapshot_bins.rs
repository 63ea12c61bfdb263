//! The registry's snapshot bins as a change list for the on-disk cache: with a cache from an
//! earlier run, one request for the bin list (`/index/.wharf/bins`, the SHA-256 of each of the
//! 256 bins) tells which bins changed; a bin whose hash is the one cached is read from the
//! cache, any other is fetched once (`/index/.wharf/bins/NN`, one `<index path> <sha256>` line
//! per file, see `docs/trust.md`). A cached index file whose SHA-256 its bin lists is current
//! and is used without a request, so resolving against an unchanged index costs one round
//! trip besides `config.json`.
//!
//! The bins only decide whether a cached file may be used as it is: a file they do not list
//! with the cached hash (changed, new, not cached, or a registry that serves no bins, such
//! as a static file server) is revalidated as before (`If-None-Match`). Nothing here fails a
//! fetch: a bin list or bin that cannot be had or does not match its hash only turns the
//! shortcut off for the files it covers. The bins are the same files a signed timestamp binds
//! ([`wharf_trust::snapshot`]); this client uses them as validators, as it uses `ETag`s, and
//! does not check a signature (`wharf verify` does).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use wharf_trust::snapshot::{BIN_COUNT, bin_of};

/// The bin list's path under the index URL (also its place in the on-disk cache).
pub(crate) const BIN_LIST_PATH: &str = ".wharf/bins";

/// The longest bin list or bin accepted (a bin of a very large registry is a few hundred
/// kilobytes).
const MAX_BIN_BYTES: usize = 16 * 1024 * 1024;

/// A bin's files: index path to the hex SHA-256 of the file.
type Bin = HashMap<String, String>;

/// Where the bins come from: the registry (a GET of an index-relative path, `None` for any
/// answer but 200) and the on-disk cache.
pub(crate) trait BinStore {
    /// The body of a 200 answer to a GET of `path` under the index URL.
    fn fetch(&self, path: &str) -> Option<String>;
    /// The cached text at `path`.
    fn read_cached(&self, path: &str) -> Option<String>;
    /// Keeps `text` at `path` in the cache.
    fn write_cached(&self, path: &str, text: &str);
}

/// The bins read during one run (each at most once).
#[derive(Debug)]
pub(crate) struct SnapshotBins {
    /// The 256 bin hashes (hex); `None` inside when the registry serves no usable list.
    list: OnceLock<Option<Vec<String>>>,
    bins: Vec<OnceLock<Option<Arc<Bin>>>>,
}

impl Default for SnapshotBins {
    fn default() -> Self {
        Self {
            list: OnceLock::new(),
            bins: (0..BIN_COUNT).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl SnapshotBins {
    /// Whether the registry's snapshot lists the file at `index_path` with the hex SHA-256
    /// `sha256` (the cached copy's), fetching the bin list and the file's bin when not read
    /// yet this run.
    pub(crate) fn lists(&self, store: &dyn BinStore, index_path: &str, sha256: &str) -> bool {
        let Some(list) = self.list.get_or_init(|| fetch_list(store)) else {
            return false;
        };
        let number = bin_of(index_path);
        let bin = self.bins[usize::from(number)]
            .get_or_init(|| load_bin(store, number, &list[usize::from(number)]));
        bin.as_ref()
            .and_then(|bin| bin.get(index_path))
            .is_some_and(|listed| listed == sha256)
    }
}

/// The bin list, when the registry serves one of 256 hex hashes.
fn fetch_list(store: &dyn BinStore) -> Option<Vec<String>> {
    let text = store.fetch(BIN_LIST_PATH)?;
    let hashes: Vec<String> = text.lines().map(str::to_owned).collect();
    let well_formed = text.len() <= MAX_BIN_BYTES
        && hashes.len() == BIN_COUNT
        && hashes.iter().all(|hash| is_hex_sha256(hash));
    if !well_formed {
        tracing::debug!("the registry's bin list is not 256 SHA-256 hashes; revalidating files");
        return None;
    }
    Some(hashes)
}

/// Bin `number`, whose text must hash to `expected`: from the cache when the cached text
/// does, else fetched (and cached).
fn load_bin(store: &dyn BinStore, number: u8, expected: &str) -> Option<Arc<Bin>> {
    let path = format!("{BIN_LIST_PATH}/{number:02x}");
    let text = match store.read_cached(&path) {
        Some(text) if sha256_hex(&text) == expected => text,
        _ => {
            let text = store.fetch(&path)?;
            if text.len() > MAX_BIN_BYTES || sha256_hex(&text) != expected {
                // A newer snapshot than the list (the registry moved on in between): the
                // files of this bin are revalidated instead.
                tracing::debug!(
                    path,
                    "bin does not match the bin list; revalidating its files"
                );
                return None;
            }
            store.write_cached(&path, &text);
            text
        }
    };
    let bin = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(path, hash)| (path.to_owned(), hash.to_owned()))
        .collect();
    Some(Arc::new(bin))
}

/// The hex SHA-256 of `text`.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn is_hex_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use wharf_trust::{Hash, Snapshot};

    use super::*;

    /// A registry serving `snapshot`'s bins, and a cache in memory.
    #[derive(Default)]
    struct Store {
        served: Mutex<HashMap<String, String>>,
        cached: Mutex<HashMap<String, String>>,
        fetches: AtomicUsize,
    }

    impl Store {
        fn serve(&self, snapshot: &Snapshot) {
            let mut served = self.served.lock().unwrap();
            served.insert(BIN_LIST_PATH.to_owned(), snapshot.bin_list());
            for bin in 0..=u8::MAX {
                served.insert(format!("{BIN_LIST_PATH}/{bin:02x}"), snapshot.bin_text(bin));
            }
        }
    }

    impl BinStore for Store {
        fn fetch(&self, path: &str) -> Option<String> {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            self.served.lock().unwrap().get(path).cloned()
        }
        fn read_cached(&self, path: &str) -> Option<String> {
            self.cached.lock().unwrap().get(path).cloned()
        }
        fn write_cached(&self, path: &str, text: &str) {
            self.cached
                .lock()
                .unwrap()
                .insert(path.to_owned(), text.to_owned());
        }
    }

    fn snapshot(files: &[(&str, &str)]) -> Snapshot {
        Snapshot::from_files(
            files
                .iter()
                .map(|(path, body)| (*path, Hash::sha256(body.as_bytes()))),
        )
        .unwrap()
    }

    #[test]
    fn a_listed_hash_is_current_and_cached_bins_are_not_fetched_again() {
        let store = Store::default();
        store.serve(&snapshot(&[("se/rd/serde", "v1\n"), ("3/l/log", "a\n")]));
        let run = SnapshotBins::default();
        assert!(run.lists(&store, "se/rd/serde", &sha256_hex("v1\n")));
        assert!(!run.lists(&store, "se/rd/serde", &sha256_hex("v0\n")));
        assert!(run.lists(&store, "3/l/log", &sha256_hex("a\n")));
        assert!(!run.lists(&store, "an/yh/anyhow", &sha256_hex("v1\n")));
        // The list, and each bin once.
        let mut bins: Vec<u8> = ["se/rd/serde", "3/l/log", "an/yh/anyhow"]
            .into_iter()
            .map(bin_of)
            .collect();
        bins.sort_unstable();
        bins.dedup();
        let first_run = store.fetches.load(Ordering::Relaxed);
        assert_eq!(first_run, 1 + bins.len());

        // The next run fetches the list only: its bins are cached with the same hashes.
        let next = SnapshotBins::default();
        assert!(next.lists(&store, "se/rd/serde", &sha256_hex("v1\n")));
        assert!(next.lists(&store, "3/l/log", &sha256_hex("a\n")));
        assert_eq!(store.fetches.load(Ordering::Relaxed), first_run + 1);

        // A changed file changes its bin: that bin is fetched again, the old hash is stale.
        store.serve(&snapshot(&[("se/rd/serde", "v2\n"), ("3/l/log", "a\n")]));
        let after_publish = SnapshotBins::default();
        assert!(!after_publish.lists(&store, "se/rd/serde", &sha256_hex("v1\n")));
        assert!(after_publish.lists(&store, "se/rd/serde", &sha256_hex("v2\n")));
        assert_eq!(store.fetches.load(Ordering::Relaxed), first_run + 3);
    }

    #[test]
    fn without_bins_or_with_a_mismatched_bin_nothing_is_listed() {
        let store = Store::default();
        let run = SnapshotBins::default();
        assert!(!run.lists(&store, "se/rd/serde", &sha256_hex("v1\n")));

        store.serve(&snapshot(&[("se/rd/serde", "v1\n")]));
        let bin = format!("{BIN_LIST_PATH}/{:02x}", bin_of("se/rd/serde"));
        store.served.lock().unwrap().insert(
            bin,
            format!("se/rd/serde {}\n", sha256_hex("v1\n")) + "x y\n",
        );
        assert!(!SnapshotBins::default().lists(&store, "se/rd/serde", &sha256_hex("v1\n")));

        store
            .served
            .lock()
            .unwrap()
            .insert(BIN_LIST_PATH.to_owned(), "not a bin list\n".to_owned());
        assert!(!SnapshotBins::default().lists(&store, "se/rd/serde", &sha256_hex("v1\n")));
    }
}
