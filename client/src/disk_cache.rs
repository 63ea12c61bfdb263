//! The on-disk copy of one index's files with their validators (`ETag`, `Last-Modified`), so
//! a later run revalidates each file (`If-None-Match` / `If-Modified-Since`) instead of
//! downloading it again, as cargo keeps its sparse index cache.
//!
//! Each index URL gets its own directory, `<cache_dir>/<host>_<port>-<first 16 hex digits of
//! the URL's SHA-256>`, so validators learnt from one registry (perhaps behind a token) are
//! never sent to another. Under it, each index file lives in one flat directory, named by its
//! package's lowercase name (the last part of its index path; snapshot bins keep their
//! `.wharf/…` paths): one line of JSON with
//! the validators, the SHA-256 of the body (what snapshot bins list), its length and CRC-32,
//! then the body. Entries are written to a temporary file and renamed into place, so readers
//! never see a torn one; an entry that does not read back whole (any damage) is ignored and
//! the file fetched again. Reading checks the body's length and CRC-32 (hardware-assisted,
//! a small fraction of SHA-256's cost on the megabytes a warm resolve reads); an entry
//! written before those fields existed is checked against its SHA-256 as before. The cache
//! never fails a fetch: every I/O error is logged and skipped. Entries unused for a long time
//! are deleted by `cache_gc`.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::IndexUrl;

/// How many hex digits of the URL's SHA-256 name its directory.
const URL_HASH_DIGITS: usize = 16;

/// One cached index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedFile {
    /// The `ETag` the server sent with the body.
    pub(crate) etag: Option<String>,
    /// The `Last-Modified` the server sent with the body.
    pub(crate) last_modified: Option<String>,
    /// The file's text.
    pub(crate) body: String,
    /// The hex SHA-256 of `body`, as the snapshot bins list it.
    pub(crate) sha256: String,
}

impl CachedFile {
    /// A file with its validators; its hash is computed here.
    pub(crate) fn new(etag: Option<String>, last_modified: Option<String>, body: String) -> Self {
        Self {
            etag,
            last_modified,
            sha256: crate::snapshot_bins::sha256_hex(&body),
            body,
        }
    }
}

/// The first line of an entry.
#[derive(Debug, Serialize, Deserialize)]
struct EntryHead {
    etag: Option<String>,
    last_modified: Option<String>,
    /// Hex SHA-256 of the body, compared with the snapshot bins' listing (and, for an entry
    /// without `len` and `crc32`, to tell a damaged body from a whole one).
    sha256: String,
    /// The body's length in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    len: Option<u64>,
    /// The body's CRC-32 (IEEE), to tell a damaged body from a whole one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crc32: Option<u32>,
}

/// Bytes read ahead for an entry's first line: enough for any head a registry's validators
/// make, so the body is read straight into its own buffer afterwards.
const HEAD_READ_AHEAD: usize = 1024;

/// The cache directory of one index URL.
#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// The cache of `url` under `root`.
    pub(crate) fn new(root: &Path, url: &IndexUrl) -> Self {
        Self {
            dir: root.join(directory_name(url)),
        }
    }

    /// The directory of this index's entries.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the unit tests only"))]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `index_path` lives. Index files are kept flat: the nested layout
    /// of the index (`to/ki/tokio`) made a cold run create about as many directories as
    /// files, and creating an inode is the dearest part of writing an entry (ext4 looks past
    /// every recently deleted inode of its group: most of a cold run's CPU time when the
    /// previous cache was just deleted).
    fn entry_path(&self, index_path: &str) -> PathBuf {
        match index_path.rsplit_once('/') {
            Some((_, name)) if !index_path.starts_with('.') => self.dir.join(name),
            _ => self.dir.join(index_path),
        }
    }

    /// The entry for `index_path`, or `None` when there is none or it is damaged.
    pub(crate) fn read(&self, index_path: &str) -> Option<CachedFile> {
        let path = self.entry_path(index_path);
        let (head, body, modified) = match read_entry(&path) {
            Ok(read) => read,
            Err(error) => {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), %error, "cannot read a cache entry");
                }
                return None;
            }
        };
        let parsed = parse_entry(&head, body);
        if parsed.is_none() {
            tracing::debug!(path = %path.display(), "ignoring a damaged cache entry");
        } else if crate::cache_gc::needs_touch(modified, SystemTime::now()) {
            // Its modification time is its last use, for `cache_gc`.
            crate::cache_gc::touch(&path);
        }
        parsed
    }

    /// Stores `file` as the entry for `index_path` (temporary file, then rename).
    pub(crate) fn write(&self, index_path: &str, file: &CachedFile) {
        let path = self.entry_path(index_path);
        if let Err(error) = write_atomically(&path, &[&entry_head(file), file.body.as_bytes()]) {
            tracing::debug!(path = %path.display(), %error, "cannot write a cache entry");
        }
    }

    /// The text kept at `path` (a snapshot bin) by [`Self::write_text`], or `None`.
    pub(crate) fn read_text(&self, path: &str) -> Option<String> {
        let path = self.entry_path(path);
        let text = fs::read_to_string(&path).ok()?;
        crate::cache_gc::touch(&path);
        Some(text)
    }

    /// Keeps `text` at `path` as it is (a snapshot bin, checked against its hash on read).
    pub(crate) fn write_text(&self, path: &str, text: &str) {
        let path = self.entry_path(path);
        if let Err(error) = write_atomically(&path, &[text.as_bytes()]) {
            tracing::debug!(path = %path.display(), %error, "cannot write a cache entry");
        }
    }

    /// Removes the entry for `index_path`, if any.
    pub(crate) fn remove(&self, index_path: &str) {
        let path = self.entry_path(index_path);
        match fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), %error, "cannot remove a cache entry");
            }
            _ => {}
        }
    }
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

/// The entry's first line (validators, hash, length and CRC-32, then a newline); the body
/// follows it in the file. Kept apart from the body so writing an entry never copies a large
/// body.
fn entry_head(file: &CachedFile) -> Vec<u8> {
    let head = EntryHead {
        etag: file.etag.clone(),
        last_modified: file.last_modified.clone(),
        sha256: file.sha256.clone(),
        len: u64::try_from(file.body.len()).ok(),
        crc32: Some(crc32fast::hash(file.body.as_bytes())),
    };
    // Serialising a struct of strings and numbers cannot fail.
    let mut bytes = serde_json::to_vec(&head).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The first line of the entry at `path` (with its newline, when it has one), the rest of
/// the file in a buffer of its own (allocated once, at its size), and the file's
/// modification time.
fn read_entry(path: &Path) -> std::io::Result<(Vec<u8>, Vec<u8>, Option<SystemTime>)> {
    let file = fs::File::open(path)?;
    let metadata = file.metadata()?;
    let mut reader = BufReader::with_capacity(HEAD_READ_AHEAD, file);
    let mut head = Vec::new();
    reader.read_until(b'\n', &mut head)?;
    let size = usize::try_from(metadata.len()).unwrap_or(0);
    let mut body = Vec::with_capacity(size.saturating_sub(head.len()));
    reader.read_to_end(&mut body)?;
    Ok((head, body, metadata.modified().ok()))
}

/// The cached file from an entry's first line (with its newline) and body; `None` when the
/// head does not read or the body is not the one it describes.
fn parse_entry(head: &[u8], body: Vec<u8>) -> Option<CachedFile> {
    let head: EntryHead = serde_json::from_slice(head.strip_suffix(b"\n")?).ok()?;
    let whole = match (head.len, head.crc32) {
        (Some(len), Some(crc32)) => {
            u64::try_from(body.len()).ok() == Some(len) && crc32fast::hash(&body) == crc32
        }
        _ => hex::encode(Sha256::digest(&body)) == head.sha256,
    };
    if !whole {
        return None;
    }
    Some(CachedFile {
        etag: head.etag,
        last_modified: head.last_modified,
        body: String::from_utf8(body).ok()?,
        sha256: head.sha256,
    })
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
    // No fsync: a cache entry carries the SHA-256 of its body and is checked on every read,
    // so a file torn by a crash is ignored and fetched again. The rename alone keeps readers
    // from seeing a half-written file; syncing each of hundreds of files would cost more than
    // fetching them.
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(body: &str) -> CachedFile {
        CachedFile::new(Some("\"v1\"".to_owned()), None, body.to_owned())
    }

    #[test]
    fn an_entry_reads_back_and_damage_is_ignored() {
        let root = tempfile::tempdir().unwrap();
        let url = IndexUrl::parse("sparse+http://127.0.0.1:8080/index/").unwrap();
        let cache = DiskCache::new(root.path(), &url);
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
        cache.write("se/rd/serde", &file("line one\nline two\n"));
        assert_eq!(
            cache.read("se/rd/serde"),
            Some(file("line one\nline two\n"))
        );

        let path = cache.dir().join("serde");
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        fs::write(&path, bytes).unwrap();
        assert_eq!(cache.read("se/rd/serde"), None);
        fs::write(&path, b"\xff\xfe not an entry").unwrap();
        assert_eq!(cache.read("se/rd/serde"), None);

        cache.remove("se/rd/serde");
        assert!(!path.exists());
        cache.remove("se/rd/serde");
    }

    /// Index files live side by side under their package names; snapshot bins keep their
    /// paths.
    #[test]
    fn index_files_are_kept_flat_and_bins_nested() {
        let root = tempfile::tempdir().unwrap();
        let url = IndexUrl::parse("sparse+http://127.0.0.1:8080/index/").unwrap();
        let cache = DiskCache::new(root.path(), &url);
        for path in ["1/a", "3/l/log", "se/rd/serde"] {
            cache.write(path, &file(path));
            assert_eq!(cache.read(path), Some(file(path)), "{path}");
        }
        cache.write_text(".wharf/bins/0a", "x\n");
        assert_eq!(cache.read_text(".wharf/bins/0a").as_deref(), Some("x\n"));
        let mut names: Vec<String> = fs::read_dir(cache.dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".wharf", "a", "log", "serde"]);
        assert!(cache.dir().join(".wharf/bins/0a").is_file());
    }

    /// A body changed in place (same length) fails its CRC-32; an entry written without
    /// length and CRC-32 is still read, checked against its SHA-256.
    #[test]
    fn damage_of_the_same_length_and_older_entries() {
        let root = tempfile::tempdir().unwrap();
        let url = IndexUrl::parse("sparse+http://127.0.0.1:8080/index/").unwrap();
        let cache = DiskCache::new(root.path(), &url);
        cache.write("se/rd/serde", &file("line one\nline two\n"));
        let path = cache.dir().join("serde");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"crc32\":"), "{text}");
        fs::write(&path, text.replace("line two", "line 2!!")).unwrap();
        assert_eq!(cache.read("se/rd/serde"), None);

        let body = "line one\n";
        let sha256 = crate::snapshot_bins::sha256_hex(body);
        let old_head =
            format!("{{\"etag\":\"\\\"v1\\\"\",\"last_modified\":null,\"sha256\":\"{sha256}\"}}\n");
        fs::write(&path, format!("{old_head}{body}")).unwrap();
        assert_eq!(cache.read("se/rd/serde"), Some(file(body)));
        fs::write(&path, format!("{old_head}line 1!!\n")).unwrap();
        assert_eq!(cache.read("se/rd/serde"), None);
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
