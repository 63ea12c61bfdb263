//! Syncing one package's index file: taken from the previous copy when the upstream's is
//! unchanged (by the snapshot's hash, or a 304 to the validators held), otherwise fetched,
//! checked, and each version's blob linked from the previous copy or downloaded and checked
//! against its `cksum`. A version whose blob cannot be had is left out and named.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use wharf_index_format::download_url;

use crate::mirror::copy::{blob_path, link, write};
use crate::mirror::state::{FileState, SyncState};
use crate::mirror::upstream::{Fetched, Upstream};

/// One index file to sync: its path and, when the upstream's snapshot gives it, its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Listed {
    pub(crate) path: String,
    pub(crate) sha256: Option<String>,
    /// Only these versions (from `--roots` or `--lockfile`); `None`: every version.
    pub(crate) versions: Option<BTreeSet<String>>,
}

/// What every file's sync shares.
pub(crate) struct Context<'a> {
    pub(crate) upstream: &'a Upstream,
    pub(crate) dl: &'a str,
    /// The copy `current` points at, if any.
    pub(crate) previous: Option<&'a Path>,
    /// What that copy remembers of the upstream's files.
    pub(crate) held: &'a SyncState,
    pub(crate) stage: &'a Path,
    /// A git upstream's files (its fetched tree); `None`: fetch them over HTTP.
    pub(crate) git_files: Option<&'a std::collections::BTreeMap<String, Vec<u8>>>,
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
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn cksum_of(line: &str) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    entry["cksum"].as_str().map(str::to_owned)
}

/// Takes an unchanged file and its blobs from the previous copy by hard link; `false` when
/// the previous copy lacks any of them (the file is then synced in full).
fn take_unchanged(
    cx: &Context<'_>,
    path: &str,
    held: &FileState,
    synced: &mut Synced,
) -> anyhow::Result<bool> {
    let Some(previous) = cx.previous else {
        return Ok(false);
    };
    let Ok(text) = std::fs::read_to_string(previous.join("index").join(path)) else {
        return Ok(false);
    };
    let mut blobs = 0;
    for line in text.lines() {
        let Some(cksum) = cksum_of(line) else {
            return Ok(false);
        };
        if !link(&blob_path(previous, &cksum), &blob_path(cx.stage, &cksum))? {
            return Ok(false);
        }
        blobs += 1;
    }
    link(
        &previous.join("index").join(path),
        &cx.stage.join("index").join(path),
    )?;
    synced.unchanged += 1;
    synced.packages += 1;
    synced.versions += blobs;
    synced.reused += blobs;
    synced.kept.push((path.to_owned(), held.clone()));
    Ok(true)
}

/// A file's bytes: from a git upstream's tree, or over HTTP (conditional when `held`).
fn fetch_file(
    cx: &Context<'_>,
    path: &str,
    url: &str,
    held: Option<&crate::mirror::upstream::Validators>,
) -> anyhow::Result<Fetched> {
    Ok(match cx.git_files {
        Some(files) => files.get(path).map_or(Fetched::Missing, |bytes| {
            Fetched::Body(
                bytes.clone(),
                crate::mirror::upstream::Validators::default(),
            )
        }),
        None => cx.upstream.get_if(url, held)?,
    })
}

/// Syncs one listed file into `cx.stage`.
pub(crate) fn sync_file(cx: &Context<'_>, listed: &Listed) -> anyhow::Result<Synced> {
    let mut synced = Synced::default();
    let path = listed.path.as_str();
    // What the previous copy holds of this file, if it was made with the same choice.
    let held = cx
        .held
        .files
        .get(path)
        .filter(|held| held.versions == listed.versions);
    if let (Some(held), Some(sha256)) = (held, &listed.sha256)
        && held.sha256 == *sha256
        && take_unchanged(cx, path, held, &mut synced)?
    {
        return Ok(synced);
    }
    let url = format!("{}/{path}", cx.upstream.index);
    // Without a snapshot hash, ask the upstream whether the file changed.
    let ask = held.filter(|held| {
        listed.sha256.is_none()
            && (held.validators.etag.is_some() || held.validators.last_modified.is_some())
    });
    let fetched = fetch_file(cx, path, &url, ask.map(|held| &held.validators))?;
    let (bytes, validators) = match fetched {
        Fetched::NotModified => {
            let held = ask.context("a 304 answers only a conditional request")?;
            if take_unchanged(cx, path, held, &mut synced)? {
                return Ok(synced);
            }
            match cx.upstream.get_if(&url, None)? {
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
    let text = String::from_utf8_lossy(&bytes);
    let mut kept = Vec::new();
    let mut whole = true;
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("`{url}` has a line that is not JSON"))?;
        let field = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
        let (name, version, cksum) = (field("name"), field("vers"), field("cksum"));
        if listed
            .versions
            .as_ref()
            .is_some_and(|wanted| !wanted.contains(&version))
        {
            whole = false;
            continue;
        }
        if let Some(problem) = sync_blob(cx, &name, &version, &cksum, &mut synced)? {
            synced
                .left_out
                .push(format!("crate `{name}` version `{version}`: {problem}"));
            whole = false;
            continue;
        }
        kept.push(line);
        synced.versions += 1;
    }
    let target = cx.stage.join("index").join(path);
    if kept.is_empty() {
        return Ok(synced);
    }
    if whole {
        // The upstream's exact bytes.
        write(&target, &bytes)?;
    } else {
        let mut text = kept.join("\n");
        text.push('\n');
        write(&target, text.as_bytes())?;
    }
    synced.packages += 1;
    if synced.left_out.is_empty() {
        let state = FileState {
            sha256,
            validators,
            versions: listed.versions.clone(),
        };
        synced.kept.push((path.to_owned(), state));
    }
    Ok(synced)
}

/// Puts one version's blob into the stage; `Some(problem)` when it cannot be had.
fn sync_blob(
    cx: &Context<'_>,
    name: &str,
    version: &str,
    cksum: &str,
    synced: &mut Synced,
) -> anyhow::Result<Option<String>> {
    if !(cksum.len() == 64 && cksum.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Ok(Some(format!("its cksum `{cksum}` is not a SHA-256")));
    }
    let target = blob_path(cx.stage, cksum);
    if let Some(previous) = cx.previous
        && link(&blob_path(previous, cksum), &target)?
    {
        synced.reused += 1;
        return Ok(None);
    }
    let from = download_url(cx.dl, name, version, cksum);
    Ok(match cx.upstream.get(&from)? {
        None => Some(format!("its blob is missing upstream (`{from}`)")),
        Some(blob) if sha256_hex(&blob) != cksum => Some(format!(
            "the bytes of `{from}` do not hash to its cksum `{cksum}`"
        )),
        Some(blob) => {
            write(&target, &blob)?;
            synced.downloaded += 1;
            synced.bytes += blob.len() as u64;
            None
        }
    })
}
