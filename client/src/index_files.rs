//! The index files of one registry: each fetched at most once, shared by every caller, and
//! fetched ahead by a few worker threads.
//!
//! Every file has a [`Slot`] keyed by its index path. A caller that needs a file either finds
//! it done, waits while another thread fetches it, or fetches it itself (also when it is only
//! queued for prefetch: asking beats waiting for a worker). Whenever a file arrives, the
//! dependencies named in its lines that have no slot yet are queued, and the workers take
//! them in order. The workers also do what a fetch leaves behind, so the thread that waits
//! for a file has it as soon as it arrives: reading the dependency names of a file's newest
//! release and of each line the resolver reads (the files those name are queued), and
//! writing each new file to the on-disk cache (hashing it first). One lock guards the slots
//! and the jobs; no thread holds it across a request, so the only wait is for a request in
//! flight, which always ends (timeouts).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::Deserialize;
use wharf_index_format::{IndexEntry, IndexFile, index_path};

use crate::ClientError;
use crate::fetcher::{CacheWrite, Fetcher};

/// One file as served (all names that share the file's path), or why the file could not be
/// had.
pub(crate) type FileResult = Result<Arc<FetchedFile>, Arc<ClientError>>;

/// The text of one index file, its lines parsed into entries only when asked for: a resolver
/// that reads line heads never parses the lines of versions it does not try.
#[derive(Debug, Default)]
pub(crate) struct FetchedFile {
    text: Arc<String>,
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
fn line_dependency_names(line: &str) -> Vec<String> {
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

/// A file whose dependency names are to be read, and the files they name queued: those of
/// its newest release when `line` is `None`, else those of the line at `line`.
#[derive(Debug)]
struct Follow {
    file: Arc<FetchedFile>,
    line: Option<Range<usize>>,
}

impl Follow {
    fn names(&self) -> Vec<String> {
        match &self.line {
            None => self.file.dependency_names(),
            Some(range) => self
                .file
                .text()
                .get(range.clone())
                .map_or_else(Vec::new, line_dependency_names),
        }
    }
}

/// What a worker does next, most urgent first.
enum Job {
    /// Queue the files a fetched file names (they are what the resolver asks for next).
    Follow(Follow),
    /// Fetch the file at this index path.
    Fetch(String),
    /// Keep a fetched file in the on-disk cache (needed only by a later run).
    Store(CacheWrite),
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<String, Slot>,
    queue: VecDeque<String>,
    follows: VecDeque<Follow>,
    stores: Vec<CacheWrite>,
    shutdown: bool,
    /// Workers waiting for a job.
    idle: usize,
    /// Callers waiting for a fetch in flight.
    waiting: usize,
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
                    let since = std::time::Instant::now();
                    state.waiting += 1;
                    state = self
                        .finished
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    state.waiting -= 1;
                    tracing::debug!(
                        path,
                        micros = since.elapsed().as_micros(),
                        "waited for a fetch in flight"
                    );
                }
                None | Some(Slot::Queued | Slot::PrefetchFailed) => {
                    let queued = matches!(state.slots.get(path), Some(Slot::Queued));
                    state.slots.insert(path.to_owned(), Slot::Fetching);
                    drop(state);
                    tracing::debug!(path, queued, "fetching on the asking thread");
                    let in_flight = InFlight { files: self, path };
                    let (result, store) = self.fetch(path);
                    in_flight.finish(result.clone(), false);
                    self.store_later(store, true);
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
        self.wake(state, queued, false);
    }

    /// Wakes up to `jobs` idle workers, and the callers waiting for a fetch in flight when
    /// `finished`. Waking a thread is a system call even when none waits: only those waiting
    /// are woken.
    fn wake(&self, state: MutexGuard<'_, State>, jobs: usize, finished: bool) {
        let workers = jobs.min(state.idle);
        let all_workers = workers == state.idle;
        let callers = finished && state.waiting > 0;
        drop(state);
        if callers {
            self.finished.notify_all();
        }
        if workers == 0 {
            return;
        }
        if all_workers {
            self.work.notify_all();
        } else {
            for _ in 0..workers {
                self.work.notify_one();
            }
        }
    }

    /// Queues the files named by the dependencies of `file`'s line at `line` (a version the
    /// resolver tries), for a worker to read them.
    pub(crate) fn follow_line(&self, file: &Arc<FetchedFile>, line: Range<usize>) {
        if !self.prefetch {
            return;
        }
        let mut state = self.lock();
        if state.shutdown {
            return;
        }
        state.follows.push_back(Follow {
            file: Arc::clone(file),
            line: Some(line),
        });
        self.wake(state, 1, false);
    }

    /// Hands `store` to the workers (waking one when `wake`: a worker that fetched the file
    /// takes it itself), or writes it now when there are none.
    fn store_later(&self, store: Option<CacheWrite>, wake: bool) {
        let Some(store) = store else { return };
        if !self.prefetch {
            self.fetcher.store(store);
            return;
        }
        let mut state = self.lock();
        state.stores.push(store);
        self.wake(state, usize::from(wake), false);
    }

    /// Writes the cache entries no worker has written yet, on the calling thread (when the
    /// index is dropped, so that a later run finds them).
    pub(crate) fn store_pending(&self) {
        let stores = std::mem::take(&mut self.lock().stores);
        tracing::debug!(count = stores.len(), "writing the cache entries left");
        for store in stores {
            self.fetcher.store(store);
        }
    }

    fn fetch(&self, path: &str) -> (FileResult, Option<CacheWrite>) {
        match self.fetcher.index_file(path) {
            Ok(None) => (Ok(Arc::default()), None),
            Ok(Some(fetched)) => (
                Ok(Arc::new(FetchedFile {
                    text: fetched.text,
                    entries: OnceLock::new(),
                })),
                fetched.store,
            ),
            Err(error) => (Err(Arc::new(error)), None),
        }
    }

    /// Records the answer for `path`, has a worker queue the dependencies it names and wakes
    /// whoever waits.
    fn finish(&self, path: &str, result: FileResult, by_worker: bool) {
        let mut state = self.lock();
        let mut queued = 0;
        if let Ok(file) = &result
            && self.prefetch
            && !state.shutdown
            && !file.text().is_empty()
        {
            state.follows.push_back(Follow {
                file: Arc::clone(file),
                line: None,
            });
            queued = 1;
        }
        let slot = match result {
            Err(error) if by_worker => {
                tracing::debug!(path, %error, "prefetch failed; retrying when asked for");
                Slot::PrefetchFailed
            }
            result => Slot::Done(result),
        };
        state.slots.insert(path.to_owned(), slot);
        // A worker goes on with the file's follow-up itself.
        let jobs = if by_worker { 0 } else { queued };
        self.wake(state, jobs, true);
    }

    /// The loop of one prefetch worker: take the most urgent job, do it, repeat, until
    /// [`IndexFiles::shut_down`].
    pub(crate) fn run_worker(&self) {
        while let Some(job) = self.next_job() {
            match job {
                Job::Follow(follow) => {
                    let names = follow.names();
                    self.prefetch(names.iter().map(String::as_str));
                }
                Job::Fetch(path) => {
                    let in_flight = InFlight {
                        files: self,
                        path: &path,
                    };
                    let (result, store) = self.fetch(&path);
                    in_flight.finish(result, true);
                    self.store_later(store, false);
                }
                Job::Store(store) => self.fetcher.store(store),
            }
        }
    }

    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return None;
            }
            if let Some(follow) = state.follows.pop_front() {
                return Some(Job::Follow(follow));
            }
            while let Some(path) = state.queue.pop_front() {
                // A caller may have taken it meanwhile; then its slot is no longer queued.
                if let Some(slot @ Slot::Queued) = state.slots.get_mut(&path) {
                    *slot = Slot::Fetching;
                    return Some(Job::Fetch(path));
                }
            }
            if let Some(store) = state.stores.pop() {
                return Some(Job::Store(store));
            }
            state.idle += 1;
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
    }

    /// Stops the workers after their current request; queued files are dropped.
    pub(crate) fn shut_down(&self) {
        let mut state = self.lock();
        state.shutdown = true;
        state.queue.clear();
        state.follows.clear();
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
        self.files.wake(state, 0, true);
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
