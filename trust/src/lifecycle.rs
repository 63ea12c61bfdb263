//! The registry's signed lifecycle feed: deprecated packages and versions, quarantined
//! versions and security advisories, in one document an installer or a mirror checks
//! against the registry's release key (the keyset's `release` role).
//!
//! Text form: `wharf-lifecycle-v1.<base64url JSON>.<base64url key id ‖ signature>`, signed
//! like a licence (`wharf-lifecycle-v1 ‖ 0x00 ‖ <exact JSON bytes>`). The JSON names the
//! registry's origin (a feed of another registry is refused) and a `serial` that grows with
//! every lifecycle change, so a holder can refuse an older feed.

use serde::{Deserialize, Serialize};

use crate::licence::{join_signed, signed_bytes, split_signed};
use crate::{KeyId, PublicKey, Signature, SigningKey, TrustError, UtcTime};

/// The tag that starts the feed's text form and its signed bytes.
pub const LIFECYCLE_TAG: &str = "wharf-lifecycle-v1";

/// A deprecated package (no `version`) or version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Deprecation {
    /// The package's name.
    pub package: String,
    /// The version, or `None` for the whole package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why, in the owner's words.
    pub message: String,
    /// The suggested successor (a package name, optionally `name@version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
}

/// A version an admin quarantined pending review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Quarantine {
    /// The package's name.
    pub package: String,
    /// The version.
    pub version: String,
    /// The admin's reason.
    pub reason: String,
}

/// How bad an advisory's issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A security advisory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Advisory {
    /// The advisory's id (letters, digits, `-`, `_`, `.`), e.g. `WHARF-2026-0001`.
    pub id: String,
    /// The affected package.
    pub package: String,
    /// The affected versions: semver requirements (`>=1.0.0, <1.2.3`); a version matching
    /// any of them is affected.
    pub affected: Vec<String>,
    /// How bad it is.
    pub severity: Severity,
    /// The first version with the fix, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// What the issue is.
    pub description: String,
    /// When the registry published it (`YYYY-MM-DDTHH:MM:SSZ`).
    pub published_at: String,
}

impl Advisory {
    /// Checks the fields: an id of letters, digits, `-`, `_` and `.`; at least one affected
    /// range, each a semver requirement; a `fixed` that is a version outside every range.
    pub fn check(&self) -> Result<(), TrustError> {
        let bad = |reason: String| TrustError::BadEncoding {
            what: "advisory".to_owned(),
            value: self.id.clone(),
            reason,
        };
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "the id must be 1 to 64 letters, digits, `-`, `_` or `.`".to_owned(),
            ));
        }
        if self.affected.is_empty() {
            return Err(bad("it names no affected range".to_owned()));
        }
        for range in &self.affected {
            semver::VersionReq::parse(range)
                .map_err(|e| bad(format!("affected range `{range}`: {e}")))?;
        }
        if let Some(fixed) = &self.fixed {
            let version = semver::Version::parse(fixed)
                .map_err(|e| bad(format!("fixed version `{fixed}`: {e}")))?;
            if self.affects(&version) {
                return Err(bad(format!(
                    "the fixed version {fixed} is inside an affected range"
                )));
            }
        }
        UtcTime::parse(&self.published_at, "advisory published-at")?;
        Ok(())
    }

    /// Whether `version` is inside an affected range (pre-releases match their range's
    /// bounds as plain versions do: an advisory must not miss `1.0.1-rc.1`).
    pub fn affects(&self, version: &semver::Version) -> bool {
        let plain = semver::Version::new(version.major, version.minor, version.patch);
        self.affected.iter().any(|range| {
            semver::VersionReq::parse(range)
                .is_ok_and(|req| req.matches(version) || req.matches(&plain))
        })
    }
}

/// What the feed says (the signed JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LifecycleTerms {
    /// The registry's origin.
    pub origin: String,
    /// Grows with every lifecycle change.
    pub serial: u64,
    /// When the feed was signed.
    pub issued_at: String,
    /// Deprecated packages and versions.
    pub deprecations: Vec<Deprecation>,
    /// Quarantined versions.
    pub quarantines: Vec<Quarantine>,
    /// Security advisories.
    pub advisories: Vec<Advisory>,
}

/// A signed lifecycle feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleFeed {
    terms: LifecycleTerms,
    json: Vec<u8>,
    key_id: KeyId,
    signature: Signature,
}

fn malformed(reason: impl Into<String>) -> TrustError {
    TrustError::NonCanonical {
        document: LIFECYCLE_TAG.to_owned(),
        line: 0,
        reason: reason.into(),
    }
}

impl LifecycleFeed {
    /// Signs `terms` with `key` (the registry's release key).
    pub fn issue(terms: LifecycleTerms, key: &SigningKey) -> Result<Self, TrustError> {
        UtcTime::parse(&terms.issued_at, "lifecycle feed issued-at")?;
        let json = serde_json::to_vec(&terms).map_err(|e| malformed(e.to_string()))?;
        let signature = key.sign_raw(&signed_bytes(LIFECYCLE_TAG, &json));
        Ok(Self {
            terms,
            json,
            key_id: key.key_id(),
            signature,
        })
    }

    /// Parses the text form and checks its signature against `key` and its origin against
    /// `origin`; every advisory must pass [`Advisory::check`].
    pub fn open(text: &str, key: &PublicKey, origin: &str) -> Result<Self, TrustError> {
        let (json, key_id, signature) = split_signed(LIFECYCLE_TAG, text.trim())?;
        if key_id != key.key_id() || !key.verifies(&signed_bytes(LIFECYCLE_TAG, &json), &signature)
        {
            return Err(TrustError::BadSignature {
                document: "lifecycle feed".to_owned(),
                key_id: key.key_id().short(),
            });
        }
        let terms: LifecycleTerms =
            serde_json::from_slice(&json).map_err(|e| malformed(e.to_string()))?;
        if terms.origin != origin {
            return Err(TrustError::WrongOrigin {
                document: "lifecycle feed".to_owned(),
                expected: origin.to_owned(),
                found: terms.origin,
            });
        }
        UtcTime::parse(&terms.issued_at, "lifecycle feed issued-at")?;
        for advisory in &terms.advisories {
            advisory.check()?;
        }
        Ok(Self {
            terms,
            json,
            key_id,
            signature,
        })
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        join_signed(LIFECYCLE_TAG, &self.json, self.key_id, self.signature)
    }

    /// The signed terms.
    pub fn terms(&self) -> &LifecycleTerms {
        &self.terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key;

    fn advisory(affected: &[&str], fixed: Option<&str>) -> Advisory {
        Advisory {
            id: "WHARF-2026-0001".to_owned(),
            package: "demo".to_owned(),
            affected: affected.iter().map(|&range| range.to_owned()).collect(),
            severity: Severity::High,
            fixed: fixed.map(str::to_owned),
            description: "reads any file".to_owned(),
            published_at: "2026-12-07T00:00:00Z".to_owned(),
        }
    }

    fn terms() -> LifecycleTerms {
        LifecycleTerms {
            origin: "wharf.example.com".to_owned(),
            serial: 3,
            issued_at: "2026-12-07T00:00:00Z".to_owned(),
            deprecations: vec![Deprecation {
                package: "old".to_owned(),
                version: None,
                message: "use new".to_owned(),
                successor: Some("new".to_owned()),
            }],
            quarantines: vec![],
            advisories: vec![advisory(&[">=1.0.0, <1.2.0"], Some("1.2.0"))],
        }
    }

    #[test]
    fn a_feed_opens_only_under_its_key_and_origin() {
        let feed = LifecycleFeed::issue(terms(), &key(4)).unwrap();
        let text = feed.to_text();
        assert!(text.starts_with("wharf-lifecycle-v1."));
        let opened = LifecycleFeed::open(&text, &key(4).public_key(), "wharf.example.com").unwrap();
        assert_eq!(opened.terms(), &terms());
        assert!(matches!(
            LifecycleFeed::open(&text, &key(5).public_key(), "wharf.example.com"),
            Err(TrustError::BadSignature { .. })
        ));
        assert!(matches!(
            LifecycleFeed::open(&text, &key(4).public_key(), "other.example.com"),
            Err(TrustError::WrongOrigin { .. })
        ));
    }

    #[test]
    fn an_edited_feed_is_refused() {
        let text = LifecycleFeed::issue(terms(), &key(4)).unwrap().to_text();
        let parts: Vec<&str> = text.split('.').collect();
        let mut terms = terms();
        terms.advisories.clear();
        let json = serde_json::to_vec(&terms).unwrap();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, json),
            parts[2]
        );
        assert!(LifecycleFeed::open(&forged, &key(4).public_key(), "wharf.example.com").is_err());
    }

    #[test]
    fn advisories_match_their_ranges() {
        let advisory = advisory(&[">=1.0.0, <1.2.0", "=0.9.3"], Some("1.2.0"));
        advisory.check().unwrap();
        for affected in ["1.0.0", "1.1.9", "0.9.3", "1.1.0-rc.1"] {
            assert!(
                advisory.affects(&semver::Version::parse(affected).unwrap()),
                "{affected}"
            );
        }
        for fine in ["1.2.0", "0.9.4", "2.0.0"] {
            assert!(
                !advisory.affects(&semver::Version::parse(fine).unwrap()),
                "{fine}"
            );
        }
    }

    #[test]
    fn bad_advisories_are_refused() {
        assert!(advisory(&[], None).check().is_err());
        assert!(advisory(&["not a range"], None).check().is_err());
        assert!(advisory(&["<2"], Some("1.0.0")).check().is_err());
        let mut bad_id = advisory(&["<2"], None);
        bad_id.id = "a b".to_owned();
        assert!(bad_id.check().is_err());
    }
}
