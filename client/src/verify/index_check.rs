//! One package's index file against the signed snapshot and the replayed log: the file's
//! hash in its snapshot bin, and each line against its release leaf (name, version,
//! `cksum`, the hash of the exact published bytes, the yank state), with no release of the
//! log missing from the file and no line the log does not have. A partial copy's cut file is
//! checked through the origin's whole file (see `cut_file`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_trust::{Hash, InclusionProof, StatementBody};

use super::head::Head;
use super::http::{CRATE_CAP, LARGE_CAP, SMALL_CAP};
use super::log_replay::Replay;
use super::{Failure, ORIGIN_BINS_PATH, ORIGIN_FILES_PATH, Session, VerifyError};

/// The fields of a served index line the check reads. Deserializing into a struct refuses a
/// repeated field (two `cksum`s) and anything that is not one JSON object (a BOM, trailing
/// bytes).
#[derive(Debug, Deserialize)]
struct LineFields {
    name: String,
    vers: String,
    cksum: String,
    yanked: bool,
    wharf: Option<WharfMember>,
}

/// The member Wharf adds to each logged line.
#[derive(Debug, Deserialize)]
struct WharfMember {
    leaf: u64,
}

/// What one line was matched to.
struct Matched {
    version: String,
    leaf: u64,
}

/// Checks the index file of `name`; returns its failures.
pub(crate) fn check_package(
    session: &mut Session,
    head: &Head,
    replay: &Replay,
    leaves: &[Vec<u8>],
    name: &str,
    prove_lines: bool,
) -> Result<Vec<Failure>, VerifyError> {
    let path = wharf_index_format::index_path(name);
    let url = session.index_url(&path);
    let mut failures = Vec::new();
    let Some(bytes) = session.http.get_optional(&url, "index file", LARGE_CAP)? else {
        let releases = releases_of(replay, name);
        failures.push(Failure::new(
            name,
            None,
            if releases.is_empty() {
                "no such package: neither the index nor the log has it".to_owned()
            } else {
                format!(
                    "dropped file: `{url}` is missing but the log has {} releases of it",
                    releases.len()
                )
            },
        ));
        return Ok(failures);
    };
    check_fetched(
        session,
        head,
        (replay, leaves),
        name,
        (&bytes, Whole::Fetch),
        prove_lines,
    )
}

/// Checks the index file of `name` the caller already holds, without proving each line's
/// inclusion (the caller verified every leaf against the checkpoint's root) and without any
/// request: `whole` is the origin's whole file the caller holds when `bytes` is a partial
/// copy's cut file.
pub(crate) fn check_bytes(
    session: &mut Session,
    head: &Head,
    replay: &Replay,
    name: &str,
    (bytes, whole): (&[u8], Option<&[u8]>),
) -> Result<Vec<Failure>, VerifyError> {
    check_fetched(
        session,
        head,
        (replay, &[]),
        name,
        (bytes, Whole::Given(whole)),
        false,
    )
}

/// Where the origin's whole file of a cut file comes from.
#[derive(Clone, Copy)]
enum Whole<'a> {
    /// Fetched from the partial copy (`/index/.wharf/origin/<index path>`).
    Fetch,
    /// Held by the caller (`None`: it has none).
    Given(Option<&'a [u8]>),
}

/// The releases of `name` the log has, by version (none when it has no such package).
pub(super) fn releases_of<'r>(
    replay: &'r Replay,
    name: &str,
) -> &'r BTreeMap<String, super::log_replay::Release> {
    static NONE: BTreeMap<String, super::log_replay::Release> = BTreeMap::new();
    replay
        .packages
        .get(name)
        .map_or(&NONE, |package| &package.releases)
}

/// Checks the bytes of `name`'s index file. On a partial copy (its bins are the origin's,
/// served apart) a file whose hash the origin's snapshot does not have is checked as a cut
/// file against the origin's whole file the copy serves beside it.
fn check_fetched(
    session: &mut Session,
    head: &Head,
    (replay, leaves): (&Replay, &[Vec<u8>]),
    name: &str,
    (bytes, whole): (&[u8], Whole<'_>),
    prove_lines: bool,
) -> Result<Vec<Failure>, VerifyError> {
    let path = wharf_index_format::index_path(name);
    let url = session.index_url(&path);
    let mut failures = Vec::new();
    let bin = wharf_trust::snapshot::bin_of(&path);
    let bin_text = session.bin(bin)?;
    if let Err(error) =
        wharf_trust::snapshot::verify_file(&path, &Hash::sha256(bytes), &bin_text, &head.bins)
    {
        if session.documents.bins_path == ORIGIN_BINS_PATH {
            let origin_url = session.index_url(&format!("{ORIGIN_FILES_PATH}/{path}"));
            let origin: Option<Cow<'_, [u8]>> = match whole {
                Whole::Fetch => session
                    .http
                    .get_optional(&origin_url, "origin's whole index file", LARGE_CAP)?
                    .map(Cow::Owned),
                Whole::Given(whole) => whole.map(Cow::Borrowed),
            };
            if let Some(origin) = origin {
                let cut = super::cut_file::CutFile {
                    name,
                    served: bytes,
                    served_url: &url,
                    origin: &origin,
                    origin_url: &origin_url,
                };
                return cut.check(session, head, replay, leaves, prove_lines);
            }
        }
        failures.push(Failure::new(name, None, format!("snapshot: {error}")));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        failures.push(Failure::new(
            name,
            None,
            format!("`{url}` is not UTF-8 text"),
        ));
        return Ok(failures);
    };
    check_lines(
        session,
        head,
        (replay, leaves),
        name,
        (&url, text),
        prove_lines,
        &mut failures,
    )?;
    if session.options.check_crates && failures.is_empty() {
        let releases = releases_of(replay, name);
        check_crates(session, name, releases.iter(), &mut failures)?;
    }
    Ok(failures)
}

/// Checks every line of `text` (the file at `url`) against its release leaf, and that no
/// release of the log is missing from it; adds what fails to `failures`.
pub(super) fn check_lines(
    session: &mut Session,
    head: &Head,
    (replay, leaves): (&Replay, &[Vec<u8>]),
    name: &str,
    (url, text): (&str, &str),
    prove_lines: bool,
    failures: &mut Vec<Failure>,
) -> Result<(), VerifyError> {
    let releases = releases_of(replay, name);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for (number, line) in text.split_terminator('\n').enumerate() {
        match check_line(line, name, replay, head.checkpoint.size()) {
            Ok(matched) => {
                if prove_lines {
                    let proof_failure = prove_line(session, head, leaves, matched.leaf)?;
                    if let Some(reason) = proof_failure {
                        failures.push(Failure::new(name, Some(&matched.version), reason));
                        continue;
                    }
                }
                if seen.insert(matched.version.clone(), matched.leaf).is_some() {
                    failures.push(Failure::new(
                        name,
                        Some(&matched.version),
                        format!(
                            "fabricated line: line {} repeats version {}",
                            number + 1,
                            matched.version
                        ),
                    ));
                }
            }
            Err(failure) => {
                // A line naming a version is that version's line, even when it is wrong: the
                // release is not also reported as dropped.
                if let Some(version) = &failure.failure.version {
                    seen.entry(version.clone()).or_insert(u64::MAX);
                }
                failures.push(failure.at_line(number + 1));
            }
        }
    }
    for (version, release) in releases {
        if !seen.contains_key(version) {
            failures.push(Failure::new(
                name,
                Some(version),
                format!(
                    "dropped line: the log has release {version} (leaf {}) but `{url}` has no line for it",
                    release.leaf
                ),
            ));
        }
    }
    Ok(())
}

/// Checks the `.crate` of each of `releases` against its signed `cksum`; adds what fails.
pub(super) fn check_crates<'r>(
    session: &mut Session,
    name: &str,
    releases: impl Iterator<Item = (&'r String, &'r super::log_replay::Release)>,
    failures: &mut Vec<Failure>,
) -> Result<(), VerifyError> {
    for (version, release) in releases {
        if let Some(failure) = check_crate(session, name, version, &release.cksum)? {
            failures.push(failure);
        }
    }
    Ok(())
}

/// A line failure before its version is known carries the line number.
struct LineFailure {
    failure: Failure,
}

impl LineFailure {
    fn at_line(self, number: usize) -> Failure {
        let mut failure = self.failure;
        if failure.version.is_none() {
            failure.reason = format!("line {number}: {}", failure.reason);
        }
        failure
    }
}

fn check_line(line: &str, name: &str, replay: &Replay, size: u64) -> Result<Matched, LineFailure> {
    let fail = |version: Option<&str>, reason: String| LineFailure {
        failure: Failure::new(name, version, reason),
    };
    let fields: LineFields = serde_json::from_str(line).map_err(|e| {
        fail(
            None,
            format!("refused line: it is not one index entry ({e})"),
        )
    })?;
    let version = fields.vers.as_str();
    let Some(WharfMember { leaf }) = fields.wharf else {
        return Err(fail(
            Some(version),
            "no leaf: the line has no `wharf` leaf member, so the log never recorded it".to_owned(),
        ));
    };
    if leaf >= size {
        return Err(fail(
            Some(version),
            format!("no leaf: leaf {leaf} is not in the log of {size} leaves"),
        ));
    }
    let event = logged_event(replay, leaf).map_err(|reason| fail(Some(version), reason))?;
    let statement = event.statement();
    let StatementBody::Release {
        version: signed_version,
        cksum,
        entry,
    } = statement.body()
    else {
        return Err(fail(
            Some(version),
            format!(
                "no leaf: leaf {leaf} is a {}, not a release",
                statement.describe()
            ),
        ));
    };
    if fields.name != name || statement.name() != name {
        return Err(fail(
            Some(version),
            format!(
                "name mismatch: the line in {name}'s file names `{}` and its leaf {leaf} is a release of `{}`",
                fields.name,
                statement.name()
            ),
        ));
    }
    if signed_version != version {
        return Err(fail(
            Some(version),
            format!("version mismatch: leaf {leaf} is the release of version {signed_version}"),
        ));
    }
    if fields.cksum != cksum.to_hex() {
        return Err(fail(
            Some(version),
            format!(
                "checksum mismatch: the line's cksum is {} but leaf {leaf} signs {cksum}",
                fields.cksum
            ),
        ));
    }
    let published = published_bytes(line, leaf, fields.yanked)
        .map_err(|reason| fail(Some(version), format!("entry mismatch: {reason}")))?;
    let found = Hash::sha256(published.as_bytes());
    if found != *entry {
        return Err(fail(
            Some(version),
            format!(
                "entry mismatch: the line hashes to {found} but leaf {leaf} signs {entry}: a field was changed (a dependency, a feature, an extra member)"
            ),
        ));
    }
    let logged_yank = replay
        .packages
        .get(name)
        .and_then(|package| package.releases.get(version))
        .is_some_and(|release| release.yanked);
    if logged_yank != fields.yanked {
        return Err(fail(
            Some(version),
            format!(
                "yank mismatch: the line says yanked={} but the log's events say yanked={logged_yank}",
                fields.yanked
            ),
        ));
    }
    Ok(Matched {
        version: version.to_owned(),
        leaf,
    })
}

/// The parsed event of leaf `leaf`, or why there is none.
pub(crate) fn logged_event(replay: &Replay, leaf: u64) -> Result<&wharf_trust::LogEvent, String> {
    let index = usize::try_from(leaf).unwrap_or(usize::MAX);
    if let Some(Some(event)) = replay.leaves.get(index) {
        return Ok(event);
    }
    let reason = replay
        .broken
        .get(&leaf)
        .cloned()
        .unwrap_or_else(|| "it is not a log event".to_owned());
    Err(format!("no leaf: leaf {leaf} is refused: {reason}"))
}

/// The bytes of the line as published: without `,"wharf":{"leaf":N}` (its last member) and
/// with `"yanked":false`.
fn published_bytes(line: &str, leaf: u64, yanked: bool) -> Result<String, String> {
    let suffix = format!(",\"wharf\":{{\"leaf\":{leaf}}}}}");
    let Some(body) = line.strip_suffix(&suffix) else {
        return Err("the `wharf` member is not the line's last member in its one form".to_owned());
    };
    let published = format!("{body}}}");
    if !yanked {
        return Ok(published);
    }
    if published.matches("\"yanked\":true").count() != 1 {
        return Err("the line does not have exactly one `\"yanked\":true`".to_owned());
    }
    Ok(published.replacen("\"yanked\":true", "\"yanked\":false", 1))
}

/// Fetches and checks the inclusion proof of `leaf` in the checkpoint; `Some(reason)` when it
/// fails.
fn prove_line(
    session: &mut Session,
    head: &Head,
    leaves: &[Vec<u8>],
    leaf: u64,
) -> Result<Option<String>, VerifyError> {
    let size = head.checkpoint.size();
    let url = session.log_url(&format!("proof/inclusion?index={leaf}&size={size}"));
    let text = session.http.get_text(&url, "inclusion proof", SMALL_CAP)?;
    let bytes = leaves
        .get(usize::try_from(leaf).unwrap_or(usize::MAX))
        .map_or(&[][..], Vec::as_slice);
    let outcome = InclusionProof::parse(&text).and_then(|proof| {
        if proof.index() == leaf {
            head.checkpoint.verify_inclusion(bytes, &proof)
        } else {
            Err(wharf_trust::TrustError::InclusionFailed {
                index: leaf,
                size,
                reason: format!("the proof is for leaf {}", proof.index()),
            })
        }
    });
    Ok(outcome.err().map(|error| format!("no leaf: {error}")))
}

/// Downloads a version's `.crate` and compares its SHA-256 with the signed `cksum`.
fn check_crate(
    session: &mut Session,
    name: &str,
    version: &str,
    cksum: &Hash,
) -> Result<Option<Failure>, VerifyError> {
    let url = session.download_url(name, version, cksum);
    let bytes = session.http.get(&url, ".crate file", CRATE_CAP)?;
    let found = Hash::sha256(&bytes);
    Ok((found != *cksum).then(|| {
        Failure::new(
            name,
            Some(version),
            format!(
                "checksum mismatch: the .crate served at `{url}` has SHA-256 {found} but the log signs {cksum}"
            ),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_bytes_drop_the_leaf_member_and_the_yank() {
        let line = r#"{"name":"a","vers":"1.0.0","yanked":true,"wharf":{"leaf":7}}"#;
        assert_eq!(
            published_bytes(line, 7, true).unwrap(),
            r#"{"name":"a","vers":"1.0.0","yanked":false}"#
        );
        assert!(published_bytes(line, 8, true).is_err(), "another leaf");
        let moved = r#"{"wharf":{"leaf":7},"name":"a","yanked":false}"#;
        assert!(
            published_bytes(moved, 7, false).is_err(),
            "not the last member"
        );
        let twice = r#"{"yanked":true,"x":{"yanked":true},"wharf":{"leaf":7}}"#;
        assert!(
            published_bytes(twice, 7, true).is_err(),
            "two yanked fields"
        );
    }
}
