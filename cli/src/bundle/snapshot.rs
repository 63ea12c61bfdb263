//! The origin's signed snapshot and head in a bundle, served again by an imported copy as a
//! synced copy serves them. `export` records every snapshot bin (the verifier of a package
//! selection reads only the bins of its packages), each checked against the verified bin
//! list. `import` writes the copy's `snapshot/` (the origin's bins), `signed/` (keyset chain,
//! timestamp, checkpoint, leaves) and, when the copy holds part of what the snapshot names,
//! its own `listing/`: `wharf serve --data` then lists only the files the copy holds at
//! `/index/.wharf/bins` and the origin's snapshot at `/index/.wharf/origin-bins`, and a
//! verifier pinning the origin's root key checks the copy's files against it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use wharf_client::verify::{BINS_PATH, ORIGIN_BINS_PATH};

use super::export::http_member;
use super::format::sha256_hex;
use super::source::Source;
use crate::mirror::{Bins, write_head, write_listing};

/// Member path → bytes.
type Members = BTreeMap<String, Vec<u8>>;

/// Where the recorded signed snapshot is under the index: the origin's bins, or the signed
/// snapshot a partial mirror serves apart from its own listing.
fn snapshot_path(members: &Members, index_path: &str) -> &'static str {
    if members.contains_key(&http_member(&format!("{index_path}{ORIGIN_BINS_PATH}"))) {
        ORIGIN_BINS_PATH
    } else {
        BINS_PATH
    }
}

/// Records every snapshot bin the verifier did not read, each checked against the recorded
/// (verified) bin list.
pub(crate) fn record_all_bins(
    source: &Source,
    index_path: &str,
    members: &mut Members,
) -> anyhow::Result<()> {
    let path = snapshot_path(members, index_path);
    let list_member = http_member(&format!("{index_path}{path}"));
    let list = members
        .get(&list_member)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .context("the registry's snapshot bin list was not fetched")?;
    for (bin, hash) in list.lines().enumerate() {
        let target = format!("{index_path}{path}/{bin:02x}");
        let member = http_member(&target);
        if members.contains_key(&member) {
            continue;
        }
        let text = source
            .get(&target)?
            .with_context(|| format!("snapshot bin `{target}` is missing"))?;
        if sha256_hex(&text) != hash {
            bail!(
                "snapshot bin `{target}` does not hash as the verified bin list says: the registry changed while it was exported; export again"
            );
        }
        members.insert(member, text);
    }
    Ok(())
}

/// The recorded member whose path ends with `tail`.
fn ending_with<'m>(members: &'m Members, tail: &str) -> Option<&'m [u8]> {
    members
        .iter()
        .find(|(path, _)| path.ends_with(tail))
        .map(|(_, bytes)| bytes.as_slice())
}

/// Every leaf of the log of `tree_size` leaves, from the recorded leaf pages; `None` when
/// some were not recorded.
fn leaves(members: &Members, tree_size: u64) -> Option<Vec<String>> {
    let mut leaves = BTreeMap::new();
    let pages = members
        .iter()
        .filter(|(path, _)| path.contains("api/wharf/v1/log/leaves?"));
    for (_, bytes) in pages {
        let page: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        for entry in page["leaves"].as_array()? {
            leaves.insert(entry["index"].as_u64()?, entry["leaf"].as_str()?.to_owned());
        }
    }
    let whole = leaves.keys().copied().eq(0..tree_size);
    whole.then(|| leaves.into_values().collect())
}

/// The origin's signed snapshot as recorded, when the bundle carries every bin of it.
fn signed_bins(members: &Members, index_path: &str) -> Option<Bins> {
    let path = snapshot_path(members, index_path);
    let text = |target: &str| {
        members
            .get(&http_member(&format!("{index_path}{target}")))
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    };
    let texts: Option<Vec<String>> = (0..=u8::MAX)
        .map(|bin| text(&format!("{path}/{bin:02x}")))
        .collect();
    text(path)
        .zip(texts)
        .and_then(|(list, texts)| Bins::given(list, texts))
}

/// Every index path the origin's signed snapshot names, with the SHA-256 of its file; `None`
/// when the bundle does not carry the snapshot whole (one an older Wharf exported).
pub(crate) fn signed_files(
    members: &Members,
    index_path: &str,
) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    signed_bins(members, index_path)
        .map(|bins| bins.files())
        .transpose()
}

/// Writes the origin's signed snapshot and head into the staged copy, and the copy's own
/// listing when it holds part of the snapshot. A bundle that does not carry them whole (one
/// an older Wharf exported) leaves the copy without them, as before.
pub(crate) fn write_into(
    stage: &Path,
    members: &Members,
    index_path: &str,
    tree_size: u64,
) -> anyhow::Result<()> {
    let head = (
        ending_with(members, "api/wharf/v1/log/keyset"),
        ending_with(members, "api/wharf/v1/log/checkpoint"),
        members.get(&http_member(&format!("{index_path}.wharf/timestamp"))),
        leaves(members, tree_size),
    );
    let (Some(bins), (Some(keyset), Some(checkpoint), Some(timestamp), Some(leaves))) =
        (signed_bins(members, index_path), head)
    else {
        tracing::info!("the bundle carries no whole signed snapshot; the copy serves none");
        return Ok(());
    };
    bins.write(stage, None, None)?;
    write_listing(stage, &bins)?;
    write_head(stage, keyset, timestamp, checkpoint, &leaves)
}
