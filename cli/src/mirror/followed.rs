//! The index files `--roots` follows to compute its closure: fetched once and reused by the
//! sync of each file (no second request), revalidated at the next sync with the validators
//! the previous copy remembers (`If-None-Match`/`If-Modified-Since`), and kept whole in the
//! copy's `followed/<index path>` so that a 304 gives the upstream's bytes back.

use std::collections::BTreeMap;
use std::path::Path;

use crate::mirror::copy::{link, write};
use crate::mirror::state::SyncState;
use crate::mirror::upstream::{Fetched, Upstream, Validators};

/// The directory of a copy that keeps the followed files whole.
pub(crate) const DIR: &str = "followed";

/// Index path → the upstream's bytes and validators, and whether the upstream answered 304
/// (the previous copy's bytes are current).
pub(crate) type Followed = BTreeMap<String, (Vec<u8>, Validators, bool)>;

/// What fetching followed files needs.
pub(crate) struct Follow<'a> {
    pub(crate) runtime: &'a tokio::runtime::Runtime,
    pub(crate) upstream: &'a Upstream,
    pub(crate) previous: Option<&'a Path>,
    pub(crate) held: Option<&'a SyncState>,
}

impl Follow<'_> {
    /// The upstream's file at `path` (`None`: missing), asking with the held validators when
    /// the previous copy keeps its bytes; recorded in `into`.
    pub(crate) fn fetch(&self, path: &str, into: &mut Followed) -> anyhow::Result<Option<Vec<u8>>> {
        let kept = self
            .previous
            .map(|previous| previous.join(DIR).join(path))
            .filter(|kept| kept.is_file());
        let held = self
            .held
            .and_then(|held| held.files.get(path))
            .map(|file| &file.validators)
            .filter(|validators| kept.is_some() && validators.is_some());
        let url = format!("{}/{path}", self.upstream.index);
        let (bytes, validators, unchanged) = match self
            .runtime
            .block_on(self.upstream.get_if(&url, held))?
        {
            Fetched::Missing => return Ok(None),
            Fetched::Body(bytes, validators) => (bytes, validators, false),
            Fetched::NotModified => match (kept.and_then(|kept| std::fs::read(kept).ok()), held) {
                (Some(bytes), Some(validators)) => (bytes, validators.clone(), true),
                _ => match self.runtime.block_on(self.upstream.get_if(&url, None))? {
                    Fetched::Body(bytes, validators) => (bytes, validators, false),
                    _ => return Ok(None),
                },
            },
        };
        into.insert(path.to_owned(), (bytes.clone(), validators, unchanged));
        Ok(Some(bytes))
    }
}

/// Keeps the followed files whole in the staged copy (linked from the previous copy when
/// the bytes are the same).
pub(crate) fn keep(
    stage: &Path,
    previous: Option<&Path>,
    followed: &Followed,
) -> anyhow::Result<()> {
    for (path, (bytes, _, _)) in followed {
        let target = stage.join(DIR).join(path);
        let same = previous
            .map(|previous| previous.join(DIR).join(path))
            .filter(|from| std::fs::read(from).is_ok_and(|held| held == *bytes));
        if !same.is_some_and(|from| link(&from, &target).unwrap_or(false)) {
            write(&target, bytes)?;
        }
    }
    Ok(())
}
