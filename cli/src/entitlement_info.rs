//! A registry's entitlement information (`/api/wharf/v1/entitlements`: entitlement keys,
//! premium packages, signed revocation list), as `wharf bundle` carries it and `wharf mirror
//! sync` fetches it: checked against the keyset the pinned root key starts (each key an
//! `entitlement:` line, the revocation list signed by those keys) and turned into the
//! `<copy>/entitlements.json` with which `wharf serve --data` checks premium downloads.

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use wharf_registry_server::MirrorEntitlements;
use wharf_trust::{Keyset, PublicKey, RevocationList};

/// What `/api/wharf/v1/entitlements` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntitlementInfo {
    /// Public entitlement keys (`wharf-ed25519:…`).
    pub(crate) keys: Vec<String>,
    /// Names of the premium packages.
    pub(crate) premium: Vec<String>,
    /// The newest signed revocation list, if any.
    pub(crate) revocations: Option<String>,
}

/// A package name as the registry compares names (case, `-`/`_`).
pub(crate) fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

impl EntitlementInfo {
    /// Parses the answer of `/api/wharf/v1/entitlements`.
    pub(crate) fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        serde_json::from_slice(bytes).context("it is not the registry's entitlement information")
    }

    /// The information a copy records: the part of `copy` the origin answered.
    pub(crate) fn of_copy(copy: &MirrorEntitlements) -> Self {
        Self {
            keys: copy.keys.clone(),
            premium: copy.premium.clone(),
            revocations: copy.revocations.clone(),
        }
    }

    /// Whether the registry has no entitlement key, premium package nor revocation.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.premium.is_empty() && self.revocations.is_none()
    }

    /// The premium package names, folded.
    pub(crate) fn premium_names(&self) -> BTreeSet<String> {
        self.premium.iter().map(|name| fold(name)).collect()
    }

    /// Whether `name` is a premium package.
    pub(crate) fn is_premium(&self, name: &str) -> bool {
        let name = fold(name);
        self.premium.iter().any(|premium| fold(premium) == name)
    }

    /// Checks every key against `keyset` (verified from the pinned root key: each must be one
    /// of its `entitlement:` lines) and the revocation list against those keys.
    pub(crate) fn check_against(&self, keyset: &Keyset) -> anyhow::Result<()> {
        for key in self.parsed_keys()? {
            if !keyset.entitlement_keys().contains(&key) {
                bail!(
                    "entitlement key {} is not signed into the registry's keyset (version {}), so no licence it signs can be trusted; sign it in with `wharf admin licence trust-key` on the registry",
                    key.key_id().short(),
                    keyset.version()
                );
            }
        }
        self.check_revocations()
    }

    /// Checks the revocation list against the keys listed (without a keyset to check them
    /// against: an upstream that serves no signed log).
    pub(crate) fn check_revocations(&self) -> anyhow::Result<()> {
        if let Some(list) = &self.revocations {
            RevocationList::open(list, &self.parsed_keys()?)
                .context("its revocation list does not verify under its entitlement keys")?;
        }
        Ok(())
    }

    fn parsed_keys(&self) -> anyhow::Result<Vec<PublicKey>> {
        self.keys
            .iter()
            .map(|text| {
                PublicKey::parse(text)
                    .with_context(|| format!("entitlement key `{text}` is not a public key"))
            })
            .collect()
    }

    /// The copy's `entitlements.json`: this information and, of `releases` (`(cksum, name,
    /// version)`), those of premium packages.
    pub(crate) fn for_copy<'r>(
        self,
        releases: impl IntoIterator<Item = (&'r str, &'r str, &'r str)>,
    ) -> MirrorEntitlements {
        let premium = self.premium_names();
        MirrorEntitlements {
            releases: releases
                .into_iter()
                .filter(|(_, name, _)| premium.contains(&fold(name)))
                .map(|(cksum, name, version)| {
                    (cksum.to_owned(), (name.to_owned(), version.to_owned()))
                })
                .collect(),
            keys: self.keys,
            premium: self.premium,
            revocations: self.revocations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premium_names_compare_as_the_registry_compares_them() {
        let info =
            EntitlementInfo::parse(br#"{"keys":[],"premium":["Paid_Plugin"],"revocations":null}"#)
                .unwrap();
        assert!(info.is_premium("paid-plugin"));
        assert!(!info.is_premium("free"));
        let copy = info.for_copy([("a", "paid_plugin", "1.0.0"), ("b", "free", "1.0.0")]);
        assert_eq!(copy.releases.keys().collect::<Vec<_>>(), ["a"]);
        assert!(EntitlementInfo::parse(br#"{"keys":[]}"#).is_err());
        assert!(EntitlementInfo::default().is_empty());
    }
}
