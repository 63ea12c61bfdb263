//! Writing rendered files under the target folder without ever leaving it: no component of
//! a target path may be a symlink, and every path is checked before the first file is
//! written.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wharf_index_format::RenderedFile;

use super::PLUGINS_DIR;

/// The target must not exist or be empty, unless `force`; it must not be a symlink either way.
pub(crate) fn check_target(dir: &Path, force: bool) -> anyhow::Result<()> {
    let Ok(metadata) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if metadata.file_type().is_symlink() || !metadata.is_dir() {
        bail!(
            "`{}` exists and is not a folder; give a new folder with `--dir`",
            dir.display()
        );
    }
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .next()
        .is_none();
    if !empty && !force {
        bail!(
            "`{}` is not empty; give an empty or new folder with `--dir`, or `--force` to render into it",
            dir.display()
        );
    }
    Ok(())
}

/// Writes every rendered file under `dir` (created if needed) and returns the paths written.
/// All paths are checked first: none may start with `plugins/` (the install), and no
/// existing component may be a symlink or a file where a folder is needed, so a refusal
/// writes nothing.
pub(crate) fn write_rendered(dir: &Path, files: &[RenderedFile]) -> anyhow::Result<Vec<String>> {
    for file in files {
        target_path(dir, file)?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let target = target_path(dir, file)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&target, &file.data)
            .with_context(|| format!("cannot write `{}`", target.display()))?;
        written.push(file.path.clone());
    }
    Ok(written)
}

/// `dir/path`, after checking that the path does not go into the plugins folder and that
/// nothing on the way is a symlink (or a file where a folder is needed, or a folder where
/// the file goes).
fn target_path(dir: &Path, file: &RenderedFile) -> anyhow::Result<PathBuf> {
    let components: Vec<&str> = file.path.split('/').collect();
    if components.first() == Some(&PLUGINS_DIR) {
        bail!(
            "template file `{}` renders to `{}`, inside `{PLUGINS_DIR}/` where the plugins are installed; the template is wrong",
            file.source,
            file.path
        );
    }
    let mut target = dir.to_path_buf();
    let last = components.len() - 1;
    for (index, component) in components.iter().enumerate() {
        target.push(component);
        let Ok(metadata) = std::fs::symlink_metadata(&target) else {
            continue;
        };
        let kind = metadata.file_type();
        let refuse = if kind.is_symlink() {
            Some("is a symlink; a template never writes through one")
        } else if index < last && !kind.is_dir() {
            Some("is not a folder")
        } else if index == last && !kind.is_file() {
            Some("exists and is not a regular file")
        } else {
            None
        };
        if let Some(why) = refuse {
            bail!(
                "cannot write template file `{}`: `{}` {why}",
                file.path,
                target.display()
            );
        }
    }
    Ok(target)
}
