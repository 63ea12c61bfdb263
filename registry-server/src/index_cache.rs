//! The in-memory hot path for sparse index files.
//!
//! Every index file is held with its bytes, a gzip copy (when smaller), a strong ETag (the
//! SHA-256 of the bytes) and a preformatted `Last-Modified`, so answering a GET or a
//! conditional GET is a map lookup and a header comparison: no I/O, no hashing, no formatting.
//! The response headers of each answer (200 and 304, identity and gzip) are built once per
//! file too, so a response takes a copy of a finished header map instead of inserting and
//! hashing its fields one by one.
//! The cache is warmed from storage at start and replaced file by file after every write.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};
use wharf_storage::IndexFileSnapshot;

use crate::fast_path::wire::{WireHead, WireHeads};

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
    /// The headers of each answer, built once.
    pub headers: PreparedHeaders,
    /// The same answers' heads as the fast path writes them, built once.
    pub(crate) wire: WireHeads,
}

/// The response headers of one index file's answers, in the order they are sent.
#[derive(Debug)]
pub struct PreparedHeaders {
    /// 200 with the identity bytes: `Content-Type`, `ETag`, `Last-Modified`, `Cache-Control`,
    /// `Vary`.
    pub ok: HeaderMap,
    /// 200 with the gzip bytes: the same with the gzip `ETag` and `Content-Encoding: gzip`.
    pub ok_gzip: HeaderMap,
    /// 304 for the identity representation: the caching fields a 200 carries (RFC 9110
    /// §15.4.5): `ETag`, `Last-Modified`, `Cache-Control`, `Vary`.
    pub not_modified: HeaderMap,
    /// 304 for the gzip representation (its `ETag`).
    pub not_modified_gzip: HeaderMap,
}

impl PreparedHeaders {
    fn new(etag: &HeaderValue, gzip_etag: &HeaderValue, last_modified: &HeaderValue) -> Self {
        let not_modified = |etag: &HeaderValue| {
            let mut h = HeaderMap::with_capacity(6);
            h.insert(header::ETAG, etag.clone());
            h.insert(header::LAST_MODIFIED, last_modified.clone());
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            h
        };
        let ok = |etag: &HeaderValue| {
            let mut h = HeaderMap::with_capacity(6);
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            h.extend(not_modified(etag));
            h
        };
        let mut ok_gzip = ok(gzip_etag);
        ok_gzip.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Self {
            ok: ok(etag),
            ok_gzip,
            not_modified: not_modified(etag),
            not_modified_gzip: not_modified(gzip_etag),
        }
    }
}

impl CachedIndexFile {
    /// Prepares a snapshot for serving.
    pub fn from_snapshot(snapshot: &IndexFileSnapshot) -> Self {
        let hash = hex::encode(Sha256::digest(&snapshot.bytes));
        let gzip = gzip_if_smaller(&snapshot.bytes);
        let last_modified_unix = u64::try_from(snapshot.last_modified).unwrap_or(0);
        let last_modified =
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(last_modified_unix));
        let etag = header_value(&format!("\"{hash}\""));
        let gzip_etag = header_value(&format!("\"{hash}-gz\""));
        let last_modified = header_value(&last_modified);
        let headers = PreparedHeaders::new(&etag, &gzip_etag, &last_modified);
        let wire = WireHeads {
            ok: WireHead::new(StatusCode::OK, &headers.ok, Some(snapshot.bytes.len())),
            ok_gzip: WireHead::new(
                StatusCode::OK,
                &headers.ok_gzip,
                Some(gzip.as_ref().map_or(0, Bytes::len)),
            ),
            not_modified: WireHead::new(StatusCode::NOT_MODIFIED, &headers.not_modified, None),
            not_modified_gzip: WireHead::new(
                StatusCode::NOT_MODIFIED,
                &headers.not_modified_gzip,
                None,
            ),
        };
        Self {
            bytes: snapshot.bytes.clone(),
            gzip,
            headers,
            wire,
            etag,
            gzip_etag,
            last_modified,
            last_modified_unix,
            seq: snapshot.seq,
        }
    }

    /// Whether an `If-None-Match` value matches either representation (weak comparison,
    /// as RFC 9110 prescribes for `If-None-Match`).
    pub fn matches_if_none_match(&self, header: &[u8]) -> bool {
        let (etag, gzip_etag) = (self.etag.as_bytes(), self.gzip_etag.as_bytes());
        // What cargo sends: exactly the ETag it was given. Compared first, as bytes, so the
        // common case needs no UTF-8 check and no list parsing.
        if header == etag || header == gzip_etag {
            return true;
        }
        let Ok(text) = std::str::from_utf8(header) else {
            return false;
        };
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
///
/// The map hashes with foldhash's quality variant, seeded at random per process, instead of
/// SipHash: a lookup runs on every index request, and SipHash was about 2 % of a request's
/// instructions. Only published names become keys, so an attacker would have to publish many
/// names that collide under a seed they cannot see.
#[derive(Debug, Default)]
pub struct IndexCache {
    files: RwLock<HashMap<String, Arc<CachedIndexFile>, foldhash::quality::RandomState>>,
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
    fn prepared_headers_carry_the_fields_of_each_answer() {
        let file = cached(&"{\"name\":\"demo\"}\n".repeat(20));
        let h = &file.headers;
        assert_eq!(h.ok[header::CONTENT_TYPE], "text/plain");
        assert_eq!(h.ok[header::ETAG], file.etag);
        assert!(h.ok.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(h.ok_gzip[header::ETAG], file.gzip_etag);
        assert_eq!(h.ok_gzip[header::CONTENT_ENCODING], "gzip");
        assert_eq!(h.not_modified[header::ETAG], file.etag);
        assert_eq!(h.not_modified_gzip[header::ETAG], file.gzip_etag);
        assert!(h.not_modified.get(header::CONTENT_TYPE).is_none());
        for map in [&h.ok, &h.ok_gzip, &h.not_modified, &h.not_modified_gzip] {
            assert_eq!(map[header::LAST_MODIFIED], file.last_modified);
            assert_eq!(map[header::CACHE_CONTROL], "no-cache");
            assert_eq!(map[header::VARY], "Accept-Encoding");
        }
    }

    #[test]
    fn a_header_that_is_not_utf8_never_matches() {
        let file = cached("{\"name\":\"demo\"}\n");
        let mut header = file.etag.as_bytes().to_vec();
        header.extend_from_slice(b", \xff");
        assert!(!file.matches_if_none_match(&header));
    }
}
