//! The registry's signing keys, made on the first start of a data directory.
//!
//! Under `<data>/keys/` (directory mode 0700, every file mode 0600):
//!
//! - `root.key`: the root key (a `wharf-trust` key file). It signs only the keyset, so an
//!   operator may move it offline once the registry has started; the registry never needs
//!   it again until the keyset is renewed.
//! - `log.key`, `timestamp.key`, `release.key`: the online keys (checkpoints, timestamps,
//!   the registry's countersignature on release, yank and unyank statements).
//! - `keyset-1.note`, `keyset-2.note`, …: the root-signed keysets, the chain a client walks
//!   from the root key it pinned (`wharf admin root-key export` prints that key).
//!
//! The origin (the registry's name inside every signed document) is fixed when the keys are
//! made and read back from the newest keyset afterwards.
//!
//! A running server holds them in [`LiveKeys`]: a keyset installed while it runs (`wharf
//! admin keyset install`, `wharf admin licence trust-key`) is loaded and swapped in at the
//! next use of the keys, without a restart.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use wharf_trust::{KeyFileProtection, Keyset, PublicKey, SigningKey, UtcTime, key_file_public_key};

use crate::StorageError;

/// The directory of the keys inside the data directory.
pub const KEYS_DIR: &str = "keys";
/// The root key file inside [`KEYS_DIR`].
pub const ROOT_KEY_FILE: &str = "root.key";
/// How long a keyset made at first start is valid (one year).
const KEYSET_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// The registry's online keys and its keyset chain.
#[derive(Debug)]
pub struct RegistryKeys {
    origin: String,
    root: PublicKey,
    log: SigningKey,
    timestamp: SigningKey,
    release: SigningKey,
    keyset: Keyset,
    chain: Vec<String>,
}

impl RegistryKeys {
    /// Loads the keys of `data_dir`, making them first when the directory has none, named
    /// `origin` (by default `wharf-` and the first 16 hex digits of the root key's id, a
    /// name no other registry has).
    pub fn load_or_create(data_dir: &Path, origin: Option<&str>) -> Result<Self, StorageError> {
        let dir = data_dir.join(KEYS_DIR);
        if !dir.join("keyset-1.note").exists() {
            create(&dir, origin)?;
        }
        Self::load(data_dir)
    }

    /// Loads the keys of `data_dir`.
    pub fn load(data_dir: &Path) -> Result<Self, StorageError> {
        let dir = data_dir.join(KEYS_DIR);
        let (chain, keyset, keyset_path) = read_chain(&dir)?;
        let online = |file: &str, role: wharf_trust::KeyRole| {
            let path = dir.join(file);
            let key = SigningKey::from_key_file(&read(&path)?, None).map_err(|error| {
                StorageError::Keys {
                    path: path.clone(),
                    reason: error.to_string(),
                }
            })?;
            if &key.public_key() == keyset.key(role) {
                Ok(key)
            } else {
                Err(StorageError::Keys {
                    path,
                    reason: format!(
                        "holds another key than the {role} key of {}; restore the matching file (after a keyset install cut short, run `wharf admin keyset install` again)",
                        keyset_path.display()
                    ),
                })
            }
        };
        Ok(Self {
            origin: keyset.origin().to_owned(),
            root: *keyset.key(wharf_trust::KeyRole::Root),
            log: online("log.key", wharf_trust::KeyRole::Log)?,
            timestamp: online("timestamp.key", wharf_trust::KeyRole::Timestamp)?,
            release: online("release.key", wharf_trust::KeyRole::Release)?,
            keyset,
            chain,
        })
    }

    /// The newest keyset of `data_dir`, without loading the online keys (which a keyset
    /// install cut short may have replaced already).
    pub(crate) fn load_for_rotation(data_dir: &Path) -> Result<Keyset, StorageError> {
        read_chain(&data_dir.join(KEYS_DIR)).map(|(_, keyset, _)| keyset)
    }

    /// The registry's name inside every signed document.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The root public key clients pin.
    pub fn root(&self) -> &PublicKey {
        &self.root
    }

    /// The key that signs checkpoints.
    pub fn log_key(&self) -> &SigningKey {
        &self.log
    }

    /// The key that signs timestamps.
    pub fn timestamp_key(&self) -> &SigningKey {
        &self.timestamp
    }

    /// The key that countersigns release, yank and unyank statements.
    pub fn release_key(&self) -> &SigningKey {
        &self.release
    }

    /// The newest keyset.
    pub fn keyset(&self) -> &Keyset {
        &self.keyset
    }

    /// Every signed keyset note, version 1 first.
    pub fn chain(&self) -> &[String] {
        &self.chain
    }
}

/// The registry's keys as a running server holds them: the newest ones of the data
/// directory, swapped in (atomically, for the readers that follow) when the `keys`
/// directory changed since they were loaded. A keyset install adds `keyset-<N+1>.note` (last)
/// and renames key files into place, each of which changes the directory's modification time;
/// the next keyset's note is looked for as well, as the time may not have moved on within the
/// file system's granularity. Keys that do not load yet (an install cut short, still moving files) leave the loaded
/// ones in use and are tried again at the next use.
#[derive(Debug)]
pub struct LiveKeys {
    data_dir: PathBuf,
    /// The origin, which a keyset rotation keeps.
    origin: String,
    keys: ArcSwap<RegistryKeys>,
    /// The `keys` directory's modification time when `keys` were loaded.
    loaded_at: Mutex<Option<SystemTime>>,
    /// On PostgreSQL, when the registry's keyset moved past the held keys on another node:
    /// the keyset note the database records, and what is wrong (`node_keys.rs`).
    superseded: Mutex<Option<(String, String)>>,
}

impl LiveKeys {
    /// Holds `keys`, loaded from `data_dir` just now.
    pub fn new(data_dir: &Path, keys: RegistryKeys) -> Self {
        Self {
            loaded_at: Mutex::new(keys_dir_modified(data_dir)),
            data_dir: data_dir.to_path_buf(),
            origin: keys.origin.clone(),
            keys: ArcSwap::from_pointee(keys),
            superseded: Mutex::new(None),
        }
    }

    /// The keys to sign with: [`LiveKeys::current`], refused with
    /// [`StorageError::KeysetMoved`] while the registry's keyset (PostgreSQL's record) has
    /// moved past them on another node, until the new `keys/` is copied here (picked up at
    /// this call, without a restart).
    pub fn signing(&self) -> Result<Arc<RegistryKeys>, StorageError> {
        let keys = self.current();
        let mut superseded = self
            .superseded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match superseded.as_ref() {
            None => Ok(keys),
            Some((recorded, _)) if keys.chain.last() == Some(recorded) => {
                tracing::info!(
                    version = keys.keyset.version(),
                    "this node holds the registry's keyset again; signing"
                );
                *superseded = None;
                Ok(keys)
            }
            Some((_, problem)) => Err(StorageError::KeysetMoved {
                keys_dir: self.data_dir.join(KEYS_DIR),
                problem: problem.clone(),
            }),
        }
    }

    /// Records that the registry's keyset is now `recorded` (a keyset note), which the held
    /// keys are not (`problem` says how), or, with `None`, that they are the registry's.
    pub(crate) fn set_superseded(&self, superseded: Option<(String, String)>) {
        *self
            .superseded
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = superseded;
    }

    /// The registry's origin (the same in every keyset of its chain).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The newest keys: those held, or the data directory's when it has changed since.
    pub fn current(&self) -> Arc<RegistryKeys> {
        let modified = keys_dir_modified(&self.data_dir);
        let mut loaded_at = self
            .loaded_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The directory's time has the file system's granularity: a keyset note after the
        // held chain is looked for too (an install writes it last).
        let next = format!("keyset-{}.note", self.keys.load().chain.len() + 1);
        if modified != *loaded_at || self.data_dir.join(KEYS_DIR).join(next).exists() {
            match RegistryKeys::load(&self.data_dir) {
                Ok(keys) if keys.origin != self.origin => {
                    tracing::warn!(
                        origin = %keys.origin,
                        held = %self.origin,
                        "the registry's keys changed to another origin; still using the loaded ones"
                    );
                    *loaded_at = modified;
                }
                Ok(keys) => {
                    let held = self.keys.load();
                    if keys.chain != held.chain {
                        tracing::info!(
                            version = keys.keyset.version(),
                            "loaded the registry's keyset installed while it runs"
                        );
                    }
                    self.keys.store(Arc::new(keys));
                    *loaded_at = modified;
                }
                Err(error) => {
                    tracing::warn!(%error, "the registry's keys changed but do not load yet; still using the loaded ones");
                }
            }
        }
        drop(loaded_at);
        self.keys.load_full()
    }
}

/// The modification time of `<data_dir>/keys`; `None` when it cannot be read.
fn keys_dir_modified(data_dir: &Path) -> Option<SystemTime> {
    fs::metadata(data_dir.join(KEYS_DIR))
        .and_then(|meta| meta.modified())
        .ok()
}

/// The root public key of `data_dir`, read from the newest keyset (the root key file may
/// have been moved offline).
pub fn root_public_key(data_dir: &Path) -> Result<PublicKey, StorageError> {
    let path = data_dir.join(KEYS_DIR).join(ROOT_KEY_FILE);
    if path.exists() {
        return key_file_public_key(&read(&path)?).map_err(|error| StorageError::Keys {
            path,
            reason: error.to_string(),
        });
    }
    Ok(RegistryKeys::load(data_dir)?.root)
}

/// The newest keyset of `data_dir` (its root, online and entitlement keys), read without
/// the key files.
pub fn current_keyset(data_dir: &Path) -> Result<Keyset, StorageError> {
    RegistryKeys::load_for_rotation(data_dir)
}

/// Every signed keyset note of `dir` (version 1 first), unchecked; an error when there is
/// none.
pub(crate) fn keyset_chain(dir: &Path) -> Result<Vec<String>, StorageError> {
    Ok(read_chain(dir)?.0)
}

/// Every signed keyset note of `dir` (version 1 first), the newest parsed, and its path.
fn read_chain(dir: &Path) -> Result<(Vec<String>, Keyset, PathBuf), StorageError> {
    let mut chain = Vec::new();
    for version in 1.. {
        let path = dir.join(format!("keyset-{version}.note"));
        if !path.exists() {
            break;
        }
        chain.push(read(&path)?);
    }
    let newest = chain.last().ok_or_else(|| StorageError::Keys {
        path: dir.join("keyset-1.note"),
        reason: "the registry has no keyset; restore the `keys` directory from a backup".to_owned(),
    })?;
    let keyset_path = dir.join(format!("keyset-{}.note", chain.len()));
    let keyset = wharf_trust::Note::parse(newest.as_bytes())
        .and_then(|note| Keyset::parse(note.text()))
        .map_err(|error| StorageError::Keys {
            path: keyset_path.clone(),
            reason: error.to_string(),
        })?;
    Ok((chain, keyset, keyset_path))
}

fn keys_error(path: &Path, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Keys {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read(path: &Path) -> Result<String, StorageError> {
    fs::read_to_string(path).map_err(|cause| StorageError::Path {
        path: path.to_path_buf(),
        cause,
    })
}

/// Writes `text` to a new file of mode 0600 (never replacing one) and syncs it.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), StorageError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|cause| StorageError::Path {
        path: path.to_path_buf(),
        cause,
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|cause| StorageError::Path {
            path: path.to_path_buf(),
            cause,
        })
}

/// Makes the four keys and keyset version 1 in `dir`. The keyset is written last, so a
/// crash part-way leaves no keyset and the next start makes the keys afresh.
fn create(dir: &Path, origin: Option<&str>) -> Result<(), StorageError> {
    let path_error = |cause| StorageError::Path {
        path: dir.to_path_buf(),
        cause,
    };
    fs::create_dir_all(dir).map_err(path_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(path_error)?;
    }
    let keys: [SigningKey; 4] = std::array::from_fn(|_| SigningKey::generate());
    let origin = origin.map_or_else(
        || format!("wharf-{}", keys[0].key_id().short()),
        str::to_owned,
    );
    let origin = origin.as_str();
    let now = UtcTime::now();
    let keyset = Keyset::new(
        origin,
        1,
        now.plus_seconds(KEYSET_LIFETIME_SECONDS),
        keys.each_ref().map(SigningKey::public_key),
    )
    .map_err(|error| keys_error(&dir.join("keyset-1.note"), error))?;
    let note = keyset
        .sign(&[&keys[0]])
        .map_err(|error| keys_error(&dir.join("keyset-1.note"), error))?;
    for (key, file) in keys
        .iter()
        .zip([ROOT_KEY_FILE, "log.key", "timestamp.key", "release.key"])
    {
        let path: PathBuf = dir.join(file);
        if path.exists() {
            // Left by a start that crashed before its keyset was written.
            fs::remove_file(&path).map_err(|cause| StorageError::Path {
                path: path.clone(),
                cause,
            })?;
        }
        let text = key
            .to_key_file(KeyFileProtection::Unencrypted)
            .map_err(|error| keys_error(&path, error))?;
        write_private(&path, &text)?;
    }
    write_private(&dir.join("keyset-1.note"), &note)?;
    tracing::info!(origin, root = %keys[0].public_key(), "made the registry's signing keys");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let made = RegistryKeys::load_or_create(dir.path(), Some("registry.example")).unwrap();
        let again = RegistryKeys::load_or_create(dir.path(), Some("another.example")).unwrap();
        assert_eq!(again.origin(), "registry.example");
        assert_eq!(made.root(), again.root());
        assert_eq!(root_public_key(dir.path()).unwrap(), *made.root());
        let keyset = wharf_trust::verify_keyset_chain(
            made.root(),
            "registry.example",
            &[made.chain()[0].as_bytes()],
            UtcTime::now(),
        )
        .unwrap();
        assert_eq!(
            keyset.key(wharf_trust::KeyRole::Log),
            &made.log_key().public_key()
        );
        #[cfg(unix)]
        for file in [
            ROOT_KEY_FILE,
            "log.key",
            "timestamp.key",
            "release.key",
            "keyset-1.note",
        ] {
            use std::os::unix::fs::PermissionsExt;
            let file_mode = fs::metadata(dir.path().join(KEYS_DIR).join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(file_mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn live_keys_take_up_a_keyset_installed_after_they_were_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RegistryKeys::load_or_create(dir.path(), Some("registry.example")).unwrap();
        let live = LiveKeys::new(dir.path(), keys);
        let first = live.current();
        assert_eq!(first.keyset().version(), 1);
        let root_file = dir.path().join(KEYS_DIR).join(ROOT_KEY_FILE);
        let root = SigningKey::from_key_file(&read(&root_file).unwrap(), None).unwrap();
        let request =
            crate::keyset_rotation::request_next_keyset(dir.path(), None, true, 3600, None)
                .unwrap();
        let note = Keyset::parse(&request).unwrap().sign(&[&root]).unwrap();
        crate::keyset_rotation::install_next_keyset(dir.path(), &note).unwrap();

        let second = live.current();
        assert_eq!(second.keyset().version(), 2);
        assert_eq!(second.chain().len(), 2);
        assert_eq!(second.origin(), "registry.example");
        assert_eq!(
            second.log_key().public_key(),
            *second.keyset().key(wharf_trust::KeyRole::Log)
        );
        assert_ne!(second.log_key().public_key(), first.log_key().public_key());
        // Loaded once: the same keys until the directory changes again.
        assert!(Arc::ptr_eq(&second, &live.current()));
    }

    #[test]
    fn the_root_key_may_be_moved_offline() {
        let dir = tempfile::tempdir().unwrap();
        let made = RegistryKeys::load_or_create(dir.path(), Some("registry.example")).unwrap();
        fs::remove_file(dir.path().join(KEYS_DIR).join(ROOT_KEY_FILE)).unwrap();
        let loaded = RegistryKeys::load_or_create(dir.path(), Some("registry.example")).unwrap();
        assert_eq!(loaded.root(), made.root());
        assert_eq!(root_public_key(dir.path()).unwrap(), *made.root());
    }
}
