//! Checking index files the caller already holds (a mirror that fetched them itself) against
//! a verified head and log, without fetching them again: [`Verifier::open_verified_log`] runs steps
//! 1–3 (keyset chain, timestamp, checkpoint against the kept one, bin list, leaves), then
//! [`VerifiedLog::replay`] checks the signatures of the named packages' events and
//! [`VerifiedLog::check_file`] each file's lines against their release leaves.

use wharf_trust::{Hash, Keyset};

use super::{
    Failure, HeadDocuments, LogView, Verifier, VerifyError, index_check, leaf_store, log_replay,
};

/// A registry's verified head and log.
pub struct VerifiedLog<'v> {
    verifier: &'v Verifier,
    view: LogView,
}

impl std::fmt::Debug for VerifiedLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedLog")
            .field("tree_size", &self.tree_size())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Steps 1–3 of a run: the keyset chain from the pinned root key, the timestamp and the
    /// checkpoint (consistent with the one kept: a rollback or a split view is `Err`), the bin
    /// list, and every leaf. Nothing is kept until [`VerifiedLog::keep`].
    pub fn open_verified_log(&self) -> Result<VerifiedLog<'_>, VerifyError> {
        Ok(VerifiedLog {
            verifier: self,
            view: self.open_log(Some(&[]))?,
        })
    }
}

impl VerifiedLog<'_> {
    /// The size of the verified checkpoint.
    pub fn tree_size(&self) -> u64 {
        self.view.head.checkpoint.size()
    }

    /// The snapshot's 256 bin hashes (in hex), as the verified timestamp binds them.
    pub fn bin_hashes(&self) -> Vec<String> {
        self.view.head.bins.iter().map(Hash::to_hex).collect()
    }

    /// Hands over the text of bin `bin` (fetched by the caller), so checking a file needs
    /// no request; it is checked against the verified bin list when used.
    pub fn supply_bin(&mut self, bin: u8, text: String) {
        self.view.session.bins.insert(bin, text);
    }

    /// Replays the log for the packages `names` (compared without ASCII case): the origin
    /// and signatures of each of their events. Returns the problems found, each naming its
    /// package and, when about one, the version.
    pub fn replay(&mut self, names: &[String]) -> Vec<Failure> {
        let earlier = std::mem::take(&mut self.view.replay);
        self.view.replay = log_replay::replay_again(earlier, &self.view.head.keysets, Some(names));
        self.view.replay.failures.clone()
    }

    /// Checks the index file of `name` (its bytes as fetched) against the snapshot and the
    /// replayed log: its hash in its bin, each line against its release leaf, no release
    /// missing. Replay the package first ([`VerifiedLog::replay`]). From a partial mirror,
    /// `whole` is the origin's whole file it serves beside a file it cut
    /// ([`ORIGIN_FILES_PATH`](super::ORIGIN_FILES_PATH)), fetched by the caller: the cut file
    /// is then proven through it as `wharf verify` proves it. Nothing is fetched here.
    pub fn check_file(
        &mut self,
        name: &str,
        bytes: &[u8],
        whole: Option<&[u8]>,
    ) -> Result<Vec<Failure>, VerifyError> {
        let view = &mut self.view;
        index_check::check_bytes(
            &mut view.session,
            &view.head,
            &view.replay,
            name,
            (bytes, whole),
        )
    }

    /// Notices and overrides of the run (a rotated key dropped the kept state, …).
    pub fn notices(&self) -> Vec<String> {
        let session = &self.view.session;
        session
            .notices
            .iter()
            .chain(&session.overrides)
            .cloned()
            .collect()
    }

    /// The keyset in force (the newest of the verified chain).
    pub fn keyset(&self) -> &Keyset {
        self.view
            .head
            .keysets
            .last()
            .expect("a verified chain has at least one keyset")
    }

    /// The keyset chain, timestamp and checkpoint as served and verified.
    pub fn documents(&self) -> &HeadDocuments {
        &self.view.session.documents
    }

    /// Every leaf of the verified log, in order.
    pub fn leaves(&self) -> &[Vec<u8>] {
        &self.view.leaves
    }

    /// Keeps the verified keyset, timestamp, checkpoint and leaves as the state the next run
    /// checks against.
    pub fn keep(self) -> Result<(), VerifyError> {
        if !self.view.session.keep_state {
            return Ok(());
        }
        let verifier = self.verifier;
        leaf_store::save(
            &leaf_store::leaves_path(&verifier.state_dir, &verifier.root),
            &self.view.leaves,
        )?;
        self.view.kept.save(&super::state::state_path(
            &verifier.state_dir,
            &verifier.root,
        ))
    }
}
