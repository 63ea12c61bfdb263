//! The upstream's premium packages during a sync. The upstream's entitlement information
//! (`/api/wharf/v1/entitlements`) is fetched on every sync (404: a registry without that
//! API, so no premium package; any other failure stops the sync), its keys checked against
//! the keyset the verified log walked from the root key, and written with the premium
//! releases into the staged copy's `entitlements.json`, which `wharf serve --data` checks
//! every download against. The upstream refuses premium blobs without a licence: with
//! `--licence FILE` they are downloaded presenting it (`Wharf-Licence`), without one the
//! premium packages are skipped, named in the summary.

use std::path::Path;

use anyhow::Context as _;
use wharf_client::verify::VerifiedLog;
use wharf_index_format::index_path;
use wharf_registry_server::{MIRROR_ENTITLEMENTS, MirrorEntitlements};

use crate::entitlement_info::{EntitlementInfo, fold};
use crate::mirror::copy::write;
use crate::mirror::file::Listed;
use crate::mirror::upstream::Upstream;

/// The upstream's entitlement information at `api` (the registry's API URL); none when it
/// answers 404 (a registry without that API has no premium packages). With `log` (the
/// verified signed log) every key must be an `entitlement:` line of its keyset; the
/// revocation list must verify under the keys.
pub(crate) async fn fetch(
    upstream: &Upstream,
    api: Option<&str>,
    log: Option<&VerifiedLog<'_>>,
) -> anyhow::Result<EntitlementInfo> {
    let Some(api) = api else {
        return Ok(EntitlementInfo::default());
    };
    let url = format!("{}/api/wharf/v1/entitlements", api.trim_end_matches('/'));
    let stop = |error: anyhow::Error| {
        anyhow::anyhow!(
            "the upstream's entitlement information `{url}` cannot be used, so nothing was synced and the mirror is as it was (a mirror without it would serve premium packages unchecked): {}",
            crate::one_line(&error)
        )
    };
    let Some(bytes) = upstream.get(&url).await.map_err(stop)? else {
        return Ok(EntitlementInfo::default());
    };
    let info = EntitlementInfo::parse(&bytes).map_err(stop)?;
    let checked = match log {
        Some(log) => info.check_against(log.keyset()),
        None => info.check_revocations(),
    };
    checked.map_err(stop)?;
    Ok(info)
}

/// Reads the licence file `--licence` names, when it names one.
pub(crate) fn read_licence(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the licence file `{}`", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        anyhow::bail!(
            "the licence file `{}` is empty; put the line `wharf admin licence issue` printed in it",
            path.display()
        );
    }
    Ok(Some(text.to_owned()))
}

/// The package name of an index path (its last part, lowercase).
fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Without a licence, the files of premium packages are not synced (the upstream refuses
/// their blobs): they leave `files`, and the names of the packages skipped are returned.
pub(crate) fn skip_without_licence(
    files: &mut Vec<Listed>,
    info: &EntitlementInfo,
    licence: bool,
) -> Vec<String> {
    if licence || info.premium.is_empty() {
        return Vec::new();
    }
    let premium = info.premium_names();
    let (skipped, kept): (Vec<Listed>, Vec<Listed>) = std::mem::take(files)
        .into_iter()
        .partition(|listed| premium.contains(&fold(name_of(&listed.path))));
    *files = kept;
    skipped
        .iter()
        .map(|listed| name_of(&listed.path).to_owned())
        .collect()
}

/// The `(cksum, name, version)` of every line of the index file at `path`.
fn releases(path: &Path) -> Vec<(String, String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            let field = |key: &str| entry[key].as_str().map(str::to_owned);
            Some((field("cksum")?, field("name")?, field("vers")?))
        })
        .collect()
}

/// Writes the staged copy's `entitlements.json` (nothing when the upstream has no
/// entitlement information): `info` and the blob of every premium release the copy holds,
/// and of those the copy it replaces (`previous`) held, whose blobs leave the store only
/// after the switch, so none of them is served unchecked meanwhile.
pub(crate) fn write_into(
    stage: &Path,
    previous: Option<&Path>,
    info: &EntitlementInfo,
) -> anyhow::Result<()> {
    if info.is_empty() {
        return Ok(());
    }
    let mut held = Vec::new();
    for name in &info.premium {
        let path = index_path(name);
        for copy in std::iter::once(stage).chain(previous) {
            held.extend(releases(&copy.join("index").join(&path)));
        }
    }
    let copy = info.clone().for_copy(
        held.iter()
            .map(|(cksum, name, version)| (cksum.as_str(), name.as_str(), version.as_str())),
    );
    write(
        &stage.join(MIRROR_ENTITLEMENTS),
        &serde_json::to_vec_pretty(&copy).context("writing the entitlements")?,
    )
}

/// The entitlement information the copy at `previous` records (none without the file).
pub(crate) fn held_by(previous: &Path) -> EntitlementInfo {
    std::fs::read(previous.join(MIRROR_ENTITLEMENTS))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<MirrorEntitlements>(&bytes).ok())
        .map_or_else(EntitlementInfo::default, |copy| {
            EntitlementInfo::of_copy(&copy)
        })
}
