//! Unpacking an archive into a set under the registry's own upload rules: nothing is
//! written unless the whole archive passes `validate_package_tarball` (one gzip member, only
//! files and directories under `name-version/`, portable collision-free paths, safe modes,
//! size limits, and a valid `Cargo.toml` or, for a plugin, `plugin.toml` naming this package),
//! and then only the entries it accepted are written.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use flate2::read::GzDecoder;
use wharf_index_format::{
    PublishLimits, TarballEntry, TarballEntryKind, ValidatedPackage, validate_package_tarball,
};

use crate::install::InstallError;

/// Unpacks `archive` of `name` `version` into `set_dir/name-version/`.
pub(crate) fn unpack(
    archive: &[u8],
    name: &str,
    version: &str,
    set_dir: &Path,
) -> Result<(), InstallError> {
    let refused = |reason: String| InstallError::UnpackRefused {
        package: name.to_owned(),
        version: version.to_owned(),
        reason,
    };
    let validated = validate_package_tarball(archive, name, version, &PublishLimits::default())
        .map_err(|e| refused(e.to_string()))?;
    let entries: &[TarballEntry] = match &validated {
        ValidatedPackage::Crate(package) => &package.entries,
        ValidatedPackage::Plugin(plugin) => &plugin.entries,
    };
    let accepted: HashMap<&str, TarballEntryKind> = entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry.kind))
        .collect();
    let root = set_dir.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&root)
        .map_err(|e| InstallError::io("cannot create the directory", &root, e))?;
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    let entries = tar.entries().map_err(|e| refused(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| refused(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| refused(e.to_string()))?
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        // Pax headers and the like are not entries; everything else was accepted above.
        let Some(kind) = accepted.get(path.as_str()) else {
            continue;
        };
        let target = set_dir.join(&path);
        match kind {
            TarballEntryKind::Directory => std::fs::create_dir_all(&target)
                .map_err(|e| InstallError::io("cannot create the directory", &target, e))?,
            TarballEntryKind::File => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| InstallError::io("cannot create the directory", parent, e))?;
                }
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| refused(e.to_string()))?;
                std::fs::write(&target, &data)
                    .map_err(|e| InstallError::io("cannot write", &target, e))?;
                let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
                set_mode(&target, mode | 0o644)?;
            }
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| InstallError::io("cannot set the mode of", path, e))
}

#[cfg(test)]
mod tests {
    use wharf_test_support::raw_tar::RawTar;
    use wharf_test_support::{CrateBuilder, gzip, manifest};

    use super::*;

    #[test]
    fn a_valid_archive_is_unpacked_under_name_version() {
        let set = tempfile::tempdir().unwrap();
        let archive = CrateBuilder::standard("greeter", "1.0.0").build();
        unpack(&archive, "greeter", "1.0.0", set.path()).unwrap();
        let lib = std::fs::read_to_string(set.path().join("greeter-1.0.0/src/lib.rs")).unwrap();
        assert!(lib.contains("pub fn answer"), "{lib}");
        assert!(set.path().join("greeter-1.0.0/Cargo.toml").is_file());
    }

    #[test]
    fn an_archive_breaking_the_tarball_rules_writes_nothing() {
        let set = tempfile::tempdir().unwrap();
        let tar = RawTar::new()
            .file("greeter-1.0.0/Cargo.toml", &manifest("greeter", "1.0.0"))
            .file("greeter-1.0.0/../../escape.txt", "outside")
            .finish();
        let error = unpack(&gzip(&tar), "greeter", "1.0.0", set.path()).unwrap_err();
        assert_eq!(error.code(), "unpack-refused", "{error}");
        assert!(
            error
                .to_string()
                .starts_with("refusing to unpack greeter 1.0.0: "),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(set.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_plugin_package_is_unpacked_too() {
        use wharf_index_format::{PackFile, pack_plugin};
        let set = tempfile::tempdir().unwrap();
        let manifest = "[plugin]\nname = \"greeter\"\nversion = \"1.0.0\"\nkind = \"plugin\"\n\
                        description = \"Says hello\"\nlicense = \"MIT\"\nentry = \"main.wat\"\n\n\
                        [dependencies.host-api]\nversion = \"^1\"\n";
        let file = |path: &str, data: &[u8]| PackFile {
            path: path.to_owned(),
            data: data.to_vec(),
            executable: false,
        };
        let archive = pack_plugin(
            "greeter-1.0.0",
            vec![
                file("plugin.toml", manifest.as_bytes()),
                file("README.md", b"# greeter\n"),
                file("main.wat", b"(module)\n"),
            ],
        );
        unpack(&archive, "greeter", "1.0.0", set.path()).unwrap();
        assert!(set.path().join("greeter-1.0.0/plugin.toml").is_file());
        assert!(set.path().join("greeter-1.0.0/main.wat").is_file());
    }

    #[test]
    fn an_archive_of_another_package_is_refused() {
        let set = tempfile::tempdir().unwrap();
        let archive = CrateBuilder::standard("painter", "1.0.0").build();
        let error = unpack(&archive, "greeter", "1.0.0", set.path()).unwrap_err();
        assert_eq!(error.code(), "unpack-refused", "{error}");
        assert_eq!(std::fs::read_dir(set.path()).unwrap().count(), 0);
    }
}
