//! [`SparseIndex`]: the resolver's [`IndexSource`] over a registry's sparse HTTP index.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use wharf_index_format::{IndexEntry, RegistryConfig, index_path};
use wharf_resolver::{IndexSource, ResolveError};

use crate::fetcher::Fetcher;
use crate::index_files::{FetchedFile, IndexFiles, is_fetchable_name};
use crate::tls::client_config;
use crate::{ClientError, ClientOptions, IndexUrl};

/// A sparse index read over HTTP or HTTPS, the way cargo reads one: `config.json` first, then one
/// file per package (`Authorization: <token>` on every request when a token is given).
///
/// Every answer is kept in memory, the "no such package" ones too. A resolution asks for
/// packages one at a time, so each file that arrives queues the (non-dev) dependencies it
/// names, and a few worker threads fetch them while the resolver works; asking for a file in
/// flight waits for it instead of sending a second request. A failed prefetch is retried
/// when, and only when, its package is asked for.
#[derive(Debug)]
pub struct SparseIndex {
    files: Arc<IndexFiles>,
    config: RegistryConfig,
    by_name: RwLock<HashMap<String, Arc<[IndexEntry]>>>,
}

impl SparseIndex {
    /// How many files [`SparseIndex::new`] fetches ahead at once.
    pub const DEFAULT_PREFETCH_THREADS: usize = ClientOptions::DEFAULT_PREFETCH_THREADS;

    /// Opens the index at `url` (`sparse+https://host/…/index/`; `sparse+` and the trailing
    /// slash optional, `http` as well as `https`) and fetches its `config.json`, with the
    /// default [`ClientOptions`].
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ClientError> {
        Self::with_options(url, token, &ClientOptions::default())
    }

    /// Like [`SparseIndex::new`] with `threads` prefetch workers; `0` turns prefetch off, so
    /// every file is fetched only when asked for.
    pub fn with_prefetch_threads(
        url: &str,
        token: Option<String>,
        threads: usize,
    ) -> Result<Self, ClientError> {
        let options = ClientOptions {
            prefetch_threads: threads,
            ..ClientOptions::default()
        };
        Self::with_options(url, token, &options)
    }

    /// Like [`SparseIndex::new`] with `options`: extra CA certificates (read now, so a bad
    /// file fails here, naming it) and the number of prefetch workers.
    pub fn with_options(
        url: &str,
        token: Option<String>,
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let url = IndexUrl::parse(url)?;
        let fetcher = Fetcher::new(url, token, client_config(&options.ca_certs)?, options)?;
        let threads = options.prefetch_threads;
        let config = fetcher.config()?;
        let files = Arc::new(IndexFiles::new(fetcher, threads > 0));
        let index = Self {
            files,
            config,
            by_name: RwLock::default(),
        };
        for number in 0..threads {
            let files = Arc::clone(&index.files);
            // Detached: a worker ends by itself after its current request once the index is
            // dropped, so dropping never waits for a slow server.
            std::thread::Builder::new()
                .name(format!("wharf-prefetch-{number}"))
                .spawn(move || files.run_worker())
                .map_err(|e| ClientError::HttpClient {
                    reason: format!("cannot start a prefetch thread: {e}"),
                })?;
        }
        Ok(index)
    }

    /// The index URL, normalised (`http(s)://…/`, no `sparse+`).
    pub fn url(&self) -> &IndexUrl {
        self.files.fetcher().url()
    }

    /// The registry's `config.json`.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// How many HTTP requests were sent so far, `config.json` included.
    pub fn requests(&self) -> u64 {
        self.files.fetcher().requests()
    }

    /// How many index files were answered 304 (not modified) and served from the on-disk
    /// cache of [`ClientOptions::cache_dir`]; always 0 without one.
    pub fn revalidated(&self) -> u64 {
        self.files.fetcher().revalidated()
    }

    /// How many cached index files were used without any request because the registry's
    /// snapshot bins (`/index/.wharf/bins`) list their hash; always 0 without
    /// [`ClientOptions::cache_dir`] or against a registry that serves no bins.
    pub fn unchanged_by_snapshot(&self) -> u64 {
        self.files.fetcher().unchanged_by_snapshot()
    }

    /// The bytes at `url` (e.g. a download URL of [`Self::config`]), with the same retries
    /// and stall timeout as index files; any answer but 200 is an error. The token is sent
    /// only when `config.json` says `auth-required`, as cargo does for downloads.
    pub fn download(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        self.files
            .fetcher()
            .download(url, self.config.auth_required)
    }

    /// [`Self::download`] with one extra header (a premium package's licence), and the
    /// token always sent: the registry checks the licence against the token's user.
    pub fn download_with_header(
        &self,
        url: &str,
        name: &'static str,
        value: &str,
    ) -> Result<Vec<u8>, ClientError> {
        self.files.fetcher().download_with_header(url, name, value)
    }

    /// Starts fetching the files of `names` in the background (when prefetch is on), e.g.
    /// the root manifest's dependencies before a resolution starts.
    pub fn prefetch<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        self.files.prefetch(names);
    }

    /// The fetched file at `name`'s index path.
    fn file(&self, name: &str) -> Result<Arc<FetchedFile>, ResolveError> {
        self.files
            .get(&index_path(name))
            .map_err(|error| error.for_package(name))
    }

    fn load(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        if !is_fetchable_name(name) {
            return Ok(Arc::from([]));
        }
        let file = self.file(name)?.entries();
        // Names that differ only in case share a file; each gets its own lines. Nearly every
        // file holds one spelling only: share it instead of copying every entry.
        if file.iter().all(|entry| entry.name == name) {
            return Ok(file);
        }
        Ok(file
            .iter()
            .filter(|entry| entry.name == name)
            .cloned()
            .collect())
    }
}

impl IndexSource for SparseIndex {
    fn scan_index_file(
        &self,
        name: &str,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<bool, ResolveError> {
        if !is_fetchable_name(name) {
            return Ok(true);
        }
        let file = self.file(name)?;
        let text = file.text().as_bytes();
        let mut start = 0;
        while start < text.len() {
            let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |at| start + at);
            let raw = &text[start..end];
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if !line.trim_ascii().is_empty() {
                visit(start as u64, line);
            }
            start = end + 1;
        }
        Ok(true)
    }

    fn index_line(
        &self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<String>, ResolveError> {
        let file = self.file(name)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(range) = start.checked_add(len).map(|end| start..end) else {
            return Ok(None);
        };
        let line = file.text().get(range.clone());
        // The resolver tries this version: its dependencies are asked for next. A worker
        // reads their names while the resolver parses the line.
        if line.is_some() {
            self.files.follow_line(&file, range);
        }
        Ok(line.map(str::to_owned))
    }

    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        if let Some(found) = self
            .by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Ok(Arc::clone(found));
        }
        let loaded = self.load(name)?;
        self.by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), Arc::clone(&loaded));
        Ok(loaded)
    }
}

impl Drop for SparseIndex {
    fn drop(&mut self) {
        self.files.shut_down();
        self.files.store_pending();
    }
}
