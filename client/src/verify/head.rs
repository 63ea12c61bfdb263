//! The registry's signed head, checked from the pinned root key down: the keyset chain, the
//! timestamp, the checkpoint it binds (and its consistency with the one kept), and the
//! snapshot's bin list.

use wharf_trust::keyset::MAX_KEYSET_CHAIN;
use wharf_trust::timestamp::MAX_CLOCK_SKEW_SECONDS;
use wharf_trust::{
    Checkpoint, ConsistencyProof, Hash, KeyRole, Keyset, Note, NoteKey, PublicKey, Timestamp,
    TrustError, UtcTime,
};

use super::http::{LARGE_CAP, SMALL_CAP};
use super::state::KeptState;
use super::{BINS_PATH, ORIGIN_BINS_PATH};
use super::{Session, VerifyError};

/// How often the timestamp, checkpoint and bin list are fetched again when they belong to
/// different states (the registry moved on between two requests).
const HEAD_ATTEMPTS: usize = 3;

/// The verified head of the registry.
#[derive(Debug)]
pub(crate) struct Head {
    /// The keysets of the chain, version 1 first.
    pub(crate) keysets: Vec<Keyset>,
    /// The checkpoint the timestamp binds.
    pub(crate) checkpoint: Checkpoint,
    /// The 256 bin hashes of the snapshot.
    pub(crate) bins: Vec<Hash>,
}

fn trust(url: &str, source: TrustError) -> VerifyError {
    VerifyError::Trust {
        url: url.to_owned(),
        source,
    }
}

/// Walks the keyset chain the registry serves from `pinned`; returns every keyset.
pub(crate) fn keyset_chain(
    session: &mut Session,
    pinned: &PublicKey,
) -> Result<Vec<Keyset>, VerifyError> {
    let url = session.log_url("keyset");
    let body = session.http.get(&url, "keyset chain", LARGE_CAP)?;
    session.documents.keyset_chain.clone_from(&body);
    let malformed = |reason: &str| VerifyError::Malformed {
        url: url.clone(),
        what: "keyset chain".to_owned(),
        reason: reason.to_owned(),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| malformed(&e.to_string()))?;
    let notes: Vec<&str> = value
        .get("keysets")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| malformed("it has no `keysets` list"))?
        .iter()
        .map(|note| {
            note.as_str()
                .ok_or_else(|| malformed("a keyset is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let Some(first) = notes.first() else {
        return Err(trust(
            &url,
            TrustError::KeysetChain {
                version: 0,
                reason: "the chain is empty".to_owned(),
            },
        ));
    };
    if notes.len() > MAX_KEYSET_CHAIN {
        return Err(trust(
            &url,
            TrustError::KeysetChain {
                version: 0,
                reason: format!(
                    "the chain has {} keysets, over the {MAX_KEYSET_CHAIN} limit",
                    notes.len()
                ),
            },
        ));
    }
    // The origin is read from the first keyset, which must then verify under the pinned key.
    let origin = Note::parse(first.as_bytes())
        .and_then(|note| Keyset::parse(note.text()))
        .map_err(|e| trust(&url, e))?
        .origin()
        .to_owned();
    let mut chain =
        vec![Keyset::verify_first(first.as_bytes(), pinned, &origin).map_err(|e| trust(&url, e))?];
    for note in &notes[1..] {
        let next = chain
            .last()
            .expect("the chain is not empty")
            .verify_next(note.as_bytes())
            .map_err(|e| trust(&url, e))?;
        chain.push(next);
    }
    chain
        .last()
        .expect("the chain is not empty")
        .check_current(session.now)
        .map_err(|e| trust(&url, e))?;
    Ok(chain)
}

/// Compares the newest keyset with the kept state: never an older version; a changed log or
/// timestamp key drops the checkpoint or timestamp kept from the old key.
pub(crate) fn apply_keyset(
    session: &mut Session,
    keyset: &Keyset,
    kept: &mut KeptState,
) -> Result<(), VerifyError> {
    let url = session.log_url("keyset");
    if let Some(origin) = &kept.origin
        && origin != keyset.origin()
    {
        return Err(trust(
            &url,
            TrustError::WrongOrigin {
                document: "keyset".to_owned(),
                expected: origin.clone(),
                found: keyset.origin().to_owned(),
            },
        ));
    }
    if keyset.version() < kept.keyset_version {
        return Err(trust(
            &url,
            TrustError::Rollback {
                document: "keyset version".to_owned(),
                got: keyset.version(),
                seen: kept.keyset_version,
            },
        ));
    }
    let log_key = keyset.key(KeyRole::Log).to_text();
    if kept
        .log_key
        .as_ref()
        .is_some_and(|kept_key| *kept_key != log_key)
    {
        session.notices.push(format!(
            "the log key changed in keyset version {}: dropped the checkpoint kept from the old key",
            keyset.version()
        ));
        kept.checkpoint = None;
    }
    let timestamp_key = keyset.key(KeyRole::Timestamp).to_text();
    if kept
        .timestamp_key
        .as_ref()
        .is_some_and(|kept_key| *kept_key != timestamp_key)
    {
        session.notices.push(format!(
            "the timestamp key changed in keyset version {}: dropped the timestamp kept from the old key",
            keyset.version()
        ));
        kept.timestamp = None;
    }
    kept.origin = Some(keyset.origin().to_owned());
    kept.keyset_version = keyset.version();
    kept.log_key = Some(log_key);
    kept.timestamp_key = Some(timestamp_key);
    Ok(())
}

/// Fetches and checks the timestamp, checkpoint and bin list, and checks them against the
/// kept state (which is updated in memory; the caller saves it after full success).
pub(crate) fn fetch_head(
    session: &mut Session,
    keysets: Vec<Keyset>,
    kept: &mut KeptState,
) -> Result<Head, VerifyError> {
    let keyset = keysets
        .last()
        .expect("a chain has at least one keyset")
        .clone();
    let mut attempt = 0;
    let (checkpoint, timestamp, bins) = loop {
        attempt += 1;
        match fetch_once(session, &keyset, kept) {
            Err(VerifyError::Trust {
                source: TrustError::TimestampMismatch { .. } | TrustError::HashMismatch { .. },
                ..
            }) if attempt < HEAD_ATTEMPTS => {
                tracing::debug!(
                    attempt,
                    "the registry moved on between requests; fetching again"
                );
            }
            other => break other?,
        }
    };
    // A retried fetch reports the same override again: keep each once, in order.
    let mut seen = std::collections::HashSet::new();
    session.overrides.retain(|line| seen.insert(line.clone()));
    if session.keep_state {
        kept.checkpoint = Some(checkpoint.clone());
        kept.timestamp = Some(timestamp);
    }
    Ok(Head {
        keysets,
        checkpoint,
        bins,
    })
}

fn fetch_once(
    session: &mut Session,
    keyset: &Keyset,
    kept: &KeptState,
) -> Result<(Checkpoint, Timestamp, Vec<Hash>), VerifyError> {
    let timestamp_url = session.index_url(".wharf/timestamp");
    let note = session.http.get(&timestamp_url, "timestamp", SMALL_CAP)?;
    let timestamp = open_timestamp(session, &note, keyset).map_err(|e| trust(&timestamp_url, e))?;
    session.documents.timestamp = note;
    let checkpoint_url = session.log_url("checkpoint");
    let note = session.http.get(&checkpoint_url, "checkpoint", SMALL_CAP)?;
    session.documents.checkpoint.clone_from(&note);
    let checkpoint = Checkpoint::open(&note, &keyset.note_key(KeyRole::Log))
        .map_err(|e| trust(&checkpoint_url, e))?;
    check_against_kept(session, &checkpoint, &timestamp, kept)?;
    timestamp
        .check_binds(&checkpoint)
        .map_err(|e| trust(&checkpoint_url, e))?;
    let (path, text, bins) = bin_list(session, &timestamp)?;
    session.documents.bin_list = text;
    session.documents.bins_path = path.to_owned();
    Ok((checkpoint, timestamp, bins))
}

/// The snapshot's bin list the timestamp binds: the listing at `.wharf/bins`, or, when that
/// is not it, the origin's snapshot a partial mirror serves at `.wharf/origin-bins` (its own
/// listing names only the files it holds). Returns the path the bins were found under.
fn bin_list(
    session: &mut Session,
    timestamp: &Timestamp,
) -> Result<(&'static str, String, Vec<Hash>), VerifyError> {
    let bins_url = session.index_url(BINS_PATH);
    let text = session
        .http
        .get_text(&bins_url, "snapshot bin list", SMALL_CAP)?;
    let listing_error = match wharf_trust::snapshot::open_bin_list(&text, timestamp.snapshot()) {
        Ok(bins) => return Ok((BINS_PATH, text, bins)),
        Err(error) => trust(&bins_url, error),
    };
    let origin_url = session.index_url(ORIGIN_BINS_PATH);
    let Ok(origin) = session
        .http
        .get_text(&origin_url, "origin snapshot bin list", SMALL_CAP)
    else {
        return Err(listing_error);
    };
    match wharf_trust::snapshot::open_bin_list(&origin, timestamp.snapshot()) {
        Ok(bins) => Ok((ORIGIN_BINS_PATH, origin, bins)),
        Err(_) => Err(listing_error),
    }
}

/// Opens a timestamp note: the timestamp key's signature, the origin, issued no later than
/// now plus the allowed clock skew, and unexpired (unless expiry is explicitly allowed).
fn open_timestamp(
    session: &mut Session,
    note: &[u8],
    keyset: &Keyset,
) -> Result<Timestamp, TrustError> {
    let origin = keyset.origin();
    let parsed = Note::parse(note)?;
    let timestamp = Timestamp::parse(parsed.text())?;
    if timestamp.origin() != origin {
        return Err(TrustError::WrongOrigin {
            document: "timestamp".to_owned(),
            expected: origin.to_owned(),
            found: timestamp.origin().to_owned(),
        });
    }
    let signer = NoteKey::new(
        &KeyRole::Timestamp.note_name(origin),
        *keyset.key(KeyRole::Timestamp),
    )?;
    parsed.verify(std::slice::from_ref(&signer), std::slice::from_ref(&signer))?;
    let now = session.now;
    let skew =
        i64::try_from(session.options.clock_skew.as_secs()).unwrap_or(MAX_CLOCK_SKEW_SECONDS);
    if timestamp.issued() > now.plus_seconds(skew) {
        return Err(TrustError::IssuedInFuture {
            document: "timestamp".to_owned(),
            issued: timestamp.issued().to_string(),
            now: now.to_string(),
        });
    }
    if timestamp.expires() <= now {
        let expired = TrustError::Expired {
            document: "timestamp".to_owned(),
            expired: timestamp.expires().to_string(),
            now: now.to_string(),
        };
        if !session.options.allow_expired {
            return Err(expired);
        }
        session.overrides.push(format!(
            "--allow-expired: accepted a timestamp that expired at {} (now {now})",
            timestamp.expires()
        ));
    }
    Ok(timestamp)
}

/// The checkpoint must extend the kept one (consistency proof), the timestamp must not be
/// older; a rollback passes only with the explicit override, and then nothing is kept.
/// Checked before the bin list, so a replayed head is reported as the rollback it is.
fn check_against_kept(
    session: &mut Session,
    checkpoint: &Checkpoint,
    timestamp: &Timestamp,
    kept: &KeptState,
) -> Result<(), VerifyError> {
    let checkpoint_url = session.log_url("checkpoint");
    if let Some(seen) = kept.checkpoint.clone() {
        let proof = if checkpoint.size() > seen.size() && seen.size() > 0 {
            let url = session.log_url(&format!(
                "proof/consistency?from={}&to={}",
                seen.size(),
                checkpoint.size()
            ));
            let text = session
                .http
                .get_text(&url, "consistency proof", SMALL_CAP)?;
            ConsistencyProof::parse(&text).map_err(|e| trust(&url, e))?
        } else {
            ConsistencyProof::new(Vec::new())
        };
        match checkpoint.check_extends(&seen, &proof) {
            Ok(()) => {}
            Err(TrustError::Rollback { got, seen, .. }) if session.options.allow_rollback => {
                session.overrides.push(format!(
                    "--allow-rollback: accepted checkpoint {got}, older than the {seen} already seen; the kept state is left as it was"
                ));
                session.keep_state = false;
            }
            Err(error) => return Err(trust(&checkpoint_url, error)),
        }
    }
    let timestamp_url = session.index_url(".wharf/timestamp");
    if let Some(seen) = kept.timestamp.clone()
        && let Err(error) = check_timestamp_newer(timestamp, &seen)
    {
        if !session.options.allow_rollback {
            return Err(trust(&timestamp_url, error));
        }
        session.overrides.push(format!(
            "--allow-rollback: accepted a timestamp older than the one already seen ({error})"
        ));
        session.keep_state = false;
    }
    Ok(())
}

/// A timestamp never names a smaller tree than the one kept, is never issued before it, and
/// at the same second and size is the same document.
fn check_timestamp_newer(timestamp: &Timestamp, seen: &Timestamp) -> Result<(), TrustError> {
    if timestamp.tree_size() < seen.tree_size() {
        return Err(TrustError::Rollback {
            document: "timestamp of tree size".to_owned(),
            got: timestamp.tree_size(),
            seen: seen.tree_size(),
        });
    }
    let same_state = timestamp.tree_size() == seen.tree_size();
    if timestamp.issued() < seen.issued()
        || (same_state && timestamp.issued() == seen.issued() && timestamp != seen)
    {
        return Err(TrustError::TimestampReplay {
            issued: timestamp.issued().to_string(),
            seen: seen.issued().to_string(),
        });
    }
    Ok(())
}

/// The time a run judges expiry by, fixed once at its start.
pub(crate) fn fixed_now(now: Option<UtcTime>) -> UtcTime {
    now.unwrap_or_else(UtcTime::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(size: u64, issued: i64) -> Timestamp {
        let checkpoint = Checkpoint::new("wharf.example.com", size, Hash::sha256(b"r")).unwrap();
        let issued = UtcTime::from_unix(1_800_000_000 + issued).unwrap();
        Timestamp::new(
            &checkpoint,
            Hash::sha256(b"s"),
            issued,
            issued.plus_seconds(60),
        )
        .unwrap()
    }

    #[test]
    fn timestamps_never_go_back() {
        let seen = timestamp(5, 10);
        assert!(check_timestamp_newer(&timestamp(5, 10), &seen).is_ok());
        assert!(
            check_timestamp_newer(&timestamp(6, 10), &seen).is_ok(),
            "same second, grown"
        );
        assert!(check_timestamp_newer(&timestamp(5, 11), &seen).is_ok());
        let error = check_timestamp_newer(&timestamp(4, 20), &seen).unwrap_err();
        assert!(
            error.to_string().starts_with("rollback: timestamp"),
            "{error}"
        );
        let error = check_timestamp_newer(&timestamp(5, 9), &seen).unwrap_err();
        assert!(
            error.to_string().starts_with("replayed timestamp"),
            "{error}"
        );
    }
}
