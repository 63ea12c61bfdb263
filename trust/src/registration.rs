//! Key registration: the statement a registry account signs with a new publisher key to
//! prove that it holds the key's secret.
//!
//! ```text
//! wharf-key-registration-v1
//! origin: wharf.example.com
//! login: alice
//! key: wharf-ed25519:<base64 public key>
//! time: 2026-08-20T10:11:12Z
//! ```
//!
//! The signature, by the key being registered, covers `wharf-key-registration-v1 ‖ 0x00 ‖
//! <text>` like every statement's, so it can never be taken for a statement or note
//! signature. The origin and login stop a registration being replayed on another registry
//! or for another account; the registry also refuses a `time` far from its clock.

use crate::encoding::{CanonicalReader, CanonicalWriter, check_value};
use crate::{PublicKey, SigningKey, StatementSignature, TrustError, UtcTime};

const TAG: &str = "wharf-key-registration-v1";
const DOCUMENT: &str = "key registration";

/// A key registration (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRegistration {
    origin: String,
    login: String,
    key: PublicKey,
    time: UtcTime,
}

impl KeyRegistration {
    /// Checks the values (printable ASCII, no spaces) and builds the registration.
    pub fn new(
        origin: &str,
        login: &str,
        key: PublicKey,
        time: UtcTime,
    ) -> Result<Self, TrustError> {
        check_value(TAG, "origin", origin)?;
        check_value(TAG, "login", login)?;
        Ok(Self {
            origin: origin.to_owned(),
            login: login.to_owned(),
            key,
            time,
        })
    }

    /// The registry the registration is for.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The account the key is registered to.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The key registered.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// When the registration was made (the client's clock).
    pub fn time(&self) -> UtcTime {
        self.time
    }

    /// The canonical text.
    pub fn to_text(&self) -> String {
        CanonicalWriter::new(TAG)
            .field("origin", &self.origin)
            .field("login", &self.login)
            .field("key", self.key)
            .field("time", self.time)
            .finish()
    }

    /// Parses a registration, refusing every non-canonical form.
    pub fn parse(bytes: &[u8]) -> Result<Self, TrustError> {
        let mut reader = CanonicalReader::new(DOCUMENT, bytes, TAG)?;
        let origin = reader.field("origin")?.to_owned();
        let login = reader.field("login")?.to_owned();
        let key = PublicKey::parse(reader.field("key")?)?;
        let time = UtcTime::parse(reader.field("time")?, "key registration time")?;
        reader.finish()?;
        Self::new(&origin, &login, key, time)
    }

    /// The exact bytes the signature covers: tag line, NUL, text.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = format!("{TAG}\0").into_bytes();
        bytes.extend_from_slice(self.to_text().as_bytes());
        bytes
    }

    /// Signs the registration with the key it registers.
    pub fn sign(&self, key: &SigningKey) -> StatementSignature {
        StatementSignature {
            key_id: key.key_id(),
            signature: key.sign_raw(&self.signed_bytes()),
        }
    }

    /// Checks that `signature` is the registered key's own signature over the registration.
    pub fn verify(&self, signature: &StatementSignature) -> Result<(), TrustError> {
        if signature.key_id == self.key.key_id()
            && self
                .key
                .verifies(&self.signed_bytes(), &signature.signature)
        {
            Ok(())
        } else {
            Err(TrustError::BadSignature {
                document: format!("key registration of {} for {}", self.key, self.login),
                key_id: self.key.key_id().short(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    fn registration() -> KeyRegistration {
        KeyRegistration::new(
            "wharf.example.com",
            "alice",
            key(1).public_key(),
            UtcTime::parse("2026-08-20T10:11:12Z", "t").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn round_trips_and_verifies_only_with_its_own_key() {
        let registration = registration();
        let text = registration.to_text();
        assert!(text.starts_with("wharf-key-registration-v1\norigin: wharf.example.com\nlogin: alice\nkey: wharf-ed25519:"));
        assert_eq!(
            KeyRegistration::parse(text.as_bytes()).unwrap(),
            registration
        );
        registration.verify(&registration.sign(&key(1))).unwrap();
        assert!(registration.verify(&registration.sign(&key(2))).is_err());
        let other = KeyRegistration::new(
            "wharf.example.com",
            "bob",
            key(1).public_key(),
            registration.time(),
        )
        .unwrap();
        assert!(other.verify(&registration.sign(&key(1))).is_err());
    }

    #[test]
    fn non_canonical_text_is_refused() {
        let text = registration().to_text();
        for bad in [
            text.replace("login: alice", "login:  alice"),
            format!("{text}\n"),
            text.replace("wharf-key-registration-v1", "wharf-key-registration-v2"),
        ] {
            assert!(KeyRegistration::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
