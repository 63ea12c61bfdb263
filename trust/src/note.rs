//! Signed notes (C2SP `signed-note`): a text, a blank line, and one or more signature lines
//! `— <key name> <base64(4-byte key hash ‖ 64-byte ed25519 signature)>`.
//!
//! The key hash is the first four bytes of `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)`;
//! the signature is ed25519 over the note text exactly (including its final newline, not the
//! blank line). Wharf signs checkpoints, timestamps and keysets as notes; their first line
//! (the log origin, or a `wharf-…-v1` tag) separates them, and the role's key name and key
//! separate them again.
//!
//! Verification ([`Note::verify`]) follows the spec and fails closed: signatures from
//! unknown keys (name and hash not both matching a known key) are ignored; a known key's
//! signature that does not verify rejects the note; several signatures by one key count
//! once; every required key must have signed.

use std::collections::BTreeSet;

use crate::encoding::{b64_decode, b64_encode, shorten};
use crate::{PublicKey, Signature, SigningKey, TrustError};

/// The most signature lines a note may carry (the spec asks for at least 16).
pub const MAX_NOTE_SIGNATURES: usize = 64;
/// The largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

const SIGNATURE_PREFIX: &str = "\u{2014} ";
const ED25519_TYPE: u8 = 0x01;

/// Checks a key name: non-empty, no Unicode whitespace, no `+`, no control characters.
fn check_key_name(name: &str) -> Result<(), TrustError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(TrustError::MalformedNote {
            reason: format!(
                "key name `{}` is empty or holds a space, `+` or a control character",
                shorten(name)
            ),
        });
    }
    Ok(())
}

/// A named public key that may sign notes: a verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteKey {
    name: String,
    key: PublicKey,
}

impl NoteKey {
    /// A verifier for `key` under `name` (e.g. `wharf.example.com` for the log key).
    pub fn new(name: &str, key: PublicKey) -> Result<Self, TrustError> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The 4-byte key hash that starts each of this key's signatures.
    pub fn key_hash(&self) -> [u8; 4] {
        key_hash(&self.name, &self.key)
    }

    /// The verifier key in the format Go's `sumdb/note` and C2SP tools use:
    /// `<name>+<8 hex key hash>+<base64(0x01 ‖ public key)>`.
    pub fn to_vkey(&self) -> String {
        let mut encoded = vec![ED25519_TYPE];
        encoded.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_hash()),
            b64_encode(&encoded)
        )
    }

    /// Parses the `to_vkey` form, checking that the key hash matches.
    pub fn parse_vkey(text: &str) -> Result<Self, TrustError> {
        let bad = |reason: &str| TrustError::BadEncoding {
            what: "note verifier key".to_owned(),
            value: shorten(text),
            reason: reason.to_owned(),
        };
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<hash>+<key>"));
        };
        let key = b64_decode(key, "note verifier key")?;
        let Some((&ED25519_TYPE, key)) = key.split_first() else {
            return Err(bad("is not an ed25519 key (type byte 0x01)"));
        };
        let note_key = Self::new(name, PublicKey::from_bytes(key)?)?;
        if hex::encode(note_key.key_hash()) != hash {
            return Err(bad("its key hash does not match its name and key"));
        }
        Ok(note_key)
    }
}

fn key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 34);
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(ED25519_TYPE);
    input.extend_from_slice(&key.to_bytes());
    let hash = crate::Hash::sha256(&input);
    [hash.0[0], hash.0[1], hash.0[2], hash.0[3]]
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key hash.
    pub key_hash: [u8; 4],
    /// The signature bytes after the key hash (64 for ed25519; other algorithms differ).
    pub signature: Vec<u8>,
}

/// A signed note: its text and its signature lines, as parsed. Nothing in it is trusted
/// until [`Note::verify`] says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Signs `text` (which must end in a newline and satisfy the note rules) with each key.
    pub fn sign(text: &str, signers: &[(&str, &SigningKey)]) -> Result<Self, TrustError> {
        check_text(text)?;
        let signatures = signers
            .iter()
            .map(|(name, key)| {
                let note_key = NoteKey::new(name, key.public_key())?;
                Ok(NoteSignature {
                    name: (*name).to_owned(),
                    key_hash: note_key.key_hash(),
                    signature: key.sign_raw(text.as_bytes()).0.to_vec(),
                })
            })
            .collect::<Result<Vec<_>, TrustError>>()?;
        if signatures.is_empty() {
            return Err(TrustError::MalformedNote {
                reason: "a note needs at least one signature".to_owned(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text (ends in a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The note as bytes: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for signature in &self.signatures {
            let mut encoded = signature.key_hash.to_vec();
            encoded.extend_from_slice(&signature.signature);
            out.push_str(SIGNATURE_PREFIX);
            out.push_str(&signature.name);
            out.push(' ');
            out.push_str(&b64_encode(&encoded));
            out.push('\n');
        }
        out
    }

    /// Parses a note, refusing malformed ones with a precise reason.
    pub fn parse(bytes: &[u8]) -> Result<Self, TrustError> {
        let malformed = |reason: String| TrustError::MalformedNote { reason };
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(malformed(format!(
                "is {} bytes, over the {MAX_NOTE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let all = std::str::from_utf8(bytes).map_err(|_| malformed("is not UTF-8".to_owned()))?;
        if all.chars().any(|c| c.is_ascii_control() && c != '\n') {
            return Err(malformed(
                "holds a control character other than newline (e.g. CR)".to_owned(),
            ));
        }
        let Some(split) = all.rfind("\n\n") else {
            return Err(malformed(
                "has no blank line before its signatures".to_owned(),
            ));
        };
        let text = &all[..=split];
        check_text(text)?;
        let block = &all[split + 2..];
        if block.is_empty() {
            return Err(malformed(
                "has no signature lines after the blank line".to_owned(),
            ));
        }
        let Some(block) = block.strip_suffix('\n') else {
            return Err(malformed(
                "does not end with a newline after its last signature".to_owned(),
            ));
        };
        let mut signatures = Vec::new();
        for line in block.split('\n') {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(malformed(format!(
                    "has more than {MAX_NOTE_SIGNATURES} signatures"
                )));
            }
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(malformed(format!(
                    "signature line `{}` does not start with `— `",
                    shorten(line)
                )));
            };
            let Some((name, encoded)) = rest.split_once(' ') else {
                return Err(malformed(format!(
                    "signature line `{}` has no signature after the key name",
                    shorten(line)
                )));
            };
            check_key_name(name)?;
            let decoded = b64_decode(encoded, "note signature")?;
            if decoded.len() < 5 {
                return Err(malformed(format!(
                    "the signature by `{name}` is {} bytes, too short",
                    decoded.len()
                )));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_hash: [decoded[0], decoded[1], decoded[2], decoded[3]],
                signature: decoded[4..].to_vec(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Verifies the note against the known keys and returns the known keys that signed it
    /// (each once, in the order of `known`). Fails when a known key's signature does not
    /// verify, when a key in `required` did not sign, or when no known key signed.
    pub fn verify(
        &self,
        known: &[NoteKey],
        required: &[NoteKey],
    ) -> Result<Vec<NoteKey>, TrustError> {
        let mut signed = BTreeSet::new();
        for line in &self.signatures {
            let mut matched = false;
            let mut verified = false;
            for (index, key) in known.iter().enumerate() {
                if key.name == line.name && key.key_hash() == line.key_hash {
                    matched = true;
                    let good = Signature::from_slice(&line.signature, "note signature")
                        .is_ok_and(|signature| key.key.verifies(self.text.as_bytes(), &signature));
                    if good {
                        verified = true;
                        signed.insert(index);
                    }
                }
            }
            if !matched {
                tracing::debug!(
                    key = %line.name,
                    key_hash = %hex::encode(line.key_hash),
                    "ignoring a note signature by an unknown key"
                );
            }
            if matched && !verified {
                return Err(TrustError::BadSignature {
                    document: format!("note `{}`", first_line(&self.text)),
                    key_id: format!("{} ({})", line.name, hex::encode(line.key_hash)),
                });
            }
        }
        let signers: Vec<NoteKey> = signed
            .into_iter()
            .map(|index| known[index].clone())
            .collect();
        for key in required {
            if !signers.contains(key) {
                return Err(TrustError::MissingSignature {
                    document: format!("note `{}`", first_line(&self.text)),
                    key: format!("{} ({})", key.name, key.key.key_id().short()),
                });
            }
        }
        if signers.is_empty() {
            return Err(TrustError::MissingSignature {
                document: format!("note `{}`", first_line(&self.text)),
                key: "any known key".to_owned(),
            });
        }
        Ok(signers)
    }
}

fn first_line(text: &str) -> String {
    shorten(text.lines().next().unwrap_or_default())
}

/// A note text is non-empty, ends in a newline, has no control character but newline and
/// no blank line at its end (which would make the split ambiguous).
fn check_text(text: &str) -> Result<(), TrustError> {
    let malformed = |reason: &str| TrustError::MalformedNote {
        reason: reason.to_owned(),
    };
    if text.is_empty() || !text.ends_with('\n') || text == "\n" {
        return Err(malformed(
            "the text is empty or does not end with a newline",
        ));
    }
    if text.ends_with("\n\n") {
        return Err(malformed("the text ends with a blank line"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed(
            "the text holds a control character other than newline",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    const TEXT: &str = "wharf.example.com\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn note_key(name: &str, seed: u8) -> NoteKey {
        NoteKey::new(name, key(seed).public_key()).unwrap()
    }

    #[test]
    fn key_hash_follows_the_spec() {
        let k = note_key("example.com/log", 1);
        let mut input = b"example.com/log\n\x01".to_vec();
        input.extend_from_slice(&key(1).public_key().to_bytes());
        assert_eq!(k.key_hash(), crate::Hash::sha256(&input).0[..4]);
        assert_eq!(NoteKey::parse_vkey(&k.to_vkey()).unwrap(), k);
        let tampered = k
            .to_vkey()
            .replacen("example.com/log", "example.com/other", 1);
        assert!(NoteKey::parse_vkey(&tampered).is_err());
    }

    #[test]
    fn interoperates_with_the_go_note_package_vectors() {
        // The key, text and signature from the sumdb/note package's documentation example.
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let note = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let known = NoteKey::parse_vkey(vkey).unwrap();
        let parsed = Note::parse(note.as_bytes()).unwrap();
        assert_eq!(parsed.to_text(), note);
        assert_eq!(
            parsed.verify(std::slice::from_ref(&known), &[]).unwrap(),
            vec![known]
        );
        // The matching private key (`PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 ‖ seed)>`)
        // reproduces the note byte for byte: ed25519 signing is deterministic.
        let seed = b64_decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "seed").unwrap();
        let signer = SigningKey::from_seed(seed[1..].try_into().unwrap());
        let resigned = Note::sign(parsed.text(), &[("PeterNeumann", &signer)]).unwrap();
        assert_eq!(resigned.to_text(), note);
    }

    #[test]
    fn round_trips_and_verifies() {
        let signer = key(1);
        let note = Note::sign(TEXT, &[("wharf.example.com", &signer)]).unwrap();
        let text = note.to_text();
        assert!(text.starts_with(TEXT) && text.contains("\n\n\u{2014} wharf.example.com "));
        let parsed = Note::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, note);
        let known = note_key("wharf.example.com", 1);
        assert_eq!(
            parsed
                .verify(std::slice::from_ref(&known), std::slice::from_ref(&known))
                .unwrap(),
            vec![known]
        );
    }

    #[test]
    fn duplicate_signatures_by_the_same_key_are_counted_once() {
        let signer = key(1);
        let note = Note::sign(
            TEXT,
            &[("log", &signer), ("log", &signer), ("log", &signer)],
        )
        .unwrap();
        let known = note_key("log", 1);
        let signers = note.verify(std::slice::from_ref(&known), &[]).unwrap();
        assert_eq!(signers.len(), 1);
    }

    #[test]
    fn unknown_keys_are_ignored_but_known_bad_signatures_reject() {
        let note = Note::sign(TEXT, &[("witness", &key(9)), ("log", &key(1))]).unwrap();
        let known = note_key("log", 1);
        assert_eq!(
            note.verify(std::slice::from_ref(&known), &[]).unwrap(),
            vec![known.clone()]
        );
        // Same name, other key: an unknown key, ignored; the note then has no known signer.
        let impostor = Note::sign(TEXT, &[("log", &key(2))]).unwrap();
        let error = impostor
            .verify(std::slice::from_ref(&known), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not signed by any known key"), "{error}");
        // A known key's signature over other text rejects the whole note.
        let mut forged = Note::sign(TEXT, &[("log", &key(1))]).unwrap();
        forged.text = TEXT.replace('5', "6");
        let error = forged
            .verify(std::slice::from_ref(&known), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not verify"), "{error}");
    }

    #[test]
    fn required_keys_must_all_sign() {
        let note = Note::sign(TEXT, &[("log", &key(1))]).unwrap();
        let log = note_key("log", 1);
        let witness = note_key("witness", 2);
        let error = note
            .verify(&[log.clone(), witness.clone()], &[log, witness])
            .unwrap_err()
            .to_string();
        assert!(error.contains("witness"), "{error}");
    }

    #[test]
    fn malformed_notes_are_refused_with_a_reason() {
        let good = Note::sign(TEXT, &[("log", &key(1))]).unwrap().to_text();
        let cases = [
            (good.replace('\n', "\r\n"), "control character"),
            (good.replace("\n\n", "\n"), "no blank line"),
            (good.trim_end().to_owned(), "does not end with a newline"),
            (good.replace("\u{2014} ", "-- "), "does not start with"),
            (good.replace("\u{2014} log ", "\u{2014} log+x "), "key name"),
            (
                good.replace("\u{2014} log ", "\u{2014} log  "),
                "canonical base64",
            ),
            (format!("{TEXT}\n\u{2014} log AAAA\n"), "too short"),
            (format!("{TEXT}\n"), "no signature lines"),
            ("\n\n\u{2014} log AAAAAAA=\n".to_owned(), "text is empty"),
        ];
        for (bad, expected) in cases {
            let error = Note::parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{bad:?}: {error} should mention {expected}"
            );
        }
        let many: String =
            std::iter::repeat_n(good.lines().last().unwrap().to_owned() + "\n", 65).collect();
        let error = Note::parse(format!("{TEXT}\n{many}").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than 64"), "{error}");
    }

    #[test]
    fn text_may_hold_blank_lines_split_at_the_last() {
        let text = "line one\n\nline three\n";
        let note = Note::sign(text, &[("log", &key(1))]).unwrap();
        let parsed = Note::parse(note.to_text().as_bytes()).unwrap();
        assert_eq!(parsed.text(), text);
    }
}
