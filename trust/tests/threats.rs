//! The threats this layer stops, each as a test named after it, through the public API only:
//! a registry side (keys, log, snapshot, signed documents) and the checks a client makes
//! against one pinned root key.

use wharf_trust::merkle::proof::{prove_consistency, prove_inclusion};
use wharf_trust::snapshot::{bin_of, open_bin_list, verify_file};
use wharf_trust::{
    Checkpoint, ConsistencyProof, Hash, KeyRole, Keyset, LogEvent, MemoryHashStore, Note, NoteKey,
    OwnerKeys, PublicKey, Signature, SigningKey, Snapshot, Statement, StatementBody, Timestamp,
    TrustError, UtcTime, verify_keyset_chain,
};

const ORIGIN: &str = "wharf.example.com";

fn time(text: &str) -> UtcTime {
    UtcTime::parse(text, "test time").unwrap()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

/// The registry's side: its keys, its log and its signed documents.
struct Registry {
    root: SigningKey,
    log_key: SigningKey,
    timestamp_key: SigningKey,
    release_key: SigningKey,
    log: MemoryHashStore,
    events: Vec<Vec<u8>>,
}

impl Registry {
    fn new() -> Self {
        Self {
            root: key(1),
            log_key: key(2),
            timestamp_key: key(3),
            release_key: key(4),
            log: MemoryHashStore::new(),
            events: Vec::new(),
        }
    }

    fn keyset_note(&self) -> String {
        let keys = [
            &self.root,
            &self.log_key,
            &self.timestamp_key,
            &self.release_key,
        ]
        .map(SigningKey::public_key);
        Keyset::new(ORIGIN, 1, time("2027-01-01T00:00:00Z"), keys)
            .unwrap()
            .sign(&[&self.root])
            .unwrap()
    }

    /// Logs a release of `name` `version` signed by `publisher`; returns the leaf index.
    fn release(&mut self, name: &str, version: &str, publisher: &SigningKey, logged: &str) -> u64 {
        let statement = release_statement(name, version, b"line");
        let signatures = vec![statement.sign(publisher)];
        let event = LogEvent::new(statement, time(logged), signatures).unwrap();
        self.events.push(event.to_bytes());
        self.log.push(&event.to_bytes())
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new(ORIGIN, self.log.size(), self.log.root()).unwrap()
    }

    fn timestamp(&self, snapshot: &Snapshot, issued: &str, expires: &str) -> String {
        Timestamp::new(
            &self.checkpoint(),
            snapshot.hash(),
            time(issued),
            time(expires),
        )
        .unwrap()
        .sign(&self.timestamp_key)
        .unwrap()
    }
}

fn release_statement(name: &str, version: &str, index_line: &[u8]) -> Statement {
    Statement::new(
        ORIGIN,
        name,
        StatementBody::Release {
            version: version.to_owned(),
            cksum: Hash::sha256(b"crate bytes"),
            entry: Hash::sha256(index_line),
        },
        time("2026-08-20T10:00:00Z"),
    )
    .unwrap()
}

/// The client's view: the keyset reached from the pinned root.
fn client_keyset(registry: &Registry) -> Keyset {
    let note = registry.keyset_note();
    verify_keyset_chain(
        &registry.root.public_key(),
        ORIGIN,
        &[note.as_bytes()],
        time("2026-08-20T12:00:00Z"),
    )
    .unwrap()
}

#[test]
fn threat_malleable_signature_is_refused() {
    // S + L: the same signature with a non-canonical scalar verifies under lax rules.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let publisher = key(10);
    let statement = release_statement("demo", "1.0.0", b"line");
    let mut signature = statement.sign(&publisher);
    statement
        .verify(&signature, &publisher.public_key())
        .unwrap();
    let mut carry = 0u16;
    for (s, l) in signature.signature.0[32..].iter_mut().zip(L) {
        let [low, high] = (u16::from(*s) + u16::from(l) + carry).to_le_bytes();
        *s = low;
        carry = u16::from(high);
    }
    let error = statement
        .verify(&signature, &publisher.public_key())
        .unwrap_err();
    assert!(matches!(error, TrustError::BadSignature { .. }), "{error}");
}

#[test]
fn threat_non_canonical_signature_encoding_is_refused() {
    let note = Note::sign(
        "wharf.example.com\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        &[(ORIGIN, &key(2))],
    )
    .unwrap();
    let text = note.to_text();
    // Drop the padding of the base64 signature: same bytes, non-canonical text.
    let unpadded = text.trim_end().trim_end_matches('=').to_owned() + "\n";
    assert!(Note::parse(unpadded.as_bytes()).is_err());
    assert!(Signature::from_base64("AA==", "signature").is_err());
}

#[test]
fn threat_non_canonical_statement_is_refused() {
    let text = release_statement("demo", "1.0.0", b"line").to_text();
    for variant in [
        text.replace('\n', "\r\n"),
        text.replace("name: demo", "name:  demo"),
        text.replace("name: demo\n", "name: demo\nname: demo\n"),
    ] {
        assert!(
            matches!(
                Statement::parse(variant.as_bytes()),
                Err(TrustError::NonCanonical { .. })
            ),
            "{variant}"
        );
    }
}

#[test]
fn threat_weak_key_registration_is_refused() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let error = PublicKey::from_bytes(&identity).unwrap_err();
    assert!(matches!(error, TrustError::WeakKey { .. }));
    let text = format!(
        "wharf-ed25519:{}",
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    );
    assert!(matches!(
        PublicKey::parse(&text),
        Err(TrustError::WeakKey { .. })
    ));
}

#[test]
fn threat_duplicate_signatures_counted_once() {
    let mut owners = OwnerKeys::new("demo", 2);
    owners
        .add(key(10).public_key(), time("2026-01-01T00:00:00Z"))
        .unwrap();
    owners
        .add(key(11).public_key(), time("2026-01-01T00:00:00Z"))
        .unwrap();
    let statement = release_statement("demo", "1.0.0", b"line");
    let twice = [statement.sign(&key(10)), statement.sign(&key(10))];
    let error = owners
        .verify(&statement, &twice, time("2026-08-20T10:00:00Z"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            TrustError::ThresholdNotMet {
                valid: 1,
                threshold: 2,
                ..
            }
        ),
        "{error}"
    );
    // A log event cannot even carry them.
    assert!(matches!(
        LogEvent::new(statement, time("2026-08-20T10:00:00Z"), twice.to_vec()),
        Err(TrustError::DuplicateSignature { .. })
    ));
}

#[test]
fn threat_stolen_online_key_cannot_forge_a_release() {
    let registry = Registry::new();
    let mut owners = OwnerKeys::new("demo", 1);
    owners
        .add(key(10).public_key(), time("2026-01-01T00:00:00Z"))
        .unwrap();
    let forged = release_statement("demo", "9.9.9", b"evil line");
    let signatures = [
        forged.sign(&registry.release_key),
        forged.sign(&registry.log_key),
    ];
    let error = owners
        .verify(&forged, &signatures, time("2026-08-20T10:00:00Z"))
        .unwrap_err();
    assert!(
        matches!(error, TrustError::ThresholdNotMet { valid: 0, .. }),
        "{error}"
    );
}

#[test]
fn threat_compromised_publisher_key_after_compromised_since() {
    let mut owners = OwnerKeys::new("demo", 1);
    owners
        .add(key(10).public_key(), time("2026-01-01T00:00:00Z"))
        .unwrap();
    owners
        .revoke(
            &key(10).public_key(),
            time("2026-08-01T00:00:00Z"),
            Some(time("2026-07-01T00:00:00Z")),
        )
        .unwrap();
    let statement = release_statement("demo", "1.0.0", b"line");
    let signature = [statement.sign(&key(10))];
    owners
        .verify(&statement, &signature, time("2026-06-30T23:59:59Z"))
        .unwrap();
    assert!(
        owners
            .verify(&statement, &signature, time("2026-07-15T00:00:00Z"))
            .is_err()
    );
}

#[test]
fn threat_cross_registry_replay_is_refused() {
    let registry = Registry::new();
    let other = Checkpoint::new("other.example", 0, wharf_trust::merkle::empty_root()).unwrap();
    let note = other.sign(&registry.log_key).unwrap();
    let keyset = client_keyset(&registry);
    let error = Checkpoint::open(note.as_bytes(), &keyset.note_key(KeyRole::Log)).unwrap_err();
    assert!(matches!(error, TrustError::WrongOrigin { .. }), "{error}");
}

#[test]
fn threat_forked_checkpoint_of_equal_size() {
    let mut honest = Registry::new();
    let mut fork = Registry::new();
    honest.release("demo", "1.0.0", &key(10), "2026-08-20T10:00:01Z");
    fork.release("demo", "1.0.0", &key(11), "2026-08-20T10:00:01Z");
    let keyset = client_keyset(&honest);
    let log = keyset.note_key(KeyRole::Log);
    // Both are validly signed by the log key: only the comparison catches the split view.
    let seen = Checkpoint::open(
        honest
            .checkpoint()
            .sign(&honest.log_key)
            .unwrap()
            .as_bytes(),
        &log,
    )
    .unwrap();
    let served = Checkpoint::open(
        fork.checkpoint().sign(&fork.log_key).unwrap().as_bytes(),
        &log,
    )
    .unwrap();
    let error = served
        .check_extends(&seen, &ConsistencyProof::new(Vec::new()))
        .unwrap_err();
    assert!(matches!(error, TrustError::Fork { size: 1, .. }), "{error}");
}

#[test]
fn threat_rewritten_leaf_breaks_consistency() {
    let mut registry = Registry::new();
    for i in 0..20 {
        registry.release(
            "demo",
            &format!("1.0.{i}"),
            &key(10),
            "2026-08-20T10:00:01Z",
        );
    }
    let seen = registry.checkpoint();
    // The registry rebuilds its log with leaf 7 replaced, then grows it.
    let mut rewritten = MemoryHashStore::new();
    for (i, event) in registry.events.iter().enumerate() {
        let bytes = if i == 7 {
            String::from_utf8(event.clone())
                .unwrap()
                .replace("1.0.7", "1.0.77")
                .into_bytes()
        } else {
            event.clone()
        };
        rewritten.push(&bytes);
    }
    rewritten.push(b"one more event");
    let served = Checkpoint::new(ORIGIN, rewritten.size(), rewritten.root()).unwrap();
    let proof = prove_consistency(&rewritten, seen.size(), served.size()).unwrap();
    let error = served.check_extends(&seen, &proof).unwrap_err();
    assert!(
        matches!(
            error,
            TrustError::ConsistencyFailed {
                old_size: 20,
                new_size: 21,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn threat_rollback_of_checkpoint_size() {
    let mut registry = Registry::new();
    registry.release("demo", "1.0.0", &key(10), "2026-08-20T10:00:01Z");
    let old = registry.checkpoint();
    registry.release("demo", "1.0.1", &key(10), "2026-08-20T10:00:02Z");
    let seen = registry.checkpoint();
    let error = old
        .check_extends(&seen, &ConsistencyProof::new(Vec::new()))
        .unwrap_err();
    assert_eq!(
        error,
        TrustError::Rollback {
            document: "checkpoint".into(),
            got: 1,
            seen: 2
        }
    );
}

#[test]
fn threat_expired_timestamp_freeze() {
    let registry = Registry::new();
    let note = registry.timestamp(
        &Snapshot::new(),
        "2026-08-19T10:00:00Z",
        "2026-08-20T10:00:00Z",
    );
    let keyset = client_keyset(&registry);
    let error = Timestamp::open(
        note.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        ORIGIN,
        time("2026-08-20T12:00:00Z"),
    )
    .unwrap_err();
    assert!(matches!(error, TrustError::Expired { .. }), "{error}");
}

#[test]
fn threat_replayed_timestamp() {
    let mut registry = Registry::new();
    let keyset = client_keyset(&registry);
    let now = time("2026-08-20T12:00:00Z");
    let old_note = registry.timestamp(
        &Snapshot::new(),
        "2026-08-20T10:00:00Z",
        "2026-08-21T10:00:00Z",
    );
    registry.release("demo", "1.0.0", &key(10), "2026-08-20T11:00:00Z");
    let new_note = registry.timestamp(
        &Snapshot::new(),
        "2026-08-20T11:00:00Z",
        "2026-08-21T11:00:00Z",
    );
    let seen = Timestamp::open(
        new_note.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        ORIGIN,
        now,
    )
    .unwrap();
    // The old one is still unexpired and validly signed: only the comparison catches it.
    let replayed = Timestamp::open(
        old_note.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        ORIGIN,
        now,
    )
    .unwrap();
    let error = replayed.check_newer_than(&seen).unwrap_err();
    assert!(
        matches!(error, TrustError::TimestampReplay { .. }),
        "{error}"
    );
}

#[test]
fn threat_mix_and_match_of_checkpoint_and_timestamp() {
    let mut registry = Registry::new();
    let keyset = client_keyset(&registry);
    let stale = registry.timestamp(
        &Snapshot::new(),
        "2026-08-20T10:00:00Z",
        "2026-08-21T10:00:00Z",
    );
    registry.release("demo", "1.0.0", &key(10), "2026-08-20T11:00:00Z");
    let timestamp = Timestamp::open(
        stale.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        ORIGIN,
        time("2026-08-20T12:00:00Z"),
    )
    .unwrap();
    assert!(matches!(
        timestamp.check_binds(&registry.checkpoint()),
        Err(TrustError::TimestampMismatch { .. })
    ));
}

#[test]
fn threat_hidden_yank_or_injected_dependency_in_a_served_index_file() {
    let registry = Registry::new();
    let path = "de/mo/demo";
    let published =
        br#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":true}"#;
    let snapshot = Snapshot::from_files([(path, Hash::sha256(published))]).unwrap();
    let keyset = client_keyset(&registry);
    let note = registry.timestamp(&snapshot, "2026-08-20T10:00:00Z", "2026-08-21T10:00:00Z");
    let timestamp = Timestamp::open(
        note.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        ORIGIN,
        time("2026-08-20T12:00:00Z"),
    )
    .unwrap();
    let bins = open_bin_list(&snapshot.bin_list(), timestamp.snapshot()).unwrap();
    let bin = snapshot.bin_text(bin_of(path));
    verify_file(path, &Hash::sha256(published), &bin, &bins).unwrap();
    let unyanked = String::from_utf8(published.to_vec())
        .unwrap()
        .replace("\"yanked\":true", "\"yanked\":false");
    assert!(matches!(
        verify_file(path, &Hash::sha256(unyanked.as_bytes()), &bin, &bins),
        Err(TrustError::HashMismatch { .. })
    ));
    // The release statement's entry hash catches a changed line on its own as well.
    let statement = release_statement("demo", "1.0.0", published);
    let injected = String::from_utf8(published.to_vec())
        .unwrap()
        .replace("\"deps\":[]", "\"deps\":[{\"name\":\"evil\"}]");
    let StatementBody::Release { entry, .. } = statement.body() else {
        unreachable!()
    };
    assert_ne!(*entry, Hash::sha256(injected.as_bytes()));
}

#[test]
fn threat_fabricated_event_has_no_inclusion_proof() {
    let mut registry = Registry::new();
    let leaf = registry.release("demo", "1.0.0", &key(10), "2026-08-20T10:00:01Z");
    registry.release("demo", "1.0.1", &key(10), "2026-08-20T10:00:02Z");
    let checkpoint = registry.checkpoint();
    let proof = prove_inclusion(&registry.log, leaf, checkpoint.size()).unwrap();
    checkpoint
        .verify_inclusion(&registry.events[0], &proof)
        .unwrap();
    let fabricated = String::from_utf8(registry.events[0].clone())
        .unwrap()
        .replace("1.0.0", "1.0.5");
    assert!(matches!(
        checkpoint.verify_inclusion(fabricated.as_bytes(), &proof),
        Err(TrustError::InclusionFailed { .. })
    ));
}

#[test]
fn threat_fast_forward_with_a_stolen_timestamp_key_is_undone_by_rotation() {
    let registry = Registry::new();
    let first = client_keyset(&registry);
    // The root rotates the stolen timestamp key out; the client sees the role changed and
    // drops the timestamp it kept (which the thief may have pushed far ahead).
    let new_timestamp = key(30).public_key();
    let keys = [&registry.root, &registry.log_key].map(SigningKey::public_key);
    let next = Keyset::new(
        ORIGIN,
        2,
        time("2027-06-01T00:00:00Z"),
        [
            keys[0],
            keys[1],
            new_timestamp,
            registry.release_key.public_key(),
        ],
    )
    .unwrap();
    let note = next.sign(&[&registry.root]).unwrap();
    let current = first.verify_next(note.as_bytes()).unwrap();
    assert_eq!(first.changed_roles(&current), [KeyRole::Timestamp]);
    assert_eq!(
        current.note_key(KeyRole::Timestamp),
        NoteKey::new("wharf.example.com/timestamp", new_timestamp).unwrap()
    );
}
