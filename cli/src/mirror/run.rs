//! One `wharf mirror sync` from start to end: the upstream's signed log verified (when it
//! serves one), the listing, nothing to do when nothing changed, the files synced into a
//! staged copy, the switch, the blobs no copy names removed, and the summary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_client::verify::VerifiedLog;
use wharf_index_format::RegistryConfig;

use super::copy::{self, create_stage, has_own_blobs, remove_dropped, remove_unnamed, write};
use super::file::{self, Listed, Synced, sha256_hex};
use super::state::{STATE_FILE, SyncState};
use super::upstream::Upstream;
use super::{
    SyncArgs, api_of, bins, connect, listing, premium, remove_stale_copies, signed, switch_current,
    sync_all, trust,
};
use crate::entitlement_info::EntitlementInfo;

/// Prints what a sync did (the summary, one `left out:` line per version left out and one
/// `skipped:` line per premium package skipped for lack of a licence) and returns its exit
/// code: 1 when a version was left out; premium packages skipped without a licence are the
/// expected result of a sync without one, not a failure.
fn report(synced: Synced, current: &Path, trust: &[String], skipped: &[String]) -> ExitCode {
    println!(
        "mirrored {} packages, {} versions into {} ({} blobs downloaded, {} reused)",
        synced.packages,
        synced.versions,
        current.display(),
        synced.downloaded,
        synced.reused
    );
    let skipped_count = if skipped.is_empty() {
        String::new()
    } else {
        format!(
            ", {} premium packages skipped for lack of a licence",
            skipped.len()
        )
    };
    println!(
        "summary: {} packages, {} versions, {} bytes downloaded, {} index files unchanged, {} left out{skipped_count}",
        synced.packages,
        synced.versions,
        synced.bytes,
        synced.unchanged,
        synced.left_out.len()
    );
    for line in trust {
        println!("{line}");
    }
    for name in skipped {
        println!(
            "skipped: crate `{name}` (every version): it is premium upstream, which serves its blobs only with a licence; give one with --licence FILE to mirror it"
        );
    }
    let mut left_out = synced.left_out;
    left_out.sort();
    for problem in &left_out {
        println!("left out: {problem}");
    }
    if left_out.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// How a sync chooses its packages and writes `config.json`: a copy made another way is
/// never taken as it is.
fn choice(args: &SyncArgs) -> String {
    format!(
        "include={:?} roots={:?} host-api={:?} lockfile={:?} public-url={:?} licence={}",
        args.include,
        args.roots,
        args.host_api
            .as_ref()
            .map(|v| (v.to_string(), &args.host_api_name)),
        args.lockfile
            .as_ref()
            .map(|path| std::fs::read(path).map(|bytes| sha256_hex(&bytes)).ok()),
        args.public_url,
        args.licence.is_some()
    )
}

/// The upstream's root key, when it serves a signed log (or `--trust` pins one).
fn root_of(
    runtime: &tokio::runtime::Runtime,
    args: &SyncArgs,
    upstream: &Upstream,
    config: &RegistryConfig,
    git: bool,
) -> anyhow::Result<Option<trust::Root>> {
    if git {
        if args.trust.is_some() {
            bail!(
                "--trust checks a Wharf registry's signed log, which a git index does not serve; sync `{}` without --trust",
                args.from
            );
        }
        return Ok(None);
    }
    let api = api_of(upstream, config, git).unwrap_or_default();
    let root = runtime.block_on(trust::root(
        upstream,
        &api,
        &args.data,
        args.trust.as_deref(),
    ))?;
    if root.is_none() && args.trust.is_some() {
        bail!(
            "--trust was given but `{}` serves no signed log (no keyset at `{api}/api/wharf/v1/log/keyset`); is it a Wharf registry?",
            args.from
        );
    }
    Ok(root)
}

/// Blobs the new copy no longer names leave the store: those of the changed files' old
/// versions, or, when what the store holds is not known from this sync alone (a killed run,
/// a copy not made by a sync), every blob the new copy's index does not name.
fn clean_store(data: &Path, stage: &Path, interrupted: bool, before: &Before, synced: &Synced) {
    if interrupted || before.copy.is_some() && before.state.is_none() {
        remove_unnamed(data, stage);
    } else {
        remove_dropped(data, &synced.dropped, &synced.named);
    }
}

/// What the previous sync left that this one compares with.
struct Before {
    /// The copy `current` points at (canonical).
    copy: Option<PathBuf>,
    /// Its state, when a sync from the same upstream made it.
    state: Option<SyncState>,
}

impl Before {
    /// The copy `current` points at and its state, when a sync from `from` made it.
    fn read(current: &Path, from: &str) -> Self {
        let copy = std::fs::canonicalize(current).ok();
        Self {
            state: SyncState::read(copy.as_deref(), from),
            copy,
        }
    }

    /// The previous copy's state, or an empty one.
    fn held(&self, from: &str) -> SyncState {
        self.state
            .clone()
            .unwrap_or_else(|| SyncState::load(None, from))
    }
}

/// The single-threaded runtime a sync's requests run on.
fn one_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")
}

/// The copy served already is this sync's result: the same bin list, everything held whole,
/// chosen the same way, the same `config.json`, log size and entitlement information.
fn nothing_changed(
    before: &Before,
    fetched_bins: Option<&bins::Bins>,
    choice: &str,
    config: &[u8],
    tree_size: u64,
    signed: Option<&signed::Signed>,
    entitlements: &EntitlementInfo,
) -> Option<Synced> {
    let (bins, held, previous) = (
        fetched_bins?,
        before.state.as_ref()?,
        before.copy.as_deref()?,
    );
    let same = bins::previous_list(Some(previous)).as_deref() == Some(bins.list.as_str())
        && held.partial.is_empty()
        && held.choice == choice
        && held.tree_size == tree_size
        && std::fs::read(previous.join("index/config.json"))
            .ok()
            .as_deref()
            == Some(config)
        && match signed {
            Some(signed) => signed.held_by(previous),
            None => !previous.join(signed::DIR).exists(),
        }
        && premium::held_by(previous) == *entitlements;
    let versions = held.files.values().map(|file| file.blobs).sum();
    same.then(|| Synced {
        packages: held.files.len(),
        versions,
        reused: versions,
        unchanged: held.files.len(),
        ..Synced::default()
    })
}

/// The log's news: every event of a package whose file changed, or that the log has news
/// about since the copy was checked, is to have its signatures checked (the names returned
/// with the log, given the bins); the files of the latter are fetched again (`recheck`).
fn to_replay<'v>(
    mut log: VerifiedLog<'v>,
    fetched_bins: Option<&bins::Bins>,
    held: Option<&SyncState>,
    files: &[Listed],
    recheck: &mut BTreeSet<String>,
) -> anyhow::Result<(VerifiedLog<'v>, Vec<String>)> {
    let Some(bins) = fetched_bins else {
        bail!(
            "the upstream serves a signed log but its snapshot bins could not be read, so its files cannot be checked; run the sync again"
        );
    };
    trust::check_bins(&log, bins.hashes())?;
    for bin in 0..=u8::MAX {
        log.supply_bin(bin, bins.text(usize::from(bin)).to_owned());
    }
    // Without a previous copy every file is fetched and checked: no leaf need be read for
    // news about held files.
    let touched = match held {
        Some(held) => trust::touched_since(&log, held.tree_size),
        None => BTreeSet::new(),
    };
    let mut names = Vec::new();
    for listed in files {
        let name = listed
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let unchanged = listed.sha256.is_some()
            && held
                .and_then(|held| held.files.get(&listed.path))
                .is_some_and(|held| Some(&held.sha256) == listed.sha256.as_ref());
        if touched.contains(&name) {
            recheck.insert(listed.path.clone());
        }
        if !unchanged || touched.contains(&name) {
            names.push(name);
        }
    }
    Ok((log, names))
}

/// The blobs of files the previous copy held and the new one does not.
fn dropped_files(previous: &Path, held: &SyncState, remembered: &SyncState) -> BTreeSet<String> {
    held.files
        .keys()
        .chain(&held.partial)
        .filter(|path| !remembered.files.contains_key(*path) && !remembered.partial.contains(*path))
        .filter_map(|path| std::fs::read_to_string(previous.join("index").join(path)).ok())
        .flat_map(|text| copy::cksums(&text).collect::<Vec<_>>())
        .collect()
}

/// Everything a staged copy holds besides the synced files.
struct Extras<'a> {
    config: &'a [u8],
    /// The signed snapshot's bins (the copy's `snapshot/`).
    fetched_bins: Option<&'a bins::Bins>,
    /// Whether the copy was chosen to hold part of the snapshot (`--include`, `--roots`,
    /// `--lockfile`, or a partial upstream).
    chosen_part: bool,
    choice: String,
    tree_size: u64,
    signed: Option<&'a signed::Signed>,
    /// The upstream's entitlement information (the copy's `entitlements.json`).
    entitlements: &'a EntitlementInfo,
}

/// Syncs the files into `stage` and writes the rest of the copy.
fn stage_copy(
    runtime: &tokio::runtime::Runtime,
    args: &SyncArgs,
    cx: &file::Context<'_>,
    files: &[Listed],
    extras: Extras<'_>,
) -> anyhow::Result<Synced> {
    let stage = cx.stage;
    if cx.spare.is_none() {
        create_stage(&args.data, stage)?;
    }
    let mut synced = runtime.block_on(sync_all(cx, files, args.jobs))?;
    if let Some(spare) = cx.spare {
        let placed = synced.placed.iter().map(String::as_str).collect();
        super::spare::remove_left(stage, spare, &placed)?;
    }
    tracing::debug!(
        written = synced.written,
        reused_copy = cx.spare.is_some(),
        "sync: files and blobs synced"
    );
    write(&stage.join("index/config.json"), extras.config)?;
    premium::write_into(stage, cx.previous, extras.entitlements)?;
    if let Some(bins) = extras.fetched_bins {
        bins.write(stage, cx.previous, cx.spare)?;
        // A copy that holds less than the snapshot names (or other bytes) lists what it holds.
        if extras.chosen_part || !synced.left_out.is_empty() || !synced.partial.is_empty() {
            bins::write_listing(stage, bins)?;
        }
    } else if cx.spare.is_some() {
        // A spare listed from bins the upstream no longer serves keeps none.
        copy::remove_dir(&stage.join(bins::DIR))?;
    }
    if let Some(signed) = extras.signed {
        signed.write(stage)?;
    }
    super::followed::keep(stage, cx.previous, cx.followed)?;
    let record = wharf_registry_server::MirrorRecord {
        upstream: args.from.clone(),
    };
    write(
        &stage.join(wharf_registry_server::MIRROR_RECORD),
        &serde_json::to_vec(&record)?,
    )?;
    let remembered = SyncState {
        upstream: args.from.clone(),
        files: std::mem::take(&mut synced.kept).into_iter().collect(),
        partial: synced.partial.iter().cloned().collect(),
        choice: extras.choice,
        tree_size: extras.tree_size,
    };
    write(&stage.join(STATE_FILE), &serde_json::to_vec(&remembered)?)?;
    if let Some(previous) = cx.previous {
        synced
            .dropped
            .extend(dropped_files(previous, cx.held, &remembered));
    }
    Ok(synced)
}

/// Stages the copy (`stage_copy`) while the log is replayed (every event's signatures
/// checked) on a thread of its own: the files and blobs are fetched meanwhile, and each file
/// waits for the replay only to be vetted, before anything of it goes into the copy.
fn stage_replaying<'v>(
    runtime: &tokio::runtime::Runtime,
    args: &SyncArgs,
    (cx, files, extras): (&file::Context<'_>, &[Listed], Extras<'_>),
    pending: &trust::Pending<'v>,
    replay: Option<(VerifiedLog<'v>, Vec<String>)>,
) -> anyhow::Result<Synced> {
    std::thread::scope(|scope| {
        if let Some((log, names)) = replay {
            scope.spawn(move || {
                pending.replay(log, &names);
                tracing::debug!("sync: log replayed");
            });
        }
        stage_copy(runtime, args, cx, files, extras)
    })
}

/// Marks the staged copy whole and switches `current` to it; the copy it pointed at before
/// stays as the spare the next sync brings up to date.
fn switch(data: &Path, stage: &Path, stage_name: &str) -> anyhow::Result<()> {
    copy::mark_finished(stage)?;
    switch_current(data, stage_name, None)
}

/// The spare copy this sync brings up to date as `stage`, when there is a usable one (rather
/// than a new copy made), after whatever else a run left is removed; and whether a killed
/// run left anything.
fn take_spare(
    args: &SyncArgs,
    previous: Option<&Path>,
    choice: &str,
    stage: &Path,
) -> anyhow::Result<(bool, Option<super::spare::Spare>)> {
    let spare_path = super::spare::find(&args.data, previous, &args.from, choice);
    let interrupted = remove_stale_copies(&args.data, previous, spare_path.as_deref());
    let spare = spare_path
        .map(|path| super::spare::take(&path, stage, &args.from))
        .transpose()
        .inspect_err(|_| drop(std::fs::remove_dir_all(stage)))?;
    Ok((interrupted, spare))
}

/// The copy's `config.json`: the upstream's, or with `--public-url` one naming that URL.
fn copy_config(args: &SyncArgs, upstream: &RegistryConfig, served: &[u8]) -> Vec<u8> {
    match &args.public_url {
        Some(url) => RegistryConfig::for_public_url(url, upstream.auth_required)
            .to_json()
            .into_bytes(),
        None => served.to_vec(),
    }
}

/// The name and path of a new staging directory. Everything is staged next to `current`,
/// so the switch is a rename on one file system.
fn new_stage(data: &Path) -> anyhow::Result<(String, PathBuf)> {
    std::fs::create_dir_all(data).with_context(|| format!("creating `{}`", data.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let name = format!("copy-{stamp}");
    let path = data.join(&name);
    Ok((name, path))
}

/// `wharf mirror sync`.
pub(super) fn sync(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let licence = premium::read_licence(args.licence.as_deref())?;
    let runtime = one_thread_runtime()?;
    let (upstream, upstream_config, config_bytes, tree) = connect(&runtime, args)?;
    let current = args.data.join("current");
    let before = Before::read(&current, &args.from);
    let previous = before.copy.as_deref();

    // The upstream's signed log, when it serves one: verified before anything is listed.
    let root = root_of(&runtime, args, &upstream, &upstream_config, tree.is_some())?;
    let verifier = root
        .as_ref()
        .map(|root| root.verifier(&args.from, args.token.clone(), &args.data))
        .transpose()?;
    let log = verifier.as_ref().map(trust::open).transpose()?;
    let tree_size = log.as_ref().map_or(0, VerifiedLog::tree_size);
    let mut trust_lines: Vec<String> = root.iter().map(|r| r.describe(tree_size)).collect();
    // The signed material the copy serves again, and the checked lifecycle feed.
    let signed = log
        .as_ref()
        .map(|log| runtime.block_on(signed::gather(&upstream, log, &args.data)))
        .transpose()?;
    // Which packages are premium, checked against the verified keyset.
    let api = api_of(&upstream, &upstream_config, tree.is_some());
    let entitlements = runtime.block_on(premium::fetch(&upstream, api.as_deref(), log.as_ref()))?;

    let follow = super::followed::Follow {
        runtime: &runtime,
        upstream: &upstream,
        previous,
        held: before.state.as_ref(),
    };
    let mut followed = super::followed::Followed::new();
    let signed_head = log.as_ref().map(VerifiedLog::documents);
    let mut listed = listing(&follow, args, tree.as_ref(), &mut followed, signed_head)?;
    let skipped =
        premium::skip_without_licence(&mut listed.files, &entitlements, licence.is_some());
    let (files, signed_bins) = (&listed.files, listed.signed());
    let config = copy_config(args, &upstream_config, &config_bytes);
    let choice = choice(args);
    if let Some(synced) = nothing_changed(
        &before,
        listed.comparable(),
        &choice,
        &config,
        tree_size,
        signed.as_ref(),
        &entitlements,
    ) {
        let held = previous.unwrap_or(&current);
        finish_trust(root.as_ref(), log, signed.as_ref(), held, &mut trust_lines)?;
        return Ok(report(synced, &current, &trust_lines, &skipped));
    }
    let mut recheck = BTreeSet::new();
    let held_state = before.state.as_ref();
    let replay = log
        .map(|log| to_replay(log, signed_bins, held_state, files, &mut recheck))
        .transpose()?;
    let pending = trust::Pending::new();

    let (stage_name, stage) = new_stage(&args.data)?;
    let (interrupted, spare) = take_spare(args, previous, &choice, &stage)?;
    let held = before.held(&args.from);
    let stored = copy::stored(&args.data);
    let origin_hashes = listed.origin.as_ref().map(bins::Bins::files).transpose()?;
    let cx = file::Context {
        upstream: &upstream,
        dl: &upstream_config.dl,
        data: &args.data,
        stored: &stored,
        previous,
        previous_own_blobs: previous.is_some_and(has_own_blobs),
        previous_origin: previous.is_some_and(|previous| previous.join(file::ORIGIN_DIR).is_dir()),
        vet: replay.is_some().then_some(&pending as &dyn file::Vet),
        origin_hashes: origin_hashes.as_ref(),
        recheck: &recheck,
        held: &held,
        stage: &stage,
        spare: spare.as_ref(),
        dirs: &copy::Dirs::default(),
        git_files: tree.as_ref().map(|tree| &tree.files),
        followed: &followed,
        premium: &entitlements,
        licence: licence.as_deref(),
    };
    let extras = Extras {
        config: &config,
        fetched_bins: signed_bins,
        chosen_part: args.chooses_part() || listed.origin.is_some() || !skipped.is_empty(),
        choice,
        tree_size,
        signed: signed.as_ref(),
        entitlements: &entitlements,
    };
    // A sync that fails before its switch leaves no staged copy behind.
    let synced = stage_replaying(&runtime, args, (&cx, files, extras), &pending, replay)
        .inspect_err(|_| drop(std::fs::remove_dir_all(&stage)))?;
    switch(&args.data, &stage, &stage_name)?;
    clean_store(&args.data, &stage, interrupted, &before, &synced);
    let log = pending.into_log();
    finish_trust(
        root.as_ref(),
        log,
        signed.as_ref(),
        &current,
        &mut trust_lines,
    )?;
    Ok(report(synced, &current, &trust_lines, &skipped))
}

/// After a sync: keeps the verified log and the feed's serial, and adds the summary line
/// about the feed of the copy served (`served`).
fn finish_trust(
    root: Option<&trust::Root>,
    log: Option<VerifiedLog<'_>>,
    signed: Option<&signed::Signed>,
    served: &Path,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    if let (Some(root), Some(log)) = (root, log) {
        keep_trust(root, log);
    }
    if let Some(signed) = signed {
        signed.record_serial()?;
        lines.extend(signed.describe(served));
        if let Some(warning) = signed.expiry_warning(wharf_trust::UtcTime::now()) {
            eprintln!("{warning}");
        }
    }
    Ok(())
}

/// Keeps the verified log as the state the next sync checks against, and records the root
/// key. A failure only costs the next sync a full check, so it is a warning.
fn keep_trust(root: &trust::Root, log: wharf_client::verify::VerifiedLog<'_>) {
    if let Err(error) = log
        .keep()
        .map_err(anyhow::Error::from)
        .and_then(|()| root.record())
    {
        tracing::warn!(%error, "keeping the upstream's verified log failed");
    }
}
