//! Publisher statements: the short canonical texts a package owner signs for each event
//! (release, yank, unyank, owner key added or revoked).
//!
//! A release statement, byte for byte (every line ends in LF, no trailing spaces):
//!
//! ```text
//! wharf-release-v1
//! origin: wharf.example.com
//! name: acme-widget
//! version: 1.4.2
//! cksum: <64 hex: SHA-256 of the .crate bytes>
//! entry: <64 hex: SHA-256 of the exact bytes of the version's index line as published
//!         (with `"yanked":false`), without its LF>
//! time: 2026-08-20T10:11:12Z
//! ```
//!
//! The other statements share the shape, with their own tag line and fields:
//! `wharf-yank-v1` and `wharf-unyank-v1` (`origin`, `name`, `version`, `time`),
//! `wharf-owner-key-add-v1` (`origin`, `name`, `key`, `time`) and
//! `wharf-owner-key-revoke-v1` (`origin`, `name`, `key`, optional `compromised-since`,
//! `time`), where `key` is a public key's text form, and the registry's
//! `wharf-deprecate-v1` (`origin`, `name`, optional `version`, optional `successor`,
//! `message`: the SHA-256 of the message's UTF-8 bytes, `time`) and `wharf-undeprecate-v1`
//! (`origin`, `name`, optional `version`, `time`); a deprecation without a version is the
//! whole package's.
//!
//! A signature covers `<tag line> ‖ 0x00 ‖ <statement bytes>`, e.g.
//! `b"wharf-release-v1\0wharf-release-v1\norigin: …"`: exact bytes, never a re-serialised
//! form, and a prefix no signed note can start with (notes cannot hold a NUL), so a
//! statement signature can never be passed off as a note signature or as a signature over
//! another kind of statement.

use std::fmt;

use crate::encoding::{CanonicalReader, CanonicalWriter, check_value, shorten};
use crate::{Hash, KeyId, PublicKey, Signature, SigningKey, TrustError, UtcTime};

const DOCUMENT: &str = "statement";

/// Which event a statement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatementKind {
    /// A new version.
    Release,
    /// A version marked yanked.
    Yank,
    /// A yanked version restored.
    Unyank,
    /// A publisher key added to a package's owner keys.
    OwnerKeyAdd,
    /// A publisher key removed from a package's owner keys.
    OwnerKeyRevoke,
    /// A registry account made an owner of a package.
    OwnerAdd,
    /// A registry account's ownership of a package ended.
    OwnerRemove,
    /// A package or a version marked deprecated.
    Deprecate,
    /// A deprecation withdrawn.
    Undeprecate,
}

impl StatementKind {
    const ALL: [Self; 9] = [
        Self::Release,
        Self::Yank,
        Self::Unyank,
        Self::OwnerKeyAdd,
        Self::OwnerKeyRevoke,
        Self::OwnerAdd,
        Self::OwnerRemove,
        Self::Deprecate,
        Self::Undeprecate,
    ];

    /// The tag line, e.g. `wharf-release-v1`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Release => "wharf-release-v1",
            Self::Yank => "wharf-yank-v1",
            Self::Unyank => "wharf-unyank-v1",
            Self::OwnerKeyAdd => "wharf-owner-key-add-v1",
            Self::OwnerKeyRevoke => "wharf-owner-key-revoke-v1",
            Self::OwnerAdd => "wharf-owner-add-v1",
            Self::OwnerRemove => "wharf-owner-remove-v1",
            Self::Deprecate => "wharf-deprecate-v1",
            Self::Undeprecate => "wharf-undeprecate-v1",
        }
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// What a statement says beyond its origin, package name and time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementBody {
    /// `wharf-release-v1`.
    Release {
        /// The version, as in the index line.
        version: String,
        /// SHA-256 of the `.crate` bytes (the index line's `cksum`).
        cksum: Hash,
        /// SHA-256 of the exact bytes of the index line as published (without the LF).
        entry: Hash,
    },
    /// `wharf-yank-v1`.
    Yank {
        /// The version yanked.
        version: String,
    },
    /// `wharf-unyank-v1`.
    Unyank {
        /// The version restored.
        version: String,
    },
    /// `wharf-owner-key-add-v1`.
    OwnerKeyAdd {
        /// The key added.
        key: PublicKey,
    },
    /// `wharf-owner-key-revoke-v1`.
    OwnerKeyRevoke {
        /// The key revoked.
        key: PublicKey,
        /// When the key is known to have been stolen: events it signed from then on are
        /// invalid, not only those after the revocation.
        compromised_since: Option<UtcTime>,
    },
    /// `wharf-owner-add-v1`, written by the registry when an account becomes an owner.
    OwnerAdd {
        /// The account's login.
        owner: String,
    },
    /// `wharf-owner-remove-v1`, written by the registry when an account stops being one.
    OwnerRemove {
        /// The account's login.
        owner: String,
    },
    /// `wharf-deprecate-v1`, written by the registry when an owner or an admin deprecates.
    Deprecate {
        /// The version, or `None` for the whole package.
        version: Option<String>,
        /// The suggested successor (a package name, optionally `name@version`).
        successor: Option<String>,
        /// SHA-256 of the message's UTF-8 bytes.
        message: Hash,
    },
    /// `wharf-undeprecate-v1`, written by the registry when a deprecation is withdrawn.
    Undeprecate {
        /// The version, or `None` for the whole package.
        version: Option<String>,
    },
}

/// A publisher statement (see the module documentation). Built by [`Statement::new`] or
/// [`Statement::parse`], so its text form is always canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    origin: String,
    name: String,
    body: StatementBody,
    time: UtcTime,
}

impl Statement {
    /// Checks the values (printable ASCII, no spaces, at most 1024 characters) and builds
    /// the statement.
    pub fn new(
        origin: &str,
        name: &str,
        body: StatementBody,
        time: UtcTime,
    ) -> Result<Self, TrustError> {
        let statement = Self {
            origin: origin.to_owned(),
            name: name.to_owned(),
            body,
            time,
        };
        let tag = statement.kind().tag();
        check_value(tag, "origin", origin)?;
        check_value(tag, "name", name)?;
        if let Some(version) = statement.version() {
            check_value(tag, "version", version)?;
        }
        if let StatementBody::OwnerAdd { owner } | StatementBody::OwnerRemove { owner } =
            &statement.body
        {
            check_value(tag, "owner", owner)?;
        }
        if let StatementBody::Deprecate {
            successor: Some(successor),
            ..
        } = &statement.body
        {
            check_value(tag, "successor", successor)?;
        }
        Ok(statement)
    }

    /// The event kind.
    pub fn kind(&self) -> StatementKind {
        match self.body {
            StatementBody::Release { .. } => StatementKind::Release,
            StatementBody::Yank { .. } => StatementKind::Yank,
            StatementBody::Unyank { .. } => StatementKind::Unyank,
            StatementBody::OwnerKeyAdd { .. } => StatementKind::OwnerKeyAdd,
            StatementBody::OwnerKeyRevoke { .. } => StatementKind::OwnerKeyRevoke,
            StatementBody::OwnerAdd { .. } => StatementKind::OwnerAdd,
            StatementBody::OwnerRemove { .. } => StatementKind::OwnerRemove,
            StatementBody::Deprecate { .. } => StatementKind::Deprecate,
            StatementBody::Undeprecate { .. } => StatementKind::Undeprecate,
        }
    }

    /// The registry the statement is for (stops replay on another registry).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The package name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, for release, yank and unyank statements and a version's deprecation.
    pub fn version(&self) -> Option<&str> {
        match &self.body {
            StatementBody::Release { version, .. }
            | StatementBody::Yank { version }
            | StatementBody::Unyank { version } => Some(version),
            StatementBody::Deprecate { version, .. } | StatementBody::Undeprecate { version } => {
                version.as_deref()
            }
            StatementBody::OwnerKeyAdd { .. }
            | StatementBody::OwnerKeyRevoke { .. }
            | StatementBody::OwnerAdd { .. }
            | StatementBody::OwnerRemove { .. } => None,
        }
    }

    /// The kind-specific fields.
    pub fn body(&self) -> &StatementBody {
        &self.body
    }

    /// When the publisher made the statement (the publisher's clock).
    pub fn time(&self) -> UtcTime {
        self.time
    }

    /// The canonical text.
    pub fn to_text(&self) -> String {
        let writer = CanonicalWriter::new(self.kind().tag())
            .field("origin", &self.origin)
            .field("name", &self.name);
        let writer = match &self.body {
            StatementBody::Release {
                version,
                cksum,
                entry,
            } => writer
                .field("version", version)
                .field("cksum", cksum)
                .field("entry", entry),
            StatementBody::Yank { version } | StatementBody::Unyank { version } => {
                writer.field("version", version)
            }
            StatementBody::OwnerKeyAdd { key } => writer.field("key", key),
            StatementBody::OwnerKeyRevoke {
                key,
                compromised_since,
            } => writer
                .field("key", key)
                .optional("compromised-since", compromised_since.as_ref()),
            StatementBody::OwnerAdd { owner } | StatementBody::OwnerRemove { owner } => {
                writer.field("owner", owner)
            }
            StatementBody::Deprecate {
                version,
                successor,
                message,
            } => writer
                .optional("version", version.as_ref())
                .optional("successor", successor.as_ref())
                .field("message", message),
            StatementBody::Undeprecate { version } => writer.optional("version", version.as_ref()),
        };
        writer.field("time", self.time).finish()
    }

    /// Parses a statement, refusing every non-canonical form.
    pub fn parse(bytes: &[u8]) -> Result<Self, TrustError> {
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let kind = StatementKind::ALL
            .into_iter()
            .find(|kind| kind.tag().as_bytes() == first_line)
            .ok_or_else(|| TrustError::NonCanonical {
                document: DOCUMENT.to_owned(),
                line: 1,
                reason: format!(
                    "`{}` is not a statement tag (e.g. `wharf-release-v1`)",
                    shorten(&String::from_utf8_lossy(first_line))
                ),
            })?;
        let mut reader = CanonicalReader::new(DOCUMENT, bytes, kind.tag())?;
        let origin = reader.field("origin")?.to_owned();
        let name = reader.field("name")?.to_owned();
        let body = match kind {
            StatementKind::Release => StatementBody::Release {
                version: reader.field("version")?.to_owned(),
                cksum: Hash::from_hex(reader.field("cksum")?, "statement cksum")?,
                entry: Hash::from_hex(reader.field("entry")?, "statement entry")?,
            },
            StatementKind::Yank => StatementBody::Yank {
                version: reader.field("version")?.to_owned(),
            },
            StatementKind::Unyank => StatementBody::Unyank {
                version: reader.field("version")?.to_owned(),
            },
            StatementKind::OwnerKeyAdd => StatementBody::OwnerKeyAdd {
                key: PublicKey::parse(reader.field("key")?)?,
            },
            StatementKind::OwnerKeyRevoke => StatementBody::OwnerKeyRevoke {
                key: PublicKey::parse(reader.field("key")?)?,
                compromised_since: reader
                    .optional("compromised-since")?
                    .map(|value| UtcTime::parse(value, "statement compromised-since"))
                    .transpose()?,
            },
            StatementKind::OwnerAdd => StatementBody::OwnerAdd {
                owner: reader.field("owner")?.to_owned(),
            },
            StatementKind::OwnerRemove => StatementBody::OwnerRemove {
                owner: reader.field("owner")?.to_owned(),
            },
            StatementKind::Deprecate => StatementBody::Deprecate {
                version: reader.optional("version")?.map(str::to_owned),
                successor: reader.optional("successor")?.map(str::to_owned),
                message: Hash::from_hex(reader.field("message")?, "statement message")?,
            },
            StatementKind::Undeprecate => StatementBody::Undeprecate {
                version: reader.optional("version")?.map(str::to_owned),
            },
        };
        let time = UtcTime::parse(reader.field("time")?, "statement time")?;
        reader.finish()?;
        Self::new(&origin, &name, body, time)
    }

    /// The exact bytes a signature covers: tag line, NUL, statement text.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let tag = self.kind().tag();
        let text = self.to_text();
        let mut bytes = Vec::with_capacity(tag.len() + 1 + text.len());
        bytes.extend_from_slice(tag.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }

    /// Signs the statement.
    pub fn sign(&self, key: &SigningKey) -> StatementSignature {
        StatementSignature {
            key_id: key.key_id(),
            signature: key.sign_raw(&self.signed_bytes()),
        }
    }

    /// Checks `signature` against `key`: it must name the key's id and verify strictly.
    pub fn verify(
        &self,
        signature: &StatementSignature,
        key: &PublicKey,
    ) -> Result<(), TrustError> {
        if signature.key_id == key.key_id()
            && key.verifies(&self.signed_bytes(), &signature.signature)
        {
            Ok(())
        } else {
            Err(TrustError::BadSignature {
                document: self.describe(),
                key_id: key.key_id().short(),
            })
        }
    }

    /// Checks that the statement is for the registry `origin` (a statement for another
    /// registry is a replay).
    pub fn check_origin(&self, origin: &str) -> Result<(), TrustError> {
        if self.origin == origin {
            Ok(())
        } else {
            Err(TrustError::WrongOrigin {
                document: self.describe(),
                expected: origin.to_owned(),
                found: self.origin.clone(),
            })
        }
    }

    /// A short description for messages, e.g. `release statement for acme-widget 1.4.2`.
    pub fn describe(&self) -> String {
        let kind = match self.kind() {
            StatementKind::Release => "release",
            StatementKind::Yank => "yank",
            StatementKind::Unyank => "unyank",
            StatementKind::OwnerKeyAdd => "owner-key-add",
            StatementKind::OwnerKeyRevoke => "owner-key-revoke",
            StatementKind::OwnerAdd => "owner-add",
            StatementKind::OwnerRemove => "owner-remove",
            StatementKind::Deprecate => "deprecate",
            StatementKind::Undeprecate => "undeprecate",
        };
        match self.version() {
            Some(version) => format!("{kind} statement for {} {version}", self.name),
            None => format!("{kind} statement for {}", self.name),
        }
    }
}

/// One signature over a statement: the signer's key id and the signature.
/// Text form: `<64 hex key id>:<base64 signature>` (no spaces, so it can stand as a
/// canonical field value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementSignature {
    /// The id of the key that signed.
    pub key_id: KeyId,
    /// The ed25519 signature over [`Statement::signed_bytes`].
    pub signature: Signature,
}

impl StatementSignature {
    /// The text form.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.key_id, self.signature.to_base64())
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let (id, signature) = text
            .split_once(':')
            .ok_or_else(|| TrustError::BadEncoding {
                what: "statement signature".to_owned(),
                value: shorten(text),
                reason: "expected `<key id>:<base64 signature>`".to_owned(),
            })?;
        Ok(Self {
            key_id: KeyId::parse(id)?,
            signature: Signature::from_base64(signature, "statement signature")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::tests::key;

    pub(crate) fn release(name: &str, version: &str) -> Statement {
        Statement::new(
            "wharf.example.com",
            name,
            StatementBody::Release {
                version: version.to_owned(),
                cksum: Hash::sha256(b"crate bytes"),
                entry: Hash::sha256(b"index line"),
            },
            UtcTime::parse("2026-08-20T10:11:12Z", "t").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn release_text_is_exactly_the_documented_form() {
        let text = release("acme-widget", "1.4.2").to_text();
        let expected = format!(
            "wharf-release-v1\norigin: wharf.example.com\nname: acme-widget\nversion: 1.4.2\ncksum: {}\nentry: {}\ntime: 2026-08-20T10:11:12Z\n",
            Hash::sha256(b"crate bytes"),
            Hash::sha256(b"index line"),
        );
        assert_eq!(text, expected);
        assert_eq!(
            Statement::parse(text.as_bytes()).unwrap(),
            release("acme-widget", "1.4.2")
        );
    }

    #[test]
    fn every_kind_round_trips() {
        let time = UtcTime::parse("2026-01-02T03:04:05Z", "t").unwrap();
        let bodies = [
            StatementBody::Yank {
                version: "1.0.0".into(),
            },
            StatementBody::Unyank {
                version: "1.0.0+build".into(),
            },
            StatementBody::OwnerKeyAdd {
                key: key(1).public_key(),
            },
            StatementBody::OwnerKeyRevoke {
                key: key(1).public_key(),
                compromised_since: None,
            },
            StatementBody::OwnerKeyRevoke {
                key: key(1).public_key(),
                compromised_since: Some(time),
            },
            StatementBody::OwnerAdd {
                owner: "alice".into(),
            },
            StatementBody::OwnerRemove {
                owner: "bob".into(),
            },
            StatementBody::Deprecate {
                version: None,
                successor: Some("pkg-next".into()),
                message: Hash::sha256("use pkg-next".as_bytes()),
            },
            StatementBody::Deprecate {
                version: Some("1.0.0".into()),
                successor: None,
                message: Hash::sha256(b""),
            },
            StatementBody::Undeprecate { version: None },
            StatementBody::Undeprecate {
                version: Some("1.0.0".into()),
            },
        ];
        for body in bodies {
            let statement = Statement::new("o.example", "pkg", body, time).unwrap();
            let text = statement.to_text();
            assert_eq!(
                Statement::parse(text.as_bytes()).unwrap(),
                statement,
                "{text}"
            );
        }
    }

    #[test]
    fn non_canonical_statements_are_refused() {
        let good = release("demo", "1.0.0").to_text();
        let hash = Hash::sha256(b"crate bytes").to_hex();
        let mutations = [
            good.replace('\n', "\r\n"),
            good.replace("name: demo", "name:  demo"),
            good.replace("name: demo", "name: demo "),
            good.replace("name: demo\nversion: 1.0.0", "version: 1.0.0\nname: demo"),
            good.replace("name: demo", "name: demo\nname: demo"),
            good.replace("name: demo", "name: demo\nlicense: MIT"),
            good.replace(&hash, &hash.to_uppercase()),
            good.replace(&hash, &hash[..63]),
            good.replace("wharf-release-v1", "wharf-release-v2"),
            good.replace("10:11:12Z", "10:11:12.000Z"),
            format!("{good}\n"),
            good.trim_end().to_owned(),
        ];
        for bad in mutations {
            assert!(
                Statement::parse(bad.as_bytes()).is_err(),
                "accepted:\n{bad}"
            );
        }
    }

    #[test]
    fn a_statement_for_another_registry_is_a_replay() {
        let statement = release("demo", "1.0.0");
        statement.check_origin("wharf.example.com").unwrap();
        let error = statement
            .check_origin("other.example")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is for wharf.example.com, not other.example"),
            "{error}"
        );
    }

    #[test]
    fn values_with_spaces_cannot_be_built() {
        let body = StatementBody::Yank {
            version: "1.0 .0".into(),
        };
        let error = Statement::new("o", "pkg", body, UtcTime::now())
            .unwrap_err()
            .to_string();
        assert!(error.contains("version"), "{error}");
    }

    #[test]
    fn signature_covers_tag_nul_and_exact_bytes() {
        let signer = key(2);
        let statement = release("demo", "1.0.0");
        let signature = statement.sign(&signer);
        statement.verify(&signature, &signer.public_key()).unwrap();
        assert!(
            statement
                .signed_bytes()
                .starts_with(b"wharf-release-v1\0wharf-release-v1\n")
        );
        // The plain text (no domain prefix) does not verify.
        let plain = signer.sign_raw(statement.to_text().as_bytes());
        let undomained = StatementSignature {
            key_id: signer.key_id(),
            signature: plain,
        };
        assert!(statement.verify(&undomained, &signer.public_key()).is_err());
        // Another version does not verify.
        assert!(
            release("demo", "1.0.1")
                .verify(&signature, &signer.public_key())
                .is_err()
        );
        // A signature naming another key id is refused even if the bytes verify.
        let renamed = StatementSignature {
            key_id: key(3).key_id(),
            ..signature
        };
        assert!(statement.verify(&renamed, &signer.public_key()).is_err());
        let text = signature.to_text();
        assert_eq!(StatementSignature::parse(&text).unwrap(), signature);
    }

    #[test]
    fn a_yank_signature_is_not_an_unyank_signature() {
        let signer = key(4);
        let time = UtcTime::now();
        let yank = Statement::new(
            "o",
            "p",
            StatementBody::Yank {
                version: "1.0.0".into(),
            },
            time,
        )
        .unwrap();
        let unyank = Statement::new(
            "o",
            "p",
            StatementBody::Unyank {
                version: "1.0.0".into(),
            },
            time,
        )
        .unwrap();
        assert!(
            unyank
                .verify(&yank.sign(&signer), &signer.public_key())
                .is_err()
        );
    }
}
