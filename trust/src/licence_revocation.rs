//! The signed list of revoked licences, served by the registry and carried offline.
//!
//! Text form: `wharf-revocations-v1.<base64url JSON>.<base64url key id ‖ signature>`, signed
//! like a licence (`wharf-revocations-v1 ‖ 0x00 ‖ <exact JSON bytes>`) by an entitlement
//! key. The JSON holds a monotonic `serial`, `issued-at` and the revoked licence ids. A
//! holder keeps the highest serial it has seen and refuses a lower one (a rollback that
//! would un-revoke a licence).

use serde::{Deserialize, Serialize};

use crate::licence::{join_signed, signed_bytes, split_signed};
use crate::{KeyId, PublicKey, Signature, SigningKey, TrustError, UtcTime};

/// The tag that starts a revocation list's text form and its signed bytes.
pub const REVOCATIONS_TAG: &str = "wharf-revocations-v1";

/// What a revocation list says (the signed JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RevocationTerms {
    /// Grows by one with every new list.
    pub serial: u64,
    /// When the list was signed.
    pub issued_at: String,
    /// The revoked licence ids.
    pub revoked: Vec<String>,
}

/// A signed revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    terms: RevocationTerms,
    json: Vec<u8>,
    key_id: KeyId,
    signature: Signature,
}

impl RevocationList {
    /// Signs `terms` with `key`.
    pub fn issue(terms: RevocationTerms, key: &SigningKey) -> Result<Self, TrustError> {
        UtcTime::parse(&terms.issued_at, "revocation list issued-at")?;
        let json = serde_json::to_vec(&terms).map_err(|e| TrustError::NonCanonical {
            document: REVOCATIONS_TAG.to_owned(),
            line: 0,
            reason: e.to_string(),
        })?;
        let signature = key.sign_raw(&signed_bytes(REVOCATIONS_TAG, &json));
        Ok(Self {
            terms,
            json,
            key_id: key.key_id(),
            signature,
        })
    }

    /// Parses the text form and checks its signature against `keys`.
    pub fn open(text: &str, keys: &[PublicKey]) -> Result<Self, TrustError> {
        let (json, key_id, signature) = split_signed(REVOCATIONS_TAG, text.trim())?;
        let bytes = signed_bytes(REVOCATIONS_TAG, &json);
        let Some(key) = keys
            .iter()
            .find(|key| key.key_id() == key_id && key.verifies(&bytes, &signature))
        else {
            return Err(TrustError::BadSignature {
                document: "licence revocation list".to_owned(),
                key_id: key_id.short(),
            });
        };
        let terms: RevocationTerms =
            serde_json::from_slice(&json).map_err(|e| TrustError::NonCanonical {
                document: REVOCATIONS_TAG.to_owned(),
                line: 0,
                reason: e.to_string(),
            })?;
        UtcTime::parse(&terms.issued_at, "revocation list issued-at")?;
        tracing::debug!(serial = terms.serial, key = %key.key_id().short(), "revocation list opened");
        Ok(Self {
            terms,
            json,
            key_id,
            signature,
        })
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        join_signed(REVOCATIONS_TAG, &self.json, self.key_id, self.signature)
    }

    /// The signed terms.
    pub fn terms(&self) -> &RevocationTerms {
        &self.terms
    }

    /// The revoked ids and the serial, as [`crate::Licence::check`] takes them.
    pub fn as_check(&self) -> (&[String], u64) {
        (&self.terms.revoked, self.terms.serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    #[test]
    fn a_list_opens_only_under_its_key() {
        let signer = key(5);
        let list = RevocationList::issue(
            RevocationTerms {
                serial: 2,
                issued_at: "2026-02-03T04:05:06Z".into(),
                revoked: vec!["lic-9".into()],
            },
            &signer,
        )
        .unwrap();
        let text = list.to_text();
        let opened = RevocationList::open(&text, &[signer.public_key()]).unwrap();
        assert_eq!(opened.as_check().1, 2);
        assert!(RevocationList::open(&text, &[key(6).public_key()]).is_err());
    }
}
