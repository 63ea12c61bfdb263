//! `wharf bundle import` (a served copy, switched in as `mirror sync` does) and `wharf bundle
//! unpack` (a cargo `local-registry` directory), both after [`open::open`] checked everything.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::local_registry;
use super::open::{self, Opened};
use super::served::Served;
use super::{ImportArgs, PinnedKeys, UnpackArgs, load_public_key};
use crate::mirror::{ORIGIN_DIR, remove_stale_copies, switch_current};

/// The file in `<DIR>` that keeps the log size and manifest hash of the last import.
const STATE_FILE: &str = "bundle-state";

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating `{}`", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))
}

fn open_with(file: &Path, keys: &PinnedKeys) -> anyhow::Result<Opened> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = load_public_key(&keys.trust, "exporter")?;
    let root = load_public_key(&keys.root_key, "root")?;
    open::open(file, &exporter, root)
}

/// The kept `(log size, manifest hash)` of the last import into `data`.
fn kept_state(data: &Path) -> anyhow::Result<Option<(u64, String)>> {
    let path = data.join(STATE_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let mut size = None;
    let mut hash = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("tree-size", value)) => size = value.parse().ok(),
            Some(("manifest", value)) => hash = Some(value.to_owned()),
            _ => {}
        }
    }
    match (size, hash) {
        (Some(size), Some(hash)) => Ok(Some((size, hash))),
        _ => bail!(
            "`{}` is damaged; remove it to accept any bundle again",
            path.display()
        ),
    }
}

/// `wharf bundle import`.
pub(crate) fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let current = args.data.join("current");
    let previous_copy = std::fs::canonicalize(&current).ok();
    let earlier = previous_copy.clone();
    let earlier_blob = move |cksum: &str| {
        earlier
            .as_ref()
            .and_then(|copy| std::fs::read(copy.join("blobs/sha256").join(cksum)).ok())
    };
    let opened = open_with(&args.file, &args.keys)?;
    let shown = args.file.display();
    let kept = kept_state(&args.data)?;
    let manifest = &opened.manifest;
    if let Some(previous) = &manifest.previous
        && kept.as_ref().is_none_or(|(_, hash)| hash != previous)
    {
        bail!(
            "bundle `{shown}` carries only what is new since the bundle whose MANIFEST hashes to {previous}, and `{}` does not hold that one: import it first",
            args.data.display()
        );
    }
    opened.check_blobs(&args.file, &earlier_blob)?;
    let entitlements = opened.entitlements(&args.file)?;
    let served = opened.served_files(&args.file)?;
    let mut overrides = Vec::new();
    if let Some((size, _)) = &kept
        && manifest.tree_size < *size
    {
        let line = format!(
            "bundle `{shown}` holds a log of {} leaves, older than the {size} `{}` already serves",
            manifest.tree_size,
            args.data.display()
        );
        if !args.allow_rollback {
            bail!("{line}: refused as a rollback; pass --allow-rollback to import it anyway");
        }
        tracing::warn!(
            bundle = %shown,
            tree_size = manifest.tree_size,
            kept = size,
            "an older bundle accepted with --allow-rollback"
        );
        overrides.push(format!("{line} (accepted: --allow-rollback)"));
    }

    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating `{}`", args.data.display()))?;
    remove_stale_copies(&args.data, previous_copy.as_deref(), None);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let stage_name = format!("copy-{stamp}");
    let stage = args.data.join(&stage_name);
    let staged = (|| {
        write_stage(
            &stage,
            (&opened, &served),
            entitlements.as_ref(),
            &earlier_blob,
        )?;
        switch_current(&args.data, &stage_name, previous_copy.as_deref())?;
        write(
            &args.data.join(STATE_FILE),
            format!(
                "tree-size {}\nmanifest {}\n",
                manifest.tree_size, opened.manifest_hash
            )
            .as_bytes(),
        )
    })();
    if let Err(error) = staged {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(error);
    }
    for line in &overrides {
        println!("override: {line}");
    }
    println!(
        "imported {} packages, {} versions at log size {} into {}",
        opened.index_files().len(),
        manifest.releases.len(),
        manifest.tree_size,
        current.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the verified bundle's copy into `stage`: `config.json`, the entitlement
/// information, the index files as `served` (with the origin's whole file beside each one
/// cut), the origin's signed snapshot and head, and the blobs (`earlier_blob` finds those
/// an earlier bundle carried).
fn write_stage(
    stage: &Path,
    (opened, served): (&Opened, &[Served<'_>]),
    entitlements: Option<&wharf_registry_server::MirrorEntitlements>,
    earlier_blob: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> anyhow::Result<()> {
    let manifest = &opened.manifest;
    write(&stage.join("index/config.json"), opened.config())?;
    if let Some(entitlements) = entitlements {
        write(
            &stage.join(wharf_registry_server::MIRROR_ENTITLEMENTS),
            &serde_json::to_vec_pretty(entitlements).context("writing the entitlements")?,
        )?;
    }
    for served in served {
        write(&stage.join("index").join(&served.path), &served.bytes)?;
        if let Some(whole) = served.whole {
            write(&stage.join(ORIGIN_DIR).join(&served.path), whole)?;
        }
    }
    super::snapshot::write_into(
        stage,
        opened.members(),
        &manifest.index_path,
        manifest.tree_size,
    )?;
    for release in &manifest.releases {
        let target = stage.join("blobs/sha256").join(&release.cksum);
        match opened.blob(&release.cksum) {
            Some(blob) => write(&target, blob)?,
            None => write(
                &target,
                &earlier_blob(&release.cksum).context("an earlier blob vanished")?,
            )?,
        }
    }
    Ok(())
}

/// `wharf bundle unpack --format local-registry`.
pub(crate) fn unpack(args: &UnpackArgs) -> anyhow::Result<ExitCode> {
    local_registry::require_empty(&args.out)?;
    let opened = open_with(&args.file, &args.keys)?;
    if opened.manifest.previous.is_some() {
        bail!(
            "bundle `{}` was exported with --since and carries only new blobs: unpack needs a full bundle (one exported without --since)",
            args.file.display()
        );
    }
    opened.check_blobs(&args.file, &|_| None)?;
    opened.entitlements(&args.file)?;
    super::premium::refuse_in_local_registry(
        opened.entitlements_member(),
        &opened.manifest.releases,
        args.include_premium,
    )?;
    let files = opened.index_files();
    let packages =
        local_registry::write(&args.out, &opened.manifest.releases, &files, &|release| {
            opened
                .blob(&release.cksum)
                .map(<[u8]>::to_vec)
                .with_context(|| {
                    format!(
                        "bundle `{}` lacks the blob of `{}` {}: unpack needs a full bundle",
                        args.file.display(),
                        release.name,
                        release.version
                    )
                })
        })?;
    println!(
        "unpacked {} packages, {} versions as a cargo local-registry into {}",
        packages,
        opened.manifest.releases.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
