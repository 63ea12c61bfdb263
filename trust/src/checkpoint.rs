//! Checkpoints (C2SP `tlog-checkpoint`): the signed head of the log.
//!
//! The body of the signed note is the origin line (the registry's log identity, e.g.
//! `wharf.example.com`), the tree size in decimal without leading zeros, the base64 root
//! hash, and optional extension lines. The log key signs it under the key name equal to the
//! origin.
//!
//! [`Checkpoint::check_extends`] is the client's rule for a new checkpoint against the one
//! it kept: same origin, size never smaller (rollback), equal size needs the equal root (a
//! different one is a fork: the registry showed two histories), and a larger size needs a
//! consistency proof (a rewritten leaf fails it).

use crate::encoding::{parse_decimal, shorten};
use crate::merkle::MAX_TREE_SIZE;
use crate::note::{Note, NoteKey};
use crate::{ConsistencyProof, Hash, InclusionProof, SigningKey, TrustError};

/// A checkpoint body (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

fn malformed(reason: String) -> TrustError {
    TrustError::MalformedCheckpoint { reason }
}

/// Origins and extension lines: non-empty, no control characters; origins also no
/// whitespace and no `+` (they double as key names).
fn check_line(what: &str, line: &str, is_origin: bool) -> Result<(), TrustError> {
    let bad = line.is_empty()
        || line.chars().any(char::is_control)
        || (is_origin && line.chars().any(|c| c.is_whitespace() || c == '+'));
    if bad {
        return Err(malformed(format!(
            "{what} `{}` is empty or holds a control character{}",
            shorten(line),
            if is_origin { ", a space or `+`" } else { "" }
        )));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, TrustError> {
        check_line("origin", origin, true)?;
        if size > MAX_TREE_SIZE {
            return Err(TrustError::TreeTooLarge { size });
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The log identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines (opaque; Wharf writes none).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a note text as a checkpoint body.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed("does not end with a newline".to_owned()));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(malformed(format!(
                "has {} lines; origin, size and root hash are needed",
                lines.len()
            )));
        }
        let size = parse_decimal(lines[1]).ok_or_else(|| {
            malformed(format!(
                "size `{}` is not a decimal without leading zeros",
                shorten(lines[1])
            ))
        })?;
        let root = Hash::from_base64(lines[2], "checkpoint root hash")?;
        let mut checkpoint = Self::new(lines[0], size, root)?;
        for line in &lines[3..] {
            check_line("extension line", line, false)?;
            checkpoint.extensions.push((*line).to_owned());
        }
        Ok(checkpoint)
    }

    /// The signed note, signed by the log key under the origin as key name.
    pub fn sign(&self, log_key: &SigningKey) -> Result<String, TrustError> {
        Ok(Note::sign(&self.to_text(), &[(&self.origin, log_key)])?.to_text())
    }

    /// Parses a signed checkpoint, requires `log_key`'s signature, and requires the origin
    /// to be `log_key`'s name (the log the client expects). Other signatures (witnesses) are
    /// ignored here.
    pub fn open(note: &[u8], log_key: &NoteKey) -> Result<Self, TrustError> {
        let note = Note::parse(note)?;
        let checkpoint = Self::parse(note.text())?;
        if checkpoint.origin != log_key.name() {
            return Err(TrustError::WrongOrigin {
                document: "checkpoint".to_owned(),
                expected: log_key.name().to_owned(),
                found: checkpoint.origin.clone(),
            });
        }
        note.verify(std::slice::from_ref(log_key), std::slice::from_ref(log_key))?;
        Ok(checkpoint)
    }

    /// Checks that `leaf` is in the tree this checkpoint names.
    pub fn verify_inclusion(&self, leaf: &[u8], proof: &InclusionProof) -> Result<(), TrustError> {
        proof.verify(leaf, self.size, &self.root)
    }

    /// Checks this (new) checkpoint against the one already `seen` (see the module
    /// documentation). `proof` is the consistency proof from `seen.size()` to `self.size()`;
    /// it is not looked at when the sizes are equal or `seen` is the empty tree.
    pub fn check_extends(&self, seen: &Self, proof: &ConsistencyProof) -> Result<(), TrustError> {
        if self.origin != seen.origin {
            return Err(TrustError::WrongOrigin {
                document: "checkpoint".to_owned(),
                expected: seen.origin.clone(),
                found: self.origin.clone(),
            });
        }
        if self.size < seen.size {
            return Err(TrustError::Rollback {
                document: "checkpoint".to_owned(),
                got: self.size,
                seen: seen.size,
            });
        }
        if self.size == seen.size {
            if self.root != seen.root {
                return Err(TrustError::Fork {
                    size: self.size,
                    seen_root: seen.root.to_base64(),
                    got_root: self.root.to_base64(),
                });
            }
            return Ok(());
        }
        if seen.size == 0 {
            return Ok(());
        }
        proof.verify(seen.size, &seen.root, self.size, &self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;
    use crate::merkle::proof::{prove_consistency, prove_inclusion};
    use crate::merkle::{MemoryHashStore, leaf_hash};

    const ORIGIN: &str = "wharf.example.com";

    fn log_key() -> NoteKey {
        NoteKey::new(ORIGIN, key(1).public_key()).unwrap()
    }

    fn log(n: u32) -> MemoryHashStore {
        let mut store = MemoryHashStore::new();
        for i in 0..n {
            store.push(format!("event {i}").as_bytes());
        }
        store
    }

    fn checkpoint(store: &MemoryHashStore) -> Checkpoint {
        Checkpoint::new(ORIGIN, store.size(), store.root()).unwrap()
    }

    #[test]
    fn text_is_the_c2sp_form() {
        let cp = Checkpoint::new(ORIGIN, 20_852_163, Hash::sha256(b"x")).unwrap();
        let text = cp.to_text();
        assert_eq!(
            text,
            format!("{ORIGIN}\n20852163\n{}\n", Hash::sha256(b"x").to_base64())
        );
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
        let extended = format!("{text}extension one\n");
        assert_eq!(
            Checkpoint::parse(&extended).unwrap().extensions(),
            ["extension one"]
        );
        for bad in [
            text.replace("20852163", "020852163"),
            text.replace("20852163", "-1"),
            text.replace(ORIGIN, "wharf example"),
            text.trim_end().to_owned(),
            format!("{ORIGIN}\n5\n"),
            format!("{text}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn open_requires_the_log_key_and_origin() {
        let store = log(5);
        let signed = checkpoint(&store).sign(&key(1)).unwrap();
        assert_eq!(
            Checkpoint::open(signed.as_bytes(), &log_key()).unwrap(),
            checkpoint(&store)
        );
        let other_key = NoteKey::new(ORIGIN, key(2).public_key()).unwrap();
        assert!(Checkpoint::open(signed.as_bytes(), &other_key).is_err());
        let other_log = NoteKey::new("other.example", key(1).public_key()).unwrap();
        let error = Checkpoint::open(signed.as_bytes(), &other_log)
            .unwrap_err()
            .to_string();
        assert!(error.contains("other.example"), "{error}");
        let edited = signed.replacen("\n5\n", "\n4\n", 1);
        assert!(Checkpoint::open(edited.as_bytes(), &log_key()).is_err());
    }

    #[test]
    fn rollback_of_checkpoint_size_is_refused() {
        let (older, newer) = (log(812), log(950));
        let error = checkpoint(&older)
            .check_extends(&checkpoint(&newer), &ConsistencyProof::new(Vec::new()))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "rollback: checkpoint 812 is older than the 950 already seen; keep the newer state and report the source that served it"
        );
    }

    #[test]
    fn forked_checkpoint_of_equal_size_is_refused() {
        let honest = log(10);
        let mut forked = log(9);
        forked.push(b"a different event 9");
        let error = checkpoint(&forked)
            .check_extends(&checkpoint(&honest), &ConsistencyProof::new(Vec::new()))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("split view: two checkpoints of size 10"),
            "{error}"
        );
        checkpoint(&honest)
            .check_extends(&checkpoint(&honest), &ConsistencyProof::new(Vec::new()))
            .unwrap();
    }

    #[test]
    fn rewritten_leaf_fails_consistency_with_the_checkpoint_seen() {
        let seen = log(100);
        let mut rewritten = MemoryHashStore::new();
        for i in 0..150u32 {
            let leaf = if i == 42 {
                "event 42, rewritten".to_owned()
            } else {
                format!("event {i}")
            };
            rewritten.push(leaf.as_bytes());
        }
        let proof = prove_consistency(&rewritten, 100, 150).unwrap();
        let error = checkpoint(&rewritten)
            .check_extends(&checkpoint(&seen), &proof)
            .unwrap_err();
        assert!(
            matches!(
                error,
                TrustError::ConsistencyFailed {
                    old_size: 100,
                    new_size: 150,
                    ..
                }
            ),
            "{error}"
        );
        // The honest extension passes.
        let honest = log(150);
        let proof = prove_consistency(&honest, 100, 150).unwrap();
        checkpoint(&honest)
            .check_extends(&checkpoint(&seen), &proof)
            .unwrap();
        // And an inclusion proof against the seen checkpoint refuses the rewritten leaf.
        let inclusion = prove_inclusion(&rewritten, 42, 100).unwrap();
        assert!(
            checkpoint(&seen)
                .verify_inclusion(b"event 42, rewritten", &inclusion)
                .is_err()
        );
        assert_ne!(leaf_hash(b"event 42"), leaf_hash(b"event 42, rewritten"));
    }

    #[test]
    fn first_checkpoint_after_the_empty_tree_needs_no_proof() {
        let empty = checkpoint(&log(0));
        checkpoint(&log(3))
            .check_extends(&empty, &ConsistencyProof::new(Vec::new()))
            .unwrap();
    }
}
