//! The upstream's signed material a copy carries and serves again, so that a mirror of this
//! mirror and `wharf install` against it verify against the origin's root key: the keyset
//! chain, the timestamp and the checkpoint it binds (as the upstream served them in the
//! verified run), every leaf of the verified log (the release signatures are in them), and
//! the signed lifecycle feed (deprecations, quarantines, advisories). They are written into
//! the staged copy under `signed/` and switched in with the index; the snapshot bins are the
//! copy's `snapshot/`. The feed's signature, origin and serial are checked: a feed older
//! than the newest this mirror has held (a replayed feed) stops the sync.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wharf_client::verify::VerifiedLog;
use wharf_index_format::index_path;
use wharf_trust::{KeyRole, LifecycleFeed, LifecycleTerms, Note, PublicKey, Timestamp, UtcTime};

use crate::mirror::copy::write;
use crate::mirror::upstream::Upstream;

/// The directory of a copy that holds the signed material.
pub(crate) const DIR: &str = "signed";
/// The lifecycle feed's file in [`DIR`].
const FEED_FILE: &str = "lifecycle";
/// The leaves' file in [`DIR`].
const LEAVES_FILE: &str = "leaves.json";
/// The newest feed serial this mirror has held, beside the recorded root key.
const SERIAL_FILE: &str = "trust/lifecycle-serial";

/// The signed material of one verified run.
pub(crate) struct Signed {
    /// The head documents and the feed, as served.
    files: Vec<(&'static str, Vec<u8>)>,
    /// Every leaf of the verified log (written as [`LEAVES_FILE`] only when the copy is).
    leaves: Vec<String>,
    feed: Option<LifecycleTerms>,
    serial_file: PathBuf,
    /// The release key and origin the feed is checked with.
    release: (PublicKey, String),
}

/// A feed's terms without the time it was signed (a registry signs its feed on each request).
fn unsigned_terms(terms: &LifecycleTerms) -> LifecycleTerms {
    LifecycleTerms {
        issued_at: String::new(),
        ..terms.clone()
    }
}

/// The feed's serial held by the mirror at `data` (0 when none).
fn held_serial(file: &Path) -> anyhow::Result<u64> {
    match std::fs::read_to_string(file) {
        Ok(text) => text.trim().parse().with_context(|| {
            format!(
                "`{}` (the newest lifecycle feed serial this mirror held) is damaged; remove it to accept the upstream's feed as it is",
                file.display()
            )
        }),
        Err(_) => Ok(0),
    }
}

/// A head's documents as a copy holds them in [`DIR`]: the keyset chain, the timestamp and
/// the checkpoint as served (the leaves are [`LEAVES_FILE`] beside them).
fn head_files(
    keyset_chain: &[u8],
    timestamp: &[u8],
    checkpoint: &[u8],
) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("keyset.json", keyset_chain.to_vec()),
        ("timestamp", timestamp.to_vec()),
        ("checkpoint", checkpoint.to_vec()),
    ]
}

/// Writes every leaf of the log into the staged copy's [`DIR`] as [`LEAVES_FILE`] (a JSON
/// list of the leaves' text).
fn write_leaves(stage: &Path, leaves: &[String]) -> anyhow::Result<()> {
    write(
        &stage.join(DIR).join(LEAVES_FILE),
        &serde_json::to_vec(leaves)?,
    )
}

/// Writes a verified head (keyset chain, timestamp, checkpoint, every leaf) into the staged
/// copy `stage` as a sync writes it, so `wharf serve --data` serves it again (a bundle import
/// carries one).
pub(crate) fn write_head(
    stage: &Path,
    keyset_chain: &[u8],
    timestamp: &[u8],
    checkpoint: &[u8],
    leaves: &[String],
) -> anyhow::Result<()> {
    for (name, bytes) in head_files(keyset_chain, timestamp, checkpoint) {
        write(&stage.join(DIR).join(name), &bytes)?;
    }
    write_leaves(stage, leaves)
}

/// Gathers the signed material of the verified `log` and fetches and checks the lifecycle
/// feed (signed by the release key of the keyset in force, for its origin, and not older
/// than the newest feed this mirror held).
pub(crate) async fn gather(
    upstream: &Upstream,
    log: &VerifiedLog<'_>,
    data: &Path,
) -> anyhow::Result<Signed> {
    let documents = log.documents();
    let leaves: Vec<String> = log
        .leaves()
        .iter()
        .map(|leaf| String::from_utf8_lossy(leaf).into_owned())
        .collect();
    let mut files = head_files(
        &documents.keyset_chain,
        &documents.timestamp,
        &documents.checkpoint,
    );
    let serial_file = data.join(SERIAL_FILE);
    let release = (
        *log.keyset().key(KeyRole::Release),
        log.keyset().origin().to_owned(),
    );
    let url = format!("{}/.wharf/lifecycle", upstream.index);
    let feed = match upstream.get(&url).await? {
        None => None,
        Some(bytes) => {
            let keyset = log.keyset();
            let text = String::from_utf8(bytes)
                .with_context(|| format!("the upstream's lifecycle feed `{url}` is not text"))?;
            let feed = LifecycleFeed::open(&text, keyset.key(KeyRole::Release), keyset.origin())
                .map_err(|error| {
                    anyhow::anyhow!(
                        "the upstream's lifecycle feed `{url}` does not verify, so nothing was synced and the mirror is as it was: {error}"
                    )
                })?;
            let held = held_serial(&serial_file)?;
            let serial = feed.terms().serial;
            if serial < held {
                bail!(
                    "the upstream's lifecycle feed `{url}` has serial {serial}, older than the serial {held} this mirror already holds (a replayed feed), so nothing was synced and the mirror is as it was; sync from an upstream serving the current feed"
                );
            }
            files.push((FEED_FILE, text.into_bytes()));
            Some(feed.terms().clone())
        }
    };
    Ok(Signed {
        files,
        leaves,
        feed,
        serial_file,
        release,
    })
}

impl Signed {
    /// Whether the copy at `previous` already holds this material: the same head documents
    /// and its leaves, and a feed with the same terms (only its signing time may differ). The
    /// leaves are not serialised to be compared: they hash to the checkpoint's root (the
    /// verified log checked it), so the same checkpoint has the same leaves, and the copy
    /// wrote them when it was synced at that checkpoint.
    pub(crate) fn held_by(&self, previous: &Path) -> bool {
        let dir = previous.join(DIR);
        let documents = self
            .files
            .iter()
            .filter(|(name, _)| *name != FEED_FILE)
            .all(|(name, bytes)| std::fs::read(dir.join(name)).ok().as_deref() == Some(bytes))
            && dir.join(LEAVES_FILE).is_file();
        let held_feed = std::fs::read_to_string(dir.join(FEED_FILE))
            .ok()
            .and_then(|text| LifecycleFeed::open(&text, &self.release.0, &self.release.1).ok())
            .map(|feed| unsigned_terms(feed.terms()));
        documents && held_feed == self.feed.as_ref().map(unsigned_terms)
    }

    /// Writes the material into the staged copy.
    pub(crate) fn write(&self, stage: &Path) -> anyhow::Result<()> {
        for (name, bytes) in &self.files {
            write(&stage.join(DIR).join(name), bytes)?;
        }
        write_leaves(stage, &self.leaves)
    }

    /// A warning line when the copy's signed timestamp (the origin's, served again as it is)
    /// expires within a day of `now`, naming when: clients refuse the mirror's signed
    /// material from then on unless it is synced again.
    pub(crate) fn expiry_warning(&self, now: UtcTime) -> Option<String> {
        const DAY: i64 = 24 * 3600;
        let (_, note) = self.files.iter().find(|(name, _)| *name == "timestamp")?;
        let note = Note::parse(note).ok()?;
        let expires = Timestamp::parse(note.text()).ok()?.expires();
        let left = expires.unix() - now.unix();
        (left < DAY).then(|| {
            let when = if left <= 0 {
                "has expired".to_owned()
            } else {
                format!("expires in {}h{:02}m", left / 3600, left % 3600 / 60)
            };
            format!(
                "warning: the copy switched in serves the origin's signed timestamp, which expires at {expires} ({when}); sync again before then, or clients verifying against the origin's root key refuse this mirror"
            )
        })
    }

    /// Records the feed's serial as the newest held (after the switch).
    pub(crate) fn record_serial(&self) -> anyhow::Result<()> {
        match &self.feed {
            Some(feed) => write(&self.serial_file, format!("{}\n", feed.serial).as_bytes()),
            None => Ok(()),
        }
    }

    /// The summary line about the feed and the versions of `copy` under an advisory;
    /// `None` without a feed.
    pub(crate) fn describe(&self, copy: &Path) -> Option<String> {
        let feed = self.feed.as_ref()?;
        let mut affected = Vec::new();
        for advisory in &feed.advisories {
            let file = copy.join("index").join(index_path(&advisory.package));
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for line in text.lines() {
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(version) = entry["vers"]
                    .as_str()
                    .and_then(|v| semver::Version::parse(v).ok())
                else {
                    continue;
                };
                if advisory.affects(&version) {
                    affected.push(format!(
                        "{} {version} ({}, {})",
                        advisory.package,
                        advisory.id,
                        advisory.severity.as_str()
                    ));
                }
            }
        }
        let list = if affected.is_empty() {
            "none".to_owned()
        } else {
            affected.join(", ")
        };
        Some(format!(
            "advisories: lifecycle feed serial {} verified ({} advisories, {} quarantines); mirrored versions under an advisory: {list}",
            feed.serial,
            feed.advisories.len(),
            feed.quarantines.len()
        ))
    }
}
