//! The registry's signed lifecycle feed as the installer uses it: deprecated versions are
//! resolved only when nothing else fits and named in a warning, quarantined versions and
//! versions under a security advisory are refused (an advisory unless its id is allowed
//! explicitly), and `wharf list --audit` flags installed ones.
//!
//! The feed is `{index}/.wharf/lifecycle`, signed with the registry's release key. That key
//! comes from the keyset chain the registry serves (`{api}/api/wharf/v1/log/keyset`), walked
//! from the pinned root key when the install directory has one, else from the chain's own
//! first root (which still refuses an unsigned feed or one signed by any other key). A
//! registry or mirror without the feed (404) has no lifecycle information.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use wharf_trust::{
    Advisory, KeyRole, Keyset, LifecycleFeed, LifecycleTerms, Note, PublicKey, UtcTime,
    verify_keyset_chain,
};

use crate::install::{InstallConfig, InstallError, InstalledPackage};
use crate::{ClientError, SparseIndex};

/// The feed's path under the index.
pub const FEED_PATH: &str = ".wharf/lifecycle";

/// What the installer knows of the registry's lifecycle state.
#[derive(Debug, Clone, Default)]
pub(crate) struct LifecycleGate {
    terms: LifecycleTerms,
}

/// One installed (or chosen) package the lifecycle feed has something to say about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleFinding {
    /// Under a security advisory.
    Advisory {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The advisory.
        advisory: Box<Advisory>,
    },
    /// Quarantined by the registry's administrator.
    Quarantined {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The administrator's reason.
        reason: String,
    },
    /// Deprecated by its owners (a warning, never a refusal).
    Deprecated {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The owners' message.
        message: String,
        /// The suggested successor.
        successor: Option<String>,
    },
}

impl LifecycleFinding {
    /// Whether the finding should stop an install or fail `wharf list --audit`.
    pub fn is_blocking(&self) -> bool {
        !matches!(self, Self::Deprecated { .. })
    }
}

impl std::fmt::Display for LifecycleFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Advisory {
                package,
                version,
                advisory,
            } => {
                write!(
                    f,
                    "{package} {version} is affected by advisory {} ({} severity): {}",
                    advisory.id,
                    advisory.severity.as_str(),
                    advisory.description
                )?;
                match &advisory.fixed {
                    Some(fixed) => write!(f, "; fixed in {fixed}"),
                    None => write!(f, "; no fixed version yet"),
                }
            }
            Self::Quarantined {
                package,
                version,
                reason,
            } => write!(
                f,
                "{package} {version} is quarantined by the registry pending review: {reason}"
            ),
            Self::Deprecated {
                package,
                version,
                message,
                successor,
            } => {
                write!(f, "{package} {version} is deprecated: {message}")?;
                match successor {
                    Some(successor) => write!(f, "; use {successor} instead"),
                    None => Ok(()),
                }
            }
        }
    }
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fn untrusted(url: &str, reason: impl std::fmt::Display) -> InstallError {
    InstallError::LifecycleUntrusted {
        url: url.to_owned(),
        reason: reason.to_string(),
    }
}

/// The keyset in force, from the chain the registry serves.
pub(crate) fn current_keyset(
    index: &SparseIndex,
    pinned: Option<&PublicKey>,
) -> Result<Option<Keyset>, InstallError> {
    let Some(api) = index.config().api.clone() else {
        return Ok(None);
    };
    let url = format!("{}/api/wharf/v1/log/keyset", api.trim_end_matches('/'));
    let bytes = match index.download(&url) {
        Ok(bytes) => bytes,
        Err(ClientError::Status { status: 404, .. }) => return Ok(None),
        Err(error) => return Err(InstallError::Index(error.to_string())),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| untrusted(&url, e))?;
    let notes: Vec<&[u8]> = value["keysets"]
        .as_array()
        .ok_or_else(|| untrusted(&url, "it has no `keysets` list"))?
        .iter()
        .map(|note| {
            note.as_str()
                .map(str::as_bytes)
                .ok_or_else(|| untrusted(&url, "a keyset is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let first = notes
        .first()
        .ok_or_else(|| untrusted(&url, "the keyset chain is empty"))?;
    let first = Note::parse(first)
        .and_then(|note| Keyset::parse(note.text()))
        .map_err(|e| untrusted(&url, e))?;
    let root = pinned.copied().unwrap_or(*first.key(KeyRole::Root));
    verify_keyset_chain(&root, first.origin(), &notes, UtcTime::now())
        .map(Some)
        .map_err(|e| untrusted(&url, e))
}

impl LifecycleGate {
    /// Reads and checks the registry's feed; an empty gate when the registry has none. With
    /// `serials` (the install directory's record of the newest feed serial seen per origin),
    /// a feed older than the one seen is refused and a newer one recorded.
    pub(crate) fn load(
        index: &SparseIndex,
        config: &InstallConfig,
        serials: Option<&Path>,
    ) -> Result<Self, InstallError> {
        let url = index.url().join(FEED_PATH);
        let text = match index.download(&url) {
            Ok(bytes) => bytes,
            Err(ClientError::Status { status: 404, .. }) => {
                tracing::debug!(
                    url,
                    "no lifecycle feed; nothing is deprecated or quarantined"
                );
                return Ok(Self::default());
            }
            Err(error) => return Err(InstallError::Index(error.to_string())),
        };
        let text = String::from_utf8(text).map_err(|e| untrusted(&url, e))?;
        let pinned = config
            .root_key
            .as_deref()
            .map(PublicKey::parse)
            .transpose()
            .map_err(|e| untrusted(&url, format!("the pinned root key: {e}")))?;
        let keyset = current_keyset(index, pinned.as_ref())?.ok_or_else(|| {
            untrusted(
                &url,
                "the registry serves a lifecycle feed but no keyset to check it with",
            )
        })?;
        let feed = LifecycleFeed::open(&text, keyset.key(KeyRole::Release), keyset.origin())
            .map_err(|e| untrusted(&url, e))?;
        if let Some(file) = serials {
            SeenSerials::check_and_record(file, &url, feed.terms())?;
        }
        Ok(Self {
            terms: feed.terms().clone(),
        })
    }

    /// Every finding for `name` `version`, blocking ones first; advisories whose id is in
    /// `allowed` are left out.
    pub(crate) fn findings(
        &self,
        name: &str,
        version: &semver::Version,
        allowed: &BTreeSet<String>,
    ) -> Vec<LifecycleFinding> {
        let folded = fold(name);
        let text = version.to_string();
        let mut findings = Vec::new();
        for quarantine in &self.terms.quarantines {
            if fold(&quarantine.package) == folded && quarantine.version == text {
                findings.push(LifecycleFinding::Quarantined {
                    package: name.to_owned(),
                    version: text.clone(),
                    reason: quarantine.reason.clone(),
                });
            }
        }
        for advisory in &self.terms.advisories {
            if fold(&advisory.package) == folded
                && advisory.affects(version)
                && !allowed.contains(&advisory.id)
            {
                findings.push(LifecycleFinding::Advisory {
                    package: name.to_owned(),
                    version: text.clone(),
                    advisory: Box::new(advisory.clone()),
                });
            }
        }
        for deprecation in &self.terms.deprecations {
            let applies = fold(&deprecation.package) == folded
                && deprecation.version.as_ref().is_none_or(|v| *v == text);
            if applies {
                findings.push(LifecycleFinding::Deprecated {
                    package: name.to_owned(),
                    version: text.clone(),
                    message: deprecation.message.clone(),
                    successor: deprecation.successor.clone(),
                });
            }
        }
        findings
    }

    /// The versions the resolver should choose only when nothing else fits: deprecated
    /// versions and versions under an advisory that is not allowed (quarantined ones are
    /// served as yanked already).
    pub(crate) fn discouraged(
        &self,
        names: impl IntoIterator<Item = (String, semver::Version)>,
        allowed: &BTreeSet<String>,
    ) -> Vec<(String, semver::Version)> {
        names
            .into_iter()
            .filter(|(name, version)| !self.findings(name, version, allowed).is_empty())
            .collect()
    }

    /// Whether a locked `name` `version` must not be kept (quarantined or under an advisory
    /// that is not allowed).
    pub(crate) fn blocks(
        &self,
        name: &str,
        version: &semver::Version,
        allowed: &BTreeSet<String>,
    ) -> bool {
        self.findings(name, version, allowed)
            .iter()
            .any(LifecycleFinding::is_blocking)
    }
}

/// `wharf list --audit`: what the registry's lifecycle feed says about each installed
/// package (advisories, quarantines and deprecations), read with the directory's index URL
/// and pinned root key.
pub fn audit(
    installed: &[InstalledPackage],
    config: &InstallConfig,
    token: Option<String>,
    client: &crate::ClientOptions,
) -> Result<Vec<LifecycleFinding>, InstallError> {
    let index = SparseIndex::with_options(&config.index_url, token, client)
        .map_err(|e| InstallError::Index(e.to_string()))?;
    let gate = LifecycleGate::load(&index, config, None)?;
    let none = BTreeSet::new();
    let mut findings = Vec::new();
    for package in installed {
        findings.extend(gate.findings(&package.name, &package.version, &none));
    }
    Ok(findings)
}

/// The newest lifecycle feed serial an install directory has seen, per registry origin
/// (`DIR/.wharf/trust/lifecycle-serials.json`): a registry, or a mirror of it, that serves an
/// older feed (replayed to hide a newer advisory) is refused.
struct SeenSerials;

impl SeenSerials {
    fn check_and_record(
        file: &Path,
        url: &str,
        terms: &LifecycleTerms,
    ) -> Result<(), InstallError> {
        let mut seen: BTreeMap<String, u64> = match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| InstallError::Damaged {
                path: file.to_path_buf(),
                reason: format!(
                    "not the record of lifecycle feed serials ({e}); remove it to trust the registry's feed as it is"
                ),
            })?,
            Err(_) => BTreeMap::new(),
        };
        let held = seen.get(&terms.origin).copied().unwrap_or(0);
        if terms.serial < held {
            return Err(InstallError::LifecycleReplayed {
                url: url.to_owned(),
                origin: terms.origin.clone(),
                serial: terms.serial,
                seen: held,
            });
        }
        if terms.serial > held || !seen.contains_key(&terms.origin) {
            seen.insert(terms.origin.clone(), terms.serial);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| InstallError::io("cannot create", dir, e))?;
            }
            let bytes = serde_json::to_vec_pretty(&seen).map_err(|e| InstallError::Damaged {
                path: file.to_path_buf(),
                reason: e.to_string(),
            })?;
            crate::install::layout::write_atomically(file, &bytes)?;
        }
        Ok(())
    }
}
