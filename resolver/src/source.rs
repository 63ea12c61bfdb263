//! Where index lines come from: a cargo-layout directory tree, or memory.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use wharf_index_format::{IndexEntry, IndexFile, canonical_name, index_path};

use crate::ResolveError;

/// A source of index entries, shared across threads. A source that cannot deliver a package
/// returns [`ResolveError::index`] with its own error, which stays the error's `source()`.
pub trait IndexSource: Send + Sync {
    /// Every version of `name` (exact name as cargo looks it up: lowercase path, exact-name match
    /// on the line's `name`), parsed lazily on first request and cached. `Ok(empty)` when the
    /// package does not exist.
    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError>;

    /// For sources backed by index files: calls `visit(offset, line)` for every non-blank
    /// line of `name`'s file (raw bytes, not yet checked to be UTF-8; none when the file does
    /// not exist) and returns `Ok(true)`. The resolver reads
    /// only the head of each line then, and fetches a whole line with
    /// [`IndexSource::index_line`] when it tries that version. `Ok(false)` (the default)
    /// makes it use [`IndexSource::versions`].
    fn scan_index_file(
        &self,
        name: &str,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<bool, ResolveError> {
        let _ = (name, visit);
        Ok(false)
    }

    /// The line of `name`'s index file found at `offset` (`len` bytes) by
    /// [`IndexSource::scan_index_file`]; `Ok(None)` when the source has no files.
    fn index_line(
        &self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<String>, ResolveError> {
        let _ = (name, offset, len);
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

thread_local! {
    /// The bytes of the index file being scanned on this thread.
    static SCAN_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Bytes read from an index file at a time (grown only for a longer line).
const SCAN_CHUNK: usize = 128 * 1024;

/// Calls `visit(offset, line)` for every non-blank line `reader` yields (a trailing `\r`
/// removed), reading through `buffer` chunk by chunk.
fn scan_lines(
    reader: &mut impl Read,
    buffer: &mut Vec<u8>,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> std::io::Result<()> {
    let mut emit = |offset: u64, raw: &[u8]| {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if !line.trim_ascii().is_empty() {
            visit(offset, line);
        }
    };
    if buffer.len() < SCAN_CHUNK {
        buffer.resize(SCAN_CHUNK, 0);
    }
    // `buffer[..filled]` holds the start of a line beginning at file offset `base`.
    let mut base = 0u64;
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match reader.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = filled + read;
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', &buffer[filled..end]) {
            let newline = filled + newline;
            emit(base + start as u64, &buffer[start..newline]);
            start = newline + 1;
        }
        if read == 0 {
            if start < end {
                emit(base + start as u64, &buffer[start..end]);
            }
            return Ok(());
        }
        buffer.copy_within(start..end, 0);
        base += start as u64;
        filled = end - start;
    }
}

/// Reads `buffer.len()` bytes of `file` at `offset`, without moving a shared cursor.
fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buffer.len() {
            let offset = offset + done as u64;
            match std::os::windows::fs::FileExt::seek_read(file, &mut buffer[done..], offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                read => done += read,
            }
        }
        Ok(())
    }
}

/// A sparse-index directory tree in cargo's layout: `dir/<index_path(name)>`, one JSON line per
/// version. Invalid lines and lines with a schema version above 2 are skipped, as cargo does.
#[derive(Debug)]
pub struct LocalIndex {
    dir: PathBuf,
    cache: RwLock<HashMap<String, Arc<[IndexEntry]>>>,
    /// Files opened by scans, kept to read single lines of them again (at most
    /// [`OPEN_FILES_MAX`]).
    open_files: Mutex<HashMap<String, Arc<File>>>,
}

/// How many scanned files a [`LocalIndex`] keeps open.
const OPEN_FILES_MAX: usize = 256;

impl LocalIndex {
    /// Opens the index rooted at `dir` (the directory holding `config.json`), checking that it
    /// is one: [`ResolveError::NotAnIndex`] when `dir` is missing, not a directory, or holds
    /// files but neither `config.json` nor any of cargo's index directories (`1`, `2`, `3`,
    /// or two-character prefixes), so a typo fails here rather than as "no package named …".
    /// An empty directory is accepted (a registry nothing was published to).
    ///
    /// ```
    /// use wharf_resolver::{LocalIndex, ResolveError};
    /// let error = LocalIndex::open("/no/such/index").unwrap_err();
    /// assert!(matches!(error, ResolveError::NotAnIndex { .. }));
    /// assert!(error.to_string().contains("`/no/such/index`"));
    /// ```
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ResolveError> {
        let dir = dir.into();
        let not_an_index = |reason: String| ResolveError::NotAnIndex {
            path: dir.clone(),
            reason,
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_an_index("it does not exist".to_owned()));
            }
            Err(e) if dir.is_file() => {
                return Err(not_an_index(format!("it is a file, not a directory ({e})")));
            }
            Err(source) => return Err(ResolveError::Io { path: dir, source }),
        };
        let mut empty = true;
        let looks_like_index = entries.filter_map(Result::ok).any(|entry| {
            empty = false;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            name == "config.json"
                || (is_dir && (matches!(name.as_ref(), "1" | "2" | "3") || name.len() == 2))
        });
        // An empty directory is the index of a registry nothing was published to yet.
        if !looks_like_index && !empty {
            return Err(not_an_index(
                "it holds neither `config.json` nor any index directory (`1`, `2`, `3`, `se`, ...)"
                    .to_owned(),
            ));
        }
        Ok(Self::unchecked(dir))
    }

    /// An index rooted at `dir`, not checked: a wrong directory only shows later as missing
    /// packages.
    #[deprecated(note = "use `LocalIndex::open`, which fails on a missing or non-index directory")]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::unchecked(dir.into())
    }

    fn unchecked(dir: PathBuf) -> Self {
        Self {
            dir,
            cache: RwLock::default(),
            open_files: Mutex::default(),
        }
    }

    fn open_files(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<File>>> {
        self.open_files
            .lock()
            .expect("the open-file lock is never held across a panic")
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
    fn scan_index_file(
        &self,
        name: &str,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<bool, ResolveError> {
        let path = self.dir.join(index_path(name));
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(source) => return Err(ResolveError::Io { path, source }),
        };
        // One buffer per thread, reused for every file and every resolution: files are read
        // in chunks that stay in the CPU cache, instead of whole (a popular crate's file is
        // megabytes, and fresh memory for it costs more in page faults than the copy).
        // Taken out while in use, so a nested scan gets its own.
        let mut buffer = SCAN_BUFFER.take();
        let scanned = scan_lines(&mut &file, &mut buffer, visit);
        SCAN_BUFFER.set(buffer);
        scanned.map_err(|source| ResolveError::Io { path, source })?;
        let mut open_files = self.open_files();
        if open_files.len() >= OPEN_FILES_MAX {
            open_files.clear();
        }
        open_files.insert(name.to_owned(), Arc::new(file));
        Ok(true)
    }

    fn index_line(
        &self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<String>, ResolveError> {
        let path = self.dir.join(index_path(name));
        let io = |source| ResolveError::Io {
            path: path.clone(),
            source,
        };
        let kept = self.open_files().get(name).cloned();
        let file = match kept {
            Some(file) => file,
            None => Arc::new(File::open(&path).map_err(io)?),
        };
        let mut line = vec![0; len];
        read_exact_at(&file, &mut line, offset).map_err(io)?;
        Ok(String::from_utf8(line).ok())
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
