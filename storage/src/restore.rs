//! `wharf admin restore`: unpacks a backup (see `backup_archive`) into a new data directory.
//!
//! Everything is first unpacked into a scratch directory beside the target, hashing each
//! member as it is written; a member that is not a file a backup holds, a blob whose bytes
//! do not hash to its name, a member that differs from the manifest, a member missing from
//! the file, and a file that ends early are each refused with one line naming the member,
//! and the scratch directory is removed: the target is left as it was. The manifest must
//! carry the registry's signature (its release key, from the keyset chain the backup holds,
//! walked from a pinned root key when one is given): a manifest rewritten to match altered
//! members is refused too. Only a fully
//! verified backup is moved into place (blobs to the target's bucket first, when it keeps
//! them in one). Rebuilding the index files and checking the result is the caller's next
//! step: [`crate::Storage::open`] then [`crate::Storage::verify`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};

use crate::backup_archive::{
    BLOBS_DIR, FORMAT, MANIFEST_MEMBER, Manifest, MemberKind, SIGNATURE_MEMBER,
    check_manifest_signature, member_kind,
};
use crate::blobs::put_blob;
use crate::registry_keys::KEYS_DIR;
use crate::shared_blobs::{SHARED_BLOBS_DIR, SharedBlobs};
use crate::shared_existing::Hashing;
use crate::{BlobBackend, StorageError};

/// How many blob uploads are in flight at once when restoring into a bucket.
const BLOB_WRITES: usize = 16;

/// What a restore unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The restored data directory.
    pub data_dir: PathBuf,
    /// When the backup's database snapshot was taken.
    pub created: String,
    /// Versions in the restored database.
    pub versions: u64,
    /// Packages in the restored database.
    pub packages: u64,
    /// The restored database's last event-log position.
    pub last_event: u64,
    /// Blobs restored (to the disk or the bucket).
    pub blobs: u64,
    /// Bytes of all members.
    pub bytes: u64,
    /// The whole unpacking.
    pub elapsed: Duration,
}

/// Unpacks the backup `file` into `data_dir`, which must be empty or not exist yet;
/// blobs go to `blobs` (the disk under `data_dir`, or a bucket). Verifies every member
/// against the manifest, and the manifest's signature against the keyset chain the backup
/// holds (walked from `pinned_root`, the registry's root public key, when given), before
/// anything reaches `data_dir` or the bucket.
#[tracing::instrument(skip_all, fields(file = %file.display(), data_dir = %data_dir.display()))]
pub async fn restore_backup(
    file: &Path,
    data_dir: &Path,
    blobs: &BlobBackend,
    pinned_root: Option<wharf_trust::PublicKey>,
) -> Result<RestoreSummary, StorageError> {
    let started = Instant::now();
    check_target(data_dir)?;
    if matches!(blobs, BlobBackend::Memory | BlobBackend::Custom(_)) {
        return Err(StorageError::RestoreTarget {
            dir: data_dir.to_path_buf(),
            reason: "blobs can be restored to the data directory or an S3 bucket only".to_owned(),
        });
    }
    let parent = data_dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(parent).map_err(|cause| StorageError::Path {
        path: parent.to_path_buf(),
        cause,
    })?;
    let scratch = tempfile::Builder::new()
        .prefix(".wharf-restore-")
        .tempdir_in(parent)
        .map_err(|cause| StorageError::Path {
            path: parent.to_path_buf(),
            cause,
        })?;
    let (source, staging) = (file.to_path_buf(), scratch.path().to_path_buf());
    let manifest =
        tokio::task::spawn_blocking(move || unpack(&source, &staging, pinned_root.as_ref()))
            .await??;
    let blob_paths: Vec<_> = manifest
        .members
        .iter()
        .filter(|member| member_kind(&member.path) == Some(MemberKind::Blob))
        .map(|member| member.path.clone())
        .collect();
    if let BlobBackend::S3(_) = blobs {
        let s3 = blobs.connect().await?;
        let store = blobs.open(scratch.path(), s3)?.blobs;
        let staging = scratch.path();
        stream::iter(&blob_paths)
            .map(|path| {
                let store = std::sync::Arc::clone(&store);
                async move {
                    let bytes =
                        std::fs::read(staging.join(path)).map_err(|cause| StorageError::Path {
                            path: staging.join(path),
                            cause,
                        })?;
                    let cksum = path.rsplit('/').next().unwrap_or_default();
                    put_blob(store.as_ref(), cksum, bytes.into()).await
                }
            })
            .buffer_unordered(BLOB_WRITES)
            .try_collect::<Vec<()>>()
            .await?;
        // The bucket holds the blobs now; the data directory keeps none.
        let local = scratch.path().join(BLOBS_DIR);
        std::fs::remove_dir_all(&local)
            .map_err(|cause| StorageError::Path { path: local, cause })?;
        // Check one restored blob reads back, so a bucket that silently drops writes fails
        // the restore rather than the first download.
        if let Some(path) = blob_paths.first() {
            let key = object_store::path::Path::from(path.trim_start_matches("blobs/"));
            store.get(&key).await?;
        }
    }
    std::fs::create_dir_all(scratch.path().join(BLOBS_DIR)).map_err(StorageError::Io)?;
    let tenants: Vec<PathBuf> = manifest
        .members
        .iter()
        .filter_map(|member| member.path.strip_suffix(crate::db::DB_FILE))
        .filter(|dir| dir.starts_with(crate::backup_archive::TENANTS_DIR))
        .map(|tenant| scratch.path().join(tenant))
        .collect();
    let shared_dir = scratch
        .path()
        .join(crate::backup_archive::TENANTS_DIR)
        .join(SHARED_BLOBS_DIR);
    tokio::task::spawn_blocking(move || share_tenant_blobs(&shared_dir, &tenants)).await??;
    secure_modes(scratch.path())?;
    sync_unpacked(scratch.path())?;
    move_into_place(&scratch.keep(), data_dir)?;
    Ok(RestoreSummary {
        data_dir: data_dir.to_path_buf(),
        created: manifest.created.clone(),
        versions: manifest.versions,
        packages: manifest.packages,
        last_event: manifest.last_event,
        blobs: blob_paths.len() as u64,
        bytes: manifest.members.iter().map(|member| member.size).sum(),
        elapsed: started.elapsed(),
    })
}

/// Each tenant keeps its blobs on the disk, under its own directory, as links to one copy of
/// each in `shared` (what `wharf serve` writes): the unpacked files, whose bytes were checked
/// while unpacking, become those copies and links.
fn share_tenant_blobs(shared: &Path, tenants: &[PathBuf]) -> Result<(), StorageError> {
    for tenant in tenants {
        let own = tenant.join(BLOBS_DIR);
        std::fs::create_dir_all(&own).map_err(StorageError::Io)?;
        SharedBlobs::new(shared.to_path_buf(), own).share_existing_blocking(Hashing::Done)?;
    }
    Ok(())
}

/// Refuses a target that exists and is not an empty directory.
fn check_target(data_dir: &Path) -> Result<(), StorageError> {
    let refuse = |reason: &str| StorageError::RestoreTarget {
        dir: data_dir.to_path_buf(),
        reason: reason.to_owned(),
    };
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(refuse(
                    "the directory is not empty; restore into a new or empty directory (a restore never overwrites a registry)",
                ));
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            Err(refuse("it is a file; name a new or empty directory"))
        }
        Err(cause) => Err(StorageError::Path {
            path: data_dir.to_path_buf(),
            cause,
        }),
    }
}

/// Unpacks and verifies every member of `file` into `staging`, and the manifest's signature
/// (see [`check_manifest_signature`]); returns the manifest.
fn unpack(
    file: &Path,
    staging: &Path,
    pinned_root: Option<&wharf_trust::PublicKey>,
) -> Result<Manifest, StorageError> {
    let bad = |reason: String| StorageError::Backup {
        file: file.to_path_buf(),
        reason,
    };
    let source = File::open(file).map_err(|cause| StorageError::Path {
        path: file.to_path_buf(),
        cause,
    })?;
    let decoder = zstd::Decoder::new(BufReader::new(source))
        .map_err(|error| bad(format!("is not a zstd-compressed backup: {error}")))?;
    let mut archive = tar::Archive::new(decoder);
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Vec<u8>> = None;
    let mut signature: Option<Vec<u8>> = None;
    let mut last = String::from("(none: the file ends before its first member)");
    let entries = archive
        .entries()
        .map_err(|error| bad(format!("cannot be read: {error}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| {
            bad(format!(
                "is truncated or damaged after member `{last}` ({error}); take a new backup"
            ))
        })?;
        let path = entry
            .path()
            .map_err(|error| bad(format!("has a member with an unreadable name: {error}")))?
            .to_string_lossy()
            .into_owned();
        if signature.is_some() || (manifest.is_some() && path != SIGNATURE_MEMBER) {
            return Err(bad(format!(
                "has member `{path}` after its manifest's signature; the file was altered"
            )));
        }
        let kind = member_kind(&path).ok_or_else(|| {
            bad(format!(
                "has member `{path}`, which no backup holds; the file was altered or is not a Wharf backup"
            ))
        })?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("member `{path}` is not a regular file")));
        }
        if seen.contains_key(&path) {
            return Err(bad(format!(
                "has member `{path}` twice; the file was altered"
            )));
        }
        let truncated = |error: &std::io::Error| {
            bad(format!(
                "is truncated or damaged in member `{path}` ({error}); take a new backup"
            ))
        };
        if matches!(kind, MemberKind::Manifest | MemberKind::Signature) {
            if kind == MemberKind::Signature && manifest.is_none() {
                return Err(bad(format!(
                    "has member `{path}` before its manifest; the file was altered"
                )));
            }
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|error| truncated(&error))?;
            *(if kind == MemberKind::Manifest {
                &mut manifest
            } else {
                &mut signature
            }) = Some(text);
            continue;
        }
        let expected = entry.header().size().unwrap_or_default();
        let (size, sha256) =
            write_member(&mut entry, &staging.join(&path))?.map_err(|error| truncated(&error))?;
        if size != expected {
            return Err(truncated(&std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{size} of {expected} bytes"),
            )));
        }
        if matches!(kind, MemberKind::Blob | MemberKind::TenantBlob) && !path.ends_with(&sha256) {
            return Err(bad(format!(
                "member `{path}` has sha256 `{sha256}`, not the one its name says; the file was altered or damaged"
            )));
        }
        seen.insert(path.clone(), (size, sha256));
        last = path;
    }
    let manifest = manifest.ok_or_else(|| {
        format!(
            "ends after member `{last}` without its manifest: it is truncated; take a new backup"
        )
    });
    manifest
        .and_then(|manifest| check_trailer(&manifest, signature, seen, staging, pinned_root))
        .map_err(bad)
}

/// Checks the manifest (`manifest`, its bytes) and its `signature` against the members
/// unpacked into `staging` (`seen`); returns the manifest, or the problem as a sentence.
fn check_trailer(
    manifest: &[u8],
    signature: Option<Vec<u8>>,
    seen: BTreeMap<String, (u64, String)>,
    staging: &Path,
    pinned_root: Option<&wharf_trust::PublicKey>,
) -> Result<Manifest, String> {
    let parsed = parse_manifest(manifest)?;
    let signature = signature.ok_or_else(|| {
        format!(
            "ends after its manifest without member `{SIGNATURE_MEMBER}`: it is truncated or was altered; take a new backup"
        )
    })?;
    check_against_manifest(&parsed, seen)?;
    let chain = crate::registry_keys::keyset_chain(&staging.join(KEYS_DIR)).unwrap_or_default();
    check_manifest_signature(&chain, manifest, &signature, pinned_root)?;
    Ok(parsed)
}

/// The manifest in `bytes`, of this build's [`FORMAT`]; the problem as a sentence otherwise.
fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let parsed: Manifest = serde_json::from_slice(bytes)
        .map_err(|error| format!("member `{MANIFEST_MEMBER}` is not a manifest: {error}"))?;
    if parsed.format != FORMAT {
        return Err(format!(
            "is format `{}`, this build restores `{FORMAT}`",
            parsed.format
        ));
    }
    Ok(parsed)
}

/// Checks the unpacked members (`seen`: path to size and SHA-256) against the manifest:
/// each one listed, equal, and none left over. Returns the problem as a sentence.
fn check_against_manifest(
    manifest: &Manifest,
    mut seen: BTreeMap<String, (u64, String)>,
) -> Result<(), String> {
    for member in &manifest.members {
        match seen.remove(&member.path) {
            None => {
                return Err(format!(
                    "member `{}` named in the manifest is missing from the file",
                    member.path
                ));
            }
            Some((size, sha256)) if size != member.size || sha256 != member.sha256 => {
                return Err(format!(
                    "member `{}` differs from the manifest ({size} bytes with sha256 `{sha256}`, the manifest says {} bytes with `{}`); the file was altered or damaged",
                    member.path, member.size, member.sha256
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(format!(
            "member `{extra}` is not in the manifest; the file was altered"
        ));
    }
    if !manifest
        .members
        .iter()
        .any(|member| member_kind(&member.path) == Some(MemberKind::Database))
    {
        return Err("holds no database (`wharf.db`)".to_owned());
    }
    Ok(())
}

/// Writes one member to `target` (mode 0600). The outer error is the target's;
/// the inner one is reading the member (a truncated or damaged file).
fn write_member(
    entry: &mut impl Read,
    target: &Path,
) -> Result<std::io::Result<(u64, String)>, StorageError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|cause| StorageError::Path {
            path: dir.to_path_buf(),
            cause,
        })?;
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|cause| StorageError::Path {
            path: target.to_path_buf(),
            cause,
        })?;
    // Made durable all at once by `sync_unpacked` (one `syncfs` instead of an fsync per blob).
    copy_hashing(entry, &mut out).map_err(|cause| {
        if crate::error::io_error_is_full(&cause) {
            StorageError::StorageFull {
                cause: format!("writing `{}`: {cause}", target.display()),
            }
        } else {
            StorageError::Path {
                path: target.to_path_buf(),
                cause,
            }
        }
    })
}

/// Copies `reader` to `writer`, returning the length and the SHA-256 of what passed. The
/// outer error is writing (the target's fault); the inner one is reading (the backup's).
pub(crate) fn copy_hashing(
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> std::io::Result<std::io::Result<(u64, String)>> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) => return Ok(Err(error)),
        };
        hasher.update(&buffer[..read]);
        writer.write_all(&buffer[..read])?;
        size += read as u64;
    }
    Ok(Ok((size, hex::encode(hasher.finalize()))))
}

/// Modes of a data directory: the directory and `keys/` 0700 (every file is already 0600).
fn secure_modes(staging: &Path) -> Result<(), StorageError> {
    for (dir, mode) in [
        (staging.to_path_buf(), 0o700),
        (staging.join(KEYS_DIR), 0o700),
    ] {
        if dir.is_dir() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .map_err(|cause| StorageError::Path { path: dir, cause })?;
        }
    }
    Ok(())
}

/// Makes every unpacked file durable before it moves into place: one `syncfs` of the file
/// system holding `staging` (the scratch directory is beside the target, so on its file
/// system).
fn sync_unpacked(staging: &Path) -> Result<(), StorageError> {
    let dir = File::open(staging).map_err(|cause| StorageError::Path {
        path: staging.to_path_buf(),
        cause,
    })?;
    rustix::fs::syncfs(&dir).map_err(|errno| StorageError::Path {
        path: staging.to_path_buf(),
        cause: errno.into(),
    })
}

/// Moves the unpacked `staging` directory to `data_dir` (absent or empty).
fn move_into_place(staging: &Path, data_dir: &Path) -> Result<(), StorageError> {
    let fail = |cause| StorageError::Path {
        path: data_dir.to_path_buf(),
        cause,
    };
    if data_dir.exists() {
        // Checked empty before unpacking; a rename onto an empty directory replaces it.
        std::fs::remove_dir(data_dir).map_err(fail)?;
    }
    std::fs::rename(staging, data_dir).map_err(fail)?;
    if let Some(parent) = data_dir.parent()
        && let Ok(dir) = File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    {
        let _ = dir.sync_all();
    }
    Ok(())
}
