//! The timestamp: a short-lived statement, signed by the online timestamp key, that binds
//! the latest checkpoint (tree size and root) to the snapshot of all index files.
//!
//! ```text
//! wharf-timestamp-v1
//! origin: wharf.example.com
//! tree-size: 950
//! root: <64 hex: the checkpoint's root hash>
//! snapshot: <64 hex: the snapshot hash>
//! issued: 2026-08-20T10:00:00Z
//! expires: 2026-08-21T10:00:00Z
//! ```
//!
//! It travels as a signed note under the key name `<origin>/timestamp`. A client fixes
//! `now` once per run and refuses a timestamp that has expired (a frozen mirror), that was
//! issued more than [`MAX_CLOCK_SKEW_SECONDS`] after `now`, that was issued before the one
//! it already holds (a replayed older timestamp) or that names another checkpoint than the
//! one it verified (mix-and-match).

use crate::encoding::{CanonicalReader, CanonicalWriter, check_value, parse_decimal};
use crate::keyset::KeyRole;
use crate::note::{Note, NoteKey};
use crate::{Checkpoint, Hash, PublicKey, SigningKey, TrustError, UtcTime};

const TAG: &str = "wharf-timestamp-v1";
const DOCUMENT: &str = "timestamp";

/// How far in the future a timestamp's `issued` may be, for clocks that differ a little.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// A timestamp (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    origin: String,
    tree_size: u64,
    root: Hash,
    snapshot: Hash,
    issued: UtcTime,
    expires: UtcTime,
}

impl Timestamp {
    /// A timestamp for `checkpoint` and `snapshot`, valid from `issued` until `expires`.
    pub fn new(
        checkpoint: &Checkpoint,
        snapshot: Hash,
        issued: UtcTime,
        expires: UtcTime,
    ) -> Result<Self, TrustError> {
        check_value(TAG, "origin", checkpoint.origin())?;
        if expires <= issued {
            return Err(TrustError::InvalidField {
                document: DOCUMENT.to_owned(),
                field: "expires".to_owned(),
                value: expires.to_string(),
                reason: format!("is not after issued {issued}"),
            });
        }
        Ok(Self {
            origin: checkpoint.origin().to_owned(),
            tree_size: checkpoint.size(),
            root: *checkpoint.root(),
            snapshot,
            issued,
            expires,
        })
    }

    /// The registry origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size of the checkpoint bound.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The root hash of the checkpoint bound.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The snapshot hash.
    pub fn snapshot(&self) -> &Hash {
        &self.snapshot
    }

    /// When it was signed.
    pub fn issued(&self) -> UtcTime {
        self.issued
    }

    /// When it stops being valid.
    pub fn expires(&self) -> UtcTime {
        self.expires
    }

    /// The canonical text (the note body).
    pub fn to_text(&self) -> String {
        CanonicalWriter::new(TAG)
            .field("origin", &self.origin)
            .field("tree-size", self.tree_size)
            .field("root", self.root)
            .field("snapshot", self.snapshot)
            .field("issued", self.issued)
            .field("expires", self.expires)
            .finish()
    }

    /// Parses the canonical text.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let mut reader = CanonicalReader::new(DOCUMENT, text.as_bytes(), TAG)?;
        let origin = reader.field("origin")?;
        let size_text = reader.field("tree-size")?;
        let tree_size = parse_decimal(size_text).ok_or_else(|| TrustError::InvalidField {
            document: DOCUMENT.to_owned(),
            field: "tree-size".to_owned(),
            value: size_text.to_owned(),
            reason: "is not a decimal without leading zeros".to_owned(),
        })?;
        let root = Hash::from_hex(reader.field("root")?, "timestamp root")?;
        let snapshot = Hash::from_hex(reader.field("snapshot")?, "timestamp snapshot")?;
        let issued = UtcTime::parse(reader.field("issued")?, "timestamp issued")?;
        let expires = UtcTime::parse(reader.field("expires")?, "timestamp expires")?;
        reader.finish()?;
        let checkpoint = Checkpoint::new(origin, tree_size, root)?;
        Self::new(&checkpoint, snapshot, issued, expires)
    }

    /// The signed note, signed by the timestamp key.
    pub fn sign(&self, key: &SigningKey) -> Result<String, TrustError> {
        let name = KeyRole::Timestamp.note_name(&self.origin);
        Ok(Note::sign(&self.to_text(), &[(&name, key)])?.to_text())
    }

    /// Parses a signed timestamp for `origin`, checks the timestamp key's signature, and
    /// checks it is in force at `now`.
    pub fn open(
        note: &[u8],
        key: &PublicKey,
        origin: &str,
        now: UtcTime,
    ) -> Result<Self, TrustError> {
        let note = Note::parse(note)?;
        let timestamp = Self::parse(note.text())?;
        if timestamp.origin != origin {
            return Err(TrustError::WrongOrigin {
                document: DOCUMENT.to_owned(),
                expected: origin.to_owned(),
                found: timestamp.origin,
            });
        }
        let signer = NoteKey::new(&KeyRole::Timestamp.note_name(origin), *key)?;
        note.verify(std::slice::from_ref(&signer), std::slice::from_ref(&signer))?;
        if timestamp.issued > now.plus_seconds(MAX_CLOCK_SKEW_SECONDS) {
            return Err(TrustError::IssuedInFuture {
                document: DOCUMENT.to_owned(),
                issued: timestamp.issued.to_string(),
                now: now.to_string(),
            });
        }
        if timestamp.expires <= now {
            return Err(TrustError::Expired {
                document: DOCUMENT.to_owned(),
                expired: timestamp.expires.to_string(),
                now: now.to_string(),
            });
        }
        Ok(timestamp)
    }

    /// Checks that this timestamp names exactly `checkpoint`.
    pub fn check_binds(&self, checkpoint: &Checkpoint) -> Result<(), TrustError> {
        if self.origin == checkpoint.origin()
            && self.tree_size == checkpoint.size()
            && self.root == *checkpoint.root()
        {
            Ok(())
        } else {
            Err(TrustError::TimestampMismatch {
                timestamp_size: self.tree_size,
                checkpoint_size: checkpoint.size(),
            })
        }
    }

    /// Checks this (new) timestamp against the one already `seen`: not issued earlier, not
    /// naming a smaller tree, and identical if issued at the same second.
    pub fn check_newer_than(&self, seen: &Self) -> Result<(), TrustError> {
        if self.issued < seen.issued || (self.issued == seen.issued && self != seen) {
            return Err(TrustError::TimestampReplay {
                issued: self.issued.to_string(),
                seen: seen.issued.to_string(),
            });
        }
        if self.tree_size < seen.tree_size {
            return Err(TrustError::Rollback {
                document: DOCUMENT.to_owned(),
                got: self.tree_size,
                seen: seen.tree_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    const ORIGIN: &str = "wharf.example.com";

    fn time(text: &str) -> UtcTime {
        UtcTime::parse(text, "t").unwrap()
    }

    fn timestamp(size: u64, issued: &str, expires: &str) -> Timestamp {
        let checkpoint = Checkpoint::new(ORIGIN, size, Hash::sha256(&size.to_be_bytes())).unwrap();
        Timestamp::new(
            &checkpoint,
            Hash::sha256(b"snapshot"),
            time(issued),
            time(expires),
        )
        .unwrap()
    }

    #[test]
    fn text_round_trips_and_is_canonical() {
        let ts = timestamp(950, "2026-08-20T10:00:00Z", "2026-08-21T10:00:00Z");
        let text = ts.to_text();
        assert!(
            text.starts_with(
                "wharf-timestamp-v1\norigin: wharf.example.com\ntree-size: 950\nroot: "
            )
        );
        assert_eq!(Timestamp::parse(&text).unwrap(), ts);
        assert!(Timestamp::parse(&text.replace("tree-size: 950", "tree-size: 0950")).is_err());
        assert!(
            Timestamp::parse(&text.replace("2026-08-21T10:00:00Z", "2026-08-19T10:00:00Z"))
                .is_err()
        );
    }

    #[test]
    fn open_checks_key_origin_and_time() {
        let ts = timestamp(950, "2026-08-20T10:00:00Z", "2026-08-21T10:00:00Z");
        let signed = ts.sign(&key(1)).unwrap();
        assert!(signed.contains("\n\u{2014} wharf.example.com/timestamp "));
        let now = time("2026-08-20T12:00:00Z");
        assert_eq!(
            Timestamp::open(signed.as_bytes(), &key(1).public_key(), ORIGIN, now).unwrap(),
            ts
        );
        assert!(Timestamp::open(signed.as_bytes(), &key(2).public_key(), ORIGIN, now).is_err());
        let error = Timestamp::open(
            signed.as_bytes(),
            &key(1).public_key(),
            "other.example",
            now,
        )
        .unwrap_err();
        assert!(matches!(error, TrustError::WrongOrigin { .. }));
    }

    #[test]
    fn expired_timestamp_is_refused() {
        let ts = timestamp(950, "2026-08-20T10:00:00Z", "2026-08-21T10:00:00Z");
        let signed = ts.sign(&key(1)).unwrap();
        let later = time("2026-08-21T10:00:00Z");
        let error =
            Timestamp::open(signed.as_bytes(), &key(1).public_key(), ORIGIN, later).unwrap_err();
        assert_eq!(
            error.to_string(),
            "expired: the timestamp expired at 2026-08-21T10:00:00Z and it is now 2026-08-21T10:00:00Z; the source is stale or frozen, try another mirror or wait for a fresh one"
        );
    }

    #[test]
    fn timestamp_from_the_future_is_refused() {
        let ts = timestamp(950, "2026-08-20T10:10:00Z", "2026-08-21T10:00:00Z");
        let signed = ts.sign(&key(1)).unwrap();
        let now = time("2026-08-20T10:00:00Z");
        let error =
            Timestamp::open(signed.as_bytes(), &key(1).public_key(), ORIGIN, now).unwrap_err();
        assert!(
            matches!(error, TrustError::IssuedInFuture { .. }),
            "{error}"
        );
        let close = time("2026-08-20T10:05:00Z");
        Timestamp::open(signed.as_bytes(), &key(1).public_key(), ORIGIN, close).unwrap();
    }

    #[test]
    fn replayed_older_timestamp_is_refused() {
        let seen = timestamp(950, "2026-08-20T12:00:00Z", "2026-08-21T12:00:00Z");
        let older = timestamp(950, "2026-08-20T11:00:00Z", "2026-08-21T11:00:00Z");
        let error = older.check_newer_than(&seen).unwrap_err().to_string();
        assert!(
            error.starts_with("replayed timestamp: issued 2026-08-20T11:00:00Z"),
            "{error}"
        );
        let rolled_back = timestamp(900, "2026-08-20T13:00:00Z", "2026-08-21T13:00:00Z");
        assert!(matches!(
            rolled_back.check_newer_than(&seen),
            Err(TrustError::Rollback { .. })
        ));
        let newer = timestamp(960, "2026-08-20T13:00:00Z", "2026-08-21T13:00:00Z");
        newer.check_newer_than(&seen).unwrap();
        seen.check_newer_than(&seen).unwrap();
        let same_second = timestamp(951, "2026-08-20T12:00:00Z", "2026-08-21T12:00:00Z");
        assert!(same_second.check_newer_than(&seen).is_err());
    }

    #[test]
    fn timestamp_must_name_the_verified_checkpoint() {
        let ts = timestamp(950, "2026-08-20T10:00:00Z", "2026-08-21T10:00:00Z");
        let same = Checkpoint::new(ORIGIN, 950, Hash::sha256(&950u64.to_be_bytes())).unwrap();
        ts.check_binds(&same).unwrap();
        let other_root = Checkpoint::new(ORIGIN, 950, Hash::sha256(b"fork")).unwrap();
        assert!(matches!(
            ts.check_binds(&other_root),
            Err(TrustError::TimestampMismatch { .. })
        ));
    }
}
