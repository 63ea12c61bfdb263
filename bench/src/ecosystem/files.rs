//! The generated ecosystem as files: plugin folders, their deterministic tarballs and
//! publish bodies, and the lists a benchmark needs.

use std::fmt::Write as _;
use std::path::Path;

use wharf_index_format::{PackFile, PluginKind, encode_publish_frame, pack_plugin};

use super::plan::{Ecosystem, GeneratedVersion, entry_file};
use crate::BenchError;

/// One file of the output, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the output folder, `/`-separated.
    pub path: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Ecosystem {
    /// Every output file, in a fixed order:
    /// - `plugins/NAME/VERSION/` with `plugin.toml`, `README.md` and the entry file (a plugin
    ///   folder `wharf plugin publish` takes);
    /// - `publish/NNNNN-NAME-VERSION.body`: the publish request body (the frame cargo
    ///   builds, with the deterministic tarball), numbered in publish order;
    /// - `publish-order.txt`: `NAME VERSION` per line, dependencies first;
    /// - `yanked.txt`: `NAME VERSION` of each version to yank after publishing;
    /// - `conflicts.txt`: `NAME VERSION: reason` of each version no host can install;
    /// - `summary.json`: the counts.
    pub fn files(&self) -> Result<Vec<GeneratedFile>, BenchError> {
        let mut files = Vec::new();
        let mut order = String::new();
        let mut yanked = String::new();
        for (number, version) in self.versions.iter().enumerate() {
            let folder = format!("plugins/{}/{}", version.name(), version.version());
            let contents = folder_files(version);
            for file in &contents {
                files.push(GeneratedFile {
                    path: format!("{folder}/{}", file.path),
                    bytes: file.data.clone(),
                });
            }
            let tarball = pack_plugin(
                &format!("{}-{}", version.name(), version.version()),
                contents.clone(),
            );
            let readme = String::from_utf8_lossy(&contents[0].data).into_owned();
            let json =
                serde_json::to_vec(&version.manifest.to_new_crate(Some(readme))).map_err(|e| {
                    BenchError::Generate {
                        reason: format!("{}: {e}", version.name()),
                    }
                })?;
            let body = encode_publish_frame(&json, &tarball).map_err(|e| BenchError::Generate {
                reason: format!("{}: {e}", version.name()),
            })?;
            files.push(GeneratedFile {
                path: format!(
                    "publish/{number:05}-{}-{}.body",
                    version.name(),
                    version.version()
                ),
                bytes: body,
            });
            writeln!(order, "{} {}", version.name(), version.version()).expect("to a String");
            if version.yanked {
                writeln!(yanked, "{} {}", version.name(), version.version()).expect("to a String");
            }
        }
        let mut conflicts = String::new();
        for conflict in &self.conflicts {
            writeln!(
                conflicts,
                "{} {}: {}",
                conflict.name, conflict.version, conflict.reason
            )
            .expect("to a String");
        }
        let templates = self
            .versions
            .iter()
            .filter(|v| v.manifest.plugin.kind == PluginKind::Template)
            .count();
        let packages = self
            .versions
            .iter()
            .filter(|v| v.version() == "1.0.0")
            .count();
        let summary = serde_json::json!({
            "packages": packages,
            "versions": self.versions.len(),
            "template_versions": templates,
            "yanked": self.versions.iter().filter(|v| v.yanked).count(),
            "conflicts": self.conflicts.len(),
        });
        for (path, text) in [
            ("publish-order.txt", order),
            ("yanked.txt", yanked),
            ("conflicts.txt", conflicts),
            ("summary.json", format!("{summary:#}\n")),
        ] {
            files.push(GeneratedFile {
                path: path.to_owned(),
                bytes: text.into_bytes(),
            });
        }
        Ok(files)
    }

    /// Writes [`Ecosystem::files`] under `out` (created if needed; existing files of the
    /// same names are replaced).
    pub fn write_to(&self, out: &Path) -> Result<usize, BenchError> {
        let files = self.files()?;
        for file in &files {
            let path = out.join(&file.path);
            let io = |source| BenchError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&path, &file.bytes).map_err(io)?;
        }
        Ok(files.len())
    }
}

/// README first, then the manifest and the entry file.
fn folder_files(version: &GeneratedVersion) -> Vec<PackFile> {
    let manifest = &version.manifest;
    let plugin = &manifest.plugin;
    let readme = format!(
        "# {} {}\n\n{}.\n\nHost API: `{}`.\n",
        plugin.name,
        plugin.version,
        plugin.description,
        manifest.info().host_api
    );
    let entry = match plugin.kind {
        PluginKind::Plugin => format!(
            ";; {} {}\n(module\n  (func (export \"run\") (param i32) (result i32)\n    local.get 0))\n",
            plugin.name, plugin.version
        ),
        PluginKind::Template => {
            let steps: Vec<&String> = manifest
                .dependencies
                .keys()
                .filter(|name| name.as_str() != wharf_index_format::HOST_API_PACKAGE)
                .collect();
            format!(
                "{}\n",
                serde_json::json!({ "template": plugin.name, "steps": steps })
            )
        }
    };
    [
        ("README.md", readme),
        ("plugin.toml", manifest.to_toml()),
        (entry_file(plugin.kind), entry),
    ]
    .into_iter()
    .map(|(path, text)| PackFile {
        path: path.to_owned(),
        data: text.into_bytes(),
        executable: false,
    })
    .collect()
}
