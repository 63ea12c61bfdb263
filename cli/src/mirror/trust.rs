//! The upstream's signed log, checked during a sync when the upstream serves one (a Wharf
//! registry): the keyset chain from the root key (`--trust KEYFILE`, or the key recorded at
//! the mirror's first sync: trust on first use), the timestamp and checkpoint (consistent
//! with the checkpoint kept from the previous sync: a rollback or a fork stops the sync), the
//! leaves, the signatures of every event of the packages copied, and each copied index line
//! against its release leaf. The kept state lives in `<data>/trust/`, beside the copies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, bail};
use wharf_client::verify::{Failure, VerifiedLog, Verifier, VerifyOptions};
use wharf_trust::{KeyRole, Keyset, LogEvent, Note, PublicKey};

use crate::mirror::file::Vetted;
use crate::mirror::upstream::Upstream;

/// The directory under the mirror's data directory.
const DIR: &str = "trust";
/// The root key recorded at the first sync.
const ROOT_FILE: &str = "root.pub";

/// How the root key came to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pinned {
    /// `--trust KEYFILE`.
    Given,
    /// Recorded at an earlier sync.
    Recorded,
    /// Taken from the upstream's keyset chain at this, the first, sync.
    FirstUse,
}

/// The root key a sync verifies the upstream against.
pub(crate) struct Root {
    pub(crate) key: PublicKey,
    pub(crate) pinned: Pinned,
    pub(crate) record: PathBuf,
}

/// The root key to check `upstream` against; `None` when the upstream serves no signed log
/// (not a Wharf registry) and none was pinned or recorded.
pub(crate) async fn root(
    upstream: &Upstream,
    api: &str,
    data: &Path,
    given: Option<&Path>,
) -> anyhow::Result<Option<Root>> {
    let record = data.join(DIR).join(ROOT_FILE);
    if let Some(file) = given {
        let key = crate::bundle::load_public_key(file, "root")?;
        return Ok(Some(Root {
            key,
            pinned: Pinned::Given,
            record,
        }));
    }
    if let Ok(text) = std::fs::read_to_string(&record) {
        let key = PublicKey::parse(text.trim()).with_context(|| {
            format!(
                "`{}` (the upstream's root key recorded at the first sync) is damaged; give the key with --trust KEYFILE",
                record.display()
            )
        })?;
        return Ok(Some(Root {
            key,
            pinned: Pinned::Recorded,
            record,
        }));
    }
    let url = format!("{api}/api/wharf/v1/log/keyset");
    let Some(body) = upstream.get(&url).await? else {
        return Ok(None);
    };
    let first = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value["keysets"][0].as_str().map(str::to_owned))
        .with_context(|| format!("`{url}` is not a keyset chain"))?;
    let note = Note::parse(first.as_bytes()).with_context(|| format!("`{url}`: keyset 1"))?;
    let keyset = Keyset::parse(note.text()).with_context(|| format!("`{url}`: keyset 1"))?;
    Ok(Some(Root {
        key: *keyset.key(KeyRole::Root),
        pinned: Pinned::FirstUse,
        record,
    }))
}

impl Root {
    /// The verifier of the upstream at `from` (its sparse index URL).
    pub(crate) fn verifier(
        &self,
        from: &str,
        token: Option<String>,
        data: &Path,
    ) -> anyhow::Result<Verifier> {
        Ok(Verifier::new(
            self.key,
            from,
            token,
            data.join(DIR).join("state"),
            VerifyOptions::default(),
        )?)
    }

    /// Records the root key for the next syncs (after a sync that verified).
    pub(crate) fn record(&self) -> anyhow::Result<()> {
        crate::mirror::copy::write(&self.record, format!("{}\n", self.key).as_bytes())
    }

    /// The summary line about the root key.
    pub(crate) fn describe(&self, tree_size: u64) -> String {
        let how = match self.pinned {
            Pinned::Given => "pinned with --trust".to_owned(),
            Pinned::Recorded => format!("recorded at the first sync in {}", self.record.display()),
            Pinned::FirstUse => format!(
                "trusted on first use and recorded in {}; pin it with --trust KEYFILE",
                self.record.display()
            ),
        };
        format!(
            "trust: the upstream's log of {tree_size} leaves verified against root key {} ({how})",
            self.key
        )
    }
}

/// Opens and verifies the upstream's head and log; a rollback, a fork or a bad signature on
/// the head is one line.
pub(crate) fn open(verifier: &Verifier) -> anyhow::Result<VerifiedLog<'_>> {
    let log = verifier.open_verified_log().map_err(|error| {
        anyhow::anyhow!(
            "the upstream's signed log does not verify, so nothing was synced and the mirror is as it was: {error}"
        )
    })?;
    tracing::debug!(tree_size = log.tree_size(), "sync: log verified");
    Ok(log)
}

/// The names of the packages that the leaves after `from` concern.
pub(crate) fn touched_since(log: &VerifiedLog<'_>, from: u64) -> BTreeSet<String> {
    let start = usize::try_from(from).unwrap_or(usize::MAX);
    log.leaves()
        .iter()
        .skip(start)
        .filter_map(|leaf| LogEvent::parse(leaf).ok())
        .map(|event| event.statement().name().to_ascii_lowercase())
        .collect()
}

/// The log's verdicts on copied files: the replay's problems by package, and each file's
/// lines checked as they are fetched.
pub(crate) struct Vetting<'v> {
    log: Mutex<VerifiedLog<'v>>,
    /// Replay problems by lowercase package name.
    replayed: BTreeMap<String, Vec<Failure>>,
}

impl<'v> Vetting<'v> {
    /// Replays the events of `names` (lowercase package names).
    pub(crate) fn new(mut log: VerifiedLog<'v>, names: &[String]) -> Self {
        let mut replayed: BTreeMap<String, Vec<Failure>> = BTreeMap::new();
        for failure in log.replay(names) {
            replayed
                .entry(failure.package.to_ascii_lowercase())
                .or_default()
                .push(failure);
        }
        Self {
            log: Mutex::new(log),
            replayed,
        }
    }

    /// Checks the index file of `name`; `whole` is the origin's whole file a partial
    /// upstream serves beside a file it cut.
    pub(crate) fn vet(
        &self,
        name: &str,
        bytes: &[u8],
        whole: Option<&[u8]>,
    ) -> anyhow::Result<Vetted> {
        let checked = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check_file(name, bytes, whole)?;
        let mut vetted = Vetted::default();
        let replayed = self
            .replayed
            .get(&name.to_ascii_lowercase())
            .into_iter()
            .flatten();
        for failure in replayed.chain(&checked) {
            match &failure.version {
                Some(version) => {
                    vetted
                        .versions
                        .entry(version.clone())
                        .or_insert_with(|| failure.reason.clone());
                }
                None => {
                    vetted.file.get_or_insert_with(|| failure.reason.clone());
                }
            }
        }
        Ok(vetted)
    }

    /// The verified log back, to keep its state.
    pub(crate) fn into_log(self) -> VerifiedLog<'v> {
        self.log
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The log's verdicts while a thread replays the log (checks every event's signatures), so
/// that files and blobs are fetched meanwhile; each file waits for the replay only to be
/// vetted, before anything of it goes into the copy.
pub(crate) struct Pending<'v> {
    /// The replay's result (`Err`: the replay panicked, its message).
    done: tokio::sync::SetOnce<Result<Vetting<'v>, String>>,
}

impl<'v> Pending<'v> {
    /// No verdict yet.
    pub(crate) fn new() -> Self {
        Self {
            done: tokio::sync::SetOnce::new(),
        }
    }

    /// Replays the events of `names` (lowercase package names), on the calling thread, and
    /// hands the verdicts to the files waiting for them. A panic is handed over as a failure,
    /// so no file waits for ever.
    pub(crate) fn replay(&self, log: VerifiedLog<'v>, names: &[String]) {
        let replayed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Vetting::new(log, names)))
                .map_err(|panic| {
                    panic
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                });
        // Set only here, once.
        let _ = self.done.set(replayed);
    }

    /// The verified log back, to keep its state; `None` when the replay did not finish.
    pub(crate) fn into_log(self) -> Option<VerifiedLog<'v>> {
        self.done.into_inner()?.ok().map(Vetting::into_log)
    }
}

impl crate::mirror::file::Vet for Pending<'_> {
    fn vet<'s>(
        &'s self,
        name: &'s str,
        bytes: &'s [u8],
        whole: Option<&'s [u8]>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Vetted>> + 's>> {
        Box::pin(async move {
            match self.done.wait().await {
                Ok(vetting) => vetting.vet(name, bytes, whole),
                Err(panic) => bail!(
                    "checking the upstream's signed log failed ({panic}), so nothing was switched in; run the sync again"
                ),
            }
        })
    }
}

/// Refuses a listing whose bins are not the ones the verified timestamp binds.
pub(crate) fn check_bins(log: &VerifiedLog<'_>, listed: &[String]) -> anyhow::Result<()> {
    if log.bin_hashes() != listed {
        bail!(
            "the upstream's snapshot changed while the mirror was syncing (its bin list is not the one its signed timestamp names); run the sync again"
        );
    }
    Ok(())
}
