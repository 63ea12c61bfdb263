//! The directories of a mirror: writing a staged copy, taking unchanged files from the
//! previous copy by hard link, switching `current` and clearing what a killed run left.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where a copy keeps a blob: `blobs/sha256/<hex>`, the path of the `dl` URL the copy's
/// `config.json` names with `--public-url`, so a static server needs no rewriting.
pub(crate) fn blob_path(root: &Path, cksum: &str) -> PathBuf {
    root.join("blobs/sha256").join(cksum)
}

/// Writes `bytes` to `path`, creating its directory.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating `{}`", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))
}

/// Puts the previous copy's `from` at `to` without reading it: a hard link (files of a copy
/// are never written again, so copies may share them), or a copy when the file system
/// refuses links. `false` when `from` does not exist.
pub(crate) fn link(from: &Path, to: &Path) -> anyhow::Result<bool> {
    if !from.is_file() {
        return Ok(false);
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating `{}`", parent.display()))?;
    }
    if to.exists() || std::fs::hard_link(from, to).is_ok() {
        return Ok(true);
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying `{}` to `{}`", from.display(), to.display()))?;
    Ok(true)
}

/// Removes what a killed earlier run left in `data`: `copy-*` directories other than the
/// one `current` points at (`previous`, canonical), and half-made `.copy-*.link` links.
/// `current` itself is never touched, so what is served stays served.
pub(crate) fn remove_stale_copies(data: &Path, previous: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(data) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(".copy-") && name.ends_with(".link") {
            let _ = std::fs::remove_file(&path);
        } else if name.starts_with("copy-")
            && std::fs::canonicalize(&path).ok().as_deref() != previous
        {
            tracing::info!(path = %path.display(), "removing a copy left by an interrupted run");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
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
