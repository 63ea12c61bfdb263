//! `wharf bundle export`: records what the verifier fetches from a registry (through a
//! loopback proxy), checks it with the pinned root key, adds the blobs of the chosen
//! versions, and writes one signed bundle file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use wharf_client::verify::{Selection, Verifier, VerifyOptions};

use super::format::{self, Chosen, Manifest, Release, sha256_hex};
use super::source::{self, Source};
use super::{ExportArgs, ExportFormat, load_public_key, local_registry, loopback, premium};
use crate::registry_api::load_key;

/// The member path a recorded answer is kept under.
pub(crate) fn http_member(target: &str) -> String {
    format!("http/{}", target.trim_start_matches('/'))
}

/// Serves `config.json` with its upstream origin replaced by `local`, so every request of
/// the verifier comes back to the loopback server.
pub(crate) fn local_config(config: &[u8], upstream: &str, local: &str) -> Vec<u8> {
    String::from_utf8_lossy(config)
        .replace(upstream, local)
        .into_bytes()
}

/// The versions a lockfile pins from registries: name → versions.
fn locked_versions(path: &std::path::Path) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the lockfile `{}`", path.display()))?;
    let lock: toml::Value = toml::from_str(&text)
        .with_context(|| format!("`{}` is not a lockfile (TOML)", path.display()))?;
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in lock
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| package.get(key).and_then(toml::Value::as_str);
        // Path and git packages (no `source`, or `git+…`) are not exported.
        let from_registry = field("source")
            .is_some_and(|source| source.starts_with("registry+") || source.starts_with("sparse+"));
        if let (Some(name), Some(version), true) = (field("name"), field("version"), from_registry)
        {
            versions
                .entry(name.to_owned())
                .or_default()
                .insert(version.to_owned());
        }
    }
    if versions.is_empty() {
        bail!("`{}` locks no registry packages", path.display());
    }
    Ok(versions)
}

/// `wharf bundle export`.
pub(crate) fn run(args: &ExportArgs) -> anyhow::Result<std::process::ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = load_public_key(&args.root_key, "root")?;
    // Everything that can be refused before the registry is read is refused first.
    let exporter = match (args.format, &args.key) {
        (ExportFormat::Bundle, Some(key)) => Some(load_key(key, args.passphrase_env.as_deref())?),
        (ExportFormat::Bundle, None) => bail!(
            "a bundle is signed: give the exporter's key file with `--key FILE` (`wharf keys new --out FILE` makes one)"
        ),
        (ExportFormat::LocalRegistry, _) if args.since.is_some() => bail!(
            "`--since` leaves out blobs, and a local registry needs every one: export it without `--since`"
        ),
        (ExportFormat::LocalRegistry, _) => {
            local_registry::require_empty(&args.out)?;
            None
        }
    };
    let source::Opened {
        source,
        origin,
        index_path,
        shown,
    } = source::open(args)?;
    let source = Arc::new(source);
    let locked = chosen_versions(args, &source, &index_path)?;
    let chosen = match &locked {
        Some(locked) => Chosen::Packages(locked.keys().cloned().collect()),
        None => Chosen::All,
    };
    let (mut members, tree_size, verified_at) =
        record(&shown, root, &source, (&origin, &index_path), &chosen)?;

    // The versions carried, from the verified index files, and their blobs.
    let config: serde_json::Value = members
        .get(&http_member(&format!("{index_path}config.json")))
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .context("the upstream's config.json was not fetched")?;
    let dl = config["dl"].as_str().unwrap_or_default().to_owned();
    let entitlements = source.get(&premium::target(&config, &origin))?;
    let previous = args
        .since
        .as_deref()
        .map(super::previous_bundle)
        .transpose()?;
    let files = index_files(&members, &index_path);
    let (mut releases, blobs) = carry(&source, &dl, &files, locked.as_ref(), previous.as_ref())?;
    let packages = files.len();
    releases.sort();
    let Some(exporter) = exporter else {
        premium::refuse_in_local_registry(
            entitlements.as_deref(),
            &releases,
            args.include_premium,
        )?;
        let written = local_registry::write(&args.out, &releases, &files, &|release| {
            blobs
                .get(&blob_member(&release.cksum))
                .cloned()
                .context("a checked blob vanished")
        })?;
        println!(
            "exported {written} packages, {} versions at log size {tree_size} as a cargo local-registry into {}",
            releases.len(),
            args.out.display()
        );
        return Ok(std::process::ExitCode::SUCCESS);
    };
    // Every bin, so an import of a package selection serves the whole signed snapshot.
    super::snapshot::record_all_bins(&source, &index_path, &mut members)?;
    members.extend(blobs);
    if let Some(entitlements) = entitlements {
        members.insert(premium::MEMBER.to_owned(), entitlements);
    }
    let manifest = Manifest {
        origin,
        index_path,
        chosen,
        tree_size,
        exported: verified_at,
        previous: previous.map(|(hash, _)| hash),
        releases,
        members: members
            .iter()
            .map(|(path, bytes)| (path.clone(), (sha256_hex(bytes), bytes.len() as u64)))
            .collect(),
    };
    let text = manifest.to_text();
    let signature = wharf_trust::bundle::sign_manifest(&exporter, text.as_bytes()).to_base64();
    format::write_bundle(&args.out, text.as_bytes(), &signature, &members)?;
    println!(
        "exported {} packages, {} versions ({} blobs) at log size {} into {}",
        packages,
        manifest.releases.len(),
        manifest
            .members
            .keys()
            .filter(|path| path.starts_with("blobs/"))
            .count(),
        manifest.tree_size,
        args.out.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Member path → bytes.
type Members = BTreeMap<String, Vec<u8>>;

/// The versions of the verified index `files` that `locked` chooses (all when `None`), and
/// the blobs of those an earlier bundle (`previous`) did not carry, each downloaded and
/// checked against its cksum.
fn carry(
    source: &Source,
    dl: &str,
    files: &BTreeMap<String, &[u8]>,
    locked: Option<&BTreeMap<String, BTreeSet<String>>>,
    previous: Option<&(String, Manifest)>,
) -> anyhow::Result<(Vec<Release>, Members)> {
    let mut releases = Vec::new();
    let mut blobs = BTreeMap::new();
    for bytes in files.values() {
        for line in String::from_utf8_lossy(bytes).lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let field = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
            let release = Release {
                name: field("name"),
                version: field("vers"),
                cksum: field("cksum"),
            };
            let wanted = locked.is_none_or(|locked| {
                locked
                    .get(&release.name)
                    .is_some_and(|versions| versions.contains(&release.version))
            });
            if !wanted {
                continue;
            }
            let carried_before = previous.is_some_and(|(_, manifest)| {
                manifest.members.contains_key(&blob_member(&release.cksum))
            });
            if !carried_before {
                let blob = download(source, dl, &release)?;
                blobs.insert(blob_member(&release.cksum), blob);
            }
            releases.push(release);
        }
    }
    if let Some(locked) = locked {
        all_locked_found(locked, &releases)?;
    }
    Ok((releases, blobs))
}

/// The member path of a blob.
pub(crate) fn blob_member(cksum: &str) -> String {
    format!("blobs/sha256/{cksum}")
}

/// Runs the verifier against the registry through a recording loopback proxy: every answer
/// it needed, by member path, and the log size it verified.
fn record(
    shown: &str,
    root: wharf_trust::PublicKey,
    source: &Arc<Source>,
    (origin, index_path): (&str, &str),
    chosen: &Chosen,
) -> anyhow::Result<(BTreeMap<String, Vec<u8>>, u64, wharf_trust::UtcTime)> {
    let verified_at = wharf_trust::UtcTime::now();
    let recorded: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    let upstream = origin.to_owned();
    let local = Arc::new(Mutex::new(String::new()));
    let answer = {
        let recorded = Arc::clone(&recorded);
        let local = Arc::clone(&local);
        let source = Arc::clone(source);
        move |target: &str| -> Option<Vec<u8>> {
            let body = match source.get(target) {
                Ok(Some(body)) => body,
                Ok(None) => return None,
                Err(error) => {
                    tracing::debug!(target, %error, "the registry answered without a body");
                    return None;
                }
            };
            recorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(http_member(target), body.clone());
            if target.ends_with("/config.json") {
                let local = local.lock().unwrap_or_else(PoisonError::into_inner);
                return Some(local_config(&body, &upstream, &local));
            }
            Some(body)
        }
    };
    let proxy = loopback::start(Arc::new(answer))?;
    local
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone_from(&proxy);

    let state = tempfile::tempdir().context("creating a temporary state directory")?;
    let verifier = Verifier::new(
        root,
        &format!("sparse+{proxy}{index_path}"),
        None,
        state.path().to_owned(),
        VerifyOptions {
            now: Some(verified_at),
            ..VerifyOptions::default()
        },
    )?;
    let selection = match &chosen {
        Chosen::All => Selection::All,
        Chosen::Packages(names) => Selection::Packages(names.clone()),
    };
    let report = verifier
        .verify(&selection)
        .with_context(|| format!("{shown} does not verify against the root key"))?;
    if let Some(failure) = report.failures.first() {
        bail!("{shown} does not verify: {failure}");
    }
    let members = std::mem::take(&mut *recorded.lock().unwrap_or_else(PoisonError::into_inner));
    Ok((members, report.tree_size, verified_at))
}

/// The blob of `release` from the upstream, checked against its cksum.
fn download(source: &Source, dl: &str, release: &Release) -> anyhow::Result<Vec<u8>> {
    let url = wharf_index_format::download_url(dl, &release.name, &release.version, &release.cksum);
    let blob = source.get_url(&url)?.with_context(|| {
        format!(
            "crate `{}` version `{}`: its blob `{url}` is missing upstream",
            release.name, release.version
        )
    })?;
    if sha256_hex(&blob) != release.cksum {
        bail!(
            "crate `{}` version `{}`: the bytes of `{url}` do not hash to its cksum `{}`",
            release.name,
            release.version,
            release.cksum
        );
    }
    Ok(blob)
}

/// Every version the lockfile pins is among `releases`.
fn all_locked_found(
    locked: &BTreeMap<String, BTreeSet<String>>,
    releases: &[Release],
) -> anyhow::Result<()> {
    for (name, versions) in locked {
        for version in versions {
            if !releases
                .iter()
                .any(|r| &r.name == name && &r.version == version)
            {
                bail!(
                    "crate `{name}` version `{version}` (locked in the lockfile) is not in the registry's index; export from the registry the lockfile was resolved against"
                );
            }
        }
    }
    Ok(())
}

/// The recorded index files (not `config.json` or the snapshot under `.wharf/`): index
/// path (`3/a/abc`) → bytes.
pub(crate) fn index_files<'a>(
    members: &'a BTreeMap<String, Vec<u8>>,
    index_path: &str,
) -> BTreeMap<String, &'a [u8]> {
    let prefix = http_member(index_path);
    members
        .iter()
        .filter_map(|(path, bytes)| {
            let rest = path.strip_prefix(&prefix)?;
            (!rest.starts_with(".wharf") && rest != "config.json")
                .then(|| (rest.to_owned(), bytes.as_slice()))
        })
        .collect()
}

/// Name → versions for `--lockfile` or `--roots`; `None` for `--all`.
fn chosen_versions(
    args: &ExportArgs,
    source: &Source,
    index_path: &str,
) -> anyhow::Result<Option<BTreeMap<String, BTreeSet<String>>>> {
    Ok(if let Some(lockfile) = &args.lockfile {
        Some(locked_versions(lockfile)?)
    } else if args.roots.is_empty() {
        None
    } else {
        let mut fetch = |path: &str| source.get(&format!("{index_path}{path}"));
        let host = args
            .host_api
            .clone()
            .map(|version| wharf_resolver::HostPin {
                name: args.host_api_name.clone(),
                version,
            });
        Some(crate::closure::closure(
            &args.roots,
            host.as_ref(),
            &mut fetch,
        )?)
    })
}
