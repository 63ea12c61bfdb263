//! What a copy remembers for the next sync, in `<copy>/sync-state.json`: for every upstream
//! index file it holds with nothing left out, the upstream file's SHA-256, the validators the
//! upstream gave it, and the versions chosen from it (`--roots`/`--lockfile`). A file with a
//! version left out is not remembered, so the next sync fetches it again.

use std::collections::BTreeMap;
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
}

/// Every index path the copy holds whole, for the upstream it was synced from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SyncState {
    pub(crate) upstream: String,
    pub(crate) files: BTreeMap<String, FileState>,
}

impl SyncState {
    /// The state of the copy at `copy` when it was synced from `upstream`; empty otherwise
    /// (another upstream, an older copy without the file, a copy from a bundle).
    pub(crate) fn load(copy: Option<&Path>, upstream: &str) -> Self {
        let loaded = copy
            .and_then(|copy| std::fs::read(copy.join(STATE_FILE)).ok())
            .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).ok());
        match loaded {
            Some(state) if state.upstream == upstream => state,
            _ => Self {
                upstream: upstream.to_owned(),
                files: BTreeMap::new(),
            },
        }
    }
}
