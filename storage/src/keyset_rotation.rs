//! The next keyset, with the root key offline: the registry writes the unsigned text of
//! keyset version N+1 (a *request*), another machine holding the root key(s) signs it, and
//! the registry installs the signed note.
//!
//! - [`request_next_keyset`] names the current root key or a new one, keeps the online keys
//!   or makes new ones under `<data>/keys/next-<N+1>/` (mode 0600), and returns the keyset
//!   text. It refuses while an earlier request for the same version is pending.
//! - The signing (`wharf admin keyset sign`) is pure: `wharf_trust::Keyset::sign`, once per
//!   root key. Version N+1 needs the signature of version N's root key and of its own (one
//!   signature when the root does not change).
//! - [`install_next_keyset`] checks the note against the newest keyset
//!   ([`wharf_trust::Keyset::verify_next`]: version, origin, both root signatures) and that
//!   it has not expired, moves the new online keys into place, and writes
//!   `keyset-<N+1>.note` last. An install cut short (a crash) is finished by running it
//!   again; a running server loads the new keys at their next use
//!   ([`crate::LiveKeys`]), without a restart.

use std::fs;
use std::path::{Path, PathBuf};

use wharf_trust::{KeyFileProtection, KeyRole, Keyset, PublicKey, SigningKey, UtcTime};

use crate::StorageError;
use crate::registry_keys::{KEYS_DIR, RegistryKeys, write_private};

/// The online roles and their key files.
const ONLINE: [(KeyRole, &str); 3] = [
    (KeyRole::Log, "log.key"),
    (KeyRole::Timestamp, "timestamp.key"),
    (KeyRole::Release, "release.key"),
];

fn keys_error(path: &Path, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Keys {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn pending_dir(data_dir: &Path, version: u64) -> PathBuf {
    data_dir.join(KEYS_DIR).join(format!("next-{version}"))
}

/// Writes the request for the keyset that follows the newest one of `data_dir`: root key
/// `new_root` (the current one when `None`), new online keys when `rotate_online`, valid
/// for `lifetime_seconds` from now, with `entitlement_keys` as its entitlement keys (the
/// current keyset's when `None`). Returns the keyset text to sign.
pub fn request_next_keyset(
    data_dir: &Path,
    new_root: Option<PublicKey>,
    rotate_online: bool,
    lifetime_seconds: i64,
    entitlement_keys: Option<&[PublicKey]>,
) -> Result<String, StorageError> {
    let current = RegistryKeys::load(data_dir)?;
    let keyset = current.keyset();
    let version = keyset.version() + 1;
    let pending = pending_dir(data_dir, version);
    if pending.exists() {
        return Err(keys_error(
            &pending,
            format!(
                "a request for keyset version {version} is pending; install its signed keyset, or remove this directory to start over"
            ),
        ));
    }
    let mut keys = [
        new_root.unwrap_or(*keyset.key(KeyRole::Root)),
        *keyset.key(KeyRole::Log),
        *keyset.key(KeyRole::Timestamp),
        *keyset.key(KeyRole::Release),
    ];
    let fresh: Option<[SigningKey; 3]> =
        rotate_online.then(|| std::array::from_fn(|_| SigningKey::generate()));
    if let Some(fresh) = &fresh {
        for (slot, key) in keys[1..].iter_mut().zip(fresh) {
            *slot = key.public_key();
        }
    }
    let next = Keyset::new(
        keyset.origin(),
        version,
        UtcTime::now().plus_seconds(lifetime_seconds),
        keys,
    )
    .and_then(|next| {
        next.with_entitlement_keys(entitlement_keys.unwrap_or(keyset.entitlement_keys()))
    })
    .map_err(|error| keys_error(&pending, error))?;
    fs::create_dir_all(&pending).map_err(|cause| StorageError::Path {
        path: pending.clone(),
        cause,
    })?;
    if let Some(fresh) = fresh {
        for ((_, file), key) in ONLINE.iter().zip(fresh) {
            let path = pending.join(file);
            let text = key
                .to_key_file(KeyFileProtection::Unencrypted)
                .map_err(|error| keys_error(&path, error))?;
            write_private(&path, &text)?;
        }
    }
    let text = next.to_text();
    write_private(&pending.join("keyset.txt"), &text)?;
    tracing::info!(version, rotate_online, "requested the next keyset");
    Ok(text)
}

/// Installs the signed keyset `note` as the next version of `data_dir` (see the module
/// documentation); returns it.
pub fn install_next_keyset(data_dir: &Path, note: &str) -> Result<Keyset, StorageError> {
    let current = RegistryKeys::load_for_rotation(data_dir)?;
    let dir = data_dir.join(KEYS_DIR);
    let version = current.version() + 1;
    let target = dir.join(format!("keyset-{version}.note"));
    let next = current
        .verify_next(note.as_bytes())
        .map_err(|error| keys_error(&target, error))?;
    next.check_current(UtcTime::now())
        .map_err(|error| keys_error(&target, error))?;
    let pending = pending_dir(data_dir, version);
    for (role, file) in ONLINE {
        let path = dir.join(file);
        let installed = read_key(&path)?;
        if installed.public_key() == *next.key(role) {
            continue;
        }
        let candidate = pending.join(file);
        if !candidate.exists() || read_key(&candidate)?.public_key() != *next.key(role) {
            return Err(keys_error(
                &target,
                format!(
                    "its {role} key {} is neither the installed one nor the one requested in {}; sign the request this registry made",
                    next.key(role).key_id().short(),
                    pending.display()
                ),
            ));
        }
    }
    for (role, file) in ONLINE {
        let candidate = pending.join(file);
        let path = dir.join(file);
        if read_key(&path)?.public_key() != *next.key(role) {
            fs::rename(&candidate, &path).map_err(|cause| StorageError::Path {
                path: path.clone(),
                cause,
            })?;
        }
    }
    write_private(&target, note)?;
    if pending.exists() {
        fs::remove_dir_all(&pending).map_err(|cause| StorageError::Path {
            path: pending.clone(),
            cause,
        })?;
    }
    tracing::info!(version, "installed the next keyset");
    Ok(next)
}

fn read_key(path: &Path) -> Result<SigningKey, StorageError> {
    let text = fs::read_to_string(path).map_err(|cause| StorageError::Path {
        path: path.to_path_buf(),
        cause,
    })?;
    SigningKey::from_key_file(&text, None).map_err(|error| keys_error(path, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempfile::TempDir, SigningKey) {
        let dir = tempfile::tempdir().unwrap();
        RegistryKeys::load_or_create(dir.path(), Some("registry.example")).unwrap();
        let root_text = fs::read_to_string(dir.path().join(KEYS_DIR).join("root.key")).unwrap();
        let root = SigningKey::from_key_file(&root_text, None).unwrap();
        (dir, root)
    }

    #[test]
    fn a_new_root_and_new_online_keys_need_both_root_signatures() {
        let (dir, old_root) = registry();
        let new_root = SigningKey::generate();
        let text =
            request_next_keyset(dir.path(), Some(new_root.public_key()), true, 3600, None).unwrap();
        // A second request while one is pending is refused.
        assert!(request_next_keyset(dir.path(), None, false, 3600, None).is_err());
        let keyset = Keyset::parse(&text).unwrap();
        let only_old = keyset.sign(&[&old_root]).unwrap();
        let error = install_next_keyset(dir.path(), &only_old)
            .unwrap_err()
            .to_string();
        assert!(error.contains("keyset-2.note"), "{error}");
        assert!(!dir.path().join(KEYS_DIR).join("keyset-2.note").exists());
        let both = keyset.sign(&[&old_root, &new_root]).unwrap();
        install_next_keyset(dir.path(), &both).unwrap();
        let loaded = RegistryKeys::load(dir.path()).unwrap();
        assert_eq!(loaded.keyset().version(), 2);
        assert_eq!(loaded.root(), &new_root.public_key());
        assert_eq!(
            loaded.log_key().public_key(),
            *keyset.key(KeyRole::Log),
            "the new log key is in place"
        );
        wharf_trust::verify_keyset_chain(
            &old_root.public_key(),
            "registry.example",
            &loaded
                .chain()
                .iter()
                .map(String::as_bytes)
                .collect::<Vec<_>>(),
            UtcTime::now(),
        )
        .unwrap();
    }

    #[test]
    fn a_keyset_the_registry_did_not_request_is_refused() {
        let (dir, root) = registry();
        let current = RegistryKeys::load(dir.path()).unwrap();
        let foreign = Keyset::new(
            "registry.example",
            2,
            UtcTime::now().plus_seconds(3600),
            [
                root.public_key(),
                SigningKey::generate().public_key(),
                current.timestamp_key().public_key(),
                current.release_key().public_key(),
            ],
        )
        .unwrap();
        let error = install_next_keyset(dir.path(), &foreign.sign(&[&root]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("neither the installed one"), "{error}");
        assert_eq!(
            RegistryKeys::load(dir.path()).unwrap().keyset().version(),
            1
        );
    }
}
