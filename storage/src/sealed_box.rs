//! Secrets at rest in the database, sealed with XChaCha20-Poly1305 under a 32-byte key kept
//! in a file beside the registry's signing keys (64 hex characters, mode 0600). A sealed
//! value is `nonce ‖ ciphertext`, bound to associated data naming what it belongs to, so a
//! value moved to another row does not open. Used for webhook secrets
//! (`webhook_secrets.rs`) and tenants' signing keys (`tenant_keys.rs`).

use std::path::Path;

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};

use crate::StorageError;
use crate::registry_keys::write_private;

/// The length of the random nonce in front of each sealed value.
const NONCE_LEN: usize = 24;

fn path_error(path: &Path, cause: std::io::Error) -> StorageError {
    StorageError::Path {
        path: path.to_path_buf(),
        cause,
    }
}

/// The refusal of a key file that is not 64 hex characters; `restore` says what to do.
fn bad_key(path: &Path, restore: &str) -> StorageError {
    StorageError::Corrupt {
        what: format!("`{}` is not 64 hex characters; {restore}", path.display()),
    }
}

/// Reads the key at `path`; `None` when the file does not exist. `restore` says what to do
/// when it is damaged.
pub(crate) fn read_key(path: &Path, restore: &str) -> Result<Option<[u8; 32]>, StorageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(path_error(path, cause)),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad_key(path, restore))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| bad_key(path, restore))
}

/// The key at `path`, made (mode 0600, its directory too) when there is none yet.
pub(crate) fn key_or_create(path: &Path, restore: &str) -> Result<[u8; 32], StorageError> {
    if let Some(key) = read_key(path, restore)? {
        return Ok(key);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|cause| path_error(dir, cause))?;
    }
    let key: [u8; 32] = rand::random();
    match write_private(path, &format!("{}\n", hex::encode(key))) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "sealing key made");
            Ok(key)
        }
        // Another process made it first: use that one.
        Err(StorageError::Path { cause, .. })
            if cause.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            read_key(path, restore)?.ok_or_else(|| bad_key(path, restore))
        }
        Err(error) => Err(error),
    }
}

/// Seals `plain` under `key`, bound to `bound_to`; `None` only if the cipher refuses (it
/// does not for inputs of these sizes).
pub(crate) fn seal(key: &[u8; 32], bound_to: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let sealed = XChaCha20Poly1305::new(key.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: bound_to,
            },
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(out)
}

/// Opens what [`seal`] made under `key` for `bound_to`; the error says why it does not open.
pub(crate) fn open(
    key: &[u8; 32],
    bound_to: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, &'static str> {
    if sealed.len() < NONCE_LEN {
        return Err("the sealed value is truncated");
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: bound_to,
            },
        )
        .map_err(|_| "the key is not the one that sealed it, or the sealed value was altered")
}
