//! Opening a bundle offline: the manifest's signature by the pinned exporter key, every
//! member's size and SHA-256, then the registry material through the same verifier
//! `wharf verify` runs (the members served on a loopback port), and every carried version's
//! blob against its verified line's `cksum`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use wharf_client::verify::{Selection, Verifier, VerifyOptions};
use wharf_trust::{PublicKey, Signature};

use super::export::{blob_member, http_member, index_files, local_config};
use super::format::{self, Chosen, Manifest, Release, sha256_hex};
use super::loopback;

/// A bundle whose every check held.
pub(crate) struct Opened {
    pub(crate) manifest: Manifest,
    /// The SHA-256 of the exact `MANIFEST` bytes.
    pub(crate) manifest_hash: String,
    members: BTreeMap<String, Vec<u8>>,
    root: PublicKey,
}

impl Opened {
    /// The verified index files: index path (`3/a/abc`) → bytes.
    pub(crate) fn index_files(&self) -> BTreeMap<String, &[u8]> {
        index_files(&self.members, &self.manifest.index_path)
    }

    /// The upstream's `config.json`, byte for byte.
    pub(crate) fn config(&self) -> &[u8] {
        self.members
            .get(&http_member(&format!(
                "{}config.json",
                self.manifest.index_path
            )))
            .map_or(&[], Vec::as_slice)
    }

    /// The carried entitlement information (`None` when the registry published none),
    /// checked against the keyset the pinned root key signed.
    pub(crate) fn entitlements(
        &self,
        file: &Path,
    ) -> anyhow::Result<Option<wharf_registry_server::MirrorEntitlements>> {
        let Some(member) = self.members.get(super::premium::MEMBER) else {
            return Ok(None);
        };
        let keyset = self
            .members
            .iter()
            .find(|(path, _)| path.ends_with("api/wharf/v1/log/keyset"))
            .map(|(_, bytes)| bytes.as_slice())
            .unwrap_or_default();
        super::premium::verified(
            member,
            keyset,
            &self.root,
            self.manifest.exported,
            &self.manifest.releases,
        )
        .map(Some)
        .with_context(|| {
            format!(
                "bundle `{}`: member `{}` does not verify",
                file.display(),
                super::premium::MEMBER
            )
        })
    }

    /// Every member but `MANIFEST` and `MANIFEST.sig`, by path.
    pub(crate) fn members(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.members
    }

    /// The raw entitlement member, if any.
    pub(crate) fn entitlements_member(&self) -> Option<&[u8]> {
        self.members.get(super::premium::MEMBER).map(Vec::as_slice)
    }

    /// The blob of `cksum`, when the bundle carries it.
    pub(crate) fn blob(&self, cksum: &str) -> Option<&[u8]> {
        self.members.get(&blob_member(cksum)).map(Vec::as_slice)
    }
}

/// Opens the bundle at `file` and checks its signature, its members and its registry
/// material; the caller then runs [`Opened::check_blobs`].
pub(crate) fn open(file: &Path, exporter: &PublicKey, root: PublicKey) -> anyhow::Result<Opened> {
    let shown = file.display();
    let mut members = format::read_bundle(file)?;
    let manifest_bytes = members.remove(format::MANIFEST).with_context(|| {
        format!("bundle `{shown}` has no MANIFEST member: it is not a Wharf bundle")
    })?;
    let signature = members.remove(format::SIGNATURE).with_context(|| {
        format!("bundle `{shown}` has no MANIFEST.sig member: it is not signed")
    })?;
    let signature = Signature::from_base64(
        String::from_utf8_lossy(&signature).trim(),
        "bundle MANIFEST signature",
    )
    .map_err(anyhow::Error::from)
    .and_then(|signature| {
        wharf_trust::bundle::verify_manifest(exporter, &manifest_bytes, &signature)
            .map_err(anyhow::Error::from)
    });
    if let Err(error) = signature {
        bail!("bundle `{shown}`: member `MANIFEST.sig`: {error}");
    }
    let manifest = Manifest::parse(&String::from_utf8_lossy(&manifest_bytes))
        .with_context(|| format!("bundle `{shown}`: its MANIFEST cannot be read"))?;
    for (path, bytes) in &members {
        let Some((hash, size)) = manifest.members.get(path) else {
            bail!(
                "bundle `{shown}`: member `{path}` is not listed in the signed MANIFEST; refuse it"
            );
        };
        if bytes.len() as u64 != *size || sha256_hex(bytes) != *hash {
            bail!(
                "bundle `{shown}`: member `{path}` does not match the signed MANIFEST (size {} or SHA-256 {} instead of {size} and {hash}): the bundle was altered; refuse it",
                bytes.len(),
                sha256_hex(bytes)
            );
        }
    }
    if let Some(path) = manifest
        .members
        .keys()
        .find(|path| !members.contains_key(*path))
    {
        bail!("bundle `{shown}`: member `{path}` is listed in the MANIFEST but missing");
    }
    let opened = Opened {
        manifest_hash: sha256_hex(&manifest_bytes),
        manifest,
        members,
        root,
    };
    verify_registry(&opened, root)
        .with_context(|| format!("bundle `{shown}`: its registry material does not verify"))?;
    Ok(opened)
}

/// Serves the recorded answers on a loopback port and runs the verifier against them.
fn verify_registry(opened: &Opened, root: PublicKey) -> anyhow::Result<()> {
    let served: BTreeMap<String, Vec<u8>> = opened
        .members
        .iter()
        .filter_map(|(path, bytes)| {
            let target = path.strip_prefix("http/")?;
            Some((format!("/{target}"), bytes.clone()))
        })
        .collect();
    let upstream = opened.manifest.origin.clone();
    let local = Arc::new(Mutex::new(String::new()));
    let answer = {
        let local = Arc::clone(&local);
        move |target: &str| -> Option<Vec<u8>> {
            let body = served.get(target)?;
            if target.ends_with("/config.json") {
                let local = local.lock().unwrap_or_else(PoisonError::into_inner);
                return Some(local_config(body, &upstream, &local));
            }
            Some(body.clone())
        }
    };
    let origin = loopback::start(Arc::new(answer))?;
    local
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone_from(&origin);
    let state = tempfile::tempdir().context("creating a temporary state directory")?;
    let verifier = Verifier::new(
        root,
        &format!("sparse+{origin}{}", opened.manifest.index_path),
        None,
        state.path().to_owned(),
        // The registry's timestamp is judged at the time the exporter verified it, so a
        // bundle can be imported after the timestamp expired; rollback is refused by the log
        // size kept in the data directory.
        VerifyOptions {
            now: Some(opened.manifest.exported),
            ..VerifyOptions::default()
        },
    )?;
    let selection = match &opened.manifest.chosen {
        Chosen::All => Selection::All,
        Chosen::Packages(names) => Selection::Packages(names.clone()),
    };
    let report = verifier.verify(&selection)?;
    if let Some(failure) = report.failures.first() {
        bail!("{failure}");
    }
    if report.tree_size != opened.manifest.tree_size {
        bail!(
            "its log has {} leaves, the MANIFEST says {}",
            report.tree_size,
            opened.manifest.tree_size
        );
    }
    Ok(())
}

impl Opened {
    /// Every carried version has a line in its verified index file with the manifest's cksum,
    /// and a blob that hashes to it. `earlier_blob` finds a blob the bundle left out because an
    /// earlier bundle carried it (`--since`).
    pub(crate) fn check_blobs(
        &self,
        file: &Path,
        earlier_blob: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> anyhow::Result<()> {
        let opened = self;
        let shown = file.display();
        let files = opened.index_files();
        for Release {
            name,
            version,
            cksum,
        } in &opened.manifest.releases
        {
            let path = wharf_index_format::index_path(name);
            let listed = files.get(&path).is_some_and(|file| {
                String::from_utf8_lossy(file).lines().any(|line| {
                    let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                    entry["name"] == name.as_str()
                        && entry["vers"] == version.as_str()
                        && entry["cksum"] == cksum.as_str()
                })
            });
            if !listed {
                bail!(
                    "bundle `{shown}`: crate `{name}` version `{version}`: no line of its verified index file has cksum `{cksum}`"
                );
            }
            let ok = match opened.blob(cksum) {
                Some(blob) => sha256_hex(blob) == *cksum,
                None if opened.manifest.previous.is_some() => {
                    earlier_blob(cksum).is_some_and(|blob| sha256_hex(&blob) == *cksum)
                }
                None => false,
            };
            if !ok {
                bail!(
                    "bundle `{shown}`: crate `{name}` version `{version}`: member `{}` is missing or does not hash to its cksum `{cksum}`",
                    blob_member(cksum)
                );
            }
        }
        Ok(())
    }
}
