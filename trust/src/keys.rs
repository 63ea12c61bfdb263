//! Ed25519 keys: [`PublicKey`] (validated on the way in), [`SigningKey`] (zeroized on drop),
//! [`KeyId`] and [`Signature`].
//!
//! - A public key's text form is one line, `wharf-ed25519:<standard base64 of the 32 bytes>`.
//! - Its id is `SHA-256("wharf-key-id-v1\0" ‖ 32 key bytes)`, written as 64 lowercase hex
//!   digits ([`KeyId::short`] gives the first 16 for people). The domain prefix keeps an id
//!   from ever being mistaken for a key or for any other hash.
//! - Weak keys are refused wherever a key enters: encodings that are not 32 bytes, that do
//!   not decode to a curve point, that are not the canonical encoding of their point, points
//!   of small order (the identity among them, [`ed25519_dalek::VerifyingKey::is_weak`]) and
//!   points with a torsion component, which honest key generation never produces.
//! - Every verification is [`ed25519_dalek::VerifyingKey::verify_strict`], which also refuses
//!   non-canonical `S` and `R` and small-order `R` (malleable signatures).

use std::fmt;

use ed25519_dalek::Signer as _;
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::TrustError;
use crate::encoding::{b64_decode, b64_encode, shorten};

/// The prefix of a public key's text form.
pub const PUBLIC_KEY_PREFIX: &str = "wharf-ed25519:";

const KEY_ID_DOMAIN: &[u8] = b"wharf-key-id-v1\0";

/// An ed25519 public key that passed every check in the module documentation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Validates 32 key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TrustError> {
        let weak = |reason: &str| TrustError::WeakKey {
            key: b64_encode(bytes),
            reason: reason.to_owned(),
        };
        let array: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| weak(&format!("is {} bytes, not 32", bytes.len())))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(array)
            .map_err(|_| weak("is not the encoding of a curve point"))?;
        let point = key.to_edwards();
        if point.compress().to_bytes() != *array {
            return Err(weak("is not the canonical encoding of its point"));
        }
        if key.is_weak() {
            return Err(weak("is a point of small order (e.g. the identity)"));
        }
        if !point.is_torsion_free() {
            return Err(weak("has a torsion component (honest keys never do)"));
        }
        Ok(Self { key })
    }

    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        let mut input = Vec::with_capacity(KEY_ID_DOMAIN.len() + 32);
        input.extend_from_slice(KEY_ID_DOMAIN);
        input.extend_from_slice(self.key.as_bytes());
        KeyId(crate::Hash::sha256(&input).0)
    }

    /// The one-line text form, `wharf-ed25519:<base64>`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_PREFIX}{}", b64_encode(self.key.as_bytes()))
    }

    /// Parses the one-line text form (no surrounding whitespace).
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let Some(encoded) = text.strip_prefix(PUBLIC_KEY_PREFIX) else {
            return Err(TrustError::BadEncoding {
                what: "public key".to_owned(),
                value: shorten(text),
                reason: format!("does not start with `{PUBLIC_KEY_PREFIX}`"),
            });
        };
        Self::from_bytes(&b64_decode(encoded, "public key")?)
    }

    /// Whether `signature` is this key's strict ed25519 signature over exactly `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = TrustError;

    fn from_str(text: &str) -> Result<Self, TrustError> {
        Self::parse(text)
    }
}

/// The id of a public key (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    /// The first 16 hex digits, for messages and listings.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }

    /// Parses the 64-digit lowercase hex form.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        crate::Hash::from_hex(text, "key id").map(|hash| Self(hash.0))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.short())
    }
}

/// A 64-byte ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// From exactly 64 bytes; `what` names the input in the error.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Self, TrustError> {
        let array: [u8; 64] = bytes.try_into().map_err(|_| TrustError::BadEncoding {
            what: what.to_owned(),
            value: b64_encode(bytes),
            reason: format!("is {} bytes, an ed25519 signature is 64", bytes.len()),
        })?;
        Ok(Self(array))
    }

    /// Standard padded base64.
    pub fn to_base64(&self) -> String {
        b64_encode(&self.0)
    }

    /// Parses standard padded base64 of 64 bytes.
    pub fn from_base64(text: &str, what: &str) -> Result<Self, TrustError> {
        Self::from_slice(&b64_decode(text, what)?, what)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_base64())
    }
}

/// An ed25519 private key. The secret is zeroized when the value is dropped, and never
/// printed (`Debug` shows the key id only).
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key for a 32-byte RFC 8032 secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        // A public key derived from a secret scalar is canonical, of large order and free of
        // torsion by construction.
        let public = PublicKey {
            key: key.verifying_key(),
        };
        Self { key, public }
    }

    /// The 32-byte secret seed, in a buffer that is zeroized on drop.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The public key's id.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// The ed25519 signature over exactly `message` (callers add the domain prefix).
    pub(crate) fn sign_raw(&self, message: &[u8]) -> Signature {
        Signature(self.key.sign(message).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(id {})", self.key_id().short())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed key for tests, from a seed byte.
    pub(crate) fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32])
    }

    #[test]
    fn text_form_round_trips_and_is_one_line() {
        let public = key(1).public_key();
        let text = public.to_text();
        assert!(text.starts_with("wharf-ed25519:") && !text.contains('\n'));
        assert_eq!(text.len(), PUBLIC_KEY_PREFIX.len() + 44);
        assert_eq!(PublicKey::parse(&text).unwrap(), public);
        assert!(PublicKey::parse(&format!(" {text}")).is_err());
        assert!(PublicKey::parse(&text.replace("wharf-ed25519:", "ed25519:")).is_err());
    }

    #[test]
    fn key_id_is_domain_separated_hex() {
        let public = key(1).public_key();
        let id = public.key_id();
        assert_ne!(id.0, crate::Hash::sha256(&public.to_bytes()).0);
        assert_eq!(id.to_string().len(), 64);
        assert_eq!(id.short(), id.to_string()[..16]);
        assert_eq!(KeyId::parse(&id.to_string()).unwrap(), id);
        assert_ne!(key(2).key_id(), id);
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point (y = 1) and other small-order points.
        let identity = {
            let mut bytes = [0u8; 32];
            bytes[0] = 1;
            bytes
        };
        let order_two = {
            // y = -1 = p - 1
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xec;
            bytes[31] = 0x7f;
            bytes
        };
        for (bytes, expected) in [(identity, "small order"), (order_two, "small order")] {
            let error = PublicKey::from_bytes(&bytes).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        // A non-canonical encoding: y = p + 1, which reduces to the identity's y = 1.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        let error = PublicKey::from_bytes(&non_canonical)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("canonical") || error.contains("curve point"),
            "{error}"
        );
        // A good key plus a point of order 2 has a torsion component.
        let good = key(3).public_key().key.to_edwards();
        let torsion = ed25519_dalek::VerifyingKey::from_bytes(&order_two)
            .unwrap()
            .to_edwards();
        let mixed = (good + torsion).compress().to_bytes();
        let error = PublicKey::from_bytes(&mixed).unwrap_err().to_string();
        assert!(error.contains("torsion"), "{error}");
        assert!(
            PublicKey::from_bytes(&[7u8; 31])
                .unwrap_err()
                .to_string()
                .contains("31 bytes")
        );
    }

    #[test]
    fn verification_is_strict_and_exact() {
        let signer = key(4);
        let signature = signer.sign_raw(b"message");
        let public = signer.public_key();
        assert!(public.verifies(b"message", &signature));
        assert!(!public.verifies(b"message!", &signature));
        assert!(!key(5).public_key().verifies(b"message", &signature));
    }

    #[test]
    fn malleable_signature_with_s_plus_l_is_refused() {
        // S + L verifies under the cofactored/lax equation but is not canonical.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let signer = key(6);
        let mut signature = signer.sign_raw(b"message");
        let mut carry = 0u16;
        for (s, l) in signature.0[32..].iter_mut().zip(L) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert!(!signer.public_key().verifies(b"message", &signature));
    }

    #[test]
    fn signing_key_never_prints_its_secret() {
        let signer = key(7);
        let printed = format!("{signer:?}");
        assert!(printed.contains(&signer.key_id().short()));
        assert!(!printed.contains(&hex::encode(*signer.seed())));
        assert_eq!(
            SigningKey::from_seed(&signer.seed()).public_key(),
            signer.public_key()
        );
        assert_ne!(
            SigningKey::generate().public_key(),
            SigningKey::generate().public_key()
        );
    }
}
