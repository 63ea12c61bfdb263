//! Where index lines come from: a cargo-layout directory tree, or memory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use wharf_index_format::{IndexEntry, IndexFile, canonical_name, index_path};

use crate::ResolveError;

/// A source of index entries, shared across threads.
pub trait IndexSource: Send + Sync {
    /// Every version of `name` (exact name as cargo looks it up: lowercase path, exact-name match
    /// on the line's `name`), parsed lazily on first request and cached. `Ok(empty)` when the
    /// package does not exist.
    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError>;

    /// The raw text of `name`'s index file, for sources backed by files. The resolver then
    /// reads only the head of each line up front and parses a whole line only when it tries
    /// that version. `Ok(None)` (the default) makes it use [`IndexSource::versions`].
    fn index_file(&self, name: &str) -> Result<Option<Arc<str>>, ResolveError> {
        let _ = name;
        Ok(None)
    }

    /// Names that exist and differ from `name` only by `-`/`_` or letter case, for
    /// "did you mean" hints. The default tries the `-`/`_` and lowercase spellings.
    fn similar_names(&self, name: &str) -> Vec<String> {
        let mut candidates = vec![
            name.replace('-', "_"),
            name.replace('_', "-"),
            name.to_ascii_lowercase(),
            name.to_ascii_lowercase().replace('-', "_"),
            name.to_ascii_lowercase().replace('_', "-"),
        ];
        candidates.sort();
        candidates.dedup();
        candidates
            .into_iter()
            .filter(|candidate| candidate != name)
            .filter(|candidate| {
                self.versions(candidate)
                    .is_ok_and(|found| !found.is_empty())
            })
            .collect()
    }
}

/// A sparse-index directory tree in cargo's layout: `dir/<index_path(name)>`, one JSON line per
/// version. Invalid lines and lines with a schema version above 2 are skipped, as cargo does.
#[derive(Debug)]
pub struct LocalIndex {
    dir: PathBuf,
    cache: RwLock<HashMap<String, Arc<[IndexEntry]>>>,
    files: RwLock<HashMap<String, Arc<str>>>,
}

impl LocalIndex {
    /// An index rooted at `dir` (the directory holding `config.json`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            cache: RwLock::default(),
            files: RwLock::default(),
        }
    }

    fn read_file(&self, name: &str) -> Result<Option<String>, ResolveError> {
        let path = self.dir.join(index_path(name));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ResolveError::Io { path, source }),
        }
    }

    fn load(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        let Some(text) = self.read_file(name)? else {
            return Ok(Arc::from([]));
        };
        let (file, errors) = IndexFile::parse_lenient(&text);
        for (line, error) in errors {
            tracing::debug!(package = name, line, %error, "skipping unreadable index line");
        }
        Ok(file
            .entries
            .into_iter()
            .filter(|entry| entry.name == name && entry.is_supported())
            .collect())
    }
}

impl IndexSource for LocalIndex {
    fn index_file(&self, name: &str) -> Result<Option<Arc<str>>, ResolveError> {
        if let Some(found) = self
            .files
            .read()
            .expect("index cache lock is never poisoned")
            .get(name)
        {
            return Ok(Some(Arc::clone(found)));
        }
        let text: Arc<str> = Arc::from(self.read_file(name)?.unwrap_or_default());
        self.files
            .write()
            .expect("index cache lock is never poisoned")
            .insert(name.to_owned(), Arc::clone(&text));
        Ok(Some(text))
    }

    fn similar_names(&self, name: &str) -> Vec<String> {
        let wanted = canonical_name(name);
        let mut spellings = vec![
            name.replace('-', "_"),
            name.replace('_', "-"),
            name.to_owned(),
        ];
        spellings.sort();
        spellings.dedup();
        let mut found: Vec<String> = spellings
            .iter()
            .filter_map(|spelling| {
                std::fs::read_to_string(self.dir.join(index_path(spelling))).ok()
            })
            .flat_map(|text| IndexFile::parse_lenient(&text).0.entries)
            .map(|entry| entry.name)
            .filter(|other| other != name && canonical_name(other) == wanted)
            .collect();
        found.sort();
        found.dedup();
        found
    }

    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        if let Some(found) = self
            .cache
            .read()
            .expect("index cache lock is never poisoned")
            .get(name)
        {
            return Ok(Arc::clone(found));
        }
        let loaded = self.load(name)?;
        self.cache
            .write()
            .expect("index cache lock is never poisoned")
            .insert(name.to_owned(), Arc::clone(&loaded));
        Ok(loaded)
    }
}

/// An index held in memory, for tests and generated ecosystems.
#[derive(Debug, Default, Clone)]
pub struct MemoryIndex {
    packages: HashMap<String, Vec<IndexEntry>>,
}

impl MemoryIndex {
    /// Adds one version (lines with a schema version above 2 are ignored on lookup, like cargo).
    pub fn add(&mut self, entry: IndexEntry) -> &mut Self {
        self.packages
            .entry(entry.name.clone())
            .or_default()
            .push(entry);
        self
    }

    /// Removes every version of `name`; returns whether there were any.
    pub fn remove(&mut self, name: &str) -> bool {
        self.packages.remove(name).is_some()
    }

    /// The names of every package held, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.packages.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl IndexSource for MemoryIndex {
    fn similar_names(&self, name: &str) -> Vec<String> {
        let wanted = canonical_name(name);
        let mut found: Vec<String> = self
            .packages
            .keys()
            .filter(|other| other.as_str() != name && canonical_name(other) == wanted)
            .cloned()
            .collect();
        found.sort();
        found
    }

    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        Ok(self.packages.get(name).map_or_else(
            || Arc::from([]),
            |entries| {
                entries
                    .iter()
                    .filter(|entry| entry.is_supported())
                    .cloned()
                    .collect()
            },
        ))
    }
}
