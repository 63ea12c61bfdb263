//! The index files of one registry: each fetched at most once, shared by every caller, and
//! fetched ahead by a few worker threads.
//!
//! Every file has a [`Slot`] keyed by its index path. A caller that needs a file either finds
//! it done, waits while another thread fetches it, or fetches it itself (also when it is only
//! queued for prefetch: asking beats waiting for a worker). Whenever a file arrives, the
//! dependencies named in its lines that have no slot yet are queued, and the workers take
//! them in order. One lock guards the slots and the queue; no thread holds it across a
//! request, so the only wait is for a request in flight, which always ends (timeouts).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use wharf_index_format::{DependencyKind, IndexDependency, IndexEntry, IndexFile, index_path};

use crate::ClientError;
use crate::fetcher::Fetcher;

/// Every supported entry of one file (all names that share the file's path), or why the
/// file could not be had.
pub(crate) type FileResult = Result<Arc<[IndexEntry]>, Arc<ClientError>>;

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
            Ok(None) => Ok(Arc::from([])),
            Ok(Some(text)) => {
                let (file, errors) = IndexFile::parse_lenient(&text);
                for (line, error) in errors {
                    tracing::debug!(path, line, %error, "skipping unreadable index line");
                }
                Ok(file
                    .entries
                    .into_iter()
                    .filter(IndexEntry::is_supported)
                    .collect())
            }
            Err(error) => Err(Arc::new(error)),
        }
    }

    /// Records the answer for `path`, queues the dependencies it names and wakes whoever
    /// waits.
    fn finish(&self, path: &str, result: FileResult, by_worker: bool) {
        let mut state = self.lock();
        let mut queued = 0;
        if let Ok(entries) = &result
            && self.prefetch
            && !state.shutdown
        {
            // The resolver never follows a dependency's dev-dependencies.
            let names = entries
                .iter()
                .flat_map(|entry| &entry.deps)
                .filter(|dep| dep.kind != DependencyKind::Dev)
                .map(IndexDependency::package_name);
            queued = queue_missing(&mut state, names);
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
