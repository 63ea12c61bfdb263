//! The backup file format shared by `wharf admin backup` and `wharf admin restore`: a tar
//! archive compressed with zstd whose members are paths of a data directory, ending with a
//! manifest that names every other member with its size and SHA-256, and the registry's
//! signature over the manifest.
//!
//! Members, in this order:
//!
//! - `wharf.db`: the database, a consistent copy made with SQLite's online backup API;
//! - `keys/<file>`: the registry's signing keys and keysets (secret: the file is mode 0600);
//! - `admin-token` (when the registry has one) and `audit-head` (the newest audit record of
//!   the copied database, so the restored audit log verifies against its anchor);
//! - `blobs/sha256/ab/cd/<hex>`: every blob a version of the copied database references;
//! - [`MANIFEST_MEMBER`]: the [`Manifest`] (JSON);
//! - [`SIGNATURE_MEMBER`]: the base64 ed25519 signature of the manifest's exact bytes by the
//!   release key of the newest keyset under `keys/` (`wharf_trust::bundle::
//!   sign_backup_manifest`). A restore checks it against that keyset after walking the
//!   backup's keyset chain from a pinned root key, or from the chain's own first root key
//!   when none is pinned ([`check_manifest_signature`]).

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use wharf_trust::{KeyRole, Keyset, Note, PublicKey, Signature};

use crate::blobs::blob_key;
use crate::db::DB_FILE;
use crate::registry_keys::KEYS_DIR;

/// The last member: the manifest.
pub(crate) const MANIFEST_MEMBER: &str = "wharf-backup-manifest.json";
/// The last member: the signature of the manifest.
pub(crate) const SIGNATURE_MEMBER: &str = "wharf-backup-manifest.sig";
/// The manifest's `format`: what this build writes and reads (`wharf-backup-1` backups,
/// whose manifest is unsigned, are refused).
pub(crate) const FORMAT: &str = "wharf-backup-2";
/// The admin token file of a data directory.
pub(crate) const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The directory of local blobs inside a data directory.
pub(crate) const BLOBS_DIR: &str = "blobs";
/// The directory of tenants' data directories inside a data directory.
pub(crate) const TENANTS_DIR: &str = "tenants";
/// The tenants table of a data directory.
pub(crate) const TENANTS_TABLE_FILE: &str = "tenants.json";
/// The zstd level of backup files (zstd's default: blobs are already gzip-compressed).
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// What a backup holds: every member but itself, and what the copied database contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// Always [`FORMAT`].
    pub(crate) format: String,
    /// When the database snapshot was taken (`YYYY-MM-DDTHH:MM:SSZ`).
    pub(crate) created: String,
    /// The copied database's last event-log position.
    pub(crate) last_event: u64,
    /// How many versions the copied database has.
    pub(crate) versions: u64,
    /// How many packages the copied database has.
    pub(crate) packages: u64,
    /// Every other member, in archive order.
    pub(crate) members: Vec<ManifestMember>,
}

/// One member of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestMember {
    /// The path inside the data directory (`/`-separated).
    pub(crate) path: String,
    /// Its length in bytes.
    pub(crate) size: u64,
    /// Lowercase hex SHA-256 of its bytes.
    pub(crate) sha256: String,
}

/// What kind of file a member path names, or `None` for a path a backup never holds (an
/// absolute path, `..`, anything outside the known files): such a member is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberKind {
    /// `wharf.db`.
    Database,
    /// A file under `keys/`.
    Key,
    /// `admin-token` or `audit-head`.
    DataFile,
    /// `blobs/sha256/…/<hex>`, with its checksum.
    Blob,
    /// The manifest.
    Manifest,
    /// The manifest's signature.
    Signature,
    /// A tenant's blob, `tenants/<name>/blobs/sha256/…/<hex>` (kept on the disk always).
    TenantBlob,
    /// Any other file of a tenant (`tenants/<name>/wharf.db`, its keys, its data files), or
    /// the tenants table `tenants.json`.
    TenantFile,
}

/// Classifies a member path (see [`MemberKind`]).
pub(crate) fn member_kind(path: &str) -> Option<MemberKind> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = Path::new(path)
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    if !plain || parts.iter().any(|part| part.is_empty()) {
        return None;
    }
    match parts.as_slice() {
        [TENANTS_TABLE_FILE] => Some(MemberKind::TenantFile),
        [TENANTS_DIR, name, rest @ ..] if !name.starts_with('.') => {
            match member_kind(&rest.join("/"))? {
                MemberKind::Blob => Some(MemberKind::TenantBlob),
                MemberKind::Database | MemberKind::Key | MemberKind::DataFile => {
                    Some(MemberKind::TenantFile)
                }
                _ => None,
            }
        }
        [DB_FILE] => Some(MemberKind::Database),
        [MANIFEST_MEMBER] => Some(MemberKind::Manifest),
        [SIGNATURE_MEMBER] => Some(MemberKind::Signature),
        [ADMIN_TOKEN_FILE | crate::audit::AUDIT_HEAD_FILE] => Some(MemberKind::DataFile),
        [KEYS_DIR, _] => Some(MemberKind::Key),
        [BLOBS_DIR, rest @ ..] => {
            let key = rest.join("/");
            let cksum = rest.last()?;
            (blob_key(cksum).is_some_and(|expected| expected.as_ref() == key))
                .then_some(MemberKind::Blob)
        }
        _ => None,
    }
}

/// Checks `signature` (the [`SIGNATURE_MEMBER`]'s bytes) over the exact bytes of
/// `manifest`: it must verify with the release key of the newest keyset of `chain` (the
/// backup's `keys/keyset-<N>.note`, version 1 first), a chain that must start at
/// `pinned_root` when one is given, else at its own first root key. Returns the problem as
/// a sentence naming the member.
pub(crate) fn check_manifest_signature(
    chain: &[String],
    manifest: &[u8],
    signature: &[u8],
    pinned_root: Option<&PublicKey>,
) -> Result<(), String> {
    let altered = |what: String| format!("{what}; the file was altered or is another registry's");
    let signature = std::str::from_utf8(signature)
        .ok()
        .and_then(|text| Signature::from_base64(text.trim(), "backup manifest signature").ok())
        .ok_or_else(|| format!("member `{SIGNATURE_MEMBER}` is not a signature"))?;
    let (first, rest) = chain.split_first().ok_or_else(|| {
        altered(
            "holds no keyset (`keys/keyset-1.note`) to check the manifest's signature with"
                .to_owned(),
        )
    })?;
    let own = Note::parse(first.as_bytes())
        .and_then(|note| Keyset::parse(note.text()))
        .map_err(|error| {
            altered(format!(
                "member `keys/keyset-1.note` does not parse ({error})"
            ))
        })?;
    let root = pinned_root.unwrap_or_else(|| own.key(KeyRole::Root));
    let newest = Keyset::verify_first(first.as_bytes(), root, own.origin()).and_then(|first| {
        rest.iter()
            .try_fold(first, |current, note| current.verify_next(note.as_bytes()))
    });
    let newest = newest.map_err(|error| {
        altered(format!(
            "the keyset chain under `keys/` does not verify from root key {} ({error})",
            root.key_id().short()
        ))
    })?;
    wharf_trust::bundle::verify_backup_manifest(newest.key(KeyRole::Release), manifest, &signature)
        .map_err(|_| {
            altered(format!(
                "member `{MANIFEST_MEMBER}` is not signed by the release key {} of keyset {}",
                newest.key(KeyRole::Release).key_id().short(),
                newest.version()
            ))
        })
}

/// A tar header for a regular member of `size` bytes, mode 0600, no owner, time 0 (the
/// manifest's `created` says when the backup was made).
pub(crate) fn member_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::sha256_hex;

    #[test]
    fn only_known_paths_are_members() {
        let cksum = sha256_hex(b"x");
        let blob = format!("blobs/sha256/{}/{}/{cksum}", &cksum[..2], &cksum[2..4]);
        assert_eq!(member_kind(&blob), Some(MemberKind::Blob));
        assert_eq!(member_kind("wharf.db"), Some(MemberKind::Database));
        assert_eq!(member_kind("keys/root.key"), Some(MemberKind::Key));
        assert_eq!(member_kind("audit-head"), Some(MemberKind::DataFile));
        assert_eq!(member_kind(MANIFEST_MEMBER), Some(MemberKind::Manifest));
        assert_eq!(
            member_kind(&format!("tenants/acme/{blob}")),
            Some(MemberKind::TenantBlob)
        );
        for tenant_file in [
            "tenants/acme/wharf.db",
            "tenants/acme/keys/root.key",
            "tenants.json",
        ] {
            assert_eq!(
                member_kind(tenant_file),
                Some(MemberKind::TenantFile),
                "{tenant_file}"
            );
        }
        for bad in [
            "tenants/.void/wharf.db",
            "tenants/acme/tenants/b/wharf.db",
            "tenants/acme/tenants.json",
            "tenants/acme/wharf-backup-manifest.json",
            "tenants/acme",
            "../wharf.db",
            "/wharf.db",
            "keys/../../etc/passwd",
            "keys/a/b",
            "keys/",
            "index/ab/cd/x",
            "blobs/sha256/00/00/abc",
            &format!("blobs/sha256/00/00/{cksum}"),
        ] {
            assert_eq!(member_kind(bad), None, "{bad}");
        }
    }
}
