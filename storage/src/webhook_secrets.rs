//! Webhook secrets at rest: sealed with XChaCha20-Poly1305 under a key kept beside the
//! registry's signing keys, `<data>/keys/webhooks.key` (64 hex characters, mode 0600, made
//! when the first webhook is registered). The database holds only `nonce ‖ ciphertext`, with
//! the webhook's URL as associated data (a sealed secret moved to another row does not
//! open), so a copy of the database without the key file cannot sign a delivery.

use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::registry_keys::KEYS_DIR;
use crate::sealed_box;

/// The key file's name inside `<data>/keys/`.
pub const WEBHOOK_KEY_FILE: &str = "webhooks.key";

/// What to do about a damaged key file.
const RESTORE: &str = "restore the webhook key from a backup (without it the registered webhooks cannot sign and must be registered again)";

/// Where the key of the registry in `data_dir` is.
pub(crate) fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_DIR).join(WEBHOOK_KEY_FILE)
}

/// Seals `secret` of the webhook at `url` (making the key on first use).
pub(crate) fn seal(data_dir: &Path, url: &str, secret: &str) -> Result<Vec<u8>, StorageError> {
    let key = sealed_box::key_or_create(&key_path(data_dir), RESTORE)?;
    sealed_box::seal(&key, url.as_bytes(), secret.as_bytes()).ok_or_else(|| StorageError::Corrupt {
        what: format!("the secret of the webhook `{url}` could not be sealed"),
    })
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
    let key = sealed_box::read_key(&path, RESTORE)?
        .ok_or_else(|| cannot("the webhook key file is missing"))?;
    let plain = sealed_box::open(&key, url.as_bytes(), sealed).map_err(cannot)?;
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
