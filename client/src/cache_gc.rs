//! Forgetting on-disk cache entries nobody used for a while, as cargo's automatic cache
//! cleaning does for its own index cache, so a long-lived cache directory (a CI runner's)
//! stops growing.
//!
//! Every write of an entry records its time, and every read hit on one last used more than
//! [`TOUCH_SLACK`] ago records a use (a small record in the index's pack file, `cache_pack`;
//! the modification time of a snapshot bin's file), so an entry's last use is known to within
//! that slack. When a client opens a cache directory and the last collection there is more
//! than [`COLLECT_EVERY`] old (the `.last-gc` file's modification time says when), entries
//! last used longer than the configured age ago are deleted (a pack is rewritten without
//! them, or deleted when none is left), and the directories they leave empty. Like the rest of the cache, collection never
//! fails a fetch: every I/O error is logged and skipped.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cache_pack::{self, PACK_FILE, unix_seconds};

/// The file under the cache root whose modification time is the last collection.
const MARKER: &str = ".last-gc";

/// How often a cache root is collected at most.
pub(crate) const COLLECT_EVERY: Duration = Duration::from_hours(24);

/// What one collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Collected {
    /// Entries deleted.
    pub(crate) removed: usize,
    /// Entries kept.
    pub(crate) kept: usize,
}

/// Collects `root` when its last collection is older than [`COLLECT_EVERY`] (or never ran);
/// `None` when it was not due.
pub(crate) fn collect_if_due(root: &Path, max_age: Duration, now: SystemTime) -> Option<Collected> {
    let marker = root.join(MARKER);
    let last = fs::metadata(&marker).and_then(|m| m.modified()).ok();
    if last.is_some_and(|at| now.duration_since(at).unwrap_or_default() < COLLECT_EVERY) {
        return None;
    }
    let collected = collect(root, max_age, now);
    if let Err(error) = fs::create_dir_all(root).and_then(|()| {
        fs::File::create(&marker)?.set_modified(now)?;
        Ok(())
    }) {
        tracing::debug!(path = %marker.display(), %error, "cannot record a cache collection");
    }
    tracing::debug!(
        root = %root.display(),
        removed = collected.removed,
        kept = collected.kept,
        "index cache collected"
    );
    Some(collected)
}

/// Deletes every entry under `root` last used more than `max_age` before `now`, and the
/// directories left empty (never `root` itself).
pub(crate) fn collect(root: &Path, max_age: Duration, now: SystemTime) -> Collected {
    let mut collected = Collected::default();
    collect_dir(root, max_age, now, &mut collected);
    collected
}

/// Collects one directory; true when it is empty afterwards.
fn collect_dir(dir: &Path, max_age: Duration, now: SystemTime, collected: &mut Collected) -> bool {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(path = %dir.display(), %error, "cannot list a cache directory");
            }
            return false;
        }
    };
    let mut empty = true;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            empty = false;
            continue;
        };
        if kind.is_dir() {
            if collect_dir(&path, max_age, now, collected) {
                if let Err(error) = fs::remove_dir(&path) {
                    tracing::debug!(path = %path.display(), %error, "cannot remove a cache directory");
                    empty = false;
                }
            } else {
                empty = false;
            }
            continue;
        }
        if entry.file_name() == MARKER {
            empty = false;
            continue;
        }
        if entry.file_name() == PACK_FILE {
            let cutoff = now.checked_sub(max_age).map_or(0, unix_seconds);
            match cache_pack::collect(&path, cutoff) {
                Ok((removed, kept)) => {
                    collected.removed += removed;
                    collected.kept += kept;
                    empty &= kept == 0;
                }
                Err(error) => {
                    tracing::debug!(path = %path.display(), %error, "cannot collect a cache pack");
                    empty = false;
                }
            }
            continue;
        }
        let last_used = entry.metadata().and_then(|m| m.modified()).ok();
        let stale =
            last_used.is_some_and(|at| now.duration_since(at).unwrap_or_default() > max_age);
        if stale && fs::remove_file(&path).is_ok() {
            collected.removed += 1;
        } else {
            collected.kept += 1;
            empty = false;
        }
    }
    empty
}

/// How recent an entry's modification time may be for a read not to touch it again: the ages
/// collection works with are days or weeks, and touching every entry of a resolve that just
/// used them cost three system calls and an inode write per file.
pub(crate) const TOUCH_SLACK: Duration = Duration::from_hours(1);

/// Whether an entry last modified at `modified` should be touched by a read at `now`: when
/// its time is unknown, in the future, or older than [`TOUCH_SLACK`].
pub(crate) fn needs_touch(modified: Option<SystemTime>, now: SystemTime) -> bool {
    modified.is_none_or(|at| now.duration_since(at).map_or(true, |age| age > TOUCH_SLACK))
}

/// Marks the entry at `path` as used now.
pub(crate) fn touch(path: &Path) {
    let touched = fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(SystemTime::now()));
    if let Err(error) = touched {
        tracing::debug!(path = %path.display(), %error, "cannot mark a cache entry as used");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_hours(24);

    fn entry(root: &Path, relative: &str, last_used: SystemTime) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"entry").unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(last_used)
            .unwrap();
    }

    #[test]
    fn entries_unused_for_longer_than_the_age_go_with_their_empty_directories() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        entry(root.path(), "a_80-1/se/rd/serde", now - 100 * DAY);
        entry(root.path(), "a_80-1/to/ki/tokio", now - 10 * DAY);
        entry(root.path(), "a_80-1/ol/d_/old-only", now - 200 * DAY);
        entry(root.path(), "b_80-2/3/l/log", now - 91 * DAY);
        let collected = collect(root.path(), 90 * DAY, now);
        assert_eq!(
            collected,
            Collected {
                removed: 3,
                kept: 1
            }
        );
        assert!(root.path().join("a_80-1/to/ki/tokio").exists());
        assert!(
            !root.path().join("a_80-1/se").exists(),
            "emptied directories go"
        );
        assert!(!root.path().join("a_80-1/ol").exists());
        assert!(!root.path().join("b_80-2").exists());
        assert!(root.path().exists(), "the root itself stays");
    }

    /// A pack keeps the entries used within the age; one left without any is deleted, and
    /// its directory with it.
    #[test]
    fn a_pack_is_rewritten_without_its_entries_unused_for_longer_than_the_age() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a_80-1");
        let now = SystemTime::now();
        let file = crate::disk_cache::CachedFile::new(None, None, "line\n".to_owned());
        let pack = cache_pack::Pack::open(&dir);
        pack.put("old", &file, unix_seconds(now - 100 * DAY));
        pack.put("used", &file, unix_seconds(now - 100 * DAY));
        pack.mark_used("used", unix_seconds(now - 10 * DAY));
        pack.put("recent", &file, unix_seconds(now - 20 * DAY));
        drop(pack);
        assert_eq!(
            collect(root.path(), 90 * DAY, now),
            Collected {
                removed: 1,
                kept: 2
            }
        );
        let pack = cache_pack::Pack::open(&dir);
        assert_eq!(pack.get("old"), None);
        assert!(pack.get("used").is_some());
        drop(pack);
        assert_eq!(
            collect(root.path(), 5 * DAY, now),
            Collected {
                removed: 2,
                kept: 0
            }
        );
        assert!(!dir.exists(), "the emptied directory goes");
    }

    #[test]
    fn a_root_is_collected_at_most_once_a_day() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        entry(root.path(), "a_80-1/se/rd/serde", now - 100 * DAY);
        let first = collect_if_due(root.path(), 90 * DAY, now).expect("never collected yet");
        assert_eq!(first.removed, 1);
        entry(root.path(), "a_80-1/lo/g_/log", now - 100 * DAY);
        assert_eq!(collect_if_due(root.path(), 90 * DAY, now + DAY / 2), None);
        assert!(root.path().join("a_80-1/lo/g_/log").exists());
        let later = collect_if_due(root.path(), 90 * DAY, now + DAY + Duration::from_secs(1));
        assert_eq!(
            later,
            Some(Collected {
                removed: 1,
                kept: 0
            })
        );
    }

    #[test]
    fn touching_an_entry_makes_it_recent() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        entry(root.path(), "a_80-1/se/rd/serde", now - 100 * DAY);
        touch(&root.path().join("a_80-1/se/rd/serde"));
        assert_eq!(
            collect(root.path(), 90 * DAY, SystemTime::now()),
            Collected {
                removed: 0,
                kept: 1
            }
        );
        touch(&root.path().join("missing"));
    }

    #[test]
    fn only_entries_touched_long_ago_are_touched_again() {
        let now = SystemTime::now();
        assert!(!needs_touch(Some(now), now));
        assert!(!needs_touch(Some(now - TOUCH_SLACK / 2), now));
        assert!(needs_touch(Some(now - 2 * TOUCH_SLACK), now));
        assert!(needs_touch(Some(now + DAY), now));
        assert!(needs_touch(None, now));
    }
}
