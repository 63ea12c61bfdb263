//! A partial copy's cut file (`--roots`, `--lockfile` kept only some versions): its hash is
//! not in the origin's signed snapshot, so it is proven through the origin's whole file the
//! copy serves beside it (`/index/.wharf/origin/<index path>`):
//!
//! - the whole file's hash is in the origin's signed snapshot (its freshness is proven there,
//!   so a copy cannot serve an old file to hide a newer version), and each of its lines
//!   matches its release leaf, with no release of the log missing from it;
//! - every line the copy serves is a line of that whole file, in its order;
//! - the versions the copy cut are reported as cut (a notice, not a failure).

use std::collections::BTreeSet;

use wharf_trust::Hash;

use super::head::Head;
use super::index_check::{check_crates, check_lines, releases_of};
use super::log_replay::Replay;
use super::{Failure, Session, VerifyError};

/// A cut file as the copy serves it, with the origin's whole file served beside it.
pub(super) struct CutFile<'a> {
    /// The package.
    pub(super) name: &'a str,
    /// The bytes the copy serves at the package's index path.
    pub(super) served: &'a [u8],
    /// Where it serves them.
    pub(super) served_url: &'a str,
    /// The origin's whole file.
    pub(super) origin: &'a [u8],
    /// Where the copy serves it.
    pub(super) origin_url: &'a str,
}

/// The `vers` of an index line, when it has one.
fn version_of(line: &str) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    entry["vers"].as_str().map(str::to_owned)
}

impl CutFile<'_> {
    /// Checks the cut file; returns its failures and adds a notice per version cut.
    pub(super) fn check(
        &self,
        session: &mut Session,
        head: &Head,
        replay: &Replay,
        leaves: &[Vec<u8>],
        prove_lines: bool,
    ) -> Result<Vec<Failure>, VerifyError> {
        let (name, origin_url) = (self.name, self.origin_url);
        let path = wharf_index_format::index_path(name);
        let mut failures = Vec::new();
        let bin_text = session.bin(wharf_trust::snapshot::bin_of(&path))?;
        if let Err(error) = wharf_trust::snapshot::verify_file(
            &path,
            &Hash::sha256(self.origin),
            &bin_text,
            &head.bins,
        ) {
            failures.push(Failure::new(
                name,
                None,
                format!(
                    "snapshot: the origin's whole file `{origin_url}`, which proves the copy's cut file, is not the one the origin's signed snapshot names ({error}): the copy serves a stale or altered file"
                ),
            ));
            return Ok(failures);
        }
        let (Ok(origin), Ok(served)) = (
            std::str::from_utf8(self.origin),
            std::str::from_utf8(self.served),
        ) else {
            failures.push(Failure::new(
                name,
                None,
                format!("`{}` or `{origin_url}` is not UTF-8 text", self.served_url),
            ));
            return Ok(failures);
        };
        check_lines(
            session,
            head,
            (replay, leaves),
            name,
            (origin_url, origin),
            prove_lines,
            &mut failures,
        )?;
        let served_versions = self.match_lines(origin, served, &mut failures);
        for line in origin.split_terminator('\n') {
            if let Some(version) = version_of(line)
                && !served_versions.contains(&version)
            {
                session.notices.push(format!(
                    "crate `{name}` version `{version}`: cut by this partial copy (not served here; the origin's whole file, proven by its signed snapshot, has it)"
                ));
            }
        }
        if session.options.check_crates && failures.is_empty() {
            let releases = releases_of(replay, name);
            let served = releases
                .iter()
                .filter(|(version, _)| served_versions.contains(*version));
            check_crates(session, name, served, &mut failures)?;
        }
        Ok(failures)
    }

    /// Matches each served line to a line of the origin's whole file, in order; a served line
    /// that has none is a failure. Returns the versions of the matched lines.
    fn match_lines(
        &self,
        origin: &str,
        served: &str,
        failures: &mut Vec<Failure>,
    ) -> BTreeSet<String> {
        let origin_lines: Vec<&str> = origin.split_terminator('\n').collect();
        let mut next = 0;
        let mut matched = BTreeSet::new();
        for (number, line) in served.split_terminator('\n').enumerate() {
            let found = origin_lines
                .get(next..)
                .unwrap_or_default()
                .iter()
                .position(|whole| *whole == line);
            if let Some(at) = found {
                next += at + 1;
                if let Some(version) = version_of(line) {
                    matched.insert(version);
                }
                continue;
            }
            failures.push(Failure::new(
                self.name,
                version_of(line).as_deref(),
                format!(
                    "fabricated line: line {} of `{}` is not a line of the origin's whole file `{}` in its order",
                    number + 1,
                    self.served_url,
                    self.origin_url
                ),
            ));
        }
        matched
    }
}
