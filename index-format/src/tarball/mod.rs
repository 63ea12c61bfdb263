//! Validation of an uploaded `.crate`: gzip, tar structure, paths, entry types, modes,
//! cargo's special files and the manifest. Stricter than any client's reader, so whatever
//! passes unpacks the same everywhere.

mod gzip;
mod paths;
mod pax;
mod walk;

use tar::Archive;

pub use walk::TarballEntryKind;

use crate::{CrateManifest, FormatError, PublishLimits, parse_crate_manifest};
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
    let manifest_path = format!("{root}/Cargo.toml");
    let manifest_entry = walked
        .iter()
        .zip(&entries)
        .find(|(_, accepted)| accepted.path == manifest_path)
        .ok_or_else(|| FormatError::InvalidManifest {
            path: manifest_path.clone(),
            reason: "the .crate has no `Cargo.toml` at its root".to_owned(),
        })?;
    if manifest_entry.1.kind != TarballEntryKind::File {
        return Err(FormatError::InvalidManifest {
            path: manifest_path,
            reason: "it is not a regular file".to_owned(),
        });
    }
    let manifest = parse_crate_manifest(&manifest_path, &tar_bytes[manifest_entry.0.data.clone()])?;
    check_manifest_matches(&manifest, name, vers)?;
    Ok(ValidatedTarball {
        entries,
        unpacked_bytes: u64::try_from(tar_bytes.len()).unwrap_or(u64::MAX),
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
