//! The on-disk copy of one index's files with their validators (`ETag`, `Last-Modified`), so
//! a later run revalidates each file (`If-None-Match` / `If-Modified-Since`) instead of
//! downloading it again, as cargo keeps its sparse index cache.
//!
//! Each index URL gets its own directory, `<cache_dir>/<host>_<port>-<first 16 hex digits of
//! the URL's SHA-256>`, so validators learnt from one registry (perhaps behind a token) are
//! never sent to another. Under it, every index file is a record of one pack file
//! (`cache_pack`), keyed by its package's lowercase name (the last part of its index path):
//! its validators, the SHA-256 of the body (what snapshot bins list), then the body, checked
//! against its CRC-32 on every read. Snapshot bins are plain files under `.wharf/bins/`. An
//! entry that does not read back whole (any damage) is ignored and the file fetched again; the
//! cache never fails a fetch: every I/O error is logged and skipped. The files of the layouts
//! before the pack (a file per entry) are moved into it once (`cache_legacy`). Entries unused
//! for a long time are deleted by `cache_gc`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::IndexUrl;
use crate::cache_pack::{Pack, unix_seconds};

/// How many hex digits of the URL's SHA-256 name its directory.
const URL_HASH_DIGITS: usize = 16;

/// One cached index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedFile {
    /// The `ETag` the server sent with the body.
    pub(crate) etag: Option<String>,
    /// The `Last-Modified` the server sent with the body.
    pub(crate) last_modified: Option<String>,
    /// The file's text (shared with the index files read from it).
    pub(crate) body: Arc<String>,
    /// The hex SHA-256 of `body`, as the snapshot bins list it.
    pub(crate) sha256: String,
}

impl CachedFile {
    /// A file with its validators; its hash is computed here.
    pub(crate) fn new(
        etag: Option<String>,
        last_modified: Option<String>,
        body: impl Into<Arc<String>>,
    ) -> Self {
        let body = body.into();
        Self {
            etag,
            last_modified,
            sha256: crate::snapshot_bins::sha256_hex(&body),
            body,
        }
    }
}

/// The cache directory of one index URL.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    pack: Pack,
}

impl DiskCache {
    /// The cache of `url` under `root`, its pack opened (and the files of an older layout
    /// moved into it).
    pub(crate) fn new(root: &Path, url: &IndexUrl) -> Self {
        let dir = root.join(directory_name(url));
        let mut pack = Pack::open(&dir);
        if crate::cache_legacy::migrate(&dir, &pack) > 0 {
            pack.reload();
        }
        Self { dir, pack }
    }

    /// The directory of this index's entries.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the unit tests only"))]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `index_path`, or `None` when there is none or it is damaged. A hit last
    /// used more than `cache_gc::TOUCH_SLACK` ago is marked used now.
    pub(crate) fn read(&self, index_path: &str) -> Option<CachedFile> {
        let key = entry_key(index_path);
        let (file, used) = self.pack.get(key)?;
        let now = SystemTime::now();
        let last_use = UNIX_EPOCH + Duration::from_secs(used);
        if crate::cache_gc::needs_touch(Some(last_use), now) {
            self.pack.mark_used(key, unix_seconds(now));
        }
        Some(file)
    }

    /// Stores `file` as the entry for `index_path`.
    pub(crate) fn write(&self, index_path: &str, file: &CachedFile) {
        self.pack
            .put(entry_key(index_path), file, unix_seconds(SystemTime::now()));
    }

    /// The text kept at `path` (a snapshot bin) by [`Self::write_text`], or `None`.
    pub(crate) fn read_text(&self, path: &str) -> Option<String> {
        let path = self.dir.join(path);
        let text = fs::read_to_string(&path).ok()?;
        crate::cache_gc::touch(&path);
        Some(text)
    }

    /// Keeps `text` at `path` as it is (a snapshot bin, checked against its hash on read).
    pub(crate) fn write_text(&self, path: &str, text: &str) {
        let path = self.dir.join(path);
        if let Err(error) = write_atomically(&path, &[text.as_bytes()]) {
            tracing::debug!(path = %path.display(), %error, "cannot write a cache entry");
        }
    }

    /// Removes the entry for `index_path`, if any.
    pub(crate) fn remove(&self, index_path: &str) {
        self.pack.remove(entry_key(index_path));
    }
}

/// The key of the entry for `index_path`: its last part, the package's lowercase name.
/// Names that differ only in case share one index file, so they share the key too.
fn entry_key(index_path: &str) -> &str {
    index_path
        .rsplit_once('/')
        .map_or(index_path, |(_, name)| name)
}

/// `<host>_<port>-<hash>`: readable, and distinct for every URL (path and scheme included).
fn directory_name(url: &IndexUrl) -> String {
    let parsed = reqwest::Url::parse(url.as_str()).ok();
    let host = parsed
        .as_ref()
        .and_then(reqwest::Url::host_str)
        .unwrap_or("index");
    let port = parsed
        .as_ref()
        .and_then(reqwest::Url::port_or_known_default)
        .unwrap_or_default();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = hex::encode(Sha256::digest(url.as_str().as_bytes()));
    format!("{host}_{port}-{}", &hash[..URL_HASH_DIGITS])
}

/// Writes `parts` one after the other into a temporary file beside `path`, then renames it
/// into place.
fn write_atomically(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    // Most entries go into a directory that already exists: try the file first and make the
    // directories only when it is missing (`create_dir_all` for every entry cost a failing
    // `mkdir` per directory level per file).
    let mut temp = match tempfile::NamedTempFile::new_in(dir) {
        Ok(temp) => temp,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            tempfile::NamedTempFile::new_in(dir)?
        }
        Err(error) => return Err(error),
    };
    for part in parts {
        temp.write_all(part)?;
    }
    // No fsync: a bin is checked against its hash on every read, so one torn by a crash is
    // ignored and fetched again. The rename alone keeps readers from seeing a half-written
    // file.
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(body: &str) -> CachedFile {
        CachedFile::new(Some("\"v1\"".to_owned()), None, body.to_owned())
    }

    fn cache(root: &Path) -> DiskCache {
        DiskCache::new(
            root,
            &IndexUrl::parse("sparse+http://127.0.0.1:8080/index/").unwrap(),
        )
    }

    /// Every index file is a record of the one pack; snapshot bins keep their paths.
    #[test]
    fn entries_live_in_one_pack_and_bins_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let cache = cache(root.path());
        assert!(
            cache
                .dir()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("127.0.0.1_8080-")
        );
        assert_eq!(cache.read("se/rd/serde"), None);
        for path in ["1/a", "3/l/log", "se/rd/serde"] {
            cache.write(path, &file(path));
        }
        cache.write_text(".wharf/bins/0a", "x\n");
        let cache = self::cache(root.path());
        for path in ["1/a", "3/l/log", "se/rd/serde"] {
            assert_eq!(cache.read(path), Some(file(path)), "{path}");
        }
        assert_eq!(cache.read_text(".wharf/bins/0a").as_deref(), Some("x\n"));
        let mut names: Vec<String> = fs::read_dir(cache.dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".wharf", crate::cache_pack::PACK_FILE]);

        cache.remove("se/rd/serde");
        assert_eq!(cache.read("se/rd/serde"), None);
        assert_eq!(self::cache(root.path()).read("se/rd/serde"), None);
        cache.remove("se/rd/serde");
    }

    #[test]
    fn every_url_has_its_own_directory() {
        let names: Vec<String> = [
            "http://127.0.0.1:8080/index/",
            "http://127.0.0.1:8080/other/",
            "https://127.0.0.1:8080/index/",
            "http://127.0.0.1:8081/index/",
        ]
        .iter()
        .map(|url| directory_name(&IndexUrl::parse(url).unwrap()))
        .collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name), "{names:?}");
        }
        assert!(names[0].starts_with("127.0.0.1_8080-"), "{names:?}");
    }
}
