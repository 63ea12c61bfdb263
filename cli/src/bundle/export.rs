//! `wharf bundle export`: records what the verifier fetches from a registry (through a
//! loopback proxy), checks it with the pinned root key, adds the blobs of the chosen
//! versions, and writes one signed bundle file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use wharf_client::verify::{Selection, Verifier, VerifyOptions};

use super::format::{self, Chosen, Manifest, Release, sha256_hex};
use super::{ExportArgs, load_public_key, loopback, origin_of};
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
    let index = args.from.trim().trim_start_matches("sparse+").to_owned();
    let (origin, index_path) = origin_of(&index).with_context(|| {
        format!(
            "`{}` is not a sparse index URL; give one as cargo does, e.g. `sparse+https://registry.example/index/`",
            args.from
        )
    })?;
    let root = load_public_key(&args.root_key, "root")?;
    let exporter = load_key(&args.key, args.passphrase_env.as_deref())?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_mins(5))
        .build()
        .context("building the HTTP client")?;
    let locked = chosen_versions(args, &http, &origin, &index_path)?;
    let chosen = match &locked {
        Some(locked) => Chosen::Packages(locked.keys().cloned().collect()),
        None => Chosen::All,
    };
    let (mut members, tree_size, verified_at) =
        record(args, root, &http, (&origin, &index_path), &chosen)?;

    // The versions carried, from the verified index files, and their blobs.
    let config: serde_json::Value = members
        .get(&http_member(&format!("{index_path}config.json")))
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .context("the upstream's config.json was not fetched")?;
    let dl = config["dl"].as_str().unwrap_or_default().to_owned();
    let previous = args
        .since
        .as_deref()
        .map(super::previous_bundle)
        .transpose()?;
    let mut releases = Vec::new();
    let files = index_files(&members, &index_path);
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
            let wanted = locked.as_ref().is_none_or(|locked| {
                locked
                    .get(&release.name)
                    .is_some_and(|versions| versions.contains(&release.version))
            });
            if !wanted {
                continue;
            }
            let carried_before = previous.as_ref().is_some_and(|(_, manifest)| {
                manifest.members.contains_key(&blob_member(&release.cksum))
            });
            if !carried_before {
                let blob = download(args, &http, &dl, &release)?;
                blobs.insert(blob_member(&release.cksum), blob);
            }
            releases.push(release);
        }
    }
    if let Some(locked) = &locked {
        all_locked_found(locked, &releases)?;
    }
    let packages = files.len();
    members.extend(blobs);
    releases.sort();
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

/// The member path of a blob.
pub(crate) fn blob_member(cksum: &str) -> String {
    format!("blobs/sha256/{cksum}")
}

/// Runs the verifier against the registry through a recording loopback proxy: every answer
/// it needed, by member path, and the log size it verified.
fn record(
    args: &ExportArgs,
    root: wharf_trust::PublicKey,
    http: &reqwest::blocking::Client,
    (origin, index_path): (&str, &str),
    chosen: &Chosen,
) -> anyhow::Result<(BTreeMap<String, Vec<u8>>, u64, wharf_trust::UtcTime)> {
    let verified_at = wharf_trust::UtcTime::now();
    let recorded: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    let upstream = origin.to_owned();
    let token = args.token.clone();
    let local = Arc::new(Mutex::new(String::new()));
    let answer = {
        let recorded = Arc::clone(&recorded);
        let local = Arc::clone(&local);
        let http = http.clone();
        move |target: &str| -> Option<Vec<u8>> {
            let mut request = http.get(format!("{upstream}{target}"));
            if let Some(token) = &token {
                request = request.header("Authorization", token);
            }
            let response = request.send().ok()?;
            if response.status() != 200 {
                tracing::debug!(target, status = %response.status(), "upstream answered without a body");
                return None;
            }
            let body = response.bytes().ok()?.to_vec();
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
        .with_context(|| format!("`{}` does not verify against the root key", args.from))?;
    if let Some(failure) = report.failures.first() {
        bail!("`{}` does not verify: {failure}", args.from);
    }
    let members = std::mem::take(&mut *recorded.lock().unwrap_or_else(PoisonError::into_inner));
    Ok((members, report.tree_size, verified_at))
}

/// The blob of `release` from the upstream, checked against its cksum.
fn download(
    args: &ExportArgs,
    http: &reqwest::blocking::Client,
    dl: &str,
    release: &Release,
) -> anyhow::Result<Vec<u8>> {
    let url = wharf_index_format::download_url(dl, &release.name, &release.version, &release.cksum);
    let blob = get(args, http, &url)?.with_context(|| {
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

/// The body of `url` (with the token), `None` on 404.
fn get(
    args: &ExportArgs,
    http: &reqwest::blocking::Client,
    url: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut request = http.get(url);
    if let Some(token) = &args.token {
        request = request.header("Authorization", token);
    }
    let response = request
        .send()
        .with_context(|| format!("fetching `{url}`"))?;
    if response.status() == 404 {
        return Ok(None);
    }
    let body = response
        .error_for_status()
        .and_then(reqwest::blocking::Response::bytes)
        .with_context(|| format!("fetching `{url}`"))?;
    Ok(Some(body.to_vec()))
}

/// Name → versions for `--lockfile` or `--roots`; `None` for `--all`.
fn chosen_versions(
    args: &ExportArgs,
    http: &reqwest::blocking::Client,
    origin: &str,
    index_path: &str,
) -> anyhow::Result<Option<BTreeMap<String, BTreeSet<String>>>> {
    Ok(if let Some(lockfile) = &args.lockfile {
        Some(locked_versions(lockfile)?)
    } else if args.roots.is_empty() {
        None
    } else {
        let mut fetch = |path: &str| get(args, http, &format!("{origin}{index_path}{path}"));
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
