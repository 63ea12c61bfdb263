//! The spare copy: the copy `current` pointed at before the one it points at now. A sync
//! keeps it rather than deleting it, and the next sync brings it up to date instead of
//! making a new copy: only the index files that differ from what its `sync-state.json`
//! records are written (under a temporary name, then renamed in) or removed, so the sync
//! costs what changed, not the size of the index. It is then renamed to the new copy's
//! `copy-<time>` name and `current` switched to it; the copy served until then becomes the
//! next spare.
//!
//! The spare's state is trusted for its index files only: the blobs a reused file names are
//! in the store because the copy served names them too (a file is taken as it is only when
//! the served copy holds the same). A spare marked unfinished (a killed sync was updating
//! it) is never reused, only removed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::mirror::copy::{UNFINISHED, has_own_blobs, mark_unfinished, remove_dir, remove_file};
use crate::mirror::state::{FileState, STATE_FILE, SyncState};

/// A spare copy being brought up to date as the new copy.
#[derive(Debug)]
pub(crate) struct Spare {
    /// What the spare's `sync-state.json` recorded before the update.
    pub(crate) state: SyncState,
    /// Whether it held an `origin/` directory (files of it may need removing).
    pub(crate) origin: bool,
    /// The snapshot bin list it held (`snapshot/bins`), one hash per line.
    pub(crate) bins: Vec<String>,
}

impl Spare {
    /// Whether the spare's file at `path` holds already what the new copy holds there:
    /// recorded whole with the same hash and the same chosen versions.
    pub(crate) fn holds(&self, path: &str, wanted: &FileState) -> bool {
        self.state
            .files
            .get(path)
            .is_some_and(|held| held.sha256 == wanted.sha256 && held.versions == wanted.versions)
    }

    /// Whether the spare's snapshot bin `bin` has the hash `hash`.
    pub(crate) fn holds_bin(&self, bin: usize, hash: &str) -> bool {
        self.bins.get(bin).is_some_and(|held| held == hash)
    }
}

/// The spare copy in `data` a sync from `from` made with `choice` may reuse: a `copy-*`
/// directory other than `current`'s (`previous`, canonical), not marked unfinished, linking
/// the shared blob store, whose state is of that upstream and choice (the newest when there
/// are several). Canonical.
pub(crate) fn find(
    data: &Path,
    previous: Option<&Path>,
    from: &str,
    choice: &str,
) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(data)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("copy-"))
        .filter_map(|entry| std::fs::canonicalize(entry.path()).ok())
        .filter(|path| Some(path.as_path()) != previous)
        .collect();
    found.sort();
    found.into_iter().rev().find(|path| {
        !path.join(UNFINISHED).exists()
            && !has_own_blobs(path)
            && path.join("blobs").is_symlink()
            && SyncState::read(Some(path), from).is_some_and(|state| state.choice == choice)
    })
}

/// Takes the spare at `spare` as the copy being made at `stage`: marked unfinished (before
/// its first change), renamed, and cleared of what the sync writes whole again (everything
/// but its index files and snapshot bins, which are updated where they differ).
pub(crate) fn take(spare: &Path, stage: &Path, from: &str) -> anyhow::Result<Spare> {
    let recorded = SyncState::read(Some(spare), from)
        .with_context(|| format!("reading `{}`", spare.join(STATE_FILE).display()))?;
    let bins = std::fs::read_to_string(spare.join(crate::mirror::bins::DIR).join("bins"))
        .map(|list| list.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    mark_unfinished(spare)?;
    std::fs::rename(spare, stage).with_context(|| {
        format!(
            "renaming the spare copy `{}` to `{}`",
            spare.display(),
            stage.display()
        )
    })?;
    for dir in [
        crate::mirror::signed::DIR,
        crate::mirror::bins::LISTING_DIR,
        crate::mirror::followed::DIR,
    ] {
        remove_dir(&stage.join(dir))?;
    }
    for file in [
        STATE_FILE,
        wharf_registry_server::MIRROR_RECORD,
        wharf_registry_server::MIRROR_ENTITLEMENTS,
        "index/config.json",
    ] {
        remove_file(&stage.join(file))?;
    }
    tracing::debug!(spare = %spare.display(), stage = %stage.display(), "sync: reusing the spare copy");
    Ok(Spare {
        state: recorded,
        origin: stage.join(crate::mirror::file::ORIGIN_DIR).is_dir(),
        bins,
    })
}

/// Removes the index files (and origin files) the spare held that the new copy does not
/// hold (`placed`: the paths the sync wrote, linked or found in place).
pub(crate) fn remove_left(
    stage: &Path,
    spare: &Spare,
    placed: &HashSet<&str>,
) -> anyhow::Result<()> {
    let held = spare.state.files.keys().chain(&spare.state.partial);
    for path in held.filter(|path| !placed.contains(path.as_str())) {
        remove_file(&stage.join("index").join(path))?;
        if spare.origin {
            remove_file(&stage.join(crate::mirror::file::ORIGIN_DIR).join(path))?;
        }
    }
    Ok(())
}
