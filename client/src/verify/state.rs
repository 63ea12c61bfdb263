//! What a client keeps between runs: the newest keyset version, checkpoint and timestamp it
//! verified, per pinned root key. It lives in its own directory (never a cache that may be
//! wiped) and is replaced atomically (a temporary file renamed over it) only after a run
//! where everything verified.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wharf_trust::{Checkpoint, PublicKey, Timestamp};

use super::VerifyError;

/// The kept state for one pinned root key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeptState {
    /// The registry's origin.
    pub(crate) origin: Option<String>,
    /// The newest keyset version seen.
    pub(crate) keyset_version: u64,
    /// The log key of that keyset (text form).
    pub(crate) log_key: Option<String>,
    /// The timestamp key of that keyset (text form).
    pub(crate) timestamp_key: Option<String>,
    /// The newest checkpoint verified.
    pub(crate) checkpoint: Option<Checkpoint>,
    /// The newest timestamp verified.
    pub(crate) timestamp: Option<Timestamp>,
}

/// The file format: plain JSON, the documents in their canonical text.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    origin: Option<String>,
    keyset_version: u64,
    log_key: Option<String>,
    timestamp_key: Option<String>,
    checkpoint: Option<String>,
    timestamp: Option<String>,
}

/// The state file of `root` inside `dir`.
pub(crate) fn state_path(dir: &Path, root: &PublicKey) -> PathBuf {
    dir.join(format!("{}.json", root.key_id()))
}

impl KeptState {
    /// Reads the state at `path`; a missing file is the empty state (first use).
    pub(crate) fn load(path: &Path) -> Result<Self, VerifyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => return Err(state_error(path, &format!("cannot read it: {error}"))),
        };
        let corrupt = |reason: String| {
            state_error(
                path,
                &format!(
                    "it is damaged ({reason}); restore it from a backup, or delete it to trust the registry's current state again"
                ),
            )
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let checkpoint = file
            .checkpoint
            .as_deref()
            .map(Checkpoint::parse)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?;
        let timestamp = file
            .timestamp
            .as_deref()
            .map(Timestamp::parse)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            origin: file.origin,
            keyset_version: file.keyset_version,
            log_key: file.log_key,
            timestamp_key: file.timestamp_key,
            checkpoint,
            timestamp,
        })
    }

    /// Writes the state to `path` atomically: a temporary file in the same directory,
    /// flushed to disk, then renamed over the old one.
    pub(crate) fn save(&self, path: &Path) -> Result<(), VerifyError> {
        let file = StateFile {
            origin: self.origin.clone(),
            keyset_version: self.keyset_version,
            log_key: self.log_key.clone(),
            timestamp_key: self.timestamp_key.clone(),
            checkpoint: self.checkpoint.as_ref().map(Checkpoint::to_text),
            timestamp: self.timestamp.as_ref().map(Timestamp::to_text),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| state_error(path, &format!("cannot encode it: {e}")))?;
        write_atomically(path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over the old one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| state_error(dir, &format!("cannot create the directory: {e}")))?;
    let write_error = |e: std::io::Error| state_error(path, &format!("cannot write it: {e}"));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    temp.write_all(bytes).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

fn state_error(path: &Path, reason: &str) -> VerifyError {
    VerifyError::State {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_trust::{Hash, SigningKey, UtcTime};

    #[test]
    fn state_round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = SigningKey::from_seed(&[3; 32]).public_key();
        let path = state_path(dir.path(), &root);
        assert_eq!(KeptState::load(&path).unwrap(), KeptState::default());
        let checkpoint = Checkpoint::new("wharf.example.com", 3, Hash::sha256(b"x")).unwrap();
        let issued = UtcTime::parse("2026-08-20T10:00:00Z", "t").unwrap();
        let timestamp = Timestamp::new(
            &checkpoint,
            Hash::sha256(b"s"),
            issued,
            issued.plus_seconds(60),
        )
        .unwrap();
        let state = KeptState {
            origin: Some("wharf.example.com".into()),
            keyset_version: 2,
            log_key: Some(root.to_text()),
            timestamp_key: None,
            checkpoint: Some(checkpoint),
            timestamp: Some(timestamp),
        };
        state.save(&path).unwrap();
        assert_eq!(KeptState::load(&path).unwrap(), state);
        std::fs::write(&path, "{").unwrap();
        let error = KeptState::load(&path).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
    }
}
