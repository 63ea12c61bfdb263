//! `wharf mirror sync`: copies a Wharf registry's sparse index and every blob it names into a
//! directory that any static file server can serve as a sparse registry (for an air-gapped
//! network). Packages are listed from the upstream's snapshot bins
//! (`/index/.wharf/bins/NN`), each file is checked against the hash its bin gives, and every
//! blob against its `cksum`; a version whose blob is missing or wrong is left out and named,
//! and the command then exits 1. The copy is built in a staging directory and switched in
//! at once: `<dir>/current` is a symbolic link replaced by a rename, so a server reading
//! through it sees the old copy or the new one, never a mix. A copy holds `index/` (with
//! `config.json`) and `blobs/sha256/<hex>`: served as the root of `--public-url`, it is a
//! sparse registry for cargo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};
use wharf_index_format::{RegistryConfig, download_url};

/// `wharf mirror …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MirrorCommand {
    /// Copy a Wharf registry's sparse index and blobs into `<dir>/current` (staged, checked,
    /// switched in at once). Exits 1 when a version had to be left out.
    Sync(SyncArgs),
}

/// `wharf mirror sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The upstream's sparse index URL (`sparse+https://registry.example/index/`).
    #[arg(long, value_name = "URL")]
    from: String,
    /// The mirror directory; the copy is `<DIR>/current`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The URL the mirror will be served at: its `config.json` then sends downloads there
    /// (`<URL>/blobs/sha256/…`). Without it, `config.json` is the upstream's.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// A token for an upstream that requires one (`read` scope).
    #[arg(
        long,
        env = "WHARF_MIRROR_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

/// Runs a mirror subcommand.
pub(crate) fn run(command: MirrorCommand) -> anyhow::Result<ExitCode> {
    match command {
        MirrorCommand::Sync(args) => sync(&args),
    }
}

struct Upstream {
    http: reqwest::blocking::Client,
    index: String,
    token: Option<String>,
}

impl Upstream {
    /// The body of `url`, `None` on 404/410/451.
    fn get(&self, url: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", token);
        }
        let response = request
            .send()
            .with_context(|| format!("fetching `{url}`"))?;
        match response.status().as_u16() {
            200 => Ok(Some(
                response
                    .bytes()
                    .with_context(|| format!("reading `{url}`"))?
                    .to_vec(),
            )),
            404 | 410 | 451 => Ok(None),
            401 | 403 => bail!(
                "`{url}` answered {}: the upstream requires a token with the `read` scope; give it with --token or WHARF_MIRROR_TOKEN",
                response.status()
            ),
            _ => bail!("`{url}` answered {}", response.status()),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a copy keeps a blob: `blobs/sha256/<hex>`, the path of the `dl` URL the copy's
/// `config.json` names with `--public-url`, so a static server needs no rewriting.
fn blob_path(root: &Path, cksum: &str) -> PathBuf {
    root.join("blobs/sha256").join(cksum)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating `{}`", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))
}

/// Every index path the upstream serves, with the SHA-256 its snapshot gives the file.
fn list_files(upstream: &Upstream) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for bin in 0..=255u8 {
        let url = format!("{}/.wharf/bins/{bin:02x}", upstream.index);
        let Some(text) = upstream.get(&url)? else {
            bail!(
                "`{url}` is missing: mirror sync lists packages from a Wharf registry's snapshot bins; point --from at a Wharf registry's sparse index"
            );
        };
        for line in String::from_utf8_lossy(&text).lines() {
            let Some((path, hash)) = line.split_once(' ') else {
                bail!("`{url}` has a line that is not `<index path> <sha256>`: `{line}`");
            };
            files.push((path.to_owned(), hash.to_owned()));
        }
    }
    files.sort();
    Ok(files)
}

/// What one sync did.
#[derive(Default)]
struct Synced {
    packages: usize,
    versions: usize,
    downloaded: usize,
    reused: usize,
    left_out: Vec<String>,
}

/// Copies one package's file and its blobs into `stage`, leaving out versions whose blob
/// cannot be had.
fn sync_file(
    upstream: &Upstream,
    dl: &str,
    (path, hash): &(String, String),
    previous: Option<&Path>,
    stage: &Path,
    synced: &mut Synced,
) -> anyhow::Result<()> {
    let url = format!("{}/{path}", upstream.index);
    let bytes = upstream.get(&url)?.with_context(|| {
        format!("`{url}` is listed in the snapshot but missing; run the sync again")
    })?;
    if sha256_hex(&bytes) != *hash {
        bail!(
            "`{url}` changed while the mirror was syncing (its hash is not the snapshot's); run the sync again"
        );
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut kept = Vec::new();
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("`{url}` has a line that is not JSON"))?;
        let field = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
        let (name, version, cksum) = (field("name"), field("vers"), field("cksum"));
        let valid = cksum.len() == 64 && cksum.bytes().all(|b| b.is_ascii_hexdigit());
        let target = blob_path(stage, &cksum);
        let reused = valid
            && previous.is_some_and(|previous| {
                std::fs::read(blob_path(previous, &cksum))
                    .is_ok_and(|old| sha256_hex(&old) == cksum && write(&target, &old).is_ok())
            });
        if reused {
            synced.reused += 1;
        } else {
            let from = download_url(dl, &name, &version, &cksum);
            let problem = match valid.then(|| upstream.get(&from)).transpose()? {
                None => Some(format!("its cksum `{cksum}` is not a SHA-256")),
                Some(None) => Some(format!("its blob is missing upstream (`{from}`)")),
                Some(Some(blob)) if sha256_hex(&blob) != cksum => Some(format!(
                    "the bytes of `{from}` do not hash to its cksum `{cksum}`"
                )),
                Some(Some(blob)) => {
                    write(&target, &blob)?;
                    synced.downloaded += 1;
                    None
                }
            };
            if let Some(problem) = problem {
                synced
                    .left_out
                    .push(format!("crate `{name}` version `{version}`: {problem}"));
                continue;
            }
        }
        kept.push(line);
        synced.versions += 1;
    }
    if !kept.is_empty() {
        let mut text = kept.join("\n");
        text.push('\n');
        write(&stage.join("index").join(path), text.as_bytes())?;
        synced.packages += 1;
    }
    Ok(())
}

/// Removes what a killed earlier run left in `data`: `copy-*` directories other than the
/// one `current` points at (`previous`, canonical), and half-made `.copy-*.link` links.
/// `current` itself is never touched, so what is served stays served.
pub(crate) fn remove_stale_copies(data: &Path, previous: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(data) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(".copy-") && name.ends_with(".link") {
            let _ = std::fs::remove_file(&path);
        } else if name.starts_with("copy-")
            && std::fs::canonicalize(&path).ok().as_deref() != previous
        {
            tracing::info!(path = %path.display(), "removing a copy left by an interrupted run");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Points `<data>/current` at `<data>/<stage_name>` with one rename of a symbolic link, then
/// deletes the copy it pointed at before (`previous`, canonical).
pub(crate) fn switch_current(
    data: &Path,
    stage_name: &str,
    previous: Option<&Path>,
) -> anyhow::Result<()> {
    let current = data.join("current");
    let link = data.join(format!(".{stage_name}.link"));
    std::os::unix::fs::symlink(stage_name, &link)
        .with_context(|| format!("creating `{}`", link.display()))?;
    std::fs::rename(&link, &current)
        .with_context(|| format!("switching `{}` to the new copy", current.display()))?;
    if let Some(previous) = previous
        && std::fs::canonicalize(data.join(stage_name)).ok().as_deref() != Some(previous)
    {
        let _ = std::fs::remove_dir_all(previous);
    }
    Ok(())
}

/// `wharf mirror sync`.
fn sync(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let index = args
        .from
        .trim()
        .trim_start_matches("sparse+")
        .trim_end_matches('/')
        .to_owned();
    if !(index.starts_with("http://") || index.starts_with("https://")) {
        bail!(
            "`{}` is not a sparse index URL; give one as cargo does, e.g. `sparse+https://registry.example/index/`",
            args.from
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_mins(5))
        .build()
        .context("building the HTTP client")?;
    let upstream = Upstream {
        http,
        index,
        token: args.token.clone(),
    };
    let config_url = format!("{}/config.json", upstream.index);
    let config_bytes = upstream.get(&config_url)?.with_context(|| {
        format!(
            "`{config_url}` is missing; is `{}` a registry's index?",
            args.from
        )
    })?;
    let upstream_config: RegistryConfig = serde_json::from_slice(&config_bytes)
        .with_context(|| format!("`{config_url}` is not a registry configuration"))?;
    let files = list_files(&upstream)?;

    // Everything is staged next to `current`, so the switch is a rename on one file system.
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating `{}`", args.data.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let stage_name = format!("copy-{stamp}");
    let stage = args.data.join(&stage_name);
    let current = args.data.join("current");
    let previous = std::fs::canonicalize(&current).ok();
    remove_stale_copies(&args.data, previous.as_deref());
    let mut synced = Synced::default();
    let staged = (|| {
        for file in &files {
            sync_file(
                &upstream,
                &upstream_config.dl,
                file,
                previous.as_deref(),
                &stage,
                &mut synced,
            )?;
        }
        let config = match &args.public_url {
            Some(url) => RegistryConfig::for_public_url(url, upstream_config.auth_required)
                .to_json()
                .into_bytes(),
            None => config_bytes.clone(),
        };
        write(&stage.join("index/config.json"), &config)?;
        let record = wharf_registry_server::MirrorRecord {
            upstream: args.from.clone(),
        };
        write(
            &stage.join(wharf_registry_server::MIRROR_RECORD),
            &serde_json::to_vec(&record)?,
        )
    })();
    if let Err(error) = staged {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(error);
    }
    switch_current(&args.data, &stage_name, previous.as_deref())?;
    println!(
        "mirrored {} packages, {} versions into {} ({} blobs downloaded, {} reused)",
        synced.packages,
        synced.versions,
        current.display(),
        synced.downloaded,
        synced.reused
    );
    for problem in &synced.left_out {
        println!("left out: {problem}");
    }
    Ok(if synced.left_out.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::download_url;

    #[test]
    fn download_urls_follow_cargo_templates() {
        let sum = "ab".repeat(32);
        assert_eq!(
            download_url(
                "https://r.example/blobs/sha256/{sha256-checksum}",
                "Foo",
                "1.0.0",
                &sum
            ),
            format!("https://r.example/blobs/sha256/{sum}")
        );
        assert_eq!(
            download_url("https://r.example/dl", "foo", "1.0.0", &sum),
            "https://r.example/dl/foo/1.0.0/download"
        );
        assert_eq!(
            download_url(
                "https://r.example/{lowerprefix}/{crate}-{version}",
                "Serde",
                "1.0.0",
                &sum
            ),
            "https://r.example/se/rd/Serde-1.0.0"
        );
    }
}
