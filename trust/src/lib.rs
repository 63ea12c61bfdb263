//! Wharf's trust primitives, as pure data and crypto: no I/O, no async.
//!
//! They let a client that pinned one root key detect a compromised registry, CDN or mirror
//! (a changed dependency line, a rollback, a freeze, a split view). The scheme is described
//! in `docs/trust.md`; each module documents its exact bytes.
//!
//! - [`keys`]: [`PublicKey`] (weak and non-canonical keys refused), [`SigningKey`]
//!   (zeroized), [`KeyId`], [`Signature`]; [`keyfile`]: private key files, optionally
//!   passphrase-encrypted.
//! - [`statement`]: the canonical publisher [`Statement`]s (release, yank, unyank, owner
//!   key add/revoke) and their domain-separated signatures.
//! - [`event`]: [`LogEvent`], the exact bytes of one leaf of the log.
//! - [`note`]: C2SP signed notes; [`checkpoint`]: the log's signed [`Checkpoint`]s.
//! - [`merkle`]: the RFC 6962 tree over a [`merkle::HashStore`], inclusion and consistency
//!   proofs.
//! - [`snapshot`]: index-file hashes in 256 bins; [`timestamp`]: the expiring
//!   [`Timestamp`] binding a checkpoint to a snapshot.
//! - [`keyset`]: the root-signed [`Keyset`] of online keys and its rotation chain;
//!   [`owners`]: a package's publisher keys over time and the signature threshold;
//!   [`registration`]: the self-signed [`KeyRegistration`] binding a key to an account.
//! - [`licence`]: signed [`Licence`]s for premium packages and their checks;
//!   [`licence_revocation`]: the signed [`RevocationList`].
//! - [`TrustError`]: the one error type.
//!
//! ```
//! use wharf_trust::{Checkpoint, MemoryHashStore, NoteKey, SigningKey, merkle};
//!
//! let log_key = SigningKey::from_seed(&[7; 32]);
//! let mut log = MemoryHashStore::new();
//! for event in ["first event", "second event", "third event"] {
//!     log.push(event.as_bytes());
//! }
//! let signed = Checkpoint::new("wharf.example.com", log.size(), log.root())?.sign(&log_key)?;
//!
//! // A client that knows the log key checks that the second event is in the log.
//! let verifier = NoteKey::new("wharf.example.com", log_key.public_key())?;
//! let checkpoint = Checkpoint::open(signed.as_bytes(), &verifier)?;
//! let proof = merkle::proof::prove_inclusion(&log, 1, checkpoint.size())?;
//! checkpoint.verify_inclusion(b"second event", &proof)?;
//! # Ok::<(), wharf_trust::TrustError>(())
//! ```

mod encoding;
mod error;

pub mod bundle;
pub mod checkpoint;
pub mod event;
pub mod keyfile;
pub mod keys;
pub mod keyset;
pub mod licence;
pub mod licence_revocation;
pub mod lifecycle;
pub mod merkle;
pub mod note;
pub mod owners;
pub mod registration;
pub mod snapshot;
pub mod statement;
pub mod timestamp;

pub use checkpoint::Checkpoint;
pub use encoding::{Hash, UtcTime};
pub use error::TrustError;
pub use event::LogEvent;
pub use keyfile::{KdfParams, KeyFileProtection, key_file_is_encrypted, key_file_public_key};
pub use keys::{KeyId, PublicKey, Signature, SigningKey};
pub use keyset::{KeyRole, Keyset, verify_keyset_chain};
pub use licence::{Licence, LicenceRefusal, LicenceRequest, LicenceTerms};
pub use licence_revocation::{RevocationList, RevocationTerms};
pub use lifecycle::{Advisory, Deprecation, LifecycleFeed, LifecycleTerms, Quarantine, Severity};
pub use merkle::{ConsistencyProof, HashStore, InclusionProof, MemoryHashStore};
pub use note::{Note, NoteKey};
pub use owners::{OwnerKeys, PublisherKey};
pub use registration::KeyRegistration;
pub use snapshot::Snapshot;
pub use statement::{Statement, StatementBody, StatementKind, StatementSignature};
pub use timestamp::Timestamp;
