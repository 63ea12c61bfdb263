//! Licences for premium packages, checked by the installer before each download with the
//! same checks (and words) as the registry: signature under a published entitlement key,
//! revocation, validity window, package and version range. The licensee is left to the
//! registry, which knows who the token belongs to.
//!
//! The premium package names and the signed revocation list come from the registry's
//! `/api/wharf/v1/entitlements`; the licence goes with each premium download in the
//! `Wharf-Licence` header, so the registry checks it again. The keys a licence may be signed
//! by are, when the install directory pins a root key, the entitlement keys signed into the
//! registry's keyset (its `entitlement` lines, the chain walked from the pinned root key),
//! whatever keys the registry's answer lists; without a pinned root key, the keys that answer
//! lists.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use wharf_index_format::IndexEntry;
use wharf_trust::{Licence, LicenceRefusal, LicenceRequest, PublicKey, RevocationList, UtcTime};

use crate::SparseIndex;
use crate::install::lifecycle::current_keyset;
use crate::install::{InstallConfig, InstallError};

/// The header a premium download carries its licence in.
pub(crate) const LICENCE_HEADER: &str = "wharf-licence";

/// What `/api/wharf/v1/entitlements` answers.
#[derive(Debug, Deserialize)]
struct EntitlementInfo {
    keys: Vec<String>,
    premium: Vec<String>,
    revocations: Option<String>,
}

/// The licence of a run and what it is checked against.
#[derive(Debug)]
pub(crate) struct LicenceGate {
    licence: Option<Licence>,
    keys: Vec<PublicKey>,
    premium: BTreeSet<String>,
    revocations: Option<RevocationList>,
    /// The version of the keyset `keys` come from, when a root key is pinned.
    keyset: Option<u64>,
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

impl LicenceGate {
    /// Reads the licence file (if any) and the registry's entitlement information. A
    /// registry without the endpoint (a static mirror) has no premium packages. With a
    /// pinned root key, licences are checked against the keyset's entitlement keys.
    pub(crate) fn load(index: &SparseIndex, config: &InstallConfig) -> Result<Self, InstallError> {
        let licence = config
            .licence_file
            .as_deref()
            .map(read_licence)
            .transpose()?;
        let Some(api) = index.config().api.clone() else {
            return Ok(Self::empty(licence));
        };
        let url = format!("{}/api/wharf/v1/entitlements", api.trim_end_matches('/'));
        let Ok(bytes) = index.download(&url) else {
            tracing::debug!(
                url,
                "no entitlement information; no package is treated as premium"
            );
            return Ok(Self::empty(licence));
        };
        let info: EntitlementInfo = serde_json::from_slice(&bytes).map_err(|e| {
            InstallError::Index(format!("`{url}` is not entitlement information: {e}"))
        })?;
        let published = info
            .keys
            .iter()
            .map(|text| PublicKey::parse(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| InstallError::Index(format!("`{url}`: entitlement key: {e}")))?;
        let pinned = if info.premium.is_empty() {
            None
        } else {
            pinned_entitlement_keys(index, config)?
        };
        let (keys, keyset) = match pinned {
            Some((keys, version)) => (keys, Some(version)),
            None => (published, None),
        };
        let revocations = info
            .revocations
            .as_deref()
            .map(|text| RevocationList::open(text, &keys))
            .transpose()
            .map_err(|e| InstallError::Index(format!("`{url}`: revocation list: {e}")))?;
        Ok(Self {
            licence,
            keys,
            premium: info.premium.iter().map(|name| fold(name)).collect(),
            revocations,
            keyset,
        })
    }

    fn empty(licence: Option<Licence>) -> Self {
        Self {
            licence,
            keys: Vec::new(),
            premium: BTreeSet::new(),
            revocations: None,
            keyset: None,
        }
    }

    /// `Ok(None)` for a package that is not premium; the licence text to present for one
    /// the licence covers; the failed check otherwise.
    pub(crate) fn check(&self, entry: &IndexEntry) -> Result<Option<String>, InstallError> {
        if !self.premium.contains(&fold(&entry.name)) {
            return Ok(None);
        }
        let version = entry.vers.to_string();
        let refuse = |refusal: LicenceRefusal| InstallError::LicenceRefused {
            package: entry.name.clone(),
            version: version.clone(),
            reason: refusal.to_string(),
        };
        let Some(licence) = &self.licence else {
            return Err(refuse(LicenceRefusal::Missing));
        };
        if let Some(keyset) = self.keyset
            && !licence.signed_by_any(&self.keys)
        {
            return Err(InstallError::LicenceRefused {
                package: entry.name.clone(),
                version,
                reason: format!(
                    "licence signature invalid: it is signed by key {}, which keyset version {keyset} (verified from the pinned root key) does not name as an entitlement key; ask for a licence signed by a key the registry's keyset names",
                    licence.key_id().short()
                ),
            });
        }
        let request = LicenceRequest {
            package: &entry.name,
            version: &version,
            caller: None,
            now: UtcTime::now(),
        };
        licence
            .check(
                &request,
                &self.keys,
                self.revocations.as_ref().map(RevocationList::as_check),
            )
            .map_err(refuse)?;
        Ok(Some(licence.to_text()))
    }
}

/// The entitlement keys signed into the registry's keyset and its version, the chain walked
/// from the install directory's pinned root key; `None` without a pinned key or a keyset.
fn pinned_entitlement_keys(
    index: &SparseIndex,
    config: &InstallConfig,
) -> Result<Option<(Vec<PublicKey>, u64)>, InstallError> {
    let Some(text) = config.root_key.as_deref() else {
        return Ok(None);
    };
    let root = PublicKey::parse(text)
        .map_err(|e| InstallError::InvalidRequest(format!("the pinned root key `{text}`: {e}")))?;
    let keyset = current_keyset(index, Some(&root)).map_err(|error| match error {
        InstallError::LifecycleUntrusted { url, reason } => InstallError::Index(format!(
            "the keyset chain `{url}` does not verify from the pinned root key ({reason}), so no licence can be checked; pin the registry's own root key"
        )),
        other => other,
    })?;
    Ok(keyset.map(|keyset| (keyset.entitlement_keys().to_vec(), keyset.version())))
}

fn read_licence(path: &Path) -> Result<Licence, InstallError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InstallError::InvalidRequest(format!(
            "cannot read the licence file `{}`: {e}; give the file `wharf admin licence issue` wrote",
            path.display()
        ))
    })?;
    Licence::parse(&text).map_err(|e| {
        InstallError::InvalidRequest(format!(
            "`{}` is not a Wharf licence: {e}; give the file `wharf admin licence issue` wrote",
            path.display()
        ))
    })
}
