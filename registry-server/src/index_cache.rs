//! The in-memory hot path for sparse index files.
//!
//! Every index file is held with its bytes, a gzip copy (when smaller), a strong ETag (the
//! SHA-256 of the bytes) and a preformatted `Last-Modified`, so answering a GET or a
//! conditional GET is a map lookup and a header comparison: no I/O, no hashing, no formatting.
//! The cache is warmed from storage at start and replaced file by file after every write.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use http::HeaderValue;
use sha2::{Digest, Sha256};
use wharf_storage::IndexFileSnapshot;

/// One index file, ready to serve.
#[derive(Debug)]
pub struct CachedIndexFile {
    /// The identity bytes.
    pub bytes: Bytes,
    /// The gzip bytes, when they are smaller than the identity bytes.
    pub gzip: Option<Bytes>,
    /// Strong ETag of the identity representation, quoted.
    pub etag: HeaderValue,
    /// Strong ETag of the gzip representation, quoted (`"<hash>-gz"`).
    pub gzip_etag: HeaderValue,
    /// The `Last-Modified` header value.
    pub last_modified: HeaderValue,
    /// Seconds since the epoch of `last_modified`, for `If-Modified-Since`.
    pub last_modified_unix: u64,
    /// The log sequence number this file reflects.
    pub seq: u64,
}

impl CachedIndexFile {
    /// Prepares a snapshot for serving.
    pub fn from_snapshot(snapshot: &IndexFileSnapshot) -> Self {
        let hash = hex::encode(Sha256::digest(&snapshot.bytes));
        let gzip = gzip_if_smaller(&snapshot.bytes);
        let last_modified_unix = u64::try_from(snapshot.last_modified).unwrap_or(0);
        let last_modified =
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(last_modified_unix));
        Self {
            bytes: snapshot.bytes.clone(),
            gzip,
            etag: header_value(&format!("\"{hash}\"")),
            gzip_etag: header_value(&format!("\"{hash}-gz\"")),
            last_modified: header_value(&last_modified),
            last_modified_unix,
            seq: snapshot.seq,
        }
    }

    /// Whether an `If-None-Match` value matches either representation (weak comparison,
    /// as RFC 9110 prescribes for `If-None-Match`).
    pub fn matches_if_none_match(&self, header: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(header) else {
            return false;
        };
        let (etag, gzip_etag) = (self.etag.as_bytes(), self.gzip_etag.as_bytes());
        text.split(',').map(str::trim).any(|candidate| {
            let candidate = candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes();
            candidate == b"*" || candidate == etag || candidate == gzip_etag
        })
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("hex digests and HTTP dates are valid header values")
}

fn gzip_if_smaller(bytes: &[u8]) -> Option<Bytes> {
    if bytes.len() < 128 {
        return None;
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::default());
    encoder.write_all(bytes).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < bytes.len()).then(|| Bytes::from(compressed))
}

/// All index files by their lowercase index path (`se/rd/serde`).
#[derive(Debug, Default)]
pub struct IndexCache {
    files: RwLock<HashMap<String, Arc<CachedIndexFile>>>,
}

impl IndexCache {
    /// Looks a file up by its path under `/index/`.
    pub fn get(&self, path: &str) -> Option<Arc<CachedIndexFile>> {
        self.files
            .read()
            .expect("the index cache lock is never poisoned: no code panics while holding it")
            .get(path)
            .cloned()
    }

    /// Installs a snapshot unless the cache already holds a newer one for that path.
    pub fn install(&self, snapshot: &IndexFileSnapshot) {
        let prepared = Arc::new(CachedIndexFile::from_snapshot(snapshot));
        let mut files = self
            .files
            .write()
            .expect("the index cache lock is never poisoned: no code panics while holding it");
        match files.get(&snapshot.path) {
            Some(existing) if existing.seq > prepared.seq => {}
            _ => {
                files.insert(snapshot.path.clone(), prepared);
            }
        }
    }

    /// How many files are cached.
    pub fn len(&self) -> usize {
        self.files.read().map_or(0, |f| f.len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(text: &str) -> CachedIndexFile {
        CachedIndexFile::from_snapshot(&IndexFileSnapshot {
            name: "demo".to_owned(),
            path: "de/mo/demo".to_owned(),
            bytes: Bytes::from(text.to_owned()),
            seq: 1,
            last_modified: 1_700_000_000,
        })
    }

    #[test]
    fn if_none_match_compares_both_representations_weakly() {
        let file = cached(&"{\"name\":\"demo\"}\n".repeat(20));
        let etag = file.etag.to_str().expect("ASCII").to_owned();
        let gzip_etag = file.gzip_etag.to_str().expect("ASCII").to_owned();
        assert!(file.gzip.is_some(), "repetitive text compresses");
        assert!(file.matches_if_none_match(etag.as_bytes()));
        assert!(file.matches_if_none_match(gzip_etag.as_bytes()));
        assert!(file.matches_if_none_match(format!("W/{etag}").as_bytes()));
        assert!(file.matches_if_none_match(format!("\"other\", {etag}").as_bytes()));
        assert!(file.matches_if_none_match(b"*"));
        assert!(!file.matches_if_none_match(b"\"other\""));
        assert!(!file.matches_if_none_match(etag.trim_matches('"').as_bytes()));
        assert!(!file.matches_if_none_match(b""));
    }

    #[test]
    fn a_header_that_is_not_utf8_never_matches() {
        let file = cached("{\"name\":\"demo\"}\n");
        let mut header = file.etag.as_bytes().to_vec();
        header.extend_from_slice(b", \xff");
        assert!(!file.matches_if_none_match(&header));
    }
}
