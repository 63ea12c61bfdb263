//! A cargo `local-registry` directory: `index/<index path>` holding only the lines of the
//! carried versions (cargo must never pick a version whose file is absent) and
//! `<name>-<version>.crate` at the top. Cargo reads it through `[source.X] local-registry =
//! "DIR"` with no Wharf and no network. Written by `wharf bundle unpack` and by `wharf bundle
//! export --format local-registry`, both after every check held.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use super::format::Release;
use super::served::{carried, carried_lines};

/// Refuses an `out` that exists and is not empty, before anything is read or written.
pub(crate) fn require_empty(out: &Path) -> anyhow::Result<()> {
    if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "`{}` is not empty; give a new or empty directory for the local registry",
            out.display()
        );
    }
    if out.exists() && !out.is_dir() {
        bail!(
            "`{}` is a file; give a new or empty directory for the local registry",
            out.display()
        );
    }
    Ok(())
}

/// Writes the local registry of `releases` into `out` (new or empty): their lines from the
/// verified index `files` (index path → bytes) and their blobs (`blob` finds one by cksum).
/// Returns the number of packages written. The directory is filled under a temporary name
/// beside `out` and renamed into place, so a failure leaves no half-written registry.
pub(crate) fn write(
    out: &Path,
    releases: &[Release],
    files: &BTreeMap<String, &[u8]>,
    blob: &dyn Fn(&Release) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<usize> {
    require_empty(out)?;
    let parent = out
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating `{}`", parent.display()))?;
    let stage = tempfile::Builder::new()
        .prefix(".local-registry-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a directory in `{}`", parent.display()))?;
    let mut packages = 0;
    for (path, wanted) in &carried(releases) {
        let file = files.get(path).with_context(|| {
            format!("the index file `{path}` of a carried version was not verified")
        })?;
        let text = std::str::from_utf8(file)
            .with_context(|| format!("the index file `{path}` is not UTF-8"))?;
        let lines = carried_lines(text, wanted);
        if lines.is_empty() {
            continue;
        }
        let mut text = lines.join("\n");
        text.push('\n');
        put(&stage.path().join("index").join(path), text.as_bytes())?;
        packages += 1;
    }
    for release in releases {
        put(
            &stage
                .path()
                .join(format!("{}-{}.crate", release.name, release.version)),
            &blob(release)?,
        )?;
    }
    std::fs::create_dir_all(stage.path().join("index"))
        .context("creating the local registry's index")?;
    // An empty `out` is replaced; `rename` does not replace a directory on every platform.
    if out.is_dir() {
        std::fs::remove_dir(out).with_context(|| format!("replacing `{}`", out.display()))?;
    }
    // The temporary directory is 0700; a registry is meant to be read by others.
    std::fs::set_permissions(
        stage.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .with_context(|| format!("setting the mode of `{}`", stage.path().display()))?;
    let staged = stage.keep();
    std::fs::rename(&staged, out).with_context(|| {
        let _ = std::fs::remove_dir_all(&staged);
        format!("moving the local registry into `{}`", out.display())
    })?;
    Ok(packages)
}

fn put(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating `{}`", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))
}
