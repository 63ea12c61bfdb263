//! The one error type of `wharf-trust`. Every variant names the input at fault (the
//! document, field, key id, size or path) and reads as one line a person can act on.

/// Everything that can fail in Wharf's trust primitives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A value is not in its required encoding (base64, hex, time, key text).
    #[error("invalid {what} `{value}`: {reason}")]
    BadEncoding {
        /// What the value is, e.g. `public key`, `checkpoint root hash`.
        what: String,
        /// The value (shortened).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field value is not acceptable.
    #[error("invalid {document}: field `{field}` = `{value}` {reason}")]
    InvalidField {
        /// The kind of document, e.g. `wharf-release-v1`.
        document: String,
        /// The field.
        field: String,
        /// The value (shortened).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A canonical document is not in its one canonical form.
    #[error("non-canonical {document}: {}", at_line(*.line, .reason))]
    NonCanonical {
        /// The kind of document, e.g. `statement`.
        document: String,
        /// The 1-based line at fault, 0 for the document as a whole.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A public key is refused: weak, malformed or non-canonical.
    #[error("refused public key {key}: it {reason}; use a key from a proper ed25519 key generator")]
    WeakKey {
        /// The key bytes in base64.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A private key file cannot be read or written.
    #[error("key file: {reason}")]
    KeyFile {
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The passphrase does not decrypt an encrypted key file.
    #[error(
        "the passphrase does not open the key file of key {key_id} (or the file was altered): check the passphrase"
    )]
    WrongPassphrase {
        /// The short id of the key the file names.
        key_id: String,
    },
    /// A signature by a known key does not verify.
    #[error(
        "the signature by key {key_id} on the {document} does not verify: the document was altered or signed by another key; refuse it"
    )]
    BadSignature {
        /// The document, e.g. `release statement for demo 1.0.0`.
        document: String,
        /// The key (short id, or note key name and hash).
        key_id: String,
    },
    /// A required signature is missing.
    #[error("the {document} is not signed by {key}; refuse it")]
    MissingSignature {
        /// The document.
        document: String,
        /// The key that should have signed.
        key: String,
    },
    /// Two signatures by the same key where one is allowed.
    #[error("the {document} carries two signatures by key {key_id}; keep one")]
    DuplicateSignature {
        /// The document.
        document: String,
        /// The key's short id.
        key_id: String,
    },
    /// Fewer distinct valid owner keys signed than the package requires.
    #[error(
        "the {document} has {valid} valid signatures by current owner keys of {package}, {threshold} needed{detail}; refuse it"
    )]
    ThresholdNotMet {
        /// The document.
        document: String,
        /// How many distinct valid keys signed.
        valid: usize,
        /// How many are needed.
        threshold: usize,
        /// The package.
        package: String,
        /// Keys that signed but were not valid at the time, with the reason.
        detail: String,
    },
    /// A statement about another package than the one checked.
    #[error("the statement is about package {found}, not {expected}; refuse it")]
    WrongPackage {
        /// The package checked.
        expected: String,
        /// The package the statement names.
        found: String,
    },
    /// A key is added to a package twice.
    #[error(
        "key {key_id} was already added to {package} (a revoked key never comes back); use a new key"
    )]
    KeyAlreadyAdded {
        /// The package.
        package: String,
        /// The key's short id.
        key_id: String,
    },
    /// A key to revoke is not a current owner key.
    #[error("key {key_id} is not a current owner key of {package}; nothing to revoke")]
    UnknownKey {
        /// The package.
        package: String,
        /// The key's short id.
        key_id: String,
    },
    /// A signed note is malformed.
    #[error("malformed signed note: {reason}")]
    MalformedNote {
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint body is malformed.
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint {
        /// What is wrong.
        reason: String,
    },
    /// A proof's text is malformed.
    #[error("malformed proof: {reason}")]
    MalformedProof {
        /// What is wrong.
        reason: String,
    },
    /// A snapshot bin or bin list is malformed.
    #[error("malformed snapshot: {reason}")]
    MalformedSnapshot {
        /// What is wrong.
        reason: String,
    },
    /// A tree size over [`crate::merkle::MAX_TREE_SIZE`].
    #[error("a log of {size} leaves is over the supported size of 2^62")]
    TreeTooLarge {
        /// The size.
        size: u64,
    },
    /// The hash store lacks a node a proof or root needs.
    #[error(
        "the log's hash store has no node at level {level}, index {index}: it does not hold the tree size asked for"
    )]
    MissingNode {
        /// The node's level.
        level: u8,
        /// The node's index in its level.
        index: u64,
    },
    /// A proof that cannot exist was asked for.
    #[error("no such proof: {reason}")]
    ProofRequest {
        /// Which sizes or index were asked for.
        reason: String,
    },
    /// An inclusion proof does not prove the leaf.
    #[error(
        "leaf {index} is not proved to be in the log of {size} leaves ({reason}): the entry or the proof was altered; refuse it"
    )]
    InclusionFailed {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
        /// What the verifier found.
        reason: String,
    },
    /// A consistency proof does not prove the new tree extends the old one.
    #[error(
        "the log of {new_size} leaves is not an extension of the {old_size} already seen ({reason}): its history was rewritten; keep the old state and report the source"
    )]
    ConsistencyFailed {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
        /// What the verifier found.
        reason: String,
    },
    /// A document is for another registry or log.
    #[error("the {document} is for {found}, not {expected}; refuse it")]
    WrongOrigin {
        /// The document.
        document: String,
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// A document older than one already seen.
    #[error(
        "rollback: {document} {got} is older than the {seen} already seen; keep the newer state and report the source that served it"
    )]
    Rollback {
        /// The document (`checkpoint`, `timestamp`).
        document: String,
        /// The size served.
        got: u64,
        /// The size already seen.
        seen: u64,
    },
    /// Two checkpoints of the same size with different roots.
    #[error(
        "split view: two checkpoints of size {size} have different roots ({seen_root} seen before, {got_root} now); keep both as evidence and report the registry"
    )]
    Fork {
        /// The tree size.
        size: u64,
        /// The root seen before (base64).
        seen_root: String,
        /// The root served now (base64).
        got_root: String,
    },
    /// A document past its expiry.
    #[error(
        "expired: the {document} expired at {expired} and it is now {now}; the source is stale or frozen, try another mirror or wait for a fresh one"
    )]
    Expired {
        /// The document.
        document: String,
        /// When it expired.
        expired: String,
        /// The time of the check.
        now: String,
    },
    /// A document issued after the current time.
    #[error(
        "the {document} was issued at {issued}, after the current time {now}: check this machine's clock"
    )]
    IssuedInFuture {
        /// The document.
        document: String,
        /// When it says it was issued.
        issued: String,
        /// The time of the check.
        now: String,
    },
    /// A timestamp older than the one already seen.
    #[error(
        "replayed timestamp: issued {issued}, not after the one issued {seen} already seen; keep the newer state and report the source"
    )]
    TimestampReplay {
        /// When the served timestamp was issued.
        issued: String,
        /// When the one already seen was issued.
        seen: String,
    },
    /// A timestamp that names another checkpoint than the one verified.
    #[error(
        "the timestamp names the checkpoint of size {timestamp_size} but the checkpoint verified has size {checkpoint_size} or another root: the files come from different states; fetch them again"
    )]
    TimestampMismatch {
        /// The size in the timestamp.
        timestamp_size: u64,
        /// The size of the checkpoint.
        checkpoint_size: u64,
    },
    /// Bytes whose hash differs from the signed one.
    #[error(
        "the {what} has SHA-256 {found} but the signed snapshot says {expected}: it was altered or comes from another state; refuse it"
    )]
    HashMismatch {
        /// What was hashed, e.g. `index file se/rd/serde`.
        what: String,
        /// The signed hash.
        expected: String,
        /// The hash of the bytes served.
        found: String,
    },
    /// An index path absent from the signed snapshot.
    #[error("{path} is not in the signed snapshot: no such package exists in this state")]
    NotInSnapshot {
        /// The index path.
        path: String,
    },
    /// A keyset does not continue the chain.
    #[error("keyset version {version} is refused: {reason}")]
    KeysetChain {
        /// The version at fault (0 for the chain as a whole).
        version: u64,
        /// Why.
        reason: String,
    },
}

fn at_line(line: usize, reason: &str) -> String {
    if line == 0 {
        format!("it {reason}")
    } else {
        format!("line {line} {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_naming_the_input() {
        let error = TrustError::Rollback {
            document: "checkpoint".into(),
            got: 812,
            seen: 950,
        };
        assert_eq!(
            error.to_string(),
            "rollback: checkpoint 812 is older than the 950 already seen; keep the newer state and report the source that served it"
        );
        let error = TrustError::NonCanonical {
            document: "statement".into(),
            line: 3,
            reason: "has key `version`, expected `name`".into(),
        };
        assert_eq!(
            error.to_string(),
            "non-canonical statement: line 3 has key `version`, expected `name`"
        );
        let error = TrustError::NonCanonical {
            document: "statement".into(),
            line: 0,
            reason: "is not ASCII text".into(),
        };
        assert_eq!(
            error.to_string(),
            "non-canonical statement: it is not ASCII text"
        );
        assert!(!error.to_string().contains('\n'));
    }
}
