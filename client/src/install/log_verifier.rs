//! [`LogVerifier`]: the release verifier an install uses once a root key is pinned: every
//! package of the new set is checked against the registry's signed transparency log (as
//! `wharf verify` checks it), and every archive's SHA-256 must be the one its release leaf
//! signs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use wharf_trust::{Hash, PublicKey};

use crate::ClientOptions;
use crate::install::{Release, ReleaseVerifier};
use crate::verify::{Selection, SignedRelease, Verifier, VerifyError, VerifyOptions};

/// The member Wharf adds to each logged index line.
const LINE_FIELD: &str = "wharf";

/// What one verification run found, kept for the per-release checks.
#[derive(Debug, Default)]
struct Verdicts {
    /// The failures of each package, one line each.
    failures: BTreeMap<String, Vec<String>>,
    /// package → version → the release as the log signs it.
    releases: BTreeMap<String, BTreeMap<String, SignedRelease>>,
}

/// Checks an install's releases against the transparency log of the registry, from a
/// pinned root key. [`ReleaseVerifier::prepare`] verifies every package of the set in one
/// run (keyset chain, timestamp, checkpoint consistency with the state kept in
/// `state_dir`, snapshot, leaves, each line); [`ReleaseVerifier::verify`] then refuses a
/// release whose package had any failure, that the log does not have, or whose archive is
/// not the one the log signs.
#[derive(Debug)]
pub struct LogVerifier {
    verifier: Verifier,
    verdicts: Mutex<Option<Verdicts>>,
}

impl LogVerifier {
    /// A verifier of the registry at `index_url` for the pinned `root`, keeping the last
    /// verified checkpoint in `state_dir`.
    pub fn new(
        root: PublicKey,
        index_url: &str,
        token: Option<String>,
        state_dir: PathBuf,
        client: &ClientOptions,
    ) -> Result<Self, VerifyError> {
        let options = VerifyOptions {
            client: client.clone(),
            ..VerifyOptions::default()
        };
        let verifier = Verifier::new(root, index_url, token, state_dir, options)?;
        Ok(Self {
            verifier,
            verdicts: Mutex::new(None),
        })
    }
}

impl ReleaseVerifier for LogVerifier {
    fn prepare(&self, releases: &[Release<'_>]) -> Result<(), String> {
        let names: BTreeSet<String> = releases
            .iter()
            .map(|release| release.entry.name.clone())
            .collect();
        let report = self
            .verifier
            .verify(&Selection::Packages(names.into_iter().collect()))
            .map_err(|e| e.to_string())?;
        let mut verdicts = Verdicts {
            releases: report.releases,
            ..Verdicts::default()
        };
        for failure in report.failures {
            let line = match &failure.version {
                Some(version) => format!("{version}: {}", failure.reason),
                None => failure.reason.clone(),
            };
            verdicts
                .failures
                .entry(failure.package)
                .or_default()
                .push(line);
        }
        *self
            .verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(verdicts);
        Ok(())
    }

    fn verify(&self, release: &Release<'_>) -> Result<(), String> {
        let guard = self
            .verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(verdicts) = guard.as_ref() else {
            return Err("the transparency log was not checked before this release".to_owned());
        };
        let name = release.entry.name.clone();
        let version = release.entry.vers.to_string();
        if let Some(failures) = verdicts.failures.get(&name) {
            return Err(format!(
                "the registry's log does not vouch for `{name}`: {}",
                failures.join("; ")
            ));
        }
        let Some(signed) = verdicts
            .releases
            .get(&name)
            .and_then(|versions| versions.get(&version))
        else {
            return Err(format!(
                "the registry's transparency log has no release {name} {version}"
            ));
        };
        let leaf = release
            .entry
            .extensions
            .get(LINE_FIELD)
            .and_then(|member| member.get("leaf"))
            .and_then(serde_json::Value::as_u64);
        if leaf != Some(signed.leaf) {
            return Err(format!(
                "the index line names leaf {} but the log releases {name} {version} at leaf {}",
                leaf.map_or_else(|| "none".to_owned(), |leaf| leaf.to_string()),
                signed.leaf
            ));
        }
        let downloaded = Hash::sha256(release.archive);
        if downloaded != signed.cksum || release.entry.cksum != signed.cksum.to_hex() {
            return Err(format!(
                "checksum mismatch: the line says {} and the archive hashes to {downloaded}, but \
                 leaf {} signs {}",
                release.entry.cksum, signed.leaf, signed.cksum
            ));
        }
        // The line the installer resolved with, as published: the same bytes the leaf signs.
        let mut published = release.entry.clone();
        published.yanked = false;
        published.extensions.remove(LINE_FIELD);
        let found = Hash::sha256(published.to_line().as_bytes());
        if found != signed.entry {
            return Err(format!(
                "entry mismatch: the line resolved with hashes to {found} but leaf {} signs {}",
                signed.leaf, signed.entry
            ));
        }
        Ok(())
    }
}
