//! [`LogReleaseVerifier`]: the log's verdict on each release of an install, from a log
//! verified once (see [`super::Verifier::release_verifier`]).

use wharf_trust::{Hash, StatementBody};

use super::index_check::logged_event;
use super::log_replay::Replay;
use crate::install::{Release, ReleaseVerifier};

/// The member Wharf adds to each logged index line.
const LINE_FIELD: &str = "wharf";

/// Checks releases against a verified log: the line's `"wharf":{"leaf":N}` must be a release
/// of this package and version in the log, with this `cksum`, the line's published bytes
/// must hash to the leaf's `entry`, the archive to its `cksum`, and the package's log events
/// (origin, signatures by its publisher keys or the registry's release key) must have
/// verified.
#[derive(Debug)]
pub struct LogReleaseVerifier {
    size: u64,
    replay: Replay,
}

impl LogReleaseVerifier {
    pub(crate) fn new(size: u64, replay: Replay) -> Self {
        Self { size, replay }
    }

    fn check(&self, release: &Release<'_>) -> Result<(), String> {
        let entry = release.entry;
        let (name, version) = (entry.name.as_str(), entry.vers.to_string());
        let leaf = entry
            .extensions
            .get(LINE_FIELD)
            .and_then(|member| member.get("leaf"))
            .and_then(serde_json::Value::as_u64)
            .ok_or("no leaf: the line has no `wharf` leaf member, so the log never recorded it")?;
        if leaf >= self.size {
            return Err(format!(
                "no leaf: leaf {leaf} is not in the log of {} leaves",
                self.size
            ));
        }
        let event = logged_event(&self.replay, leaf)?;
        let statement = event.statement();
        let StatementBody::Release {
            version: signed_version,
            cksum,
            entry: signed_entry,
        } = statement.body()
        else {
            return Err(format!(
                "no leaf: leaf {leaf} is a {}, not a release",
                statement.describe()
            ));
        };
        if statement.name() != name || *signed_version != version {
            return Err(format!(
                "name mismatch: leaf {leaf} is the release of {} {signed_version}",
                statement.name()
            ));
        }
        let archive = Hash::sha256(release.archive);
        if entry.cksum != cksum.to_hex() || archive != *cksum {
            return Err(format!(
                "checksum mismatch: the line says {} and the archive hashes to {archive}, but leaf {leaf} signs {cksum}",
                entry.cksum
            ));
        }
        let mut published = entry.clone();
        published.yanked = false;
        published.extensions.remove(LINE_FIELD);
        let found = Hash::sha256(published.to_line().as_bytes());
        if found != *signed_entry {
            return Err(format!(
                "entry mismatch: the line hashes to {found} but leaf {leaf} signs {signed_entry}"
            ));
        }
        if let Some(failure) = self
            .replay
            .failures
            .iter()
            .find(|failure| failure.package == name)
        {
            return Err(failure.reason.clone());
        }
        Ok(())
    }
}

impl ReleaseVerifier for LogReleaseVerifier {
    fn verify(&self, release: &Release<'_>) -> Result<(), String> {
        self.check(release)
    }
}
