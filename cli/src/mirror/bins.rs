//! The upstream's snapshot bins, the listing of a sync from a Wharf registry: the bin list
//! (`/index/.wharf/bins`, the 256 bin hashes) first, then only the bins whose hash is not the
//! one the previous copy holds. A copy keeps what it listed from in `snapshot/bins` and
//! `snapshot/bins-NN`, so an unchanged upstream costs one request.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;

use crate::mirror::copy::{link, link_replacing, replace, write};
use crate::mirror::file::sha256_hex;
use crate::mirror::upstream::{Fetched, Upstream, Validators};
pub(crate) use wharf_client::verify::{BINS_PATH, ORIGIN_BINS_PATH};

/// The directory of a copy that holds the bins it was listed from.
pub(crate) const DIR: &str = "snapshot";

/// A snapshot's bin list and its 256 bins.
pub(crate) struct Bins {
    /// The bin list as served.
    pub(crate) list: String,
    /// Each bin's hash, from the list.
    hashes: Vec<String>,
    /// Each bin's text.
    texts: Vec<String>,
    /// Which bins were fetched (the others are the previous copy's).
    fetched: Vec<bool>,
}

impl Bins {
    /// The bins of `list` given whole (a bundle's recorded answers, `texts` by bin); `None`
    /// unless there are 256 and each hashes as the list says.
    pub(crate) fn given(list: String, texts: Vec<String>) -> Option<Self> {
        let hashes: Vec<String> = list.lines().map(str::to_owned).collect();
        let whole = hashes.len() == 256
            && texts.len() == 256
            && texts
                .iter()
                .zip(&hashes)
                .all(|(text, hash)| sha256_hex(text.as_bytes()) == *hash);
        whole.then(|| Self {
            list,
            hashes,
            texts,
            fetched: vec![true; 256],
        })
    }

    /// Every index path the bins list, with the SHA-256 of its file.
    pub(crate) fn files(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut files = BTreeMap::new();
        for (bin, text) in self.texts.iter().enumerate() {
            for line in text.lines() {
                let Some((path, hash)) = line.split_once(' ') else {
                    bail!(
                        "snapshot bin {bin:02x} has a line that is not `<index path> <sha256>`: `{line}`"
                    );
                };
                files.insert(path.to_owned(), hash.to_owned());
            }
        }
        Ok(files)
    }

    /// The text of bin `bin`.
    pub(crate) fn text(&self, bin: usize) -> &str {
        &self.texts[bin]
    }

    /// The bin hashes, for comparing with a verified bin list.
    pub(crate) fn hashes(&self) -> &[String] {
        &self.hashes
    }

    /// Writes the bins into the staged copy: fetched ones written, the others linked from
    /// the previous copy. A spare copy keeps the bins it holds already and has the others
    /// replaced (never written in place).
    pub(crate) fn write(
        &self,
        stage: &Path,
        previous: Option<&Path>,
        spare: Option<&crate::mirror::spare::Spare>,
    ) -> anyhow::Result<()> {
        type Put = fn(&Path, &[u8]) -> anyhow::Result<()>;
        type PutLink = fn(&Path, &Path) -> anyhow::Result<bool>;
        let (put, put_link): (Put, PutLink) = match spare {
            Some(_) => (replace, link_replacing),
            None => (write, link),
        };
        put(&stage.join(DIR).join("bins"), self.list.as_bytes())?;
        for (bin, text) in self.texts.iter().enumerate() {
            if spare.is_some_and(|spare| spare.holds_bin(bin, &self.hashes[bin])) {
                continue;
            }
            let name = format!("bins-{bin:02x}");
            let target = stage.join(DIR).join(&name);
            let linked = !self.fetched[bin]
                && previous.is_some_and(|previous| {
                    put_link(&previous.join(DIR).join(&name), &target).unwrap_or(false)
                });
            if !linked {
                put(&target, text.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// The bin list the copy at `previous` was listed from.
pub(crate) fn previous_list(previous: Option<&Path>) -> Option<String> {
    std::fs::read_to_string(previous?.join(DIR).join("bins")).ok()
}

/// The bin list the upstream's signed timestamp binds, as the sync verified it, and where
/// under the index its bins are ([`BINS_PATH`], or [`ORIGIN_BINS_PATH`] on a partial
/// mirror).
pub(crate) struct Verified<'a> {
    pub(crate) list: &'a str,
    pub(crate) path: &'a str,
}

/// The upstream's listing: the bins at [`BINS_PATH`], fetched on `jobs` connections, only
/// those that are not the previous copy's; `None` when the upstream serves no bin list (not a
/// Wharf registry). With `verified` (the signed head, checked already) the list is not asked
/// for again, unless the upstream is a partial mirror, whose listing is its own.
pub(crate) async fn fetch(
    upstream: &Upstream,
    previous: Option<&Path>,
    jobs: usize,
    verified: Option<&Verified<'_>>,
) -> anyhow::Result<Option<Bins>> {
    match verified {
        Some(verified) if verified.path != BINS_PATH => {
            // A partial mirror's own listing: what it holds, not what the copy kept (the
            // origin's snapshot), so nothing is reused.
            fetch_at(upstream, None, jobs, None, BINS_PATH).await
        }
        _ => {
            fetch_at(
                upstream,
                previous,
                jobs,
                verified.map(|v| v.list),
                BINS_PATH,
            )
            .await
        }
    }
}

/// The origin's signed snapshot a partial upstream serves apart from its listing (at
/// [`ORIGIN_BINS_PATH`]); `None` when the listing is the signed snapshot itself.
pub(crate) async fn origin(
    upstream: &Upstream,
    previous: Option<&Path>,
    jobs: usize,
    verified: &Verified<'_>,
) -> anyhow::Result<Option<Bins>> {
    if verified.path == BINS_PATH {
        return Ok(None);
    }
    fetch_at(
        upstream,
        previous,
        jobs,
        Some(verified.list),
        ORIGIN_BINS_PATH,
    )
    .await
}

/// The bins under `path`, the list given (`verified`) or asked for; those the previous copy's
/// snapshot holds with the same hash are taken from it.
async fn fetch_at(
    upstream: &Upstream,
    previous: Option<&Path>,
    jobs: usize,
    verified: Option<&str>,
    path: &str,
) -> anyhow::Result<Option<Bins>> {
    // A bin that does not hash as the list says belongs to a newer snapshot: list again
    // (a verified list is the one the signed head binds, so the sync must start over).
    let attempts = if verified.is_some() { 1 } else { 3 };
    for _ in 0..attempts {
        let Some(list) = bin_list(upstream, previous, verified, path).await? else {
            return Ok(None);
        };
        let url = format!("{}/{path}", upstream.index);
        let hashes: Vec<String> = list.lines().map(str::to_owned).collect();
        if hashes.len() != 256
            || !hashes
                .iter()
                .all(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            bail!("`{url}` is not a bin list (256 lines of a SHA-256 in hex)");
        }
        let held: Vec<String> = previous_list(previous)
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut texts = vec![String::new(); 256];
        let mut fetched = vec![false; 256];
        let mut wanted = Vec::new();
        for bin in 0..256 {
            let kept = (held.get(bin) == Some(&hashes[bin]))
                .then(|| previous.map(|p| p.join(DIR).join(format!("bins-{bin:02x}"))))
                .flatten()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .filter(|text| sha256_hex(text.as_bytes()) == hashes[bin]);
            match kept {
                Some(text) => texts[bin] = text,
                None => wanted.push(bin),
            }
        }
        let answers: Vec<(usize, anyhow::Result<Option<Vec<u8>>>)> = futures::stream::iter(wanted)
            .map(|bin| async move {
                let url = format!("{}/{path}/{bin:02x}", upstream.index);
                (bin, upstream.get(&url).await)
            })
            .buffer_unordered(jobs.max(1))
            .collect()
            .await;
        let mut moved_on = false;
        for (bin, answer) in answers {
            let text = String::from_utf8_lossy(&answer?.unwrap_or_default()).into_owned();
            moved_on |= sha256_hex(text.as_bytes()) != hashes[bin];
            texts[bin] = text;
            fetched[bin] = true;
        }
        if !moved_on {
            return Ok(Some(Bins {
                list,
                hashes,
                texts,
                fetched,
            }));
        }
    }
    bail!(
        "the snapshot bins of `{}` kept changing while the mirror listed them; run the sync again",
        upstream.index
    )
}

/// The bin list: the verified one, or asked for with the `ETag` of the list the previous
/// copy holds (its SHA-256; 304 when it is current); `None` when the upstream has none.
async fn bin_list(
    upstream: &Upstream,
    previous: Option<&Path>,
    verified: Option<&str>,
    path: &str,
) -> anyhow::Result<Option<String>> {
    if let Some(list) = verified {
        return Ok(Some(list.to_owned()));
    }
    let url = format!("{}/{path}", upstream.index);
    let held_list = previous_list(previous);
    let validators = held_list.as_ref().map(|list| Validators {
        etag: Some(format!("\"{}\"", sha256_hex(list.as_bytes()))),
        last_modified: None,
    });
    Ok(
        match (upstream.get_if(&url, validators.as_ref()).await?, held_list) {
            (Fetched::NotModified, Some(list)) => Some(list),
            (Fetched::Body(list, _), _) => Some(String::from_utf8_lossy(&list).into_owned()),
            _ => None,
        },
    )
}

/// The directory of a copy that holds its own listing, when the copy holds less than (or
/// other bytes than) the signed snapshot names.
pub(crate) const LISTING_DIR: &str = "listing";

/// Writes the listing of the staged copy (every index file it holds, with the SHA-256 of its
/// bytes, in bins as the snapshot's) into `listing/`, unless it is the signed snapshot itself.
/// `wharf serve --data` serves it as the copy's bins, and the signed snapshot as the origin's.
pub(crate) fn write_listing(stage: &Path, signed: &Bins) -> anyhow::Result<()> {
    let index = stage.join("index");
    let mut files = Vec::new();
    collect_files(&index, &index, &mut files)?;
    let mut listing = wharf_trust::Snapshot::new();
    for (path, bytes) in &files {
        listing.insert(path, wharf_trust::Hash::sha256(bytes))?;
    }
    let list = listing.bin_list();
    if list == signed.list {
        return Ok(());
    }
    let dir = stage.join(LISTING_DIR);
    write(&dir.join("bins"), list.as_bytes())?;
    for bin in 0..=u8::MAX {
        write(
            &dir.join(format!("bins-{bin:02x}")),
            listing.bin_text(bin).as_bytes(),
        )?;
    }
    Ok(())
}

/// Every index file under `dir` (but `config.json` and dot files), by its index path.
fn collect_files(root: &Path, dir: &Path, into: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("listing the staged copy's `{}`", dir.display()))?
    {
        let path = entry?.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let name = relative.to_string_lossy().into_owned();
        if name == "config.json" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, into)?;
        } else {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading the staged `{}`", path.display()))?;
            into.push((name, bytes));
        }
    }
    Ok(())
}
