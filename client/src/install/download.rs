//! Downloading a set's archives into the content-addressed cache, in parallel, each checked
//! against the SHA-256 its index line gives.
//!
//! The cache (`DIR/.wharf/cache/<sha256>.crate`) is keyed by content, so a run that was cut
//! short resumes where it stopped: archives already there (and still hashing to their name)
//! are not downloaded again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest as _, Sha256};
use wharf_index_format::IndexEntry;

use crate::SparseIndex;
use crate::install::layout::write_atomically;
use crate::install::licence::{LICENCE_HEADER, LicenceGate};
use crate::install::{InstallError, InstallProgress};

/// One archive, checked.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// Its index line.
    pub(crate) entry: IndexEntry,
    /// The `.crate` bytes, whose SHA-256 is the line's `cksum`.
    pub(crate) archive: Vec<u8>,
}

/// One archive's bytes, or why it could not be had.
type ArchiveResult = Result<Vec<u8>, InstallError>;

/// Fetches the archives of `entries` (from the cache when there, else downloaded with
/// `threads` parallel downloads), in the order given. The first failure stops the rest.
pub(crate) fn fetch_all(
    index: &SparseIndex,
    cache_dir: &Path,
    entries: Vec<IndexEntry>,
    licences: &LicenceGate,
    threads: usize,
    progress: &dyn InstallProgress,
) -> Result<Vec<Fetched>, InstallError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<ArchiveResult>>> =
        Mutex::new(entries.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, entries.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    if at >= entries.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = fetch_one(index, cache_dir, &entries[at], licences, progress);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(PoisonError::into_inner)[at] = Some(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    // The first error in set order, so a failure reads the same on every run.
    let mut fetched = Vec::with_capacity(entries.len());
    for (entry, result) in entries.into_iter().zip(results) {
        match result {
            Some(Ok(archive)) => fetched.push(Fetched { entry, archive }),
            Some(Err(error)) => return Err(error),
            None => {}
        }
    }
    Ok(fetched)
}

fn fetch_one(
    index: &SparseIndex,
    cache_dir: &Path,
    entry: &IndexEntry,
    licences: &LicenceGate,
    progress: &dyn InstallProgress,
) -> Result<Vec<u8>, InstallError> {
    let licence = licences.check(entry)?;
    let cached = cache_path(cache_dir, &entry.cksum);
    if let Some(path) = &cached
        && let Ok(bytes) = std::fs::read(path)
    {
        if sha256_hex(&bytes) == entry.cksum {
            progress.fetched(&entry.name, &entry.vers.to_string(), bytes.len(), true);
            return Ok(bytes);
        }
        tracing::warn!(path = %path.display(), "a cached archive is damaged; downloading it again");
        let _ = std::fs::remove_file(path);
    }
    let url = download_url(&index.config().dl, entry);
    let bytes = match &licence {
        None => index.download(&url),
        Some(text) => index.download_with_header(&url, LICENCE_HEADER, text),
    }
    .map_err(|source| InstallError::Download {
        package: entry.name.clone(),
        version: entry.vers.to_string(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if actual != entry.cksum {
        return Err(InstallError::DigestMismatch {
            package: entry.name.clone(),
            version: entry.vers.to_string(),
            url,
            expected: entry.cksum.clone(),
            actual,
        });
    }
    if let Some(path) = &cached {
        write_atomically(path, &bytes)?;
    }
    progress.fetched(&entry.name, &entry.vers.to_string(), bytes.len(), false);
    Ok(bytes)
}

/// The cache file of `cksum`, when it is a SHA-256 in lower-case hex (anything else never
/// becomes a file name).
fn cache_path(cache_dir: &Path, cksum: &str) -> Option<PathBuf> {
    let valid = cksum.len() == 64
        && cksum
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| cache_dir.join(format!("{cksum}.crate")))
}

/// The lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The download URL of `entry` from `config.json`'s `dl`, as cargo expands it
/// ([`wharf_index_format::download_url`]).
pub(crate) fn download_url(template: &str, entry: &IndexEntry) -> String {
    wharf_index_format::download_url(template, &entry.name, &entry.vers.to_string(), &entry.cksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> IndexEntry {
        let mut entry = IndexEntry::builder("Greeter", "1.2.3").build().unwrap();
        entry.cksum = "ab".repeat(32);
        entry
    }

    #[test]
    fn download_urls_expand_cargo_markers_or_append_the_default_path() {
        let entry = entry();
        assert_eq!(
            download_url("http://r/blobs/sha256/{sha256-checksum}", &entry),
            format!("http://r/blobs/sha256/{}", "ab".repeat(32))
        );
        assert_eq!(
            download_url("http://r/{prefix}/{lowerprefix}/{crate}-{version}", &entry),
            "http://r/Gr/ee/gr/ee/Greeter-1.2.3"
        );
        assert_eq!(
            download_url("http://r/api/v1/crates/", &entry),
            "http://r/api/v1/crates/Greeter/1.2.3/download"
        );
    }

    #[test]
    fn only_a_sha256_names_a_cache_file() {
        let dir = Path::new("/cache");
        assert!(cache_path(dir, &"ab".repeat(32)).is_some());
        assert!(cache_path(dir, "../../etc/passwd").is_none());
        assert!(cache_path(dir, &"AB".repeat(32)).is_none());
    }
}
