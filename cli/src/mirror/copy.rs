//! The directories of a mirror: the blob store shared by all copies, writing a staged copy,
//! taking unchanged index files from the previous copy by hard link, switching `current`,
//! removing blobs no copy names any more, and clearing what a killed run left.
//!
//! Layout of `<data>`: `blobs/sha256/<hex>` (every blob, immutable, named by its SHA-256,
//! written under a temporary name and renamed, so a name always holds whole bytes),
//! `copy-<time>/` (the copy served and the spare the next sync updates: `index/…`,
//! `mirror.json`, `sync-state.json` and the symbolic link `blobs -> ../blobs`), and
//! `current -> copy-<time>`. A copy made by `wharf
//! bundle import` (or by an older Wharf) holds its own `blobs/` directory instead; both
//! serve the same, through `current/blobs/sha256/<hex>`.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The blob store's directory under `data`.
const STORE: &str = "blobs/sha256";

/// Where the store shared by all copies of `data` keeps a blob.
pub(crate) fn store_path(data: &Path, cksum: &str) -> PathBuf {
    data.join(STORE).join(cksum)
}

/// Where a copy at `root` holds a blob (through its `blobs` link, or in its own directory).
pub(crate) fn blob_path(root: &Path, cksum: &str) -> PathBuf {
    root.join(STORE).join(cksum)
}

/// Whether the copy at `root` keeps its blobs in a directory of its own (a bundle import, an
/// older layout) rather than linking the shared store.
pub(crate) fn has_own_blobs(root: &Path) -> bool {
    std::fs::symlink_metadata(root.join("blobs")).is_ok_and(|meta| meta.is_dir())
}

/// The names of the blobs the store holds (one directory read).
pub(crate) fn stored(data: &Path) -> std::collections::HashSet<String> {
    std::fs::read_dir(data.join(STORE))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

/// Creates the staging directory: `index/`, the link `blobs -> ../blobs` and the mark of an
/// unfinished copy.
pub(crate) fn create_stage(data: &Path, stage: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data.join(STORE))
        .with_context(|| format!("creating `{}`", data.join(STORE).display()))?;
    std::fs::create_dir_all(stage.join("index"))
        .with_context(|| format!("creating `{}`", stage.display()))?;
    std::os::unix::fs::symlink("../blobs", stage.join("blobs"))
        .with_context(|| format!("linking `{}` to the blob store", stage.display()))?;
    mark_unfinished(stage)
}

/// The directories made so far under a staged copy's `index/`, so that each is made once,
/// before the first file goes into it (no failed link or open first).
#[derive(Debug, Default)]
pub(crate) struct Dirs(std::sync::Mutex<std::collections::HashSet<PathBuf>>);

impl Dirs {
    /// Makes `dir` (and its parents up to `root`) unless this sync made it already.
    pub(crate) fn make(&self, root: &Path, dir: &Path) -> anyhow::Result<()> {
        let mut made = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut missing = Vec::new();
        let mut at = dir;
        while at != root && !made.contains(at) {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        for dir in missing.into_iter().rev() {
            match std::fs::create_dir(&dir) {
                Err(error) if error.kind() != ErrorKind::AlreadyExists => {
                    return Err(error).with_context(|| format!("creating `{}`", dir.display()));
                }
                _ => {}
            }
            made.insert(dir);
        }
        Ok(())
    }
}

/// Writes `bytes` to `path`, creating its directory when it is missing.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    match std::fs::write(path, bytes) {
        Err(error) if error.kind() == ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating `{}`", parent.display()))?;
            }
            std::fs::write(path, bytes)
        }
        other => other,
    }
    .with_context(|| format!("writing `{}`", path.display()))
}

/// Writes `bytes` at `path` as a new file: under a temporary name beside it, then renamed
/// over what `path` held. A reused copy's files may share their inode with other copies (hard
/// links) and be open in a server, so they are replaced, never written in place.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = temporary_beside(path);
    write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing `{}`", path.display()))
}

/// Puts the previous copy's `from` at `to` in place of what `to` held (a hard link made under
/// a temporary name, then renamed over it; a copy when links are refused). `false` when
/// `from` does not exist.
pub(crate) fn link_replacing(from: &Path, to: &Path) -> anyhow::Result<bool> {
    let temporary = temporary_beside(to);
    let _ = std::fs::remove_file(&temporary);
    if !link(from, &temporary)? {
        return Ok(false);
    }
    std::fs::rename(&temporary, to).with_context(|| format!("writing `{}`", to.display()))?;
    Ok(true)
}

/// The temporary name a file at `path` is written under before it is renamed in.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".tmp-{name}"))
}

/// Puts a checked blob into the store: written under a temporary name, then renamed, so a
/// killed run never leaves a blob name holding part of its bytes. (One sync runs at a time
/// in a directory: the next removes what another left, so the name needs no process id.)
pub(crate) fn write_blob(data: &Path, cksum: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let target = store_path(data, cksum);
    let temporary = data.join(STORE).join(format!(".tmp-{cksum}"));
    write(&temporary, bytes)?;
    std::fs::rename(&temporary, &target).with_context(|| format!("writing `{}`", target.display()))
}

/// Puts the previous copy's `from` at `to` without reading it: a hard link (files of a copy
/// are never written again, so copies may share them), or a copy when the file system
/// refuses links. `false` when `from` does not exist.
pub(crate) fn link(from: &Path, to: &Path) -> anyhow::Result<bool> {
    match std::fs::hard_link(from, to) {
        Ok(()) => return Ok(true),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => return Ok(true),
        Err(_) if !from.is_file() => return Ok(false),
        Err(_) => {}
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating `{}`", parent.display()))?;
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => return Ok(true),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => return Ok(true),
        Err(_) => {}
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying `{}` to `{}`", from.display(), to.display()))?;
    Ok(true)
}

/// The `cksum` of every line of an index file's text.
pub(crate) fn cksums(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().filter_map(|line| {
        let fields = crate::mirror::line::LineFields::parse(line)?;
        (!fields.cksum.is_empty()).then(|| fields.cksum.into_owned())
    })
}

/// Removes from the store the blobs of `candidates` that `kept` does not name (the blobs of
/// the previous copy's versions that the new copy dropped). A blob's name is its content's
/// hash and a `.crate` holds its package's name and version, so no other version names it.
pub(crate) fn remove_dropped(data: &Path, candidates: &BTreeSet<String>, kept: &BTreeSet<String>) {
    for cksum in candidates.difference(kept) {
        let _ = std::fs::remove_file(store_path(data, cksum));
    }
}

/// Removes every blob of the store that no index file of the copy at `copy` names, and
/// temporary files a killed run left (after a killed run, or when the previous copy was not
/// one a sync made, so what the store holds is not known from the sync alone).
pub(crate) fn remove_unnamed(data: &Path, copy: &Path) {
    let mut named = BTreeSet::new();
    let mut pending = vec![copy.join("index")];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(path);
            } else if entry.file_name() != "config.json"
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                named.extend(cksums(&text));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(data.join(STORE)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !named.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes what a killed earlier run left in `data`: `copy-*` directories other than the
/// one `current` points at (`previous`, canonical) and the spare kept for the next sync
/// (`spare`, canonical), and half-made `.copy-*.link` links. `current` itself is never
/// touched, so what is served stays served. `true` when it found what a killed run left (a
/// link, a copy marked as being made or updated, a copy without its state): the store may
/// then hold blobs no copy names.
pub(crate) fn remove_stale_copies(
    data: &Path,
    previous: Option<&Path>,
    spare: Option<&Path>,
) -> bool {
    let Ok(entries) = std::fs::read_dir(data) else {
        return false;
    };
    let mut found = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(".copy-") && name.ends_with(".link") {
            let _ = std::fs::remove_file(&path);
            found = true;
        } else if name.starts_with("copy-") {
            let canonical = std::fs::canonicalize(&path).ok();
            if canonical.as_deref() == previous || spare.is_some() && canonical.as_deref() == spare
            {
                continue;
            }
            // A copy a bundle import made (its own blobs) has no sync state, and was whole.
            found |= path.join(UNFINISHED).exists()
                || !path.join(crate::mirror::state::STATE_FILE).exists() && !has_own_blobs(&path);
            tracing::info!(path = %path.display(), "removing a copy no sync will use");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    found
}

/// Removes the file at `path`, when there is one.
pub(crate) fn remove_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing `{}`", path.display()))
        }
        _ => Ok(()),
    }
}

/// Removes the directory at `path` and what it holds, when there is one.
pub(crate) fn remove_dir(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing `{}`", path.display()))
        }
        _ => Ok(()),
    }
}

/// The file in a copy's root while a sync makes or updates it: a copy holding it is never
/// served, reused nor trusted, only removed.
pub(crate) const UNFINISHED: &str = ".unfinished";

/// Marks the copy at `root` as being made or updated (before its first change).
pub(crate) fn mark_unfinished(root: &Path) -> anyhow::Result<()> {
    write(&root.join(UNFINISHED), b"")
}

/// Marks the copy at `root` as whole again (after its last change, before the switch).
pub(crate) fn mark_finished(root: &Path) -> anyhow::Result<()> {
    let marker = root.join(UNFINISHED);
    std::fs::remove_file(&marker).with_context(|| format!("removing `{}`", marker.display()))
}

/// Points `<data>/current` at `<data>/<stage_name>` with one rename of a symbolic link, then
/// deletes the copy it pointed at before (`previous`, canonical).
pub(crate) fn switch_current(
    data: &Path,
    stage_name: &str,
    previous: Option<&Path>,
) -> anyhow::Result<()> {
    let current = data.join("current");
    let link = data.join(format!(".{stage_name}.link"));
    std::os::unix::fs::symlink(stage_name, &link)
        .with_context(|| format!("creating `{}`", link.display()))?;
    std::fs::rename(&link, &current)
        .with_context(|| format!("switching `{}` to the new copy", current.display()))?;
    if let Some(previous) = previous
        && std::fs::canonicalize(data.join(stage_name)).ok().as_deref() != Some(previous)
    {
        let _ = std::fs::remove_dir_all(previous);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::{link, link_replacing, replace};

    #[test]
    fn a_replaced_file_leaves_the_copies_sharing_its_inode_as_they_were() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (served, spare) = (dir.path().join("served"), dir.path().join("spare"));
        std::fs::write(&served, b"old\n")?;
        assert!(link(&served, &spare)?);
        let held = std::fs::File::open(&served)?;

        replace(&spare, b"new\n")?;
        assert_eq!(std::fs::read(&spare)?, b"new\n");
        assert_eq!(std::fs::read(&served)?, b"old\n");
        assert_ne!(
            std::fs::metadata(&spare)?.ino(),
            std::fs::metadata(&served)?.ino()
        );
        assert_eq!(held.metadata()?.ino(), std::fs::metadata(&served)?.ino());

        // Linked back in place of what it held; no temporary file stays behind.
        assert!(link_replacing(&served, &spare)?);
        assert_eq!(
            std::fs::metadata(&spare)?.ino(),
            std::fs::metadata(&served)?.ino()
        );
        assert!(!link_replacing(&dir.path().join("missing"), &spare)?);
        assert_eq!(std::fs::read(&spare)?, b"old\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())?
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        Ok(())
    }
}
