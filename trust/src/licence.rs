//! Licences for premium packages: a JSON statement signed by an entitlement key, carried as
//! one line of text that fits in a file or an environment variable.
//!
//! Text form: `wharf-licence-v1.<base64url JSON>.<base64url key id ‖ signature>` (no
//! padding). The signature covers `wharf-licence-v1 ‖ 0x00 ‖ <exact JSON bytes>`: the bytes
//! carried, never a re-serialised form. The JSON names the licence `id`, the `licensee` (a
//! user login or `tenant:<id>`), the `packages` (names or `*` globs, compared ignoring case
//! and `-`/`_`), a semver `versions` requirement, `not-before`, `expires` and `issued-at`
//! (`YYYY-MM-DDTHH:MM:SSZ`).
//!
//! [`Licence::check`] runs every check in a fixed order and names the first that fails
//! ([`LicenceRefusal`]), so the server and an offline installer give the same message.
//! Revocations are [`RevocationList`](crate::RevocationList)s (see `licence_revocation.rs`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::encoding::shorten;
use crate::{KeyId, PublicKey, Signature, SigningKey, TrustError, UtcTime};

/// The tag that starts a licence's text form and its signed bytes.
pub const LICENCE_TAG: &str = "wharf-licence-v1";

/// What a licence grants (the signed JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LicenceTerms {
    /// The licence id (named by revocation lists).
    pub id: String,
    /// A user login, or `tenant:<id>`.
    pub licensee: String,
    /// Package names or `*` globs.
    pub packages: Vec<String>,
    /// A semver requirement the version must meet, e.g. `>=1, <3`.
    pub versions: String,
    /// Not valid before this instant.
    pub not_before: String,
    /// Not valid from this instant on.
    pub expires: String,
    /// When the licence was issued.
    pub issued_at: String,
}

/// A signed licence, parsed from or built into its text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Licence {
    terms: LicenceTerms,
    json: Vec<u8>,
    key_id: KeyId,
    signature: Signature,
}

/// Which check refused a licence. The same words come from the server and the installer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LicenceRefusal {
    /// No licence was presented.
    Missing,
    /// The text is not a licence.
    Malformed(String),
    /// The signature does not verify under any trusted entitlement key.
    Forged,
    /// The licence is not valid yet.
    NotYetValid(String),
    /// The licence expired.
    Expired(String),
    /// The licence does not name the package.
    WrongPackage(String),
    /// The version is outside the licence's range.
    VersionOutOfRange {
        /// The version asked for.
        version: String,
        /// The licence's requirement.
        range: String,
    },
    /// The licence id is on the revocation list.
    Revoked(u64),
    /// The licence is for someone else.
    LicenseeMismatch {
        /// The licensee named by the licence.
        licensee: String,
        /// The caller.
        caller: String,
    },
}

impl LicenceRefusal {
    /// A short stable word for the check (`missing`, `expired`, …), for logs and audit.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Forged => "forged",
            Self::NotYetValid(_) => "not-yet-valid",
            Self::Expired(_) => "expired",
            Self::WrongPackage(_) => "wrong-package",
            Self::VersionOutOfRange { .. } => "version-out-of-range",
            Self::Revoked(_) => "revoked",
            Self::LicenseeMismatch { .. } => "licensee-mismatch",
        }
    }
}

impl fmt::Display for LicenceRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str(
                "licence missing: this is a premium package; present a licence (`wharf install --licence FILE` or the `Wharf-Licence` header)",
            ),
            Self::Malformed(reason) => write!(f, "licence malformed: {reason}"),
            Self::Forged => f.write_str(
                "licence signature invalid: it is not signed by an entitlement key this registry trusts (forged or altered)",
            ),
            Self::NotYetValid(at) => write!(f, "licence not valid yet: valid from {at}"),
            Self::Expired(at) => write!(f, "licence expired at {at}; ask for a renewed licence"),
            Self::WrongPackage(name) => write!(f, "licence does not cover package `{name}`"),
            Self::VersionOutOfRange { version, range } => write!(
                f,
                "licence covers versions `{range}`, not `{version}`"
            ),
            Self::Revoked(serial) => write!(
                f,
                "licence revoked (revocation list serial {serial}); ask for a new licence"
            ),
            Self::LicenseeMismatch { licensee, caller } => write!(
                f,
                "licence is issued to `{licensee}`, not to `{caller}`"
            ),
        }
    }
}

/// What a licence is checked for.
#[derive(Debug, Clone, Copy)]
pub struct LicenceRequest<'a> {
    /// The package asked for.
    pub package: &'a str,
    /// Its version.
    pub version: &'a str,
    /// The caller's login (`None`: not known, e.g. an anonymous or offline install; the
    /// licensee check is then left to the registry).
    pub caller: Option<&'a str>,
    /// The time of the check.
    pub now: UtcTime,
}

impl Licence {
    /// Signs `terms` with `key` (the values are checked first).
    pub fn issue(terms: LicenceTerms, key: &SigningKey) -> Result<Self, TrustError> {
        check_terms(&terms)?;
        let json = serde_json::to_vec(&terms).map_err(|e| malformed(&e.to_string()))?;
        let signature = key.sign_raw(&signed_bytes(LICENCE_TAG, &json));
        Ok(Self {
            terms,
            json,
            key_id: key.key_id(),
            signature,
        })
    }

    /// Parses the text form (surrounding whitespace ignored); the signature is not checked
    /// here ([`Licence::check`] does).
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let (json, key_id, signature) = split_signed(LICENCE_TAG, text.trim())?;
        let terms: LicenceTerms =
            serde_json::from_slice(&json).map_err(|e| malformed(&e.to_string()))?;
        check_terms(&terms)?;
        Ok(Self {
            terms,
            json,
            key_id,
            signature,
        })
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        join_signed(LICENCE_TAG, &self.json, self.key_id, self.signature)
    }

    /// The signed terms.
    pub fn terms(&self) -> &LicenceTerms {
        &self.terms
    }

    /// The id of the key that signed it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Whether the signature verifies under one of `keys`.
    pub fn signed_by_any(&self, keys: &[PublicKey]) -> bool {
        let bytes = signed_bytes(LICENCE_TAG, &self.json);
        keys.iter()
            .any(|key| key.key_id() == self.key_id && key.verifies(&bytes, &self.signature))
    }

    /// Runs every check in order: signature under a trusted key, revocation, validity
    /// window, package, version range, licensee. The first failure is returned.
    pub fn check(
        &self,
        request: &LicenceRequest<'_>,
        keys: &[PublicKey],
        revoked: Option<(&[String], u64)>,
    ) -> Result<(), LicenceRefusal> {
        if !self.signed_by_any(keys) {
            return Err(LicenceRefusal::Forged);
        }
        if let Some((ids, serial)) = revoked
            && ids.contains(&self.terms.id)
        {
            return Err(LicenceRefusal::Revoked(serial));
        }
        let time = |value: &str| UtcTime::parse(value, "licence time");
        let (Ok(not_before), Ok(expires)) =
            (time(&self.terms.not_before), time(&self.terms.expires))
        else {
            return Err(LicenceRefusal::Malformed("bad time".to_owned()));
        };
        if request.now < not_before {
            return Err(LicenceRefusal::NotYetValid(self.terms.not_before.clone()));
        }
        if request.now >= expires {
            return Err(LicenceRefusal::Expired(self.terms.expires.clone()));
        }
        if !self.covers_package(request.package) {
            return Err(LicenceRefusal::WrongPackage(request.package.to_owned()));
        }
        let range = semver::VersionReq::parse(&self.terms.versions)
            .map_err(|e| LicenceRefusal::Malformed(e.to_string()))?;
        let in_range =
            semver::Version::parse(request.version).is_ok_and(|version| range.matches(&version));
        if !in_range {
            return Err(LicenceRefusal::VersionOutOfRange {
                version: request.version.to_owned(),
                range: self.terms.versions.clone(),
            });
        }
        if let Some(caller) = request.caller
            && !self.terms.licensee.starts_with("tenant:")
            && self.terms.licensee != caller
        {
            return Err(LicenceRefusal::LicenseeMismatch {
                licensee: self.terms.licensee.clone(),
                caller: caller.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether one of the licence's package patterns names `package` (case and `-`/`_`
    /// folded).
    pub fn covers_package(&self, package: &str) -> bool {
        let name = fold(package);
        self.terms.packages.iter().any(|pattern| {
            glob::Pattern::new(&fold(pattern)).is_ok_and(|pattern| pattern.matches(&name))
        })
    }
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fn check_terms(terms: &LicenceTerms) -> Result<(), TrustError> {
    let field = |field: &str, value: &str, reason: &str| TrustError::InvalidField {
        document: LICENCE_TAG.to_owned(),
        field: field.to_owned(),
        value: shorten(value),
        reason: reason.to_owned(),
    };
    if terms.id.is_empty() || terms.id.len() > 128 || terms.id.contains(char::is_whitespace) {
        return Err(field(
            "id",
            &terms.id,
            "must be 1-128 characters without spaces",
        ));
    }
    if terms.licensee.is_empty() {
        return Err(field(
            "licensee",
            "",
            "must name a user login or `tenant:<id>`",
        ));
    }
    if terms.packages.is_empty() {
        return Err(field(
            "packages",
            "[]",
            "must name at least one package or glob",
        ));
    }
    for pattern in &terms.packages {
        glob::Pattern::new(pattern)
            .map_err(|e| field("packages", pattern, &format!("is not a glob: {e}")))?;
    }
    semver::VersionReq::parse(&terms.versions).map_err(|e| {
        field(
            "versions",
            &terms.versions,
            &format!("is not a semver requirement: {e}"),
        )
    })?;
    for (name, value) in [
        ("not-before", &terms.not_before),
        ("expires", &terms.expires),
        ("issued-at", &terms.issued_at),
    ] {
        UtcTime::parse(value, &format!("licence {name}"))?;
    }
    Ok(())
}

fn malformed(reason: &str) -> TrustError {
    TrustError::NonCanonical {
        document: LICENCE_TAG.to_owned(),
        line: 0,
        reason: reason.to_owned(),
    }
}

/// `tag ‖ 0x00 ‖ json`.
pub(crate) fn signed_bytes(tag: &str, json: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(tag.len() + 1 + json.len());
    bytes.extend_from_slice(tag.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(json);
    bytes
}

/// `tag.<b64 json>.<b64 key id ‖ signature>`.
pub(crate) fn join_signed(tag: &str, json: &[u8], key_id: KeyId, signature: Signature) -> String {
    let mut sig = Vec::with_capacity(96);
    sig.extend_from_slice(&key_id.0);
    sig.extend_from_slice(&signature.0);
    format!(
        "{tag}.{}.{}",
        URL_SAFE_NO_PAD.encode(json),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// Splits `tag.<b64 json>.<b64 key id ‖ signature>`.
pub(crate) fn split_signed(
    tag: &str,
    text: &str,
) -> Result<(Vec<u8>, KeyId, Signature), TrustError> {
    let bad = |reason: &str| TrustError::BadEncoding {
        what: tag.to_owned(),
        value: shorten(text),
        reason: reason.to_owned(),
    };
    let mut parts = text.split('.');
    let (Some(found), Some(json), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(&format!("expected `{tag}.<base64url>.<base64url>`")));
    };
    if found != tag {
        return Err(bad(&format!("does not start with `{tag}.`")));
    }
    let json = URL_SAFE_NO_PAD
        .decode(json)
        .map_err(|e| bad(&format!("the statement is not base64url: {e}")))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|e| bad(&format!("the signature is not base64url: {e}")))?;
    if sig.len() != 96 {
        return Err(bad(
            "the signature part must be a 32-byte key id and a 64-byte signature",
        ));
    }
    let mut key_id = [0; 32];
    key_id.copy_from_slice(&sig[..32]);
    let signature = Signature::from_slice(&sig[32..], "signature")?;
    Ok((json, KeyId(key_id), signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    fn terms() -> LicenceTerms {
        LicenceTerms {
            id: "lic-1".into(),
            licensee: "alice".into(),
            packages: vec!["acme-*".into()],
            versions: ">=1, <2".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            expires: "2027-01-01T00:00:00Z".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn request<'a>(package: &'a str, version: &'a str) -> LicenceRequest<'a> {
        LicenceRequest {
            package,
            version,
            caller: Some("alice"),
            now: UtcTime::parse("2026-06-01T00:00:00Z", "t").unwrap(),
        }
    }

    #[test]
    fn a_licence_round_trips_and_each_check_names_itself() {
        let signer = key(1);
        let keys = [signer.public_key()];
        let licence = Licence::issue(terms(), &signer).unwrap();
        let parsed = Licence::parse(&licence.to_text()).unwrap();
        assert_eq!(parsed, licence);
        parsed
            .check(&request("acme_Widget", "1.2.0"), &keys, None)
            .unwrap();
        let refusal = |req, revoked| parsed.check(&req, &keys, revoked).unwrap_err().check();
        assert_eq!(refusal(request("other", "1.0.0"), None), "wrong-package");
        assert_eq!(
            refusal(request("acme-w", "2.0.0"), None),
            "version-out-of-range"
        );
        let ids = ["lic-1".to_owned()];
        assert_eq!(
            refusal(request("acme-w", "1.0.0"), Some((&ids[..], 3))),
            "revoked"
        );
        let mut late = request("acme-w", "1.0.0");
        late.now = UtcTime::parse("2027-01-01T00:00:00Z", "t").unwrap();
        assert_eq!(refusal(late, None), "expired");
        let mut bob = request("acme-w", "1.0.0");
        bob.caller = Some("bob");
        assert_eq!(refusal(bob, None), "licensee-mismatch");
        assert_eq!(
            parsed
                .check(&request("acme-w", "1.0.0"), &[key(2).public_key()], None)
                .unwrap_err(),
            LicenceRefusal::Forged
        );
    }

    #[test]
    fn an_altered_statement_does_not_verify() {
        let signer = key(1);
        let licence = Licence::issue(terms(), &signer).unwrap();
        let text = licence.to_text();
        let parts: Vec<&str> = text.split('.').collect();
        let mut changed = terms();
        changed.versions = "*".into();
        let json = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed).unwrap());
        let forged = Licence::parse(&format!("{}.{json}.{}", parts[0], parts[2])).unwrap();
        assert!(!forged.signed_by_any(&[signer.public_key()]));
        assert!(Licence::parse("wharf-licence-v1.e30.AA").is_err());
    }
}
