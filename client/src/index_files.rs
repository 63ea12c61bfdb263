//! The index files of one registry: each fetched at most once, shared by every caller, and
//! fetched ahead by a few worker threads.
//!
//! Every file has a [`Slot`] keyed by its index path. A caller that needs a file either finds
//! it done, waits while another thread fetches it, or fetches it itself (also when it is only
//! queued for prefetch: asking beats waiting for a worker). Whenever a file arrives, the
//! dependencies named in its lines that have no slot yet are queued, and the workers take
//! them in order. One lock guards the slots and the queue; no thread holds it across a
//! request, so the only wait is for a request in flight, which always ends (timeouts).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::Deserialize;
use wharf_index_format::{IndexEntry, IndexFile, index_path};

use crate::ClientError;
use crate::fetcher::Fetcher;

/// One file as served (all names that share the file's path), or why the file could not be
/// had.
pub(crate) type FileResult = Result<Arc<FetchedFile>, Arc<ClientError>>;

/// The text of one index file, its lines parsed into entries only when asked for: a resolver
/// that reads line heads never parses the lines of versions it does not try.
#[derive(Debug, Default)]
pub(crate) struct FetchedFile {
    text: String,
    entries: OnceLock<Arc<[IndexEntry]>>,
}

impl FetchedFile {
    /// The file's text (empty for a package that does not exist).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Every supported entry of the file, parsed on first use; unreadable lines are skipped.
    pub(crate) fn entries(&self) -> Arc<[IndexEntry]> {
        Arc::clone(self.entries.get_or_init(|| {
            let (file, errors) = IndexFile::parse_lenient(&self.text);
            for (line, error) in errors {
                tracing::debug!(line, %error, "skipping unreadable index line");
            }
            file.entries
                .into_iter()
                .filter(IndexEntry::is_supported)
                .collect()
        }))
    }

    /// The packages named by the non-dev dependencies of the file's newest release (the
    /// highest version not yanked): the version a resolver most likely picks. Only that line
    /// is parsed; the others' versions are read from their heads
    /// ([`wharf_resolver::index_line_version`]), as the resolver reads them (parsing every
    /// line of every file took more CPU than the resolve itself). The dependencies of an
    /// older version are fetched ahead when the resolver reads that version's line
    /// ([`line_dependency_names`]), so files that only old releases need are not fetched at
    /// all.
    fn dependency_names(&self) -> Vec<String> {
        let mut newest: Option<(semver::Version, &str)> = None;
        for line in self.text.lines() {
            let Some((version, yanked)) = wharf_resolver::index_line_version(line.as_bytes())
            else {
                continue;
            };
            if !yanked && newest.as_ref().is_none_or(|(best, _)| version > *best) {
                newest = Some((version, line));
            }
        }
        newest.map_or_else(Vec::new, |(_, line)| line_dependency_names(line))
    }
}

/// The packages named by the non-dev dependencies of one index line (none when it does not
/// parse).
pub(crate) fn line_dependency_names(line: &str) -> Vec<String> {
    serde_json::from_str::<DependencyNames<'_>>(line).map_or_else(|_| Vec::new(), |l| l.names())
}

/// The part of an index line that prefetch needs.
#[derive(Deserialize)]
struct DependencyNames<'a> {
    #[serde(default, borrow)]
    deps: Vec<DependencyName<'a>>,
}

impl DependencyNames<'_> {
    /// The package names of the non-dev dependencies (the resolver never follows a
    /// dependency's dev-dependencies), sorted, each once.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .deps
            .iter()
            .filter(|dep| dep.kind.as_deref() != Some("dev"))
            .map(|dep| dep.package.as_deref().unwrap_or(&dep.name).to_owned())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// A dependency's package name and kind.
#[derive(Deserialize)]
struct DependencyName<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    package: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kind: Option<Cow<'a, str>>,
}

/// Where one file stands.
#[derive(Debug)]
enum Slot {
    /// Waiting for a prefetch worker.
    Queued,
    /// A request is in flight.
    Fetching,
    /// The answer, final (also an empty file for a package that does not exist).
    Done(FileResult),
    /// A prefetch failed (or a fetch panicked); the first caller that needs the file tries
    /// again, and its answer is final. A failure is thus reported only for a package that is
    /// asked for.
    PrefetchFailed,
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<String, Slot>,
    queue: VecDeque<String>,
    shutdown: bool,
}

/// The shared file table, its queue and the fetcher.
#[derive(Debug)]
pub(crate) struct IndexFiles {
    fetcher: Fetcher,
    prefetch: bool,
    state: Mutex<State>,
    /// Signalled when the queue grows or on shutdown (the workers wait on it).
    work: Condvar,
    /// Signalled when a fetch ends (callers waiting for a file in flight wait on it).
    finished: Condvar,
}

impl IndexFiles {
    /// A table fed by `fetcher`; `prefetch` says whether arrivals queue their dependencies.
    pub(crate) fn new(fetcher: Fetcher, prefetch: bool) -> Self {
        Self {
            fetcher,
            prefetch,
            state: Mutex::default(),
            work: Condvar::new(),
            finished: Condvar::new(),
        }
    }

    pub(crate) fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; should it ever, the table is still
        // consistent (each change is one insert), so carry on rather than hang or panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file at `path`: from the table, after the fetch in flight, or fetched now.
    pub(crate) fn get(&self, path: &str) -> FileResult {
        let mut state = self.lock();
        loop {
            match state.slots.get(path) {
                Some(Slot::Done(result)) => return result.clone(),
                Some(Slot::Fetching) => {
                    state = self
                        .finished
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                None | Some(Slot::Queued | Slot::PrefetchFailed) => {
                    state.slots.insert(path.to_owned(), Slot::Fetching);
                    drop(state);
                    let in_flight = InFlight { files: self, path };
                    let result = self.fetch(path);
                    in_flight.finish(result.clone(), false);
                    return result;
                }
            }
        }
    }

    /// Queues `names` for prefetch (those without a slot yet).
    pub(crate) fn prefetch<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        if !self.prefetch {
            return;
        }
        let mut state = self.lock();
        let queued = queue_missing(&mut state, names);
        drop(state);
        if queued > 0 {
            self.work.notify_all();
        }
    }

    fn fetch(&self, path: &str) -> FileResult {
        match self.fetcher.index_file(path) {
            Ok(None) => Ok(Arc::default()),
            Ok(Some(text)) => Ok(Arc::new(FetchedFile {
                text,
                entries: OnceLock::new(),
            })),
            Err(error) => Err(Arc::new(error)),
        }
    }

    /// Records the answer for `path`, queues the dependencies it names and wakes whoever
    /// waits.
    fn finish(&self, path: &str, result: FileResult, by_worker: bool) {
        let names = match &result {
            Ok(file) if self.prefetch => file.dependency_names(),
            _ => Vec::new(),
        };
        let mut state = self.lock();
        let mut queued = 0;
        if !state.shutdown {
            queued = queue_missing(&mut state, names.iter().map(String::as_str));
        }
        let slot = match result {
            Err(error) if by_worker => {
                tracing::debug!(path, %error, "prefetch failed; retrying when asked for");
                Slot::PrefetchFailed
            }
            result => Slot::Done(result),
        };
        state.slots.insert(path.to_owned(), slot);
        drop(state);
        self.finished.notify_all();
        if queued > 0 {
            self.work.notify_all();
        }
    }

    /// The loop of one prefetch worker: take the next queued file, fetch it, repeat, until
    /// [`IndexFiles::shut_down`].
    pub(crate) fn run_worker(&self) {
        while let Some(path) = self.next_queued() {
            let in_flight = InFlight {
                files: self,
                path: &path,
            };
            let result = self.fetch(&path);
            in_flight.finish(result, true);
        }
    }

    fn next_queued(&self) -> Option<String> {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return None;
            }
            match state.queue.pop_front() {
                Some(path) => {
                    // A caller may have taken it meanwhile; then its slot is no longer queued.
                    if let Some(slot @ Slot::Queued) = state.slots.get_mut(&path) {
                        *slot = Slot::Fetching;
                        return Some(path);
                    }
                }
                None => {
                    state = self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// Stops the workers after their current request; queued files are dropped.
    pub(crate) fn shut_down(&self) {
        let mut state = self.lock();
        state.shutdown = true;
        state.queue.clear();
        drop(state);
        self.work.notify_all();
    }
}

/// A fetch in progress. Should the fetch panic, dropping this marks the file as a failed
/// prefetch, so threads waiting for it retry instead of waiting for ever.
struct InFlight<'a> {
    files: &'a IndexFiles,
    path: &'a str,
}

impl InFlight<'_> {
    fn finish(self, result: FileResult, by_worker: bool) {
        self.files.finish(self.path, result, by_worker);
        std::mem::forget(self);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.files.lock();
        state
            .slots
            .insert(self.path.to_owned(), Slot::PrefetchFailed);
        drop(state);
        self.files.finished.notify_all();
    }
}

/// Gives every name whose file has no slot a queued one; returns how many were queued.
fn queue_missing<'a>(state: &mut State, names: impl IntoIterator<Item = &'a str>) -> usize {
    let mut queued = 0;
    for name in names {
        if !is_fetchable_name(name) {
            continue;
        }
        let path = index_path(name);
        if !state.slots.contains_key(&path) {
            state.slots.insert(path.clone(), Slot::Queued);
            state.queue.push_back(path);
            queued += 1;
        }
    }
    queued
}

/// Whether `name` can be a package name (alphanumerics, `-`, `_`), so its file URL stays
/// inside the index. Any other name has no file.
pub(crate) fn is_fetchable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}
