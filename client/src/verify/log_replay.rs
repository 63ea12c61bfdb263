//! The whole log, fetched in pages, checked against the signed checkpoint (its leaves must
//! hash to the checkpoint's root, which proves every leaf's inclusion and that none is
//! missing), then replayed per package: its releases, whether each is yanked, its publisher
//! keys over time, and every event's signatures.

use std::collections::BTreeMap;

use wharf_trust::{
    Hash, KeyRole, Keyset, LogEvent, MemoryHashStore, OwnerKeys, PublicKey, StatementBody,
    TrustError,
};

use super::http::LARGE_CAP;
use super::{Failure, Session, VerifyError};

/// The most leaves the registry serves per page.
const PAGE: u64 = 256;

/// One release of a package as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    /// The leaf index.
    pub(crate) leaf: u64,
    /// The `.crate` hash.
    pub(crate) cksum: Hash,
    /// The hash of the published index line.
    pub(crate) entry: Hash,
    /// Whether the last yank or unyank event yanked it.
    pub(crate) yanked: bool,
}

/// What the log says about one package.
#[derive(Debug, Clone)]
pub(crate) struct PackageLog {
    /// Its releases by version.
    pub(crate) releases: BTreeMap<String, Release>,
    /// Its publisher keys as replayed so far.
    owner_keys: OwnerKeys,
}

/// The log, verified and replayed.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Every parsed leaf by index (an unparseable one is absent, its error in `broken`).
    pub(crate) leaves: Vec<Option<LogEvent>>,
    /// Leaves that do not parse, with the reason.
    pub(crate) broken: BTreeMap<u64, String>,
    /// The packages by name.
    pub(crate) packages: BTreeMap<String, PackageLog>,
    /// Problems found in the log itself, per package.
    pub(crate) failures: Vec<Failure>,
}

/// Fetches every leaf of the checkpoint's tree and checks they hash to its root.
pub(crate) fn fetch_leaves(
    session: &mut Session,
    size: u64,
    root: &Hash,
) -> Result<Vec<Vec<u8>>, VerifyError> {
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut tree = MemoryHashStore::new();
    while (leaves.len() as u64) < size {
        let start = leaves.len() as u64;
        let end = (start + PAGE).min(size);
        let url = session.log_url(&format!("leaves?start={start}&end={end}"));
        let body = session.http.get(&url, "page of log leaves", LARGE_CAP)?;
        let page = parse_page(&url, &body, start)?;
        if page.is_empty() {
            return Err(VerifyError::Malformed {
                url,
                what: "page of log leaves".to_owned(),
                reason: "it has no leaves".to_owned(),
            });
        }
        for leaf in page
            .into_iter()
            .take(usize::try_from(end - start).unwrap_or(0))
        {
            tree.push(&leaf);
            leaves.push(leaf);
        }
    }
    if tree.root() != *root {
        return Err(VerifyError::LeavesMismatch {
            url: session.log_url("leaves"),
            size,
        });
    }
    Ok(leaves)
}

fn parse_page(url: &str, body: &[u8], start: u64) -> Result<Vec<Vec<u8>>, VerifyError> {
    let malformed = |reason: String| VerifyError::Malformed {
        url: url.to_owned(),
        what: "page of log leaves".to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let list = value
        .get("leaves")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| malformed("it has no `leaves` list".to_owned()))?;
    let mut leaves = Vec::with_capacity(list.len());
    for (offset, item) in list.iter().enumerate() {
        let index = item.get("index").and_then(serde_json::Value::as_u64);
        if index != Some(start + offset as u64) {
            return Err(malformed(format!(
                "entry {offset} is not leaf {}",
                start + offset as u64
            )));
        }
        let leaf = item
            .get("leaf")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| malformed(format!("leaf {} has no text", start + offset as u64)))?;
        leaves.push(leaf.as_bytes().to_vec());
    }
    Ok(leaves)
}

/// Replays the leaves in order. Events of packages in `selected` (all when `None`) have
/// their signatures checked: by the package's publisher keys valid at the event's log time
/// once it has any, by a registry release key of the keyset chain otherwise.
pub(crate) fn replay(
    leaves: &[Vec<u8>],
    keysets: &[Keyset],
    selected: Option<&[String]>,
) -> Replay {
    let origin = keysets.last().map(Keyset::origin).unwrap_or_default();
    let mut release_keys: Vec<PublicKey> = Vec::new();
    for keyset in keysets {
        let key = *keyset.key(KeyRole::Release);
        if !release_keys.contains(&key) {
            release_keys.push(key);
        }
    }
    let mut replay = Replay::default();
    for (index, bytes) in leaves.iter().enumerate() {
        let index = index as u64;
        let event = match LogEvent::parse(bytes) {
            Ok(event) => event,
            Err(error) => {
                replay.broken.insert(index, error.to_string());
                replay.leaves.push(None);
                continue;
            }
        };
        let statement = event.statement();
        let name = statement.name().to_owned();
        let wanted = selected.is_none_or(|names| names.contains(&name));
        if wanted {
            let version = statement.version().map(str::to_owned);
            let fail = |reason: String| Failure::new(&name, version.as_deref(), reason);
            if let Err(error) = statement.check_origin(origin) {
                replay
                    .failures
                    .push(fail(format!("wrong origin: leaf {index}: {error}")));
            }
            let package = replay
                .packages
                .entry(name.clone())
                .or_insert_with(|| PackageLog {
                    releases: BTreeMap::new(),
                    owner_keys: OwnerKeys::new(&name, 1),
                });
            if let Err(error) = check_signatures(&event, &mut package.owner_keys, &release_keys) {
                replay
                    .failures
                    .push(fail(format!("bad signature: leaf {index}: {error}")));
            }
            match statement.body() {
                StatementBody::Release {
                    version,
                    cksum,
                    entry,
                } => {
                    let release = Release {
                        leaf: index,
                        cksum: *cksum,
                        entry: *entry,
                        yanked: false,
                    };
                    if package.releases.insert(version.clone(), release).is_some() {
                        replay.failures.push(fail(format!(
                            "leaf {index} releases version {version} a second time"
                        )));
                    }
                }
                StatementBody::Yank { version } | StatementBody::Unyank { version } => {
                    let yank = matches!(statement.body(), StatementBody::Yank { .. });
                    match package.releases.get_mut(version) {
                        Some(release) => release.yanked = yank,
                        None => replay.failures.push(fail(format!(
                            "leaf {index} yanks or unyanks version {version}, which the log never released"
                        ))),
                    }
                }
                _ => {}
            }
        }
        replay.leaves.push(Some(event));
    }
    replay
}

/// One event's signatures. A package with publisher keys (or an event adding its first
/// one) is judged by [`OwnerKeys::apply`]; otherwise, and for the registry's own owner
/// add/remove statements, a registry release key must have signed. Two signatures by one key count once.
fn check_signatures(
    event: &LogEvent,
    owner_keys: &mut OwnerKeys,
    release_keys: &[PublicKey],
) -> Result<(), TrustError> {
    let statement = event.statement();
    let registry_statement = matches!(
        statement.body(),
        StatementBody::OwnerAdd { .. } | StatementBody::OwnerRemove { .. }
    );
    let adds_key = matches!(statement.body(), StatementBody::OwnerKeyAdd { .. });
    if !registry_statement && (!owner_keys.keys().is_empty() || adds_key) {
        owner_keys.apply(event)?;
        return Ok(());
    }
    let mut counted = Vec::new();
    for signature in event.signatures() {
        if let Some(key) = release_keys
            .iter()
            .find(|key| key.key_id() == signature.key_id)
        {
            statement.verify(signature, key)?;
            if !counted.contains(&signature.key_id) {
                counted.push(signature.key_id);
            }
        }
    }
    if counted.is_empty() {
        return Err(TrustError::MissingSignature {
            document: statement.describe(),
            key: "the registry's release key (the package has no publisher key)".to_owned(),
        });
    }
    Ok(())
}
