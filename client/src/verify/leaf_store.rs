//! The log's leaves verified by earlier runs, kept beside the state so a run fetches only the
//! leaves added since. They are a speed-up, never trusted alone: every run hashes the kept
//! and the new leaves together and compares the root with the signed checkpoint, and fetches
//! the whole log again when that fails. The file is `<decimal length>\n<leaf bytes>` per
//! leaf, replaced atomically after a run where everything held.

use std::path::{Path, PathBuf};

use wharf_trust::PublicKey;

use super::VerifyError;
use super::state::write_atomically;

/// The leaves file of `root` inside `dir`.
pub(crate) fn leaves_path(dir: &Path, root: &PublicKey) -> PathBuf {
    dir.join(format!("{}.leaves", root.key_id()))
}

/// The kept leaves; none when the file is missing or damaged (they are fetched again).
pub(crate) fn load(path: &Path) -> Vec<Vec<u8>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    parse(&bytes).unwrap_or_else(|| {
        tracing::debug!(path = %path.display(), "the kept leaves do not parse; fetching them again");
        Vec::new()
    })
}

fn parse(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut leaves = Vec::new();
    while !bytes.is_empty() {
        let newline = bytes.iter().position(|&b| b == b'\n')?;
        let length: usize = std::str::from_utf8(&bytes[..newline]).ok()?.parse().ok()?;
        let rest = &bytes[newline + 1..];
        if rest.len() < length {
            return None;
        }
        leaves.push(rest[..length].to_vec());
        bytes = &rest[length..];
    }
    Some(leaves)
}

/// Keeps `leaves` (all the leaves of the checkpoint just verified).
pub(crate) fn save(path: &Path, leaves: &[Vec<u8>]) -> Result<(), VerifyError> {
    let mut bytes = Vec::with_capacity(leaves.iter().map(|leaf| leaf.len() + 8).sum());
    for leaf in leaves {
        bytes.extend_from_slice(format!("{}\n", leaf.len()).as_bytes());
        bytes.extend_from_slice(leaf);
    }
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_round_trip_and_damage_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.leaves");
        assert!(load(&path).is_empty());
        let leaves = vec![
            b"a\nb\n".to_vec(),
            Vec::new(),
            b"wharf-release-v1\n".to_vec(),
        ];
        save(&path, &leaves).unwrap();
        assert_eq!(load(&path), leaves);
        std::fs::write(&path, "5\nabc").unwrap();
        assert!(load(&path).is_empty());
    }
}
