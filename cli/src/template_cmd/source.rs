//! The installed template package: its manifest and files, read from the install set.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wharf_client::install::{InstalledPackage, PackageRequest};
use wharf_index_format::{PLUGIN_MANIFEST_FILE, PluginKind, PluginManifest, TemplateSpec};
use wharf_resolver::Version;

/// A template package as the installer unpacked it.
pub(crate) struct InstalledTemplate {
    /// The package name.
    pub(crate) name: String,
    /// The version installed.
    pub(crate) version: Version,
    manifest: PluginManifest,
    files: Vec<(String, Vec<u8>)>,
}

impl InstalledTemplate {
    /// Reads the package `request` names from the set `set_dir`.
    pub(crate) fn read(
        set_dir: &Path,
        installed: &[InstalledPackage],
        request: &PackageRequest,
    ) -> anyhow::Result<Self> {
        let package = installed
            .iter()
            .find(|p| p.name == request.name)
            .with_context(|| format!("the install set has no `{}`", request.name))?;
        let root = set_dir.join(format!("{}-{}", package.name, package.version));
        let manifest_path = root.join(PLUGIN_MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("cannot read `{}`", manifest_path.display()))?;
        let manifest = PluginManifest::parse(&text)
            .map_err(|e| anyhow::anyhow!("{} {}: {e}", package.name, package.version))?;
        if manifest.plugin.kind != PluginKind::Template {
            bail!(
                "{} {} is a plugin, not a template; install it with `wharf install`",
                package.name,
                package.version
            );
        }
        let mut files = Vec::new();
        read_tree(&root, &mut files)?;
        Ok(Self {
            name: package.name.clone(),
            version: package.version.clone(),
            manifest,
            files,
        })
    }

    /// The `[template]` table.
    pub(crate) fn spec(&self) -> anyhow::Result<&TemplateSpec> {
        self.manifest.template.as_ref().with_context(|| {
            format!(
                "{} {} has no [template] table, so it has no files to render",
                self.name, self.version
            )
        })
    }

    /// The files as the renderer takes them (path relative to the package root, data).
    pub(crate) fn files_for_render(&self) -> Vec<(&str, &[u8])> {
        self.files
            .iter()
            .map(|(path, data)| (path.as_str(), data.as_slice()))
            .collect()
    }
}

/// Every regular file under `folder`; a symlink or special file is refused (the installer
/// unpacks only regular files, so one there means the folder was changed).
fn read_tree(folder: &Path, files: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    let mut pending: Vec<(PathBuf, String)> = vec![(folder.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read `{}`", folder.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read `{}`", folder.display()))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                bail!("`{}`: the file name is not UTF-8", path.display());
            };
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = std::fs::symlink_metadata(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?
                .file_type();
            if kind.is_dir() {
                pending.push((path, relative));
            } else if kind.is_file() {
                let data = std::fs::read(&path)
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                files.push((relative, data));
            } else {
                bail!(
                    "`{}` is not a regular file or folder; a template holds only those",
                    path.display()
                );
            }
        }
    }
    files.sort();
    Ok(())
}
