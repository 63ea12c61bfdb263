//! Log events: the exact bytes of one leaf of the registry's Merkle log.
//!
//! A leaf is the signed statement followed by a small envelope the registry adds:
//!
//! ```text
//! wharf-release-v1
//! origin: wharf.example.com
//! …                                    (the statement, byte for byte)
//! time: 2026-08-20T10:11:12Z
//! wharf-event-v1
//! logged: 2026-08-20T10:11:13Z         (when the registry appended it: the log's clock)
//! signature: <key id>:<base64 signature>   (zero or more, sorted by key id, one per key)
//! ```
//!
//! The leaf hash is RFC 6962's `SHA-256(0x00 ‖ these bytes)`. Because the statement and its
//! signatures are inside the leaf, anyone holding the leaf and an inclusion proof can check
//! the publisher's signatures without trusting the registry; because the bytes are
//! canonical (the parser refuses any other form), one event has exactly one leaf hash.

use crate::encoding::{CanonicalReader, CanonicalWriter};
use crate::merkle::leaf_hash;
use crate::{Hash, Statement, StatementSignature, TrustError, UtcTime};

const TAG: &str = "wharf-event-v1";
const DOCUMENT: &str = "log event";

/// One event of the log (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    statement: Statement,
    logged: UtcTime,
    signatures: Vec<StatementSignature>,
}

impl LogEvent {
    /// An event; the signatures are put in key-id order and must name distinct keys.
    pub fn new(
        statement: Statement,
        logged: UtcTime,
        mut signatures: Vec<StatementSignature>,
    ) -> Result<Self, TrustError> {
        signatures.sort_by_key(|signature| signature.key_id);
        if let Some(pair) = signatures
            .windows(2)
            .find(|pair| pair[0].key_id == pair[1].key_id)
        {
            return Err(TrustError::DuplicateSignature {
                document: statement.describe(),
                key_id: pair[0].key_id.short(),
            });
        }
        Ok(Self {
            statement,
            logged,
            signatures,
        })
    }

    /// The statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }

    /// When the registry appended the event.
    pub fn logged(&self) -> UtcTime {
        self.logged
    }

    /// The publisher signatures, in key-id order.
    pub fn signatures(&self) -> &[StatementSignature] {
        &self.signatures
    }

    /// The leaf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let envelope = self
            .signatures
            .iter()
            .fold(
                CanonicalWriter::new(TAG).field("logged", self.logged),
                |writer, signature| writer.field("signature", signature.to_text()),
            )
            .finish();
        let mut bytes = self.statement.to_text().into_bytes();
        bytes.extend_from_slice(envelope.as_bytes());
        bytes
    }

    /// The RFC 6962 leaf hash of [`LogEvent::to_bytes`].
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }

    /// Parses leaf bytes, refusing any non-canonical form (including unsorted or repeated
    /// signatures).
    pub fn parse(bytes: &[u8]) -> Result<Self, TrustError> {
        let marker = b"\nwharf-event-v1\n";
        let split = bytes
            .windows(marker.len())
            .position(|window| window == marker)
            .ok_or_else(|| TrustError::NonCanonical {
                document: DOCUMENT.to_owned(),
                line: 0,
                reason: "has no `wharf-event-v1` envelope after its statement".to_owned(),
            })?;
        let statement = Statement::parse(&bytes[..=split])?;
        let mut reader = CanonicalReader::new(DOCUMENT, &bytes[split + 1..], TAG)?;
        let logged = UtcTime::parse(reader.field("logged")?, "event logged time")?;
        let signatures = reader
            .repeated("signature")?
            .into_iter()
            .map(StatementSignature::parse)
            .collect::<Result<Vec<_>, _>>()?;
        reader.finish()?;
        if !signatures.is_sorted_by_key(|signature| signature.key_id) {
            return Err(TrustError::NonCanonical {
                document: DOCUMENT.to_owned(),
                line: 0,
                reason: "its signatures are not in key-id order".to_owned(),
            });
        }
        Self::new(statement, logged, signatures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;
    use crate::statement::tests::release;

    fn event() -> LogEvent {
        let statement = release("demo", "1.0.0");
        let signatures = vec![statement.sign(&key(1)), statement.sign(&key(2))];
        LogEvent::new(
            statement,
            UtcTime::parse("2026-08-20T10:11:13Z", "t").unwrap(),
            signatures,
        )
        .unwrap()
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let event = event();
        let bytes = event.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("wharf-release-v1\n"));
        assert!(text.contains(
            "time: 2026-08-20T10:11:12Z\nwharf-event-v1\nlogged: 2026-08-20T10:11:13Z\nsignature: "
        ));
        assert_eq!(LogEvent::parse(&bytes).unwrap(), event);
        assert_eq!(event.leaf_hash(), leaf_hash(&bytes));
        for signature in event.signatures() {
            let signer = [key(1), key(2)]
                .into_iter()
                .find(|k| k.key_id() == signature.key_id)
                .unwrap();
            event
                .statement()
                .verify(signature, &signer.public_key())
                .unwrap();
        }
    }

    #[test]
    fn unsorted_or_duplicate_signatures_are_refused() {
        let event = event();
        let text = String::from_utf8(event.to_bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let n = lines.len();
        let mut swapped = lines.clone();
        swapped.swap(n - 1, n - 2);
        let swapped = swapped.join("\n") + "\n";
        assert!(
            LogEvent::parse(swapped.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("key-id order")
        );
        let mut doubled = lines.clone();
        doubled.push(lines[n - 1]);
        let doubled = doubled.join("\n") + "\n";
        assert!(matches!(
            LogEvent::parse(doubled.as_bytes()),
            Err(TrustError::DuplicateSignature { .. })
        ));
    }

    #[test]
    fn a_rewritten_leaf_has_another_hash() {
        let event = event();
        let text = String::from_utf8(event.to_bytes()).unwrap();
        let rewritten = text.replace("version: 1.0.0", "version: 1.0.1");
        let reparsed = LogEvent::parse(rewritten.as_bytes()).unwrap();
        assert_ne!(reparsed.leaf_hash(), event.leaf_hash());
        // And its signatures no longer verify.
        let signature = reparsed.signatures()[0];
        let signer = [key(1), key(2)]
            .into_iter()
            .find(|k| k.key_id() == signature.key_id)
            .unwrap();
        assert!(
            reparsed
                .statement()
                .verify(&signature, &signer.public_key())
                .is_err()
        );
    }

    #[test]
    fn an_event_without_envelope_or_with_extra_fields_is_refused() {
        let statement = release("demo", "1.0.0").to_text();
        assert!(LogEvent::parse(statement.as_bytes()).is_err());
        let extra = String::from_utf8(event().to_bytes()).unwrap() + "note: hi\n";
        assert!(LogEvent::parse(extra.as_bytes()).is_err());
    }
}
