//! The keyset: the root key's signed list of the registry's online keys, and its rotation
//! chain.
//!
//! ```text
//! wharf-keyset-v1
//! origin: wharf.example.com
//! version: 2
//! expires: 2027-08-20T00:00:00Z
//! root: wharf-ed25519:…       (the root key of this version)
//! log: wharf-ed25519:…        (signs checkpoints)
//! timestamp: wharf-ed25519:…  (signs timestamps)
//! release: wharf-ed25519:…    (countersigns releases)
//! entitlement: wharf-ed25519:… (zero or more: sign licences and revocation lists)
//! ```
//!
//! The keyset travels as a signed note under the key name `<origin>/root`. Version 1 is
//! signed by its own root key. Version N+1 must be signed by the root key of version N
//! *and* by its own root key, and carry exactly version N+1, so a client that pinned one
//! root key walks the chain ([`verify_keyset_chain`]) and ends at the current keyset, whose
//! expiry bounds how long an old keyset can be replayed. The four keys must differ: each
//! role signs with its own key. When a new keyset changes the log or timestamp key, a
//! client drops the checkpoint and timestamp it kept from the old keys
//! ([`Keyset::changed_roles`]), which undoes a fast-forward made with a stolen key.
//!
//! The `entitlement` lines (none in a keyset written before they existed, which reads as
//! before) name the keys that sign licences and licence revocation lists, so a verifier
//! that pins only the root key can check a licence offline. They differ from the four role
//! keys and from each other, and are kept sorted.

use std::fmt;

use crate::encoding::{CanonicalReader, CanonicalWriter, check_value, parse_decimal};
use crate::note::{Note, NoteKey};
use crate::{PublicKey, SigningKey, TrustError, UtcTime};

const TAG: &str = "wharf-keyset-v1";
const DOCUMENT: &str = "keyset";
const ENTITLEMENT: &str = "entitlement";

/// The longest chain [`verify_keyset_chain`] walks.
pub const MAX_KEYSET_CHAIN: usize = 1024;

/// What a registry key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// Signs keysets (kept offline).
    Root,
    /// Signs checkpoints.
    Log,
    /// Signs timestamps.
    Timestamp,
    /// Countersigns release statements.
    Release,
}

impl KeyRole {
    /// Every role, in keyset order.
    pub const ALL: [Self; 4] = [Self::Root, Self::Log, Self::Timestamp, Self::Release];

    /// The field name in a keyset.
    pub fn field(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Log => "log",
            Self::Timestamp => "timestamp",
            Self::Release => "release",
        }
    }

    /// The signed-note key name for this role: the origin itself for the log key (as C2SP
    /// checkpoints want), `<origin>/<role>` for the others.
    pub fn note_name(self, origin: &str) -> String {
        match self {
            Self::Log => origin.to_owned(),
            _ => format!("{origin}/{}", self.field()),
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// One version of the keyset (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    origin: String,
    version: u64,
    expires: UtcTime,
    keys: [PublicKey; 4],
    entitlement: Vec<PublicKey>,
}

impl Keyset {
    /// A keyset; `keys` are the root, log, timestamp and release keys, all different.
    pub fn new(
        origin: &str,
        version: u64,
        expires: UtcTime,
        keys: [PublicKey; 4],
    ) -> Result<Self, TrustError> {
        check_value(DOCUMENT, "origin", origin)?;
        if version == 0 {
            return Err(chain_error(0, "versions start at 1"));
        }
        for (i, a) in keys.iter().enumerate() {
            if let Some(j) = keys[i + 1..].iter().position(|b| b == a) {
                return Err(chain_error(
                    version,
                    &format!(
                        "the {} and {} keys are the same key; each role needs its own",
                        KeyRole::ALL[i],
                        KeyRole::ALL[i + 1 + j]
                    ),
                ));
            }
        }
        Ok(Self {
            origin: origin.to_owned(),
            version,
            expires,
            keys,
            entitlement: Vec::new(),
        })
    }

    /// This keyset with `keys` as its entitlement keys (sorted, duplicates dropped); a key
    /// that holds one of the four roles is refused.
    pub fn with_entitlement_keys(mut self, keys: &[PublicKey]) -> Result<Self, TrustError> {
        let mut keys = keys.to_vec();
        keys.sort_by_key(PublicKey::to_text);
        keys.dedup();
        for key in &keys {
            if let Some(role) = KeyRole::ALL.into_iter().find(|&role| self.key(role) == key) {
                return Err(chain_error(
                    self.version,
                    &format!(
                        "the entitlement key {} is the {role} key; an entitlement key needs its own",
                        key.key_id().short()
                    ),
                ));
            }
        }
        self.entitlement = keys;
        Ok(self)
    }

    /// The keys that sign licences and revocation lists (sorted; empty when none).
    pub fn entitlement_keys(&self) -> &[PublicKey] {
        &self.entitlement
    }

    /// The registry origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The version (1, 2, …).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When this version stops being valid.
    pub fn expires(&self) -> UtcTime {
        self.expires
    }

    /// The key for `role`.
    pub fn key(&self, role: KeyRole) -> &PublicKey {
        &self.keys[role as usize]
    }

    /// The signed-note verifier for `role`.
    pub fn note_key(&self, role: KeyRole) -> NoteKey {
        NoteKey::new(&role.note_name(&self.origin), *self.key(role))
            .expect("a checked origin makes a valid key name")
    }

    /// The roles whose key differs in `newer`.
    pub fn changed_roles(&self, newer: &Self) -> Vec<KeyRole> {
        KeyRole::ALL
            .into_iter()
            .filter(|&role| self.key(role) != newer.key(role))
            .collect()
    }

    /// The canonical text (the note body).
    pub fn to_text(&self) -> String {
        let writer = KeyRole::ALL.into_iter().fold(
            CanonicalWriter::new(TAG)
                .field("origin", &self.origin)
                .field("version", self.version)
                .field("expires", self.expires),
            |writer, role| writer.field(role.field(), self.key(role)),
        );
        self.entitlement
            .iter()
            .fold(writer, |writer, key| writer.field(ENTITLEMENT, key))
            .finish()
    }

    /// Parses the canonical text.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let mut reader = CanonicalReader::new(DOCUMENT, text.as_bytes(), TAG)?;
        let origin = reader.field("origin")?;
        let version_text = reader.field("version")?;
        let version = parse_decimal(version_text).ok_or_else(|| TrustError::InvalidField {
            document: DOCUMENT.to_owned(),
            field: "version".to_owned(),
            value: version_text.to_owned(),
            reason: "is not a decimal without leading zeros".to_owned(),
        })?;
        let expires = UtcTime::parse(reader.field("expires")?, "keyset expires")?;
        let mut keys = Vec::with_capacity(4);
        for role in KeyRole::ALL {
            keys.push(PublicKey::parse(reader.field(role.field())?)?);
        }
        let entitlement = reader
            .repeated(ENTITLEMENT)?
            .into_iter()
            .map(PublicKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        reader.finish()?;
        let keys: [PublicKey; 4] = keys.try_into().expect("four roles read");
        let keyset = Self::new(origin, version, expires, keys)?;
        let sorted = keyset.clone().with_entitlement_keys(&entitlement)?;
        if sorted.entitlement != entitlement {
            return Err(TrustError::InvalidField {
                document: DOCUMENT.to_owned(),
                field: ENTITLEMENT.to_owned(),
                value: entitlement.len().to_string(),
                reason: "keys are not sorted or are repeated".to_owned(),
            });
        }
        Ok(sorted)
    }

    /// The signed note. Version 1 is signed by its own root key; a later version by the
    /// previous root key and its own (pass both).
    pub fn sign(&self, root_keys: &[&SigningKey]) -> Result<String, TrustError> {
        let name = KeyRole::Root.note_name(&self.origin);
        let signers: Vec<(&str, &SigningKey)> =
            root_keys.iter().map(|key| (name.as_str(), *key)).collect();
        Ok(Note::sign(&self.to_text(), &signers)?.to_text())
    }

    /// Opens the first keyset of a chain: it must name `pinned_root` as its root key and be
    /// signed by it.
    pub fn verify_first(
        note: &[u8],
        pinned_root: &PublicKey,
        origin: &str,
    ) -> Result<Self, TrustError> {
        let (note, keyset) = open(note, origin)?;
        if keyset.key(KeyRole::Root) != pinned_root {
            return Err(chain_error(
                keyset.version,
                &format!(
                    "its root key {} is not the pinned root key {}",
                    keyset.key(KeyRole::Root).key_id().short(),
                    pinned_root.key_id().short()
                ),
            ));
        }
        let root = keyset.note_key(KeyRole::Root);
        note.verify(std::slice::from_ref(&root), std::slice::from_ref(&root))?;
        Ok(keyset)
    }

    /// Opens the keyset that follows this one: version exactly one more, same origin,
    /// signed by this version's root key and by its own.
    pub fn verify_next(&self, note: &[u8]) -> Result<Self, TrustError> {
        let (note, next) = open(note, &self.origin)?;
        if next.version != self.version + 1 {
            return Err(chain_error(
                next.version,
                &format!(
                    "expected version {} to follow version {}",
                    self.version + 1,
                    self.version
                ),
            ));
        }
        let old_root = self.note_key(KeyRole::Root);
        let new_root = next.note_key(KeyRole::Root);
        let known = [old_root.clone(), new_root.clone()];
        note.verify(&known, &known)?;
        Ok(next)
    }

    /// Checks that this keyset has not expired at `now`.
    pub fn check_current(&self, now: UtcTime) -> Result<(), TrustError> {
        if self.expires <= now {
            return Err(TrustError::Expired {
                document: format!("keyset version {}", self.version),
                expired: self.expires.to_string(),
                now: now.to_string(),
            });
        }
        Ok(())
    }
}

fn chain_error(version: u64, reason: &str) -> TrustError {
    TrustError::KeysetChain {
        version,
        reason: reason.to_owned(),
    }
}

fn open(note: &[u8], origin: &str) -> Result<(Note, Keyset), TrustError> {
    let note = Note::parse(note)?;
    let keyset = Keyset::parse(note.text())?;
    if keyset.origin != origin {
        return Err(TrustError::WrongOrigin {
            document: DOCUMENT.to_owned(),
            expected: origin.to_owned(),
            found: keyset.origin,
        });
    }
    Ok((note, keyset))
}

/// Walks a keyset chain from a pinned root key: the first note must be the keyset whose root
/// is `pinned_root`, each next one its successor, and the last one must be in force at
/// `now`. Returns the last keyset.
pub fn verify_keyset_chain(
    pinned_root: &PublicKey,
    origin: &str,
    notes: &[&[u8]],
    now: UtcTime,
) -> Result<Keyset, TrustError> {
    let Some((first, rest)) = notes.split_first() else {
        return Err(chain_error(0, "the chain is empty"));
    };
    if notes.len() > MAX_KEYSET_CHAIN {
        return Err(chain_error(
            0,
            &format!(
                "the chain has {} keysets, over the {MAX_KEYSET_CHAIN} limit",
                notes.len()
            ),
        ));
    }
    let mut current = Keyset::verify_first(first, pinned_root, origin)?;
    for note in rest {
        current = current.verify_next(note)?;
    }
    current.check_current(now)?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    const ORIGIN: &str = "wharf.example.com";

    fn time(text: &str) -> UtcTime {
        UtcTime::parse(text, "t").unwrap()
    }

    /// Keyset `version` uses root key seed `10 + version`; online keys 1, 2, 3.
    fn keyset(version: u64, online: [u8; 3]) -> Keyset {
        let root = key(10 + u8::try_from(version).unwrap()).public_key();
        let [log, ts, release] = online.map(|seed| key(seed).public_key());
        Keyset::new(
            ORIGIN,
            version,
            time("2027-01-01T00:00:00Z"),
            [root, log, ts, release],
        )
        .unwrap()
    }

    fn root_key(version: u64) -> SigningKey {
        key(10 + u8::try_from(version).unwrap())
    }

    fn signed_chain(length: u64) -> Vec<String> {
        let mut notes = vec![keyset(1, [1, 2, 3]).sign(&[&root_key(1)]).unwrap()];
        for version in 2..=length {
            notes.push(
                keyset(version, [1, 100 + u8::try_from(version).unwrap(), 3])
                    .sign(&[&root_key(version - 1), &root_key(version)])
                    .unwrap(),
            );
        }
        notes
    }

    fn walk(notes: &[String], now: &str) -> Result<Keyset, TrustError> {
        let refs: Vec<&[u8]> = notes.iter().map(String::as_bytes).collect();
        verify_keyset_chain(&root_key(1).public_key(), ORIGIN, &refs, time(now))
    }

    #[test]
    fn text_round_trips() {
        let ks = keyset(1, [1, 2, 3]);
        let text = ks.to_text();
        assert!(text.starts_with("wharf-keyset-v1\norigin: wharf.example.com\nversion: 1\nexpires: 2027-01-01T00:00:00Z\nroot: wharf-ed25519:"));
        assert_eq!(Keyset::parse(&text).unwrap(), ks);
    }

    #[test]
    fn a_key_may_hold_one_role_only() {
        let k = key(1).public_key();
        let error = Keyset::new(
            ORIGIN,
            1,
            time("2027-01-01T00:00:00Z"),
            [k, key(2).public_key(), k, key(3).public_key()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("root and timestamp keys are the same key"),
            "{error}"
        );
    }

    #[test]
    fn chain_walks_from_the_pinned_root_to_the_current_keyset() {
        let notes = signed_chain(4);
        let current = walk(&notes, "2026-06-01T00:00:00Z").unwrap();
        assert_eq!(current.version(), 4);
        assert_eq!(current.key(KeyRole::Root), &root_key(4).public_key());
        let first = Keyset::parse(Note::parse(notes[0].as_bytes()).unwrap().text()).unwrap();
        assert_eq!(
            first.changed_roles(&current),
            [KeyRole::Root, KeyRole::Timestamp]
        );
    }

    #[test]
    fn rotation_signed_only_by_the_new_root_is_refused() {
        let mut notes = signed_chain(2);
        notes[1] = keyset(2, [1, 2, 3]).sign(&[&root_key(2)]).unwrap();
        let error = walk(&notes, "2026-06-01T00:00:00Z").unwrap_err();
        assert!(
            matches!(error, TrustError::MissingSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn rotation_signed_only_by_the_old_root_is_refused() {
        let mut notes = signed_chain(2);
        notes[1] = keyset(2, [1, 2, 3]).sign(&[&root_key(1)]).unwrap();
        assert!(matches!(
            walk(&notes, "2026-06-01T00:00:00Z"),
            Err(TrustError::MissingSignature { .. })
        ));
    }

    #[test]
    fn skipped_or_repeated_versions_are_refused() {
        let notes = signed_chain(3);
        let skipping = vec![notes[0].clone(), notes[2].clone()];
        let error = walk(&skipping, "2026-06-01T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected version 2"), "{error}");
        let repeated = vec![notes[0].clone(), notes[0].clone()];
        assert!(walk(&repeated, "2026-06-01T00:00:00Z").is_err());
    }

    #[test]
    fn first_keyset_must_hold_the_pinned_root() {
        let notes = signed_chain(2);
        let error = walk(&notes[1..], "2026-06-01T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not the pinned root key"), "{error}");
    }

    #[test]
    fn expired_current_keyset_is_refused() {
        let notes = signed_chain(2);
        let error = walk(&notes, "2027-01-01T00:00:00Z").unwrap_err();
        assert!(matches!(error, TrustError::Expired { .. }), "{error}");
    }

    #[test]
    fn keyset_of_another_registry_is_refused() {
        let other = Keyset::new(
            "other.example",
            1,
            time("2027-01-01T00:00:00Z"),
            keyset(1, [1, 2, 3]).keys,
        )
        .unwrap();
        let note = other.sign(&[&root_key(1)]).unwrap();
        let error =
            Keyset::verify_first(note.as_bytes(), &root_key(1).public_key(), ORIGIN).unwrap_err();
        assert!(matches!(error, TrustError::WrongOrigin { .. }));
    }

    #[test]
    fn entitlement_keys_are_signed_in_and_an_old_keyset_reads_without_them() {
        let old = keyset(1, [1, 2, 3]);
        let old_text = old.to_text();
        assert!(!old_text.contains("entitlement"));
        assert!(
            Keyset::parse(&old_text)
                .unwrap()
                .entitlement_keys()
                .is_empty()
        );
        let with = old
            .clone()
            .with_entitlement_keys(&[
                key(40).public_key(),
                key(41).public_key(),
                key(40).public_key(),
            ])
            .unwrap();
        assert_eq!(with.entitlement_keys().len(), 2);
        let text = with.to_text();
        assert_eq!(text.matches("\nentitlement: wharf-ed25519:").count(), 2);
        assert_eq!(Keyset::parse(&text).unwrap(), with);
        let note = with.sign(&[&root_key(1)]).unwrap();
        let walked = verify_keyset_chain(
            &root_key(1).public_key(),
            ORIGIN,
            &[note.as_bytes()],
            time("2026-06-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(walked.entitlement_keys(), with.entitlement_keys());
    }

    #[test]
    fn an_entitlement_key_may_not_hold_a_role_nor_come_unsorted() {
        let ks = keyset(1, [1, 2, 3]);
        let error = ks
            .clone()
            .with_entitlement_keys(&[key(2).public_key()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("is the timestamp key"), "{error}");
        let mut keys = [key(40).public_key(), key(41).public_key()];
        keys.sort_by_key(PublicKey::to_text);
        let text = ks.to_text() + &format!("entitlement: {}\nentitlement: {}\n", keys[1], keys[0]);
        let error = Keyset::parse(&text).unwrap_err().to_string();
        assert!(error.contains("not sorted"), "{error}");
    }

    #[test]
    fn note_names_per_role() {
        assert_eq!(KeyRole::Log.note_name(ORIGIN), ORIGIN);
        assert_eq!(
            KeyRole::Timestamp.note_name(ORIGIN),
            "wharf.example.com/timestamp"
        );
        assert_eq!(KeyRole::Root.note_name(ORIGIN), "wharf.example.com/root");
    }
}
