//! A plugin folder on disk → the deterministic tarball and the publish metadata, checked
//! with the registry's own rules.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};
use wharf_index_format::{
    PLUGIN_MANIFEST_FILE, PackFile, PluginKind, PluginManifest, PublishLimits,
    encode_publish_frame, pack_plugin, prepare_publish,
};

/// Folders never packed: version control and build output.
const IGNORED_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj", "target", "node_modules"];

/// A packed plugin, ready to upload.
#[derive(Debug, Clone)]
pub(crate) struct PackedPlugin {
    /// `[plugin] name`.
    pub(crate) name: String,
    /// `[plugin] version`.
    pub(crate) version: String,
    /// `plugin` or `template`.
    pub(crate) kind: PluginKind,
    /// The gzip tarball (deterministic: same files, same bytes).
    pub(crate) tarball: Vec<u8>,
    /// The publish metadata JSON derived from the manifest.
    pub(crate) metadata_json: Vec<u8>,
}

impl PackedPlugin {
    /// Lowercase hex SHA-256 of the tarball (the index line's `cksum`).
    pub(crate) fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.tarball))
    }

    /// The `PUT /api/v1/crates/new` body, framed as cargo frames it.
    pub(crate) fn publish_body(&self) -> anyhow::Result<Vec<u8>> {
        Ok(encode_publish_frame(&self.metadata_json, &self.tarball)?)
    }
}

/// Reads the plugin folder `dir`, checks it with the registry's rules (the same code the
/// server runs on an upload, with its default limits) and packs it. Errors name the file
/// and the key (`dir/plugin.toml: [plugin] version: …`).
pub(crate) fn pack_plugin_dir(dir: &Path) -> anyhow::Result<PackedPlugin> {
    let manifest_path = dir.join(PLUGIN_MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "cannot read `{}`; a plugin folder holds a `plugin.toml` (`wharf plugin new NAME` makes one)",
            manifest_path.display()
        )
    })?;
    let in_dir =
        |error: wharf_index_format::FormatError| anyhow::anyhow!("{}/{error}", dir.display());
    let manifest = PluginManifest::parse(&text).map_err(in_dir)?;
    let files = read_files(dir)?;
    manifest
        .check(&PublishLimits::default(), |path| {
            files.iter().any(|file| file.path == path)
        })
        .map_err(in_dir)?;
    let readme_path = manifest.plugin.readme.as_deref().unwrap_or("README.md");
    let readme = files
        .iter()
        .find(|file| file.path == readme_path)
        .map(|file| String::from_utf8_lossy(&file.data).into_owned());
    let name = manifest.plugin.name.clone();
    let version = manifest.plugin.version.clone();
    let tarball = pack_plugin(&format!("{name}-{version}"), files);
    let metadata_json = serde_json::to_vec(&manifest.to_new_crate(readme))?;
    let packed = PackedPlugin {
        name,
        version,
        kind: manifest.plugin.kind,
        tarball,
        metadata_json,
    };
    // Everything else the registry checks (paths, sizes, the metadata against the manifest).
    prepare_publish(&packed.publish_body()?, &PublishLimits::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    Ok(packed)
}

/// Every regular file under `dir`, relative with `/`, skipping [`IGNORED_DIRS`].
fn read_files(dir: &Path) -> anyhow::Result<Vec<PackFile>> {
    let mut files = Vec::new();
    let mut pending: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read the folder `{}`", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read `{}`", folder.display()))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                bail!(
                    "`{}`: the file name is not UTF-8; rename it",
                    path.display()
                );
            };
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            if kind.is_dir() {
                if !IGNORED_DIRS.contains(&name.as_str()) {
                    pending.push((path, relative));
                }
            } else if kind.is_file() {
                let data = std::fs::read(&path)
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                let metadata = entry
                    .metadata()
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                files.push(PackFile {
                    path: relative,
                    data,
                    executable: is_executable(&metadata),
                });
            } else {
                bail!(
                    "`{}` is a symlink or special file; a plugin holds regular files only (copy the target in)",
                    path.display()
                );
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn plugin_folder(dir: &Path) {
        write(
            dir,
            "plugin.toml",
            "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\nkind = \"plugin\"\ndescription = \"P\"\nlicense = \"MIT\"\nentry = \"bin/run.sh\"\n\n[dependencies]\nhost-api = \"^1\"\n",
        );
        write(dir, "bin/run.sh", "#!/bin/sh\necho run\n");
        write(dir, "README.md", "# p\n");
        write(dir, ".git/HEAD", "ref: refs/heads/main\n");
        write(dir, "target/plugin/old.tar.gz", "old");
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn packing_is_deterministic_across_times_modes_and_folders() {
        let one = tempfile::tempdir().unwrap();
        plugin_folder(one.path());
        set_mode(&one.path().join("bin/run.sh"), 0o755);
        let first = pack_plugin_dir(one.path()).unwrap();
        assert_eq!(
            pack_plugin_dir(one.path()).unwrap().sha256(),
            first.sha256()
        );

        // Another checkout: other mtimes, a umask-style group/other difference, extra VCS
        // and build folders: the same bytes.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let two = tempfile::tempdir().unwrap();
        plugin_folder(two.path());
        write(two.path(), ".hg/store", "x");
        write(two.path(), "target/debug/x", "x");
        set_mode(&two.path().join("bin/run.sh"), 0o700);
        set_mode(&two.path().join("README.md"), 0o600);
        assert_eq!(
            pack_plugin_dir(two.path()).unwrap().sha256(),
            first.sha256()
        );

        // The executable bit is content: dropping it changes the package.
        set_mode(&two.path().join("bin/run.sh"), 0o644);
        assert_ne!(
            pack_plugin_dir(two.path()).unwrap().sha256(),
            first.sha256()
        );

        let entries = list_entries(&first.tarball);
        assert_eq!(
            entries,
            [
                ("p-1.0.0/README.md".to_owned(), 0o644),
                ("p-1.0.0/bin/run.sh".to_owned(), 0o755),
                ("p-1.0.0/plugin.toml".to_owned(), 0o644),
            ]
        );
    }

    fn list_entries(tarball: &[u8]) -> Vec<(String, u32)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
                assert_eq!(header.mtime().unwrap(), wharf_index_format::PACK_MTIME);
                assert_eq!(header.username().unwrap(), Some(""));
                (
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    header.mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_rule_broken_names_the_folder_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        plugin_folder(dir.path());
        write(
            dir.path(),
            "plugin.toml",
            "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\nkind = \"plugin\"\ndescription = \"P\"\nlicense = \"MIT\"\nentry = \"bin/missing.sh\"\n\n[dependencies]\nhost-api = \"^1\"\n",
        );
        let err = pack_plugin_dir(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}/plugin.toml: [plugin] entry: `bin/missing.sh` is not a file of the package; add it or fix the path",
                dir.path().display()
            )
        );
    }
}
