//! The snapshot: one hash over the hashes of every index file, in 256 hashed bins.
//!
//! - A file's bin is the first byte of `SHA-256(index path)`, e.g. of `se/rd/serde`.
//! - A bin's text is one line `<index path> <64 hex SHA-256 of the file's bytes>\n` per file
//!   in the bin, sorted by path (bytewise), each path once; an empty bin is the empty text.
//!   The bin hash is `SHA-256(bin text)`.
//! - The snapshot hash is `SHA-256(bin hash 0 ‖ bin hash 1 ‖ … ‖ bin hash 255)`, the 256 raw
//!   32-byte hashes; the snapshot's text ([`Snapshot::bin_list`]) is those hashes in hex, one
//!   per line.
//!
//! A client that trusts a snapshot hash (from a signed timestamp) checks one index file with
//! the bin list and one bin ([`verify_file`]): no full listing of the registry is needed, a
//! changed file (a hidden yank, an injected dependency) changes its hash, and a file missing
//! from its bin proves the package does not exist in that state.

use std::collections::BTreeMap;

use crate::encoding::shorten;
use crate::{Hash, TrustError};

/// The number of bins.
pub const BIN_COUNT: usize = 256;

/// The bin of an index path.
pub fn bin_of(path: &str) -> u8 {
    Hash::sha256(path.as_bytes()).0[0]
}

/// Index paths are lowercase ASCII letters, digits, `-`, `_` and `/`.
fn check_path(path: &str) -> Result<(), TrustError> {
    let ok = !path.is_empty()
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(TrustError::MalformedSnapshot {
            reason: format!(
                "`{}` is not an index path (lowercase letters, digits, `-`, `_`, `/`)",
                shorten(path)
            ),
        })
    }
}

/// Every index file's hash, grouped in bins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    bins: Vec<BTreeMap<String, Hash>>,
}

impl Snapshot {
    /// A snapshot of no files.
    pub fn new() -> Self {
        Self {
            bins: vec![BTreeMap::new(); BIN_COUNT],
        }
    }

    /// A snapshot of `(index path, SHA-256 of the file)` pairs.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, Hash)>,
    ) -> Result<Self, TrustError> {
        let mut snapshot = Self::new();
        for (path, hash) in files {
            snapshot.insert(path, hash)?;
        }
        Ok(snapshot)
    }

    /// Adds or replaces one file's hash.
    pub fn insert(&mut self, path: &str, hash: Hash) -> Result<(), TrustError> {
        check_path(path)?;
        self.bins[usize::from(bin_of(path))].insert(path.to_owned(), hash);
        Ok(())
    }

    /// Removes one file.
    pub fn remove(&mut self, path: &str) {
        self.bins[usize::from(bin_of(path))].remove(path);
    }

    /// The text of bin `bin` (see the module documentation).
    pub fn bin_text(&self, bin: u8) -> String {
        self.bins[usize::from(bin)]
            .iter()
            .fold(String::new(), |mut text, (path, hash)| {
                text.push_str(path);
                text.push(' ');
                text.push_str(&hash.to_hex());
                text.push('\n');
                text
            })
    }

    /// The 256 bin hashes.
    pub fn bin_hashes(&self) -> Vec<Hash> {
        (0..=u8::MAX)
            .map(|bin| Hash::sha256(self.bin_text(bin).as_bytes()))
            .collect()
    }

    /// The bin list: the 256 bin hashes in hex, one per line.
    pub fn bin_list(&self) -> String {
        self.bin_hashes()
            .iter()
            .fold(String::new(), |mut text, hash| {
                text.push_str(&hash.to_hex());
                text.push('\n');
                text
            })
    }

    /// The snapshot hash.
    pub fn hash(&self) -> Hash {
        snapshot_hash(&self.bin_hashes())
    }
}

fn snapshot_hash(bins: &[Hash]) -> Hash {
    let bytes: Vec<u8> = bins.iter().flat_map(|hash| hash.0).collect();
    Hash::sha256(&bytes)
}

/// Parses a bin list and checks it against the trusted snapshot hash; returns the 256 bin
/// hashes.
pub fn open_bin_list(text: &str, snapshot: &Hash) -> Result<Vec<Hash>, TrustError> {
    let Some(body) = text.strip_suffix('\n') else {
        return Err(TrustError::MalformedSnapshot {
            reason: "the bin list does not end with a newline".to_owned(),
        });
    };
    let bins = body
        .split('\n')
        .map(|line| Hash::from_hex(line, "snapshot bin hash"))
        .collect::<Result<Vec<_>, _>>()?;
    if bins.len() != BIN_COUNT {
        return Err(TrustError::MalformedSnapshot {
            reason: format!(
                "the bin list has {} lines, expected {BIN_COUNT}",
                bins.len()
            ),
        });
    }
    let found = snapshot_hash(&bins);
    if found != *snapshot {
        return Err(TrustError::HashMismatch {
            what: "snapshot bin list".to_owned(),
            expected: snapshot.to_hex(),
            found: found.to_hex(),
        });
    }
    Ok(bins)
}

/// The client's check of one index file: `bin_text` must hash to the bin's entry in the
/// (already opened) `bin_list`, be canonical, and list `path` with `file_hash`. A path
/// missing from its bin is [`TrustError::NotInSnapshot`].
pub fn verify_file(
    path: &str,
    file_hash: &Hash,
    bin_text: &str,
    bin_list: &[Hash],
) -> Result<(), TrustError> {
    check_path(path)?;
    let bin = bin_of(path);
    let expected = bin_list
        .get(usize::from(bin))
        .ok_or_else(|| TrustError::MalformedSnapshot {
            reason: format!("the bin list has no bin {bin}"),
        })?;
    let found = Hash::sha256(bin_text.as_bytes());
    if found != *expected {
        return Err(TrustError::HashMismatch {
            what: format!("snapshot bin {bin}"),
            expected: expected.to_hex(),
            found: found.to_hex(),
        });
    }
    if !bin_text.is_empty() && !bin_text.ends_with('\n') {
        return Err(TrustError::MalformedSnapshot {
            reason: format!("bin {bin} does not end with a newline"),
        });
    }
    let mut previous: Option<&str> = None;
    let mut listed = None;
    for line in bin_text.lines() {
        let (entry, hash) = line
            .split_once(' ')
            .ok_or_else(|| TrustError::MalformedSnapshot {
                reason: format!(
                    "bin {bin} line `{}` is not `<path> <sha256>`",
                    shorten(line)
                ),
            })?;
        check_path(entry)?;
        if previous.is_some_and(|previous| previous >= entry) || bin_of(entry) != bin {
            return Err(TrustError::MalformedSnapshot {
                reason: format!(
                    "bin {bin} is not sorted, repeats `{entry}` or holds a path of another bin"
                ),
            });
        }
        previous = Some(entry);
        if entry == path {
            listed = Some(Hash::from_hex(hash, "snapshot file hash")?);
        }
    }
    match listed {
        None => Err(TrustError::NotInSnapshot {
            path: path.to_owned(),
        }),
        Some(listed) if listed != *file_hash => Err(TrustError::HashMismatch {
            what: format!("index file {path}"),
            expected: listed.to_hex(),
            found: file_hash.to_hex(),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(String, Hash)> {
        (0..600)
            .map(|i| {
                let path = format!("ab/cd/crate-{i}");
                let hash = Hash::sha256(path.as_bytes());
                (path, hash)
            })
            .collect()
    }

    fn snapshot() -> Snapshot {
        Snapshot::from_files(files().iter().map(|(p, h)| (p.as_str(), *h))).unwrap()
    }

    #[test]
    fn every_file_verifies_through_its_bin() {
        let snapshot = snapshot();
        let bins = open_bin_list(&snapshot.bin_list(), &snapshot.hash()).unwrap();
        for (path, hash) in files() {
            let bin_text = snapshot.bin_text(bin_of(&path));
            verify_file(&path, &hash, &bin_text, &bins).unwrap();
        }
    }

    #[test]
    fn hidden_yank_changes_the_file_hash() {
        let snapshot = snapshot();
        let bins = open_bin_list(&snapshot.bin_list(), &snapshot.hash()).unwrap();
        let (path, _) = &files()[7];
        let served = Hash::sha256(b"{\"yanked\":false}");
        let error =
            verify_file(path, &served, &snapshot.bin_text(bin_of(path)), &bins).unwrap_err();
        assert!(matches!(error, TrustError::HashMismatch { .. }), "{error}");
    }

    #[test]
    fn a_bin_from_another_snapshot_is_refused() {
        let old = snapshot();
        let mut new = old.clone();
        let (path, _) = &files()[3];
        new.insert(path, Hash::sha256(b"changed")).unwrap();
        let bins = open_bin_list(&new.bin_list(), &new.hash()).unwrap();
        let stale_bin = old.bin_text(bin_of(path));
        let error =
            verify_file(path, &Hash::sha256(path.as_bytes()), &stale_bin, &bins).unwrap_err();
        assert!(error.to_string().contains("snapshot bin"), "{error}");
        assert!(open_bin_list(&old.bin_list(), &new.hash()).is_err());
    }

    #[test]
    fn absent_files_are_proved_absent() {
        let snapshot = snapshot();
        let bins = open_bin_list(&snapshot.bin_list(), &snapshot.hash()).unwrap();
        let path = "ne/ve/never-published";
        let error = verify_file(
            path,
            &Hash::sha256(b""),
            &snapshot.bin_text(bin_of(path)),
            &bins,
        )
        .unwrap_err();
        assert_eq!(
            error,
            TrustError::NotInSnapshot {
                path: path.to_owned()
            }
        );
    }

    #[test]
    fn empty_snapshot_and_strict_bin_list() {
        let empty = Snapshot::new();
        assert_eq!(empty.bin_text(0), "");
        assert_eq!(empty.bin_hashes()[0], Hash::sha256(b""));
        let list = empty.bin_list();
        assert_eq!(list.lines().count(), 256);
        assert!(open_bin_list(&list.replacen('\n', "\n\n", 1), &empty.hash()).is_err());
        assert!(open_bin_list(list.trim_end(), &empty.hash()).is_err());
        assert!(
            Snapshot::new()
                .insert("Se/rd/serde", Hash::sha256(b""))
                .is_err()
        );
    }
}
