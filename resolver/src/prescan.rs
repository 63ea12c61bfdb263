//! Scanning index files on a second thread ahead of the solver.
//!
//! When the solver tries a version, it reads the catalogs of that version's dependencies one
//! after the other (each a scan of a whole index file: the largest share of a big resolve's
//! time). The provider queues those names here first; a worker thread scans them in order
//! while the solver thread works through the list, so two cores share the scans. A name the
//! solver reaches before the worker does is taken back and scanned by the solver itself; one
//! the worker is scanning is waited for. The scanned lines are exactly what the solver would
//! have read itself, so the answer does not depend on who scanned what.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use semver::Version;

use crate::IndexSource;
use crate::catalog::ScannedLine;

/// One name's state.
enum Slot {
    /// Waiting for the worker.
    Queued,
    /// The worker is scanning it.
    Scanning,
    /// Scanned: the lines, or `None` when the source has no file for it or the scan failed
    /// (the solver then reads it itself, and sees the error itself).
    Done(Option<Vec<ScannedLine>>),
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    slots: HashMap<String, Slot>,
    /// Every name ever queued or taken: each is scanned once per resolution.
    seen: HashSet<String>,
    stopped: bool,
}

/// The queue between the solver thread and the scanning worker.
#[derive(Default)]
pub(crate) struct Prescan {
    state: Mutex<State>,
    changed: Condvar,
}

impl Prescan {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent under a panic (every change is one assignment).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `names` not seen before, in order.
    pub(crate) fn queue<'n>(&self, names: impl IntoIterator<Item = &'n str>) {
        let mut state = self.lock();
        let mut added = false;
        for name in names {
            if !state.seen.contains(name) {
                state.seen.insert(name.to_owned());
                state.slots.insert(name.to_owned(), Slot::Queued);
                state.queue.push_back(name.to_owned());
                added = true;
            }
        }
        if added {
            self.changed.notify_all();
        }
    }

    /// The lines of `name` if the worker scanned it (waiting while it scans it); `None` when
    /// the caller has to scan it itself (never queued, not reached yet, or not scannable).
    pub(crate) fn take(&self, name: &str) -> Option<Vec<ScannedLine>> {
        let mut state = self.lock();
        state.seen.insert(name.to_owned());
        loop {
            match state.slots.remove(name) {
                None | Some(Slot::Queued) => return None,
                Some(Slot::Done(lines)) => return lines,
                Some(Slot::Scanning) => {
                    state.slots.insert(name.to_owned(), Slot::Scanning);
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// Ends the worker after the scan it is doing.
    pub(crate) fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// The worker's loop: scans queued names (those the solver did not take back) until
    /// [`Prescan::stop`].
    pub(crate) fn work(&self, source: &dyn IndexSource, rust_version: Option<&Version>) {
        let mut lines = Vec::new();
        loop {
            let name = {
                let mut state = self.lock();
                loop {
                    if state.stopped {
                        return;
                    }
                    match state.queue.pop_front() {
                        Some(name) if matches!(state.slots.get(&name), Some(Slot::Queued)) => {
                            state.slots.insert(name.clone(), Slot::Scanning);
                            break name;
                        }
                        Some(_) => {}
                        None => {
                            state = self
                                .changed
                                .wait(state)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                    }
                }
            };
            let scanned = source.scan_index_file(&name, &mut |offset, line| {
                ScannedLine::visit(&mut lines, &name, rust_version, offset, line);
            });
            let result = matches!(scanned, Ok(true)).then(|| std::mem::take(&mut lines));
            lines.clear();
            self.lock().slots.insert(name, Slot::Done(result));
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalIndex;

    /// Names scanned by the worker come back with the lines the solver would read; a name
    /// never queued, or taken back before the worker reached it, is left to the caller.
    #[test]
    fn the_worker_scans_queued_names_and_the_caller_takes_them() {
        let dir = tempfile::tempdir().unwrap();
        let line = |name: &str, vers: &str| {
            format!(
                r#"{{"name":"{name}","vers":"{vers}","deps":[],"cksum":"00","features":{{}},"yanked":false}}"#
            )
        };
        for name in ["abc", "xyz"] {
            let path = dir.path().join(wharf_index_format::index_path(name));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                &path,
                format!("{}\n{}\n", line(name, "1.0.0"), line(name, "1.1.0")),
            )
            .unwrap();
        }
        let source = LocalIndex::open(dir.path()).unwrap();
        let wait_done = |prescan: &Prescan, name: &str| {
            let mut state = prescan.lock();
            while !matches!(state.slots.get(name), Some(Slot::Done(_))) {
                state = prescan.changed.wait(state).unwrap();
            }
        };

        let prescan = Prescan::default();
        std::thread::scope(|scope| {
            scope.spawn(|| prescan.work(&source, None));
            prescan.queue(["abc", "missing"]);
            wait_done(&prescan, "abc");
            let lines = prescan.take("abc").expect("scanned by the worker");
            let versions: Vec<String> = lines.iter().map(|l| l.version.to_string()).collect();
            assert_eq!(versions, ["1.0.0", "1.1.0"]);
            wait_done(&prescan, "missing");
            assert_eq!(prescan.take("missing").map(|lines| lines.len()), Some(0));
            assert!(prescan.take("xyz").is_none(), "never queued");
            prescan.stop();
        });

        // Taken back before the worker started: the worker skips it.
        let prescan = Prescan::default();
        prescan.queue(["xyz"]);
        assert!(prescan.take("xyz").is_none());
        prescan.queue(["xyz"]);
        std::thread::scope(|scope| {
            scope.spawn(|| prescan.work(&source, None));
            prescan.stop();
        });
        assert!(prescan.lock().slots.is_empty());
    }
}
