//! Webhook secrets at rest: sealed with XChaCha20-Poly1305 under a key kept beside the
//! registry's signing keys, `<data>/keys/webhooks.key` (64 hex characters, mode 0600, made
//! when the first webhook is registered). The database holds only `nonce ‖ ciphertext`, with
//! the webhook's URL as associated data (a sealed secret moved to another row does not
//! open), so a copy of the database without the key file cannot sign a delivery.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};

use crate::StorageError;
use crate::registry_keys::{KEYS_DIR, write_private};

/// The key file's name inside `<data>/keys/`.
pub const WEBHOOK_KEY_FILE: &str = "webhooks.key";

/// The length of the random nonce in front of each sealed secret.
const NONCE_LEN: usize = 24;

/// Where the key of the registry in `data_dir` is.
pub(crate) fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_DIR).join(WEBHOOK_KEY_FILE)
}

fn path_error(path: &Path, cause: std::io::Error) -> StorageError {
    StorageError::Path {
        path: path.to_path_buf(),
        cause,
    }
}

fn bad_key(path: &Path) -> StorageError {
    StorageError::Corrupt {
        what: format!(
            "`{}` is not 64 hex characters; restore the webhook key from a backup (without it the registered webhooks cannot sign and must be registered again)",
            path.display()
        ),
    }
}

/// Reads the key; `None` when the file does not exist.
fn read_key(path: &Path) -> Result<Option<[u8; 32]>, StorageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(path_error(path, cause)),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad_key(path))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| bad_key(path))
}

/// The key, made (mode 0600) when there is none yet.
fn key_or_create(data_dir: &Path) -> Result<[u8; 32], StorageError> {
    let path = key_path(data_dir);
    if let Some(key) = read_key(&path)? {
        return Ok(key);
    }
    let dir = data_dir.join(KEYS_DIR);
    std::fs::create_dir_all(&dir).map_err(|cause| path_error(&dir, cause))?;
    let key: [u8; 32] = rand::random();
    match write_private(&path, &format!("{}\n", hex::encode(key))) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "webhook secret key made");
            Ok(key)
        }
        // Another registration made it first: use that one.
        Err(StorageError::Path { cause, .. })
            if cause.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            read_key(&path)?.ok_or_else(|| bad_key(&path))
        }
        Err(error) => Err(error),
    }
}

/// Seals `secret` of the webhook at `url` (making the key on first use).
pub(crate) fn seal(data_dir: &Path, url: &str, secret: &str) -> Result<Vec<u8>, StorageError> {
    let key = key_or_create(data_dir)?;
    let nonce: [u8; NONCE_LEN] = rand::random();
    let sealed = XChaCha20Poly1305::new(&key.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: url.as_bytes(),
            },
        )
        .map_err(|_| StorageError::Corrupt {
            what: format!("the secret of the webhook `{url}` could not be sealed"),
        })?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens the sealed secret of the webhook at `url`.
///
/// # Errors
/// [`StorageError::Corrupt`] naming the key file when it is missing, is another key than the
/// one that sealed the secret, or the sealed bytes were altered.
pub(crate) fn open(data_dir: &Path, url: &str, sealed: &[u8]) -> Result<String, StorageError> {
    let path = key_path(data_dir);
    let cannot = |why: &str| StorageError::Corrupt {
        what: format!(
            "the secret of the webhook `{url}` cannot be opened: {why}; restore `{}` from the backup of this data directory or register the webhook again",
            path.display()
        ),
    };
    let key = read_key(&path)?.ok_or_else(|| cannot("the webhook key file is missing"))?;
    if sealed.len() < NONCE_LEN {
        return Err(cannot("the sealed secret is truncated"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let plain = XChaCha20Poly1305::new(&key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: url.as_bytes(),
            },
        )
        .map_err(|_| cannot("the key is not the one that sealed it, or the secret was altered"))?;
    String::from_utf8(plain).map_err(|_| cannot("the opened secret is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_with_its_key_and_url() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = seal(dir.path(), "http://a/hook", "a-long-webhook-secret").unwrap();
        assert!(
            !sealed
                .windows(b"a-long-webhook-secret".len())
                .any(|window| window == b"a-long-webhook-secret")
        );
        assert_eq!(
            open(dir.path(), "http://a/hook", &sealed).unwrap(),
            "a-long-webhook-secret"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another row's URL, an altered byte, another key, no key: none opens.
        assert!(open(dir.path(), "http://b/hook", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(dir.path(), "http://a/hook", &altered).is_err());
        let other = tempfile::tempdir().unwrap();
        let missing = open(other.path(), "http://a/hook", &sealed)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("webhook key file is missing"), "{missing}");
        assert!(missing.contains(WEBHOOK_KEY_FILE), "{missing}");
        seal(other.path(), "http://x/hook", "another-long-secret").unwrap();
        let wrong = open(other.path(), "http://a/hook", &sealed)
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("not the one that sealed it"), "{wrong}");
    }
}
