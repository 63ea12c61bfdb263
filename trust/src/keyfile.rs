//! Private key files: a small canonical text format, unencrypted or encrypted with a
//! passphrase (Argon2id + XChaCha20-Poly1305).
//!
//! Unencrypted:
//!
//! ```text
//! wharf-secret-key-v1
//! public: wharf-ed25519:<base64 public key>
//! encryption: none
//! secret: <base64 of the 32-byte RFC 8032 seed>
//! ```
//!
//! Encrypted:
//!
//! ```text
//! wharf-secret-key-v1
//! public: wharf-ed25519:<base64 public key>
//! encryption: argon2id-xchacha20poly1305
//! kdf: m=65536,t=3,p=1
//! salt: <base64, 16 random bytes>
//! nonce: <base64, 24 random bytes>
//! secret: <base64 of the 32-byte seed encrypted, then the 16-byte tag>
//! ```
//!
//! The 32-byte encryption key is Argon2id (version 0x13) of the passphrase and salt with
//! memory `m` KiB, `t` passes and `p` lanes. The associated data is every byte of the file
//! before the `secret:` line, so the public key and the parameters cannot be changed either.
//! In both forms the public line must match the key the secret gives. The public key can be
//! read without the passphrase ([`key_file_public_key`]).

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::encoding::{
    CanonicalReader, CanonicalWriter, b64_decode, b64_encode, parse_decimal, shorten,
};
use crate::{PublicKey, SigningKey, TrustError};

const TAG: &str = "wharf-secret-key-v1";
const DOCUMENT: &str = "key file";
const ENCRYPTED: &str = "argon2id-xchacha20poly1305";

/// Argon2id cost parameters of an encrypted key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB (8 to 4 194 304, i.e. 4 GiB).
    pub memory_kib: u32,
    /// Passes over the memory (1 to 64).
    pub iterations: u32,
    /// Lanes (1 to 16).
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about a third of a second on a current machine.
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    fn to_text(self) -> String {
        format!(
            "m={},t={},p={}",
            self.memory_kib, self.iterations, self.parallelism
        )
    }

    /// Parses `m=<kib>,t=<passes>,p=<lanes>` and checks the bounds, so a hostile file cannot
    /// make the reader allocate without limit.
    fn parse(text: &str) -> Result<Self, TrustError> {
        let bad = |reason: &str| TrustError::InvalidField {
            document: DOCUMENT.to_owned(),
            field: "kdf".to_owned(),
            value: shorten(text),
            reason: reason.to_owned(),
        };
        let mut parts = text.split(',');
        let mut number = |name: &str| -> Result<u32, TrustError> {
            let part = parts
                .next()
                .ok_or_else(|| bad("expected m=<KiB>,t=<passes>,p=<lanes>"))?;
            let digits = part
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .ok_or_else(|| bad("expected m=<KiB>,t=<passes>,p=<lanes>"))?;
            parse_decimal(digits)
                .and_then(|value| u32::try_from(value).ok())
                .ok_or_else(|| bad("a cost is not a decimal number without leading zeros"))
        };
        let params = Self {
            memory_kib: number("m")?,
            iterations: number("t")?,
            parallelism: number("p")?,
        };
        if parts.next().is_some() {
            return Err(bad("expected m=<KiB>,t=<passes>,p=<lanes>"));
        }
        params.check().map_err(|reason| bad(&reason))?;
        Ok(params)
    }

    fn check(self) -> Result<(), String> {
        if !(1..=16).contains(&self.parallelism) {
            return Err("p must be 1 to 16".to_owned());
        }
        if !(8 * self.parallelism..=4 * 1024 * 1024).contains(&self.memory_kib) {
            return Err("m must be 8×p KiB to 4 GiB".to_owned());
        }
        if !(1..=64).contains(&self.iterations) {
            return Err("t must be 1 to 64".to_owned());
        }
        Ok(())
    }

    fn derive(self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, TrustError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|error| TrustError::KeyFile {
                reason: format!("the kdf parameters {} are refused: {error}", self.to_text()),
            })?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, key.as_mut())
            .map_err(|error| TrustError::KeyFile {
                reason: format!("the key derivation failed: {error}"),
            })?;
        Ok(key)
    }
}

/// How [`SigningKey::to_key_file`] protects the secret.
#[derive(Debug, Clone, Copy)]
pub enum KeyFileProtection<'a> {
    /// Written in the clear; the file's permissions are its only protection.
    Unencrypted,
    /// Encrypted under a key derived from this passphrase (never empty).
    Passphrase {
        /// The passphrase bytes.
        passphrase: &'a [u8],
        /// The Argon2id costs ([`KdfParams::default`] unless there is a reason).
        params: KdfParams,
    },
}

impl SigningKey {
    /// The key file text (see the module documentation), in a buffer zeroized on drop.
    pub fn to_key_file(
        &self,
        protection: KeyFileProtection<'_>,
    ) -> Result<Zeroizing<String>, TrustError> {
        let public = self.public_key().to_text();
        let seed = self.seed();
        let text = match protection {
            KeyFileProtection::Unencrypted => {
                // The writer's buffer holds the whole file without growing, so the only
                // copies of the encoded secret are this zeroized one and the result.
                let secret = Zeroizing::new(b64_encode(seed.as_ref()));
                CanonicalWriter::new(TAG)
                    .field("public", &public)
                    .field("encryption", "none")
                    .field("secret", secret.as_str())
                    .finish()
            }
            KeyFileProtection::Passphrase { passphrase, params } => {
                if passphrase.is_empty() {
                    return Err(TrustError::KeyFile {
                        reason: "an empty passphrase protects nothing: give one, or write the key unencrypted"
                            .to_owned(),
                    });
                }
                params
                    .check()
                    .map_err(|reason| TrustError::KeyFile { reason })?;
                let mut salt = [0u8; 16];
                let mut nonce = [0u8; 24];
                OsRng.fill_bytes(&mut salt);
                OsRng.fill_bytes(&mut nonce);
                let header = CanonicalWriter::new(TAG)
                    .field("public", &public)
                    .field("encryption", ENCRYPTED)
                    .field("kdf", params.to_text())
                    .field("salt", b64_encode(&salt))
                    .field("nonce", b64_encode(&nonce))
                    .finish();
                let key = params.derive(passphrase, &salt)?;
                let cipher = XChaCha20Poly1305::new(key.as_ref().into());
                let sealed = cipher
                    .encrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: seed.as_ref(),
                            aad: header.as_bytes(),
                        },
                    )
                    .map_err(|_| TrustError::KeyFile {
                        reason: "encrypting the secret failed".to_owned(),
                    })?;
                format!("{header}secret: {}\n", b64_encode(&sealed))
            }
        };
        Ok(Zeroizing::new(text))
    }

    /// Reads a key file. An encrypted file needs `passphrase`; an unencrypted one refuses
    /// it, so a person never believes a clear key is protected.
    pub fn from_key_file(text: &str, passphrase: Option<&[u8]>) -> Result<Self, TrustError> {
        let mut reader = CanonicalReader::new(DOCUMENT, text.as_bytes(), TAG)?;
        let public = PublicKey::parse(reader.field("public")?)?;
        let encryption = reader.field("encryption")?;
        let seed: Zeroizing<Vec<u8>> = match encryption {
            "none" => {
                if passphrase.is_some() {
                    return Err(TrustError::KeyFile {
                        reason: format!(
                            "key {} is not encrypted but a passphrase was given: use it without one, or encrypt it",
                            public.key_id().short()
                        ),
                    });
                }
                let secret =
                    Zeroizing::new(b64_decode(reader.field("secret")?, "key file secret")?);
                reader.finish()?;
                secret
            }
            ENCRYPTED => {
                let params = KdfParams::parse(reader.field("kdf")?)?;
                let salt = b64_decode(reader.field("salt")?, "key file salt")?;
                let nonce = b64_decode(reader.field("nonce")?, "key file nonce")?;
                let header_len = text.find("\nsecret: ").map_or(0, |at| at + 1);
                let sealed = b64_decode(reader.field("secret")?, "key file secret")?;
                reader.finish()?;
                if salt.len() < 16 || nonce.len() != 24 {
                    return Err(TrustError::KeyFile {
                        reason: "the salt must be at least 16 bytes and the nonce 24".to_owned(),
                    });
                }
                let Some(passphrase) = passphrase else {
                    return Err(TrustError::KeyFile {
                        reason: format!(
                            "key {} is encrypted: give its passphrase",
                            public.key_id().short()
                        ),
                    });
                };
                let key = params.derive(passphrase, &salt)?;
                let cipher = XChaCha20Poly1305::new(key.as_ref().into());
                let opened = cipher
                    .decrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: &sealed,
                            aad: &text.as_bytes()[..header_len],
                        },
                    )
                    .map_err(|_| TrustError::WrongPassphrase {
                        key_id: public.key_id().short(),
                    })?;
                Zeroizing::new(opened)
            }
            other => {
                return Err(TrustError::InvalidField {
                    document: DOCUMENT.to_owned(),
                    field: "encryption".to_owned(),
                    value: shorten(other),
                    reason: format!("expected `none` or `{ENCRYPTED}`"),
                });
            }
        };
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(seed.as_slice().try_into().map_err(
            |_| TrustError::KeyFile {
                reason: format!("the secret is {} bytes, expected 32", seed.len()),
            },
        )?);
        let key = Self::from_seed(&seed);
        if key.public_key() != public {
            return Err(TrustError::KeyFile {
                reason: format!(
                    "the secret belongs to key {}, not to the public key {} the file names",
                    key.key_id().short(),
                    public.key_id().short()
                ),
            });
        }
        Ok(key)
    }
}

/// The public key a key file names, read without the passphrase (and not checked against
/// the secret: [`SigningKey::from_key_file`] does that).
pub fn key_file_public_key(text: &str) -> Result<PublicKey, TrustError> {
    let mut reader = CanonicalReader::new(DOCUMENT, text.as_bytes(), TAG)?;
    PublicKey::parse(reader.field("public")?)
}

/// Whether a key file is encrypted (needs a passphrase).
pub fn key_file_is_encrypted(text: &str) -> Result<bool, TrustError> {
    let mut reader = CanonicalReader::new(DOCUMENT, text.as_bytes(), TAG)?;
    reader.field("public")?;
    Ok(reader.field("encryption")? != "none")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    /// Cheap costs so debug-mode tests stay fast; the format is the same.
    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn encrypted(signer: &SigningKey, passphrase: &[u8]) -> String {
        signer
            .to_key_file(KeyFileProtection::Passphrase {
                passphrase,
                params: CHEAP,
            })
            .unwrap()
            .to_string()
    }

    #[test]
    fn unencrypted_file_round_trips() {
        let signer = key(1);
        let text = signer.to_key_file(KeyFileProtection::Unencrypted).unwrap();
        assert!(text.starts_with("wharf-secret-key-v1\npublic: wharf-ed25519:"));
        assert!(text.contains("\nencryption: none\nsecret: "));
        let read = SigningKey::from_key_file(&text, None).unwrap();
        assert_eq!(read.public_key(), signer.public_key());
        assert_eq!(key_file_public_key(&text).unwrap(), signer.public_key());
        assert!(!key_file_is_encrypted(&text).unwrap());
        let error = SigningKey::from_key_file(&text, Some(b"pw"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not encrypted"), "{error}");
    }

    #[test]
    fn encrypted_file_round_trips_and_hides_the_seed() {
        let signer = key(2);
        let text = encrypted(&signer, b"correct horse");
        assert!(text.contains("\nencryption: argon2id-xchacha20poly1305\nkdf: m=64,t=1,p=1\n"));
        assert!(!text.contains(&b64_encode(signer.seed().as_ref())));
        assert!(key_file_is_encrypted(&text).unwrap());
        assert_eq!(key_file_public_key(&text).unwrap(), signer.public_key());
        let read = SigningKey::from_key_file(&text, Some(b"correct horse")).unwrap();
        assert_eq!(read.public_key(), signer.public_key());
        // Fresh salt and nonce every time.
        assert_ne!(encrypted(&signer, b"correct horse"), text);
    }

    #[test]
    fn wrong_or_missing_passphrase_is_a_clear_error() {
        let signer = key(3);
        let text = encrypted(&signer, b"right");
        let wrong = SigningKey::from_key_file(&text, Some(b"wrong")).unwrap_err();
        assert_eq!(
            wrong,
            TrustError::WrongPassphrase {
                key_id: signer.key_id().short()
            }
        );
        assert!(wrong.to_string().contains("passphrase"));
        let missing = SigningKey::from_key_file(&text, None)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("encrypted: give its passphrase"),
            "{missing}"
        );
    }

    #[test]
    fn tampered_header_fails_authentication() {
        let signer = key(4);
        let text = encrypted(&signer, b"pw");
        let other_public = key(5).public_key().to_text();
        let swapped = text.replace(&signer.public_key().to_text(), &other_public);
        assert!(matches!(
            SigningKey::from_key_file(&swapped, Some(b"pw")),
            Err(TrustError::WrongPassphrase { .. })
        ));
        let cheaper = text.replace("kdf: m=64,t=1,p=1", "kdf: m=64,t=2,p=1");
        assert!(SigningKey::from_key_file(&cheaper, Some(b"pw")).is_err());
    }

    #[test]
    fn mismatched_public_line_is_refused() {
        let text = key(6).to_key_file(KeyFileProtection::Unencrypted).unwrap();
        let lying = text.replace(
            &key(6).public_key().to_text(),
            &key(7).public_key().to_text(),
        );
        let error = SigningKey::from_key_file(&lying, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("belongs to key"), "{error}");
    }

    #[test]
    fn hostile_kdf_parameters_and_empty_passphrases_are_refused() {
        for bad in [
            "m=8388608,t=1,p=1",
            "m=64,t=0,p=1",
            "m=64,t=1",
            "m=064,t=1,p=1",
            "m=64,t=1,p=1,x=2",
        ] {
            assert!(KdfParams::parse(bad).is_err(), "{bad}");
        }
        let error = key(8)
            .to_key_file(KeyFileProtection::Passphrase {
                passphrase: b"",
                params: CHEAP,
            })
            .unwrap_err()
            .to_string();
        assert!(error.contains("empty passphrase"), "{error}");
    }
}
