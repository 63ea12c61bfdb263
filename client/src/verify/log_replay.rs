//! The whole log, fetched in pages, checked against the signed checkpoint (its leaves must
//! hash to the checkpoint's root, which proves every leaf's inclusion and that none is
//! missing), then replayed per package: its releases, whether each is yanked, its publisher
//! keys over time, and every event's signatures.

use std::collections::BTreeMap;

use wharf_trust::{
    Hash, KeyId, KeyRole, Keyset, LogEvent, MemoryHashStore, OwnerKeys, PublicKey, StatementBody,
    TrustError, UtcTime,
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
    /// When the log appended it.
    logged: UtcTime,
    /// The publisher keys whose signatures counted when it was replayed (none when the
    /// package had no publisher key and the registry signed it).
    signers: Vec<KeyId>,
}

/// What the log says about one package.
#[derive(Debug, Clone)]
pub(crate) struct PackageLog {
    /// Its releases by version.
    pub(crate) releases: BTreeMap<String, Release>,
    /// Its publisher keys as replayed so far.
    owner_keys: OwnerKeys,
}

impl PackageLog {
    /// Each release as the log signs it, by version.
    pub(crate) fn signed_releases(&self) -> BTreeMap<String, super::SignedRelease> {
        self.releases
            .iter()
            .map(|(version, release)| {
                (
                    version.clone(),
                    super::SignedRelease {
                        leaf: release.leaf,
                        cksum: release.cksum,
                        entry: release.entry,
                    },
                )
            })
            .collect()
    }
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

/// Every leaf of the checkpoint's tree, checked to hash to its root. `known` are leaves kept
/// from earlier runs: only the ones after them are fetched, and when the whole set does not
/// hash to the root the log is fetched again from its first leaf.
pub(crate) fn fetch_leaves(
    session: &mut Session,
    size: u64,
    root: &Hash,
    known: Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, VerifyError> {
    let reuse = !known.is_empty() && known.len() as u64 <= size;
    let leaves = fetch_after(session, size, if reuse { known } else { Vec::new() })?;
    if root_of(&leaves) == *root {
        return Ok(leaves);
    }
    if reuse {
        tracing::debug!("the kept leaves are not a prefix of this log; fetching all of it");
        let leaves = fetch_after(session, size, Vec::new())?;
        if root_of(&leaves) == *root {
            return Ok(leaves);
        }
    }
    Err(VerifyError::LeavesMismatch {
        url: session.log_url("leaves"),
        size,
    })
}

fn root_of(leaves: &[Vec<u8>]) -> Hash {
    let mut tree = MemoryHashStore::new();
    for leaf in leaves {
        tree.push(leaf);
    }
    tree.root()
}

/// A fetched page of leaves, or why it could not be had.
type PageResult = Result<Vec<Vec<u8>>, VerifyError>;

/// How many pages of leaves are fetched at once.
const PAGES_AT_ONCE: usize = 4;

/// `leaves` followed by the leaves after them, up to `size`, fetched in pages
/// ([`PAGES_AT_ONCE`] at a time; after a page shorter than asked for, one after another
/// from where it ended).
fn fetch_after(
    session: &Session,
    size: u64,
    mut leaves: Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, VerifyError> {
    // The size comes from a signed checkpoint, but memory is reserved only as leaves arrive.
    leaves.reserve(usize::try_from(size.min(1 << 16)).unwrap_or(0));
    let starts: Vec<u64> = (leaves.len() as u64..size)
        .step_by(usize::try_from(PAGE).unwrap_or(1))
        .collect();
    for (start, page) in starts.iter().zip(fetch_pages(session, &starts, size)?) {
        if leaves.len() as u64 != *start {
            break;
        }
        leaves.extend(page);
    }
    while (leaves.len() as u64) < size {
        let start = leaves.len() as u64;
        leaves.extend(fetch_page(session, start, size)?);
    }
    Ok(leaves)
}

/// The pages of leaves starting at each of `starts`, in order, fetched on up to
/// [`PAGES_AT_ONCE`] threads; the first failure (in page order) when one fails.
fn fetch_pages(
    session: &Session,
    starts: &[u64],
    size: u64,
) -> Result<Vec<Vec<Vec<u8>>>, VerifyError> {
    if starts.len() <= 1 {
        return starts
            .iter()
            .map(|start| fetch_page(session, *start, size))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let pages: std::sync::Mutex<Vec<Option<PageResult>>> =
        std::sync::Mutex::new(starts.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..PAGES_AT_ONCE.min(starts.len()) {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(start) = starts.get(at) else {
                        break;
                    };
                    let page = fetch_page(session, *start, size);
                    pages
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[at] = Some(page);
                }
            });
        }
    });
    pages
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|page| page.unwrap_or_else(|| Ok(Vec::new())))
        .collect()
}

/// The page of leaves from `start` (at most [`PAGE`], none beyond `size`); a page with no
/// leaves is an error.
fn fetch_page(session: &Session, start: u64, size: u64) -> Result<Vec<Vec<u8>>, VerifyError> {
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
    Ok(page
        .into_iter()
        .take(usize::try_from(end - start).unwrap_or(0))
        .collect())
}

/// A page of leaves as the registry serves it (`{"leaves":[{"index":N,"leaf":"…"},…]}`).
#[derive(serde::Deserialize)]
struct Page {
    leaves: Vec<PageLeaf>,
}

/// One leaf of a page.
#[derive(serde::Deserialize)]
struct PageLeaf {
    index: u64,
    leaf: String,
}

fn parse_page(url: &str, body: &[u8], start: u64) -> Result<Vec<Vec<u8>>, VerifyError> {
    let malformed = |reason: String| VerifyError::Malformed {
        url: url.to_owned(),
        what: "page of log leaves".to_owned(),
        reason,
    };
    let page: Page = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let mut leaves = Vec::with_capacity(page.leaves.len());
    for (offset, item) in page.leaves.into_iter().enumerate() {
        if item.index != start + offset as u64 {
            return Err(malformed(format!(
                "entry {offset} is not leaf {}",
                start + offset as u64
            )));
        }
        leaves.push(item.leaf.into_bytes());
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
    let mut parsed = Replay::default();
    for (index, bytes) in leaves.iter().enumerate() {
        match LogEvent::parse(bytes) {
            Ok(event) => parsed.leaves.push(Some(event)),
            Err(error) => {
                parsed.broken.insert(index as u64, error.to_string());
                parsed.leaves.push(None);
            }
        }
    }
    replay_parsed(parsed, keysets, selected)
}

/// Replays again, for `selected`, the leaves an earlier replay parsed (a leaf is parsed once
/// per run however many times its packages are replayed).
pub(crate) fn replay_again(
    earlier: Replay,
    keysets: &[Keyset],
    selected: Option<&[String]>,
) -> Replay {
    let parsed = Replay {
        leaves: earlier.leaves,
        broken: earlier.broken,
        ..Replay::default()
    };
    replay_parsed(parsed, keysets, selected)
}

/// The replay of the parsed leaves in `parsed` (its `leaves` and `broken`).
fn replay_parsed(parsed: Replay, keysets: &[Keyset], selected: Option<&[String]>) -> Replay {
    let origin = keysets.last().map(Keyset::origin).unwrap_or_default();
    let mut release_keys: Vec<PublicKey> = Vec::new();
    for keyset in keysets {
        let key = *keyset.key(KeyRole::Release);
        if !release_keys.contains(&key) {
            release_keys.push(key);
        }
    }
    // Looked up once per leaf: a set, not a scan of every name (a mirror's first sync names
    // every package of the log).
    let selected: Option<std::collections::HashSet<String>> =
        selected.map(|names| names.iter().map(|name| name.to_ascii_lowercase()).collect());
    let mut replay = Replay {
        leaves: parsed.leaves,
        broken: parsed.broken,
        ..Replay::default()
    };
    for (index, event) in replay.leaves.iter().enumerate() {
        let index = index as u64;
        let Some(event) = event else {
            continue;
        };
        let statement = event.statement();
        let name = statement.name().to_owned();
        let wanted = selected
            .as_ref()
            .is_none_or(|names| names.contains(&name.to_ascii_lowercase()));
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
            let signers = match check_signatures(event, &mut package.owner_keys, &release_keys) {
                Ok(signers) => signers,
                Err(error) => {
                    replay
                        .failures
                        .push(fail(format!("bad signature: leaf {index}: {error}")));
                    Vec::new()
                }
            };
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
                        logged: event.logged(),
                        signers,
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
    }
    recheck_compromised(&mut replay);
    replay
}

/// A key revoked with `compromised-since` after it signed releases: the releases it signed
/// from that time on no longer count, though they verified when they were replayed.
fn recheck_compromised(replay: &mut Replay) {
    for (name, package) in &replay.packages {
        for (version, release) in &package.releases {
            if release.signers.is_empty() {
                continue;
            }
            let keys = package.owner_keys.keys();
            let still_valid = release.signers.iter().any(|id| {
                keys.iter()
                    .any(|key| key.key().key_id() == *id && key.is_valid_at(release.logged))
            });
            if still_valid {
                continue;
            }
            let why: Vec<String> = release
                .signers
                .iter()
                .filter_map(|id| keys.iter().find(|key| key.key().key_id() == *id))
                .map(|key| match key.compromised_since() {
                    Some(since) => format!(
                        "key {} was declared compromised since {since}",
                        key.key().key_id().short()
                    ),
                    None => format!("key {} is no longer valid", key.key().key_id().short()),
                })
                .collect();
            replay.failures.push(Failure::new(
                name,
                Some(version),
                format!(
                    "revoked key: leaf {} was signed at {} but {}",
                    release.leaf,
                    release.logged,
                    why.join(", ")
                ),
            ));
        }
    }
}

/// One event's signatures. A release, and an owner-key-add beyond a package's first key,
/// of a package with publisher keys needs them ([`OwnerKeys::apply`]; the first key is
/// trusted on first use). A yank, an unyank or a key revocation may instead carry the
/// registry's release-key signature (they come from an owner's token: `cargo yank` cannot
/// sign, and a revocation only takes trust away); a revocation so signed is applied all the
/// same. The registry's own owner add/remove and deprecation statements, and every statement of a package
/// without publisher keys, need a registry release key. Two signatures by one key count once.
fn check_signatures(
    event: &LogEvent,
    owner_keys: &mut OwnerKeys,
    release_keys: &[PublicKey],
) -> Result<Vec<KeyId>, TrustError> {
    let statement = event.statement();
    let registry_statement = matches!(
        statement.body(),
        StatementBody::OwnerAdd { .. }
            | StatementBody::OwnerRemove { .. }
            | StatementBody::Deprecate { .. }
            | StatementBody::Undeprecate { .. }
    );
    let registry_may_sign = matches!(
        statement.body(),
        StatementBody::Yank { .. }
            | StatementBody::Unyank { .. }
            | StatementBody::OwnerKeyRevoke { .. }
    );
    let adds_key = matches!(statement.body(), StatementBody::OwnerKeyAdd { .. });
    let has_keys = !owner_keys.keys().is_empty();
    if !registry_statement && (has_keys || adds_key) {
        let by_publisher = !has_keys
            || owner_keys
                .verify(statement, event.signatures(), event.logged())
                .is_ok();
        if !registry_may_sign || by_publisher {
            return owner_keys.apply(event);
        }
    }
    registry_signed(statement, event.signatures(), release_keys)?;
    if let StatementBody::OwnerKeyRevoke {
        key,
        compromised_since,
    } = statement.body()
        && has_keys
    {
        owner_keys.revoke(key, event.logged(), *compromised_since)?;
    }
    Ok(Vec::new())
}

/// Checks that a registry release key signed `statement`.
fn registry_signed(
    statement: &wharf_trust::Statement,
    signatures: &[wharf_trust::StatementSignature],
    release_keys: &[PublicKey],
) -> Result<(), TrustError> {
    let mut counted = Vec::new();
    for signature in signatures {
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
            key: "the registry's release key".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_trust::{SigningKey, Statement, UtcTime};

    const ORIGIN: &str = "wharf.example.com";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32])
    }

    fn keysets() -> Vec<Keyset> {
        let keys = [1, 2, 3, 4].map(|seed| key(seed).public_key());
        vec![Keyset::new(ORIGIN, 1, UtcTime::from_unix(4_000_000_000).unwrap(), keys).unwrap()]
    }

    fn at(seconds: i64) -> UtcTime {
        UtcTime::from_unix(1_800_000_000 + seconds).unwrap()
    }

    fn event(origin: &str, body: StatementBody, logged: i64, signers: &[&SigningKey]) -> Vec<u8> {
        let statement = Statement::new(origin, "demo", body, at(logged)).unwrap();
        let signatures = signers.iter().map(|key| statement.sign(key)).collect();
        LogEvent::new(statement, at(logged), signatures)
            .unwrap()
            .to_bytes()
    }

    fn release(version: &str) -> StatementBody {
        StatementBody::Release {
            version: version.to_owned(),
            cksum: Hash::sha256(version.as_bytes()),
            entry: Hash::sha256(b"line"),
        }
    }

    fn reasons(leaves: &[Vec<u8>]) -> Vec<String> {
        replay(leaves, &keysets(), None)
            .failures
            .into_iter()
            .map(|failure| failure.to_string())
            .collect()
    }

    #[test]
    fn without_publisher_keys_the_release_key_signs() {
        let release_key = key(4);
        assert!(reasons(&[event(ORIGIN, release("1.0.0"), 0, &[&release_key])]).is_empty());
        let unsigned = reasons(&[event(ORIGIN, release("1.0.0"), 0, &[])]);
        assert!(unsigned[0].contains("not signed by"), "{unsigned:?}");
        let foreign = reasons(&[event("other.example", release("1.0.0"), 0, &[&release_key])]);
        assert!(foreign[0].contains("wrong origin"), "{foreign:?}");
    }

    #[test]
    fn once_a_package_has_publisher_keys_they_must_sign() {
        let (release_key, owner) = (key(4), key(9));
        let add = event(
            ORIGIN,
            StatementBody::OwnerKeyAdd {
                key: owner.public_key(),
            },
            0,
            &[&owner],
        );
        let by_owner = event(ORIGIN, release("1.0.0"), 10, &[&owner, &release_key]);
        assert!(reasons(&[add.clone(), by_owner]).is_empty());
        let by_registry_only = reasons(&[
            add.clone(),
            event(ORIGIN, release("1.0.0"), 10, &[&release_key]),
        ]);
        assert!(
            by_registry_only[0].contains("valid signatures by current owner keys"),
            "{by_registry_only:?}"
        );
        let revoke = event(
            ORIGIN,
            StatementBody::OwnerKeyRevoke {
                key: owner.public_key(),
                compromised_since: None,
            },
            20,
            &[&owner],
        );
        let after_revocation =
            reasons(&[add, revoke, event(ORIGIN, release("1.1.0"), 30, &[&owner])]);
        assert!(
            after_revocation[0].contains("was revoked"),
            "{after_revocation:?}"
        );
    }

    #[test]
    fn yanks_follow_the_log() {
        let release_key = key(4);
        let leaves = [
            event(ORIGIN, release("1.0.0"), 0, &[&release_key]),
            event(
                ORIGIN,
                StatementBody::Yank {
                    version: "1.0.0".to_owned(),
                },
                1,
                &[&release_key],
            ),
        ];
        let replayed = replay(&leaves, &keysets(), None);
        assert!(replayed.failures.is_empty(), "{:?}", replayed.failures);
        assert!(replayed.packages["demo"].releases["1.0.0"].yanked);
    }
}
