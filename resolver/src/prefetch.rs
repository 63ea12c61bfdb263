//! Scanning index files on a second thread, ahead of the solver.
//!
//! Reading the heads of every line of a package's index file is most of what a resolution
//! spends outside the solver. While the solver works on one package, a scanner thread reads
//! the files it will most likely ask for next: the dependencies the solver just met, and,
//! speculatively, those of the newest release of every file it scanned. The solver takes a
//! finished scan, waits for one in progress, and scans anything else itself, so the result
//! never depends on what the scanner got to.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

use semver::Version;
use serde::Deserialize;
use wharf_index_format::DependencyKind;

use crate::IndexSource;
use crate::catalog::ScannedLine;

/// Where one package name stands.
enum Slot {
    /// Waiting in the queue.
    Queued,
    /// The scanner is reading it.
    Scanning,
    /// Scanned; `None` when the source has no files or the scan failed (the solver then
    /// asks the source itself, and gets the error if there is one).
    Done(Option<Vec<ScannedLine>>),
    /// The solver has it: never scanned again.
    Taken,
}

#[derive(Default)]
struct State {
    /// Names the solver asked for, about to be read by it in order: the scanner takes them
    /// from the back, so the two meet in the middle.
    wanted: Vec<String>,
    /// Dependencies of newest releases, guessed ahead, breadth first.
    guessed: VecDeque<String>,
    slots: HashMap<String, Slot>,
    closed: bool,
}

/// The queue and results shared by the solver and the scanner thread.
#[derive(Default)]
pub(crate) struct Prefetch {
    state: Mutex<State>,
    changed: Condvar,
}

impl Prefetch {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("the prefetch lock is never held across a panic")
    }

    /// Asks for `name` to be scanned unless it already was or is.
    pub(crate) fn request(&self, name: &str) {
        let mut state = self.lock();
        if !state.slots.contains_key(name) {
            state.slots.insert(name.to_owned(), Slot::Queued);
            state.wanted.push(name.to_owned());
            self.changed.notify_one();
        }
    }

    /// The scanner's lines of `name`, waiting when it is reading them right now; `None`
    /// when the caller should scan itself. Either way `name` is never scanned again.
    pub(crate) fn take(&self, name: &str) -> Option<Vec<ScannedLine>> {
        let mut state = self.lock();
        loop {
            match state.slots.get_mut(name) {
                Some(Slot::Scanning) => {
                    state = self
                        .changed
                        .wait(state)
                        .expect("the prefetch lock is never held across a panic");
                }
                Some(slot) => {
                    return match std::mem::replace(slot, Slot::Taken) {
                        Slot::Done(lines) => lines,
                        _ => None,
                    };
                }
                None => {
                    state.slots.insert(name.to_owned(), Slot::Taken);
                    return None;
                }
            }
        }
    }

    /// Stops the scanner once it finishes the file in hand.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// The scanner thread's loop: runs until [`Prefetch::close`].
    pub(crate) fn run(&self, source: &dyn IndexSource, rust_version: Option<&Version>) {
        while let Some(name) = self.next() {
            let mut lines = Vec::new();
            let scanned = source.scan_index_file(&name, &mut |offset, line| {
                ScannedLine::visit(&mut lines, &name, rust_version, offset, line);
            });
            let done = matches!(scanned, Ok(true)).then_some(lines);
            let next = done
                .as_deref()
                .map(|lines| newest_release_dependencies(source, &name, lines))
                .unwrap_or_default();
            let mut state = self.lock();
            let State { guessed, slots, .. } = &mut *state;
            slots.insert(name, Slot::Done(done));
            for dependency in next {
                if let Entry::Vacant(slot) = slots.entry(dependency) {
                    guessed.push_back(slot.key().clone());
                    slot.insert(Slot::Queued);
                }
            }
            self.changed.notify_all();
        }
    }

    /// The next queued name (marked as being scanned), or `None` once closed.
    fn next(&self) -> Option<String> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            while let Some(name) = state.wanted.pop().or_else(|| state.guessed.pop_front()) {
                if let Some(slot @ Slot::Queued) = state.slots.get_mut(&name) {
                    *slot = Slot::Scanning;
                    return Some(name);
                }
            }
            state = self
                .changed
                .wait(state)
                .expect("the prefetch lock is never held across a panic");
        }
    }
}

/// The names of the packages the newest non-yanked release of `name` needs (normal and
/// build dependencies that are not optional): what the solver will most likely ask next.
fn newest_release_dependencies(
    source: &dyn IndexSource,
    name: &str,
    lines: &[ScannedLine],
) -> Vec<String> {
    #[derive(Deserialize)]
    struct Dependencies {
        deps: Vec<Dependency>,
    }
    #[derive(Deserialize)]
    struct Dependency {
        name: String,
        #[serde(default)]
        package: Option<String>,
        #[serde(default)]
        optional: bool,
        #[serde(default)]
        kind: DependencyKind,
    }
    let Some(newest) = lines
        .iter()
        .filter(|line| !line.yanked && line.version.pre.is_empty())
        .max_by(|a, b| a.version.cmp(&b.version))
    else {
        return Vec::new();
    };
    let Ok(Some(text)) = source.index_line(name, newest.offset, newest.len) else {
        return Vec::new();
    };
    let Ok(parsed) = serde_json::from_str::<Dependencies>(&text) else {
        return Vec::new();
    };
    parsed
        .deps
        .into_iter()
        .filter(|dep| !dep.optional && dep.kind != DependencyKind::Dev)
        .map(|dep| dep.package.unwrap_or(dep.name))
        .collect()
}
