//! What a copy remembers for the next sync, in `<copy>/sync-state.json`: for every upstream
//! index file it holds with nothing left out, the upstream file's SHA-256, the validators the
//! upstream gave it, and the versions chosen from it (`--roots`/`--lockfile`). A file with a
//! version left out (even every version) is remembered only as partial, so the next sync
//! fetches it again rather than finding nothing changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::mirror::upstream::Validators;

/// The file in a copy's root.
pub(crate) const STATE_FILE: &str = "sync-state.json";

/// One upstream index file as the copy holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileState {
    /// SHA-256 of the upstream's bytes (the copy's file is those bytes).
    pub(crate) sha256: String,
    #[serde(flatten)]
    pub(crate) validators: Validators,
    /// The versions chosen from the file; `None`: all of them (the copy's file is then the
    /// upstream's bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) versions: Option<std::collections::BTreeSet<String>>,
    /// How many versions (and blobs) the copy's file holds; 0 when not known.
    #[serde(default)]
    pub(crate) blobs: usize,
}

/// Every index path the copy holds whole, for the upstream it was synced from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SyncState {
    pub(crate) upstream: String,
    pub(crate) files: BTreeMap<String, FileState>,
    /// The index paths the copy holds with a version left out, or holds nothing of because
    /// every version was left out (not in `files`): the next sync fetches them again.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(crate) partial: BTreeSet<String>,
    /// How the packages were chosen (`--include`, `--roots`, `--lockfile`, `--public-url`),
    /// so a sync with another choice never takes the copy as it is.
    #[serde(default)]
    pub(crate) choice: String,
    /// The size of the upstream's signed log this copy was checked against (0: none).
    #[serde(default)]
    pub(crate) tree_size: u64,
}

impl SyncState {
    /// The state of the copy at `copy` when it was synced from `upstream`; empty otherwise
    /// (another upstream, an older copy without the file, a copy from a bundle).
    pub(crate) fn load(copy: Option<&Path>, upstream: &str) -> Self {
        Self::read(copy, upstream).unwrap_or_else(|| Self {
            upstream: upstream.to_owned(),
            ..Self::default()
        })
    }

    /// The state of the copy at `copy` when it was synced from `upstream`; `None` when it
    /// has none (a copy from a bundle, a first sync) or was synced from elsewhere.
    pub(crate) fn read(copy: Option<&Path>, upstream: &str) -> Option<Self> {
        let loaded = copy
            .and_then(|copy| std::fs::read(copy.join(STATE_FILE)).ok())
            .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).ok());
        loaded.filter(|state| state.upstream == upstream)
    }
}
