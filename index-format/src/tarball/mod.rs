//! Validation of an uploaded `.crate`: gzip, tar structure, paths, entry types, modes,
//! cargo's special files and the manifest. Stricter than any client's reader, so whatever
//! passes unpacks the same everywhere.

mod gzip;
mod paths;
mod pax;
mod walk;

use tar::Archive;

pub use walk::TarballEntryKind;

use crate::{
    CrateManifest, FormatError, PLUGIN_MANIFEST_FILE, PluginManifest, PublishLimits,
    parse_crate_manifest,
};
use paths::{PathSet, check_path, display_path};
use walk::{WalkedEntry, walk_entries};

/// Mode bits refused on any entry: setuid, setgid, sticky, world-writable.
const UNSAFE_MODE_BITS: u32 = 0o7002;

/// One accepted entry of a `.crate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarballEntry {
    /// Its path, starting with `name-vers/`, without a trailing `/`.
    pub path: String,
    /// File or directory.
    pub kind: TarballEntryKind,
    /// Data size in bytes (0 for directories).
    pub size: u64,
    /// Permission bits from the header.
    pub mode: u32,
}

/// A `.crate` that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedTarball {
    /// Every entry, in archive order.
    pub entries: Vec<TarballEntry>,
    /// Size of the decompressed tar stream in bytes.
    pub unpacked_bytes: u64,
    /// What `name-vers/Cargo.toml` says.
    pub manifest: CrateManifest,
}

/// A plugin package that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPluginTarball {
    /// Every entry, in archive order.
    pub entries: Vec<TarballEntry>,
    /// Size of the decompressed tar stream in bytes.
    pub unpacked_bytes: u64,
    /// What `name-vers/plugin.toml` says (already checked with [`PluginManifest::check`]).
    pub manifest: PluginManifest,
    /// The README's text, when the package has the README the manifest names (or a
    /// `README.md` at its root).
    pub readme: Option<String>,
}

/// What an upload turned out to be: a crate (`Cargo.toml` at the root) or a plugin
/// (`plugin.toml` and no `Cargo.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidatedPackage {
    /// A cargo crate.
    Crate(ValidatedTarball),
    /// A plugin or solution template.
    Plugin(Box<ValidatedPluginTarball>),
}

/// The archive checks every package gets, before its manifest is read.
struct CheckedArchive {
    tar_bytes: Vec<u8>,
    walked: Vec<WalkedEntry>,
    entries: Vec<TarballEntry>,
    root: String,
}

impl CheckedArchive {
    /// The data of the regular file at `root/relative`, if the archive has one.
    fn file(&self, relative: &str) -> Option<&[u8]> {
        let path = format!("{}/{relative}", self.root);
        self.walked
            .iter()
            .zip(&self.entries)
            .find(|(_, accepted)| accepted.path == path && accepted.kind == TarballEntryKind::File)
            .map(|(walked, _)| &self.tar_bytes[walked.data.clone()])
    }

    /// Every regular file: its path relative to the root and its data.
    fn files(&self) -> Vec<(&str, &[u8])> {
        let prefix = format!("{}/", self.root);
        self.walked
            .iter()
            .zip(&self.entries)
            .filter(|(_, accepted)| accepted.kind == TarballEntryKind::File)
            .filter_map(|(walked, accepted)| {
                accepted
                    .path
                    .strip_prefix(&prefix)
                    .map(|path| (path, &self.tar_bytes[walked.data.clone()]))
            })
            .collect()
    }

    /// Whether `root/relative` is an entry of any kind.
    fn has_entry(&self, relative: &str) -> bool {
        let path = format!("{}/{relative}", self.root);
        self.entries.iter().any(|entry| entry.path == path)
    }
}

/// Validates the `.crate` bytes of package `name` at version `vers` (the publish
/// metadata's values): single gzip member within the size and ratio limits, well-formed tar
/// with at most [`PublishLimits::max_entries`] entries, only regular files and directories
/// under `name-vers/` with portable, collision-free paths and safe modes, no `.cargo-ok`,
/// `.cargo_vcs_info.json` a regular file if present, and a valid `Cargo.toml` whose name and
/// version equal `name` and `vers` (else [`FormatError::ManifestMismatch`]).
pub fn validate_tarball(
    crate_bytes: &[u8],
    name: &str,
    vers: &str,
    limits: &PublishLimits,
) -> Result<ValidatedTarball, FormatError> {
    let archive = check_archive(crate_bytes, name, vers, limits)?;
    crate_package(archive, name, vers)
}

/// Like [`validate_tarball`], but a package with `plugin.toml` and no `Cargo.toml` at its
/// root is a plugin: its manifest is parsed and checked ([`PluginManifest::check`], the
/// entry point and README must be files of the package) and its name and version must equal
/// `name` and `vers` (else [`FormatError::PluginManifestMismatch`]).
pub fn validate_package_tarball(
    crate_bytes: &[u8],
    name: &str,
    vers: &str,
    limits: &PublishLimits,
) -> Result<ValidatedPackage, FormatError> {
    let archive = check_archive(crate_bytes, name, vers, limits)?;
    if archive.has_entry("Cargo.toml") || !archive.has_entry(PLUGIN_MANIFEST_FILE) {
        return crate_package(archive, name, vers).map(ValidatedPackage::Crate);
    }
    let text = archive
        .file(PLUGIN_MANIFEST_FILE)
        .ok_or_else(|| FormatError::plugin("(document)", "`plugin.toml` is not a regular file"))?;
    let text = std::str::from_utf8(text).map_err(|e| {
        FormatError::plugin(
            "(document)",
            format!("it is not UTF-8 (bad byte at offset {})", e.valid_up_to()),
        )
    })?;
    let manifest = PluginManifest::parse(text)?;
    for (field, manifest_value, metadata) in [
        ("name", &manifest.plugin.name, name),
        ("vers", &manifest.plugin.version, vers),
    ] {
        if manifest_value != metadata {
            return Err(FormatError::PluginManifestMismatch {
                field: field.to_owned(),
                manifest: manifest_value.clone(),
                metadata: metadata.to_owned(),
            });
        }
    }
    manifest.check(limits, |path| archive.file(path).is_some())?;
    if let Some(spec) = &manifest.template {
        spec.check_files(&archive.files())?;
    }
    let readme_path = manifest.plugin.readme.as_deref().unwrap_or("README.md");
    let readme = archive
        .file(readme_path)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    Ok(ValidatedPackage::Plugin(Box::new(ValidatedPluginTarball {
        unpacked_bytes: u64::try_from(archive.tar_bytes.len()).unwrap_or(u64::MAX),
        entries: archive.entries,
        manifest,
        readme,
    })))
}

/// Every check of the archive itself: gzip, tar, paths, kinds, modes, cargo's special files.
fn check_archive(
    crate_bytes: &[u8],
    name: &str,
    vers: &str,
    limits: &PublishLimits,
) -> Result<CheckedArchive, FormatError> {
    let tar_bytes = gzip::gunzip_one_member(crate_bytes, limits)?;
    let walked = walk_entries(&tar_bytes, limits)?;
    let root = format!("{name}-{vers}");
    let mut seen = PathSet::default();
    let mut entries = Vec::with_capacity(walked.len());
    for entry in &walked {
        let path = check_path(&entry.path, entry.kind, &root)?;
        if entry.mode & UNSAFE_MODE_BITS != 0 {
            return Err(FormatError::UnsafeMode {
                path,
                mode: entry.mode,
            });
        }
        check_cargo_special_file(&path, entry.kind, &root)?;
        seen.insert(&path, entry.kind)?;
        entries.push(TarballEntry {
            path,
            kind: entry.kind,
            size: entry.size,
            mode: entry.mode,
        });
    }
    cross_check_with_tar_reader(&tar_bytes, &walked)?;
    Ok(CheckedArchive {
        tar_bytes,
        walked,
        entries,
        root,
    })
}

/// The crate manifest checks of an archive that passed [`check_archive`].
fn crate_package(
    archive: CheckedArchive,
    name: &str,
    vers: &str,
) -> Result<ValidatedTarball, FormatError> {
    let manifest_path = format!("{}/Cargo.toml", archive.root);
    if !archive.has_entry("Cargo.toml") {
        return Err(FormatError::InvalidManifest {
            path: manifest_path,
            reason: "the .crate has no `Cargo.toml` at its root (nor a `plugin.toml`, which would make it a plugin)".to_owned(),
        });
    }
    let bytes = archive
        .file("Cargo.toml")
        .ok_or_else(|| FormatError::InvalidManifest {
            path: manifest_path.clone(),
            reason: "it is not a regular file".to_owned(),
        })?;
    let manifest = parse_crate_manifest(&manifest_path, bytes)?;
    check_manifest_matches(&manifest, name, vers)?;
    Ok(ValidatedTarball {
        unpacked_bytes: u64::try_from(archive.tar_bytes.len()).unwrap_or(u64::MAX),
        entries: archive.entries,
        manifest,
    })
}

/// `.cargo-ok` is cargo's own unpack marker (CVE-2022-36113): never in an upload.
/// `.cargo_vcs_info.json` must be a regular file when present.
fn check_cargo_special_file(
    path: &str,
    kind: TarballEntryKind,
    root: &str,
) -> Result<(), FormatError> {
    let Some(top_level) = path
        .strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.contains('/'))
    else {
        return Ok(());
    };
    let reserved = |reason: &str| FormatError::ReservedPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let lower = top_level.to_lowercase();
    if lower == ".cargo-ok" {
        return Err(reserved(
            "`.cargo-ok` is written by cargo when it unpacks a crate and must not be uploaded",
        ));
    }
    if lower == ".cargo_vcs_info.json" && kind != TarballEntryKind::File {
        return Err(reserved("`.cargo_vcs_info.json` must be a regular file"));
    }
    Ok(())
}

fn check_manifest_matches(
    manifest: &CrateManifest,
    name: &str,
    vers: &str,
) -> Result<(), FormatError> {
    let mismatch = |field: &str, manifest: String, metadata: &str| FormatError::ManifestMismatch {
        field: field.to_owned(),
        manifest,
        metadata: metadata.to_owned(),
    };
    if manifest.name != name {
        return Err(mismatch("name", manifest.name.clone(), name));
    }
    if manifest.version.to_string() != vers {
        return Err(mismatch("version", manifest.version.to_string(), vers));
    }
    Ok(())
}

/// Reads the archive again with the `tar` crate's ordinary reader (the one cargo uses to
/// unpack) and demands exactly the entries Wharf validated.
fn cross_check_with_tar_reader(
    tar_bytes: &[u8],
    walked: &[WalkedEntry],
) -> Result<(), FormatError> {
    let disagree = |what: String| {
        FormatError::malformed_tarball(format!("tar readers disagree about this archive: {what}"))
    };
    let mut archive = Archive::new(tar_bytes);
    let mut count = 0;
    for (index, entry) in archive
        .entries()
        .map_err(|e| disagree(e.to_string()))?
        .enumerate()
    {
        let entry = entry.map_err(|e| disagree(e.to_string()))?;
        let expected = walked.get(index).ok_or_else(|| {
            disagree(format!(
                "an extra entry `{}`",
                display_path(&entry.path_bytes())
            ))
        })?;
        let position = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => TarballEntryKind::Directory,
            _ => TarballEntryKind::File,
        };
        if *entry.path_bytes() != *expected.path
            || entry.size() != expected.size
            || position != expected.data.start
            || kind != expected.kind
        {
            return Err(disagree(format!(
                "entry {index} is `{}` ({} bytes) for one and `{}` ({} bytes) for the other",
                display_path(&entry.path_bytes()),
                entry.size(),
                display_path(&expected.path),
                expected.size
            )));
        }
        count += 1;
    }
    if count != walked.len() {
        return Err(disagree(format!(
            "{count} entries for one, {} for the other",
            walked.len()
        )));
    }
    Ok(())
}
