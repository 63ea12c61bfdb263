//! Syncing one package's index file: taken from the previous copy when the upstream's is
//! unchanged (by the snapshot's hash, or a 304 to the validators held), otherwise fetched,
//! checked (against the upstream's signed log when it has one), and each version's blob
//! taken from the shared store or downloaded and checked against its `cksum`. A version
//! whose blob is missing or wrong, or that the log does not vouch for, is left out and named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use wharf_client::verify::ORIGIN_FILES_PATH;
use wharf_index_format::download_url;

use crate::mirror::copy::{
    blob_path, cksums, link, link_replacing, replace, store_path, write, write_blob,
};
use crate::mirror::line::LineFields;
use crate::mirror::state::{FileState, SyncState};
use crate::mirror::upstream::{Fetched, Licensed, Upstream};

/// The directory of a copy that holds the origin's whole file of each file whose versions
/// `--roots` or `--lockfile` cut (served at `/index/.wharf/origin/<path>`).
pub(crate) const ORIGIN_DIR: &str = "origin";

/// One index file to sync: its path and, when the upstream's snapshot gives it, its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Listed {
    pub(crate) path: String,
    pub(crate) sha256: Option<String>,
    /// Only these versions (from `--roots` or `--lockfile`); `None`: every version.
    pub(crate) versions: Option<BTreeSet<String>>,
}

/// What the upstream's signed log says of one index file: the versions it does not vouch
/// for (version → why) and, when the whole file is refused, why.
#[derive(Debug, Default)]
pub(crate) struct Vetted {
    pub(crate) file: Option<String>,
    pub(crate) versions: BTreeMap<String, String>,
}

/// Checks fetched index files against the upstream's signed log.
pub(crate) trait Vet: Sync {
    /// Checks the index file of package `name` (its `bytes`, and the origin's whole file a
    /// partial upstream serves beside a file it cut), once the log's verdicts are ready.
    fn vet<'s>(
        &'s self,
        name: &'s str,
        bytes: &'s [u8],
        whole: Option<&'s [u8]>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Vetted>> + 's>>;
}

/// What every file's sync shares.
pub(crate) struct Context<'a> {
    pub(crate) upstream: &'a Upstream,
    pub(crate) dl: &'a str,
    /// The mirror directory (its `blobs/` store is shared by all copies).
    pub(crate) data: &'a Path,
    /// The blobs the store held when the sync started (read once: no check per blob).
    pub(crate) stored: &'a std::collections::HashSet<String>,
    /// The copy `current` points at, if any.
    pub(crate) previous: Option<&'a Path>,
    /// Whether that copy holds its blobs itself (then they are linked into the store).
    pub(crate) previous_own_blobs: bool,
    /// Whether that copy holds origin files of files it cut (its [`ORIGIN_DIR`]).
    pub(crate) previous_origin: bool,
    /// The log check, when the upstream serves a signed log.
    pub(crate) vet: Option<&'a dyn Vet>,
    /// When the upstream is a partial mirror (its listing is its own): the SHA-256 the
    /// origin's signed snapshot names for each file, so a file it cut is recognised.
    pub(crate) origin_hashes: Option<&'a BTreeMap<String, String>>,
    /// Index paths never taken unchanged (the log has news about their package).
    pub(crate) recheck: &'a BTreeSet<String>,
    /// What that copy remembers of the upstream's files.
    pub(crate) held: &'a SyncState,
    pub(crate) stage: &'a Path,
    /// The spare copy `stage` is (brought up to date in place of a new copy), if any.
    pub(crate) spare: Option<&'a crate::mirror::spare::Spare>,
    /// The directories made so far under the stage's `index/`.
    pub(crate) dirs: &'a crate::mirror::copy::Dirs,
    /// A git upstream's files (its fetched tree); `None`: fetch them over HTTP.
    pub(crate) git_files: Option<&'a std::collections::BTreeMap<String, Vec<u8>>>,
    /// The files `--roots` fetched already (not fetched again).
    pub(crate) followed: &'a crate::mirror::followed::Followed,
    /// The upstream's entitlement information (which packages are premium).
    pub(crate) premium: &'a crate::entitlement_info::EntitlementInfo,
    /// The licence presented with each premium download (`--licence`).
    pub(crate) licence: Option<&'a str>,
}

/// What syncing some files did.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    pub(crate) packages: usize,
    pub(crate) versions: usize,
    pub(crate) downloaded: usize,
    pub(crate) reused: usize,
    pub(crate) bytes: u64,
    /// Index files taken from the previous copy without downloading them.
    pub(crate) unchanged: usize,
    pub(crate) left_out: Vec<String>,
    /// The files the new copy holds whole, for its `sync-state.json`.
    pub(crate) kept: Vec<(String, FileState)>,
    /// The files the new copy holds with a version left out.
    pub(crate) partial: Vec<String>,
    /// The blobs the previous copy's version of each changed file named.
    pub(crate) dropped: BTreeSet<String>,
    /// The blobs the new copy's changed files name.
    pub(crate) named: BTreeSet<String>,
    /// The index paths the new copy holds a file at (written, linked or found in place).
    pub(crate) placed: Vec<String>,
    /// Index files written or linked into the copy (not found in place in a spare copy).
    pub(crate) written: usize,
}

impl Synced {
    /// Adds another part's counts.
    pub(crate) fn add(&mut self, other: Synced) {
        self.packages += other.packages;
        self.versions += other.versions;
        self.downloaded += other.downloaded;
        self.reused += other.reused;
        self.bytes += other.bytes;
        self.unchanged += other.unchanged;
        self.left_out.extend(other.left_out);
        self.kept.extend(other.kept);
        self.partial.extend(other.partial);
        self.dropped.extend(other.dropped);
        self.named.extend(other.named);
        self.placed.extend(other.placed);
        self.written += other.written;
    }
}

/// The error of a line that is not an index entry.
fn not_an_entry(url: &str) -> String {
    format!(
        "`{url}` has a line that is not an index entry (a JSON object with string `name`, `vers` and `cksum`)"
    )
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Takes an unchanged file from the previous copy by hard link (its blobs are in the shared
/// store already; a previous copy with blobs of its own has them linked into the store);
/// `false` when the previous copy lacks any of them (the file is then synced in full).
fn take_unchanged(
    cx: &Context<'_>,
    path: &str,
    held: &FileState,
    synced: &mut Synced,
) -> anyhow::Result<bool> {
    let Some(previous) = cx.previous else {
        return Ok(false);
    };
    let from = previous.join("index").join(path);
    let mut blobs = held.blobs;
    if cx.previous_own_blobs || blobs == 0 {
        let Ok(text) = std::fs::read_to_string(&from) else {
            return Ok(false);
        };
        blobs = 0;
        for cksum in cksums(&text) {
            if cx.previous_own_blobs
                && !link(&blob_path(previous, &cksum), &store_path(cx.data, &cksum))?
            {
                return Ok(false);
            }
            blobs += 1;
        }
    }
    // A spare copy holding the same file already keeps it (and its origin file) as it is.
    if !cx.spare.is_some_and(|spare| spare.holds(path, held)) {
        let to = cx.stage.join("index").join(path);
        make_parent(cx, &to)?;
        let linked = match cx.spare {
            Some(_) => link_replacing(&from, &to)?,
            None => link(&from, &to)?,
        };
        if !linked {
            return Ok(false);
        }
        let origin = cx.stage.join(ORIGIN_DIR).join(path);
        if cx.spare.is_some_and(|spare| spare.origin) {
            crate::mirror::copy::remove_file(&origin)?;
        }
        // The origin's whole file of a cut file goes with it (`false`: the file was not cut).
        if cx.previous_origin {
            link(&previous.join(ORIGIN_DIR).join(path), &origin)?;
        }
        synced.written += 1;
    }
    synced.placed.push(path.to_owned());
    synced.unchanged += 1;
    synced.packages += 1;
    synced.versions += blobs;
    synced.reused += blobs;
    let mut held = held.clone();
    held.blobs = blobs;
    synced.kept.push((path.to_owned(), held));
    Ok(true)
}

/// Makes the directory of `target` (a file under the stage's `index/`) unless made already.
fn make_parent(cx: &Context<'_>, target: &Path) -> anyhow::Result<()> {
    match target.parent() {
        Some(parent) => cx.dirs.make(&cx.stage.join("index"), parent),
        None => Ok(()),
    }
}

/// A file's bytes: from a git upstream's tree, or over HTTP (conditional when `held`).
async fn fetch_file(
    cx: &Context<'_>,
    path: &str,
    url: &str,
    held: Option<&crate::mirror::upstream::Validators>,
) -> anyhow::Result<Fetched> {
    if let Some((bytes, validators, unchanged)) = cx.followed.get(path) {
        return Ok(if *unchanged && held.is_some() {
            Fetched::NotModified
        } else {
            Fetched::Body(bytes.clone(), validators.clone())
        });
    }
    Ok(match cx.git_files {
        Some(files) => files.get(path).map_or(Fetched::Missing, |bytes| {
            Fetched::Body(
                bytes.clone(),
                crate::mirror::upstream::Validators::default(),
            )
        }),
        None => cx.upstream.get_if(url, held).await?,
    })
}

/// Syncs one listed file into `cx.stage`.
pub(crate) async fn sync_file(cx: &Context<'_>, listed: &Listed) -> anyhow::Result<Synced> {
    let mut synced = Synced::default();
    let path = listed.path.as_str();
    // What the previous copy holds of this file, if it was made with the same choice.
    let held = cx
        .held
        .files
        .get(path)
        .filter(|held| held.versions == listed.versions);
    let held = held.filter(|_| !cx.recheck.contains(path));
    if let (Some(held), Some(sha256)) = (held, &listed.sha256)
        && held.sha256 == *sha256
        && take_unchanged(cx, path, held, &mut synced)?
    {
        return Ok(synced);
    }
    let url = format!("{}/{path}", cx.upstream.index);
    // Without a snapshot hash, ask the upstream whether the file changed.
    let ask = held.filter(|held| listed.sha256.is_none() && held.validators.is_some());
    let fetched = fetch_file(cx, path, &url, ask.map(|held| &held.validators)).await?;
    let (bytes, validators) = match fetched {
        Fetched::NotModified => {
            let held = ask.context("a 304 answers only a conditional request")?;
            if take_unchanged(cx, path, held, &mut synced)? {
                return Ok(synced);
            }
            match cx.upstream.get_if(&url, None).await? {
                Fetched::Body(bytes, validators) => (bytes, validators),
                _ => bail!("`{url}` answered 304, then no file; run the sync again"),
            }
        }
        Fetched::Missing if listed.sha256.is_none() || cx.git_files.is_some() => {
            return Ok(synced);
        }
        Fetched::Missing => {
            bail!("`{url}` is listed in the snapshot but missing; run the sync again")
        }
        Fetched::Body(bytes, validators) => (bytes, validators),
    };
    let sha256 = sha256_hex(&bytes);
    if listed
        .sha256
        .as_ref()
        .is_some_and(|listed| *listed != sha256)
    {
        bail!(
            "`{url}` changed while the mirror was syncing (its hash is not the snapshot's); run the sync again"
        );
    }
    // The blobs the previous copy's version of the file named may be dropped now.
    if let Some(previous) = cx.previous
        && let Ok(text) = std::fs::read_to_string(previous.join("index").join(path))
    {
        synced.dropped.extend(cksums(&text));
    }
    let upstream_whole = upstream_whole(cx, path, &sha256).await?;
    let text = String::from_utf8_lossy(&bytes);
    // The blobs are fetched while the log may still be replayed; they go into the copy only
    // with the versions the log vouches for.
    let lines = fetch_blobs(cx, listed, &url, &text).await?;
    let vetted = match (cx.vet, lines.first()) {
        (Some(vet), Some((_, first, _))) => {
            vet.vet(&first.name, &bytes, upstream_whole.as_deref())
                .await?
        }
        _ => Vetted::default(),
    };
    if let Some(problem) = &vetted.file {
        for (_, fields, blob) in &lines {
            blob.discard(cx.data, &fields.cksum);
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        synced
            .left_out
            .push(format!("crate `{name}` (every version): {problem}"));
        // Remembered as partial, so the next sync fetches the file again.
        synced.partial.push(path.to_owned());
        return Ok(synced);
    }
    let (kept, whole, cut) = copy_lines(cx.data, lines, &vetted, &mut synced);
    // The origin's whole file proves a file cut here or by the upstream.
    let proof = match &upstream_whole {
        Some(origin) => Some(origin.as_slice()),
        None => cut.then_some(bytes.as_slice()),
    };
    if kept.is_empty() {
        // Every chosen version left out: the copy holds nothing of the file, but remembers
        // it as partial, so the next sync retries it rather than finding nothing changed.
        if !synced.left_out.is_empty() {
            synced.partial.push(path.to_owned());
        }
        return Ok(synced);
    }
    write_kept(cx, path, &bytes, (&kept, whole), proof, &mut synced)?;
    synced.packages += 1;
    if synced.left_out.is_empty() {
        let state = FileState {
            sha256,
            validators,
            versions: listed.versions.clone(),
            blobs: kept.len(),
        };
        synced.kept.push((path.to_owned(), state));
    } else {
        synced.partial.push(path.to_owned());
    }
    Ok(synced)
}

/// Writes the kept lines of the upstream's file (`bytes`) at `path` in the stage (the
/// upstream's exact bytes when `whole`) and, for a file cut by the choice or by a partial
/// upstream, the origin's whole file beside it (`proof`), which proves the cut file. In a
/// spare copy, files are replaced (never written in place) and a stale origin file removed.
/// Counted in `synced` as placed and written.
fn write_kept(
    cx: &Context<'_>,
    path: &str,
    bytes: &[u8],
    (kept, whole): (&[&str], bool),
    proof: Option<&[u8]>,
    synced: &mut Synced,
) -> anyhow::Result<()> {
    let put = if cx.spare.is_some() { replace } else { write };
    let target = cx.stage.join("index").join(path);
    make_parent(cx, &target)?;
    synced.placed.push(path.to_owned());
    synced.written += 1;
    if whole {
        put(&target, bytes)?;
    } else {
        let mut text = kept.join("\n");
        text.push('\n');
        put(&target, text.as_bytes())?;
    }
    let origin = cx.stage.join(ORIGIN_DIR).join(path);
    match proof {
        Some(proof) => put(&origin, proof),
        None if cx.spare.is_some_and(|spare| spare.origin) => {
            crate::mirror::copy::remove_file(&origin)
        }
        None => Ok(()),
    }
}

/// The origin's whole file a partial upstream serves beside `path` when the file it served
/// (hashing to `sha256`) is not the one the origin's signed snapshot names: one it cut.
async fn upstream_whole(
    cx: &Context<'_>,
    path: &str,
    sha256: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    match cx.origin_hashes.and_then(|hashes| hashes.get(path)) {
        Some(origin) if origin != sha256 => {
            let url = format!("{}/{ORIGIN_FILES_PATH}/{path}", cx.upstream.index);
            cx.upstream.get(&url).await
        }
        _ => Ok(None),
    }
}

/// What became of one line's blob before the log's verdict on its version.
enum Blob {
    /// The version is not chosen (`--roots`, `--lockfile`): nothing fetched.
    Cut,
    /// The store held it already (or took it from the previous copy's own blobs).
    Reused,
    /// Downloaded, checked against its `cksum` and put into the store: its size.
    Downloaded(u64),
    /// It cannot be had: why.
    Problem(String),
}

impl Blob {
    /// Removes a blob this sync downloaded for a version the copy leaves out (no other
    /// version names it: a `.crate` holds its name and version).
    fn discard(&self, data: &Path, cksum: &str) {
        if matches!(self, Blob::Downloaded(_)) {
            let _ = std::fs::remove_file(store_path(data, cksum));
        }
    }
}

/// Each line of a fetched file with its parsed fields and its blob, fetched into the store
/// unless the choice cuts its version.
async fn fetch_blobs<'t>(
    cx: &Context<'_>,
    listed: &Listed,
    url: &str,
    text: &'t str,
) -> anyhow::Result<Vec<(&'t str, LineFields<'t>, Blob)>> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let fields = LineFields::parse(line).with_context(|| not_an_entry(url))?;
        let blob = if listed
            .versions
            .as_ref()
            .is_some_and(|wanted| !wanted.contains(&*fields.vers))
        {
            Blob::Cut
        } else {
            sync_blob(cx, &fields.name, &fields.vers, &fields.cksum).await?
        };
        lines.push((line, fields, blob));
    }
    Ok(lines)
}

/// The lines of a fetched file the copy keeps (each with its blob in the store), whether
/// that is every line, and whether a version was cut by the choice (`--roots`,
/// `--lockfile`). A version the log does not vouch for is left out (and its blob, if this
/// sync downloaded it, removed again).
fn copy_lines<'t>(
    data: &Path,
    lines: Vec<(&'t str, LineFields<'t>, Blob)>,
    vetted: &Vetted,
    synced: &mut Synced,
) -> (Vec<&'t str>, bool, bool) {
    let mut kept = Vec::new();
    let mut whole = true;
    let mut cut = false;
    for (line, fields, blob) in lines {
        let (name, version, cksum) = (&*fields.name, &*fields.vers, &*fields.cksum);
        let problem = match (&blob, vetted.versions.get(version)) {
            (Blob::Cut, _) => {
                whole = false;
                cut = true;
                continue;
            }
            (_, Some(problem)) => {
                blob.discard(data, cksum);
                Some(problem.as_str())
            }
            (Blob::Problem(problem), None) => Some(problem.as_str()),
            (Blob::Reused, None) => {
                synced.reused += 1;
                None
            }
            (Blob::Downloaded(size), None) => {
                synced.downloaded += 1;
                synced.bytes += size;
                None
            }
        };
        if let Some(problem) = problem {
            synced
                .left_out
                .push(format!("crate `{name}` version `{version}`: {problem}"));
            whole = false;
            continue;
        }
        kept.push(line);
        synced.named.insert(cksum.to_owned());
        synced.versions += 1;
    }
    (kept, whole, cut)
}

/// Puts one version's blob into the shared store (when it is not there already).
async fn sync_blob(
    cx: &Context<'_>,
    name: &str,
    version: &str,
    cksum: &str,
) -> anyhow::Result<Blob> {
    if !(cksum.len() == 64 && cksum.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Ok(Blob::Problem(format!(
            "its cksum `{cksum}` is not a SHA-256"
        )));
    }
    let target = store_path(cx.data, cksum);
    if cx.stored.contains(cksum)
        || (cx.previous_own_blobs
            && cx.previous.is_some_and(|previous| {
                link(&blob_path(previous, cksum), &target).unwrap_or(false)
            }))
    {
        return Ok(Blob::Reused);
    }
    let from = download_url(cx.dl, name, version, cksum);
    let fetched = if cx.premium.is_premium(name) {
        let Some(licence) = cx.licence else {
            return Ok(Blob::Problem(
                "it is premium and the sync has no licence; give one with --licence FILE"
                    .to_owned(),
            ));
        };
        match cx.upstream.get_licensed(&from, licence).await? {
            Licensed::Body(blob) => Some(blob),
            Licensed::Missing => None,
            Licensed::Refused(reason) => {
                return Ok(Blob::Problem(format!(
                    "the upstream refused the licence given with --licence: {reason}"
                )));
            }
        }
    } else {
        cx.upstream.get(&from).await?
    };
    Ok(match fetched {
        None => Blob::Problem(format!("its blob is missing upstream (`{from}`)")),
        Some(blob) if sha256_hex(&blob) != cksum => Blob::Problem(format!(
            "the bytes of `{from}` do not hash to its cksum `{cksum}`"
        )),
        Some(blob) => {
            write_blob(cx.data, cksum, &blob)?;
            Blob::Downloaded(blob.len() as u64)
        }
    })
}
