//! The upstream's snapshot bins, the listing of a sync from a Wharf registry: the bin list
//! (`/index/.wharf/bins`, the 256 bin hashes) first, then only the bins whose hash is not the
//! one the previous copy holds. A copy keeps what it listed from in `snapshot/bins` and
//! `snapshot/bins-NN`, so an unchanged upstream costs one request.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use futures::StreamExt as _;

use crate::mirror::copy::{link, write};
use crate::mirror::file::sha256_hex;
use crate::mirror::upstream::{Fetched, Upstream, Validators};

/// The directory of a copy that holds the bins it was listed from.
const DIR: &str = "snapshot";

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
    /// the previous copy.
    pub(crate) fn write(&self, stage: &Path, previous: Option<&Path>) -> anyhow::Result<()> {
        write(&stage.join(DIR).join("bins"), self.list.as_bytes())?;
        for (bin, text) in self.texts.iter().enumerate() {
            let name = format!("bins-{bin:02x}");
            let target = stage.join(DIR).join(&name);
            let linked = !self.fetched[bin]
                && previous.is_some_and(|previous| {
                    link(&previous.join(DIR).join(&name), &target).unwrap_or(false)
                });
            if !linked {
                write(&target, text.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// The bin list the copy at `previous` was listed from.
pub(crate) fn previous_list(previous: Option<&Path>) -> Option<String> {
    std::fs::read_to_string(previous?.join(DIR).join("bins")).ok()
}

/// The upstream's bins, fetching on `jobs` connections only those that are not the previous
/// copy's; `None` when the upstream serves no bin list (not a Wharf registry).
pub(crate) async fn fetch(
    upstream: &Upstream,
    previous: Option<&Path>,
    jobs: usize,
) -> anyhow::Result<Option<Bins>> {
    // A bin that does not hash as the list says belongs to a newer snapshot: list again.
    for _ in 0..3 {
        let url = format!("{}/.wharf/bins", upstream.index);
        // The list held is sent as the ETag it had (its SHA-256): 304 when it is current.
        let held_list = previous_list(previous);
        let validators = held_list.as_ref().map(|list| Validators {
            etag: Some(format!("\"{}\"", sha256_hex(list.as_bytes()))),
            last_modified: None,
        });
        let list = match (upstream.get_if(&url, validators.as_ref()).await?, held_list) {
            (Fetched::NotModified, Some(list)) => list,
            (Fetched::Body(list, _), _) => String::from_utf8_lossy(&list).into_owned(),
            _ => return Ok(None),
        };
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
                let url = format!("{}/.wharf/bins/{bin:02x}", upstream.index);
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
