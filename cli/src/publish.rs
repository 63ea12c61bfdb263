//! `wharf publish`: a signed `cargo publish`, for crates and for plugin folders.
//!
//! For a plugin folder (one holding `plugin.toml`) it packs the folder as `wharf plugin
//! pack` does and derives the publish metadata from the manifest. For a crate it runs the
//! real `cargo package` in the crate's directory, builds cargo's publish request
//! (the metadata JSON from `cargo metadata`, framed with the `.crate` as cargo frames it),
//! computes the index line the registry will derive from exactly those bytes
//! ([`wharf_index_format::release_index_line`]), signs a release statement over its hash and
//! the `.crate` hash, and sends it with the upload in the `Wharf-Release-Statement` and
//! `Wharf-Signature` headers, with the key's owner-key-add statement (`Wharf-Key-Statement`,
//! `Wharf-Key-Signature`) for a package's first signed release. Cargo's own publish sends
//! none of these headers.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use reqwest::Method;
use serde_json::Value;
use wharf_index_format::{
    NewCrate, NewCrateDependency, PLUGIN_MANIFEST_FILE, Pubtime, encode_publish_frame,
    release_index_line,
};
use wharf_registry_server::{
    KEY_SIGNATURE_HEADER, KEY_STATEMENT_HEADER, RELEASE_STATEMENT_HEADER, SIGNATURE_HEADER,
};
use wharf_trust::{Hash, Statement, StatementBody, UtcTime};

use crate::plugin_cmd::pack_plugin_dir;
use crate::registry_api::{KeyFileArgs, RegistryApi, RegistryArgs};

/// crates.io's index URL, as cargo names it in publish requests.
const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// `wharf publish`.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The crate's directory (holding its Cargo.toml) [default: the current directory].
    dir: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    key: KeyFileArgs,
    /// Do not build the packaged crate before uploading (`cargo package --no-verify`).
    #[arg(long)]
    no_verify: bool,
    /// Package even with uncommitted changes (`cargo package --allow-dirty`).
    #[arg(long)]
    allow_dirty: bool,
}

/// What is uploaded: the publish metadata JSON and the archive.
struct Packed {
    name: String,
    version: String,
    json: Vec<u8>,
    archive: Vec<u8>,
    /// `crate`, `plugin` or `template`, for the message.
    kind: &'static str,
}

/// Runs `wharf publish`.
pub(crate) fn run(args: &PublishArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let is_plugin = dir.join(PLUGIN_MANIFEST_FILE).is_file();
    if !is_plugin && !dir.join("Cargo.toml").is_file() {
        bail!(
            "`{}` has neither a Cargo.toml nor a {PLUGIN_MANIFEST_FILE}; give a crate's or a \
             plugin's directory",
            dir.display()
        );
    }
    let key = args.key.load()?;
    let api = RegistryApi::new(&args.registry)?;
    let origin = api.origin()?;
    let packed = if is_plugin {
        pack_plugin(&dir)?
    } else {
        let index_url = format!("sparse+{}/index/", api.url(""));
        pack_crate(&dir, args, &index_url)?
    };
    let Packed {
        name,
        version,
        json,
        archive,
        kind,
    } = &packed;
    let cksum = Hash::sha256(archive);
    let time = UtcTime::now();
    let line = release_index_line(json, &cksum.to_hex(), Pubtime::from_unix(time.unix()))
        .context("computing the index line of this release")?;
    let release = Statement::new(
        &origin,
        name,
        StatementBody::Release {
            version: version.clone(),
            cksum,
            entry: Hash::sha256(line.as_bytes()),
        },
        time,
    )?;
    let key_add = Statement::new(
        &origin,
        name,
        StatementBody::OwnerKeyAdd {
            key: key.public_key(),
        },
        time,
    )?;
    let body = encode_publish_frame(json, archive)?;
    let request = api
        .request(Method::PUT, "/api/v1/crates/new")
        .header(RELEASE_STATEMENT_HEADER, STANDARD.encode(release.to_text()))
        .header(SIGNATURE_HEADER, release.sign(&key).to_text())
        .header(KEY_STATEMENT_HEADER, STANDARD.encode(key_add.to_text()))
        .header(KEY_SIGNATURE_HEADER, key_add.sign(&key).to_text())
        .body(body);
    api.send(request, &format!("publishing {name} {version}"))?;
    writeln!(
        std::io::stdout().lock(),
        "published {kind} {name} {version} to {origin}, signed by key {}",
        key.key_id().short()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A plugin folder, packed deterministically and checked with the registry's rules.
fn pack_plugin(dir: &Path) -> anyhow::Result<Packed> {
    let plugin = pack_plugin_dir(dir)?;
    Ok(Packed {
        kind: plugin.kind.as_str(),
        name: plugin.name,
        version: plugin.version,
        json: plugin.metadata_json,
        archive: plugin.tarball,
    })
}

/// A crate directory, packaged by the real `cargo package`, with the metadata cargo's own
/// publish would send.
fn pack_crate(dir: &Path, args: &PublishArgs, index_url: &str) -> anyhow::Result<Packed> {
    let manifest = dir.join("Cargo.toml");
    let metadata = cargo_metadata(&manifest)?;
    let package = root_package(&metadata, &manifest)?;
    cargo_package(&manifest, args)?;
    let name = text(package, "name")?;
    let version = text(package, "version")?;
    let target_dir = text(&metadata, "target_directory")?;
    let crate_path = Path::new(target_dir)
        .join("package")
        .join(format!("{name}-{version}.crate"));
    let archive = std::fs::read(&crate_path).with_context(|| {
        format!(
            "cannot read `{}` that cargo package wrote",
            crate_path.display()
        )
    })?;
    let krate = new_crate(package, &manifest, index_url)?;
    let json = serde_json::to_vec(&krate).context("encoding the publish metadata")?;
    Ok(Packed {
        name: name.to_owned(),
        version: version.to_owned(),
        json,
        archive,
        kind: "crate",
    })
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_metadata(manifest: &Path) -> anyhow::Result<Value> {
    let output = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .context("cannot run `cargo metadata`; is cargo installed?")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed for `{}`: {}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout)
        .context("`cargo metadata` printed something that is not JSON")
}

fn cargo_package(manifest: &Path, args: &PublishArgs) -> anyhow::Result<()> {
    let mut command = cargo();
    command
        .args(["package", "--quiet", "--manifest-path"])
        .arg(manifest);
    if args.no_verify {
        command.arg("--no-verify");
    }
    if args.allow_dirty {
        command.arg("--allow-dirty");
    }
    let output = command
        .output()
        .context("cannot run `cargo package`; is cargo installed?")?;
    if !output.status.success() {
        bail!(
            "`cargo package` failed for `{}`: {}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn text<'a>(value: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    value[field]
        .as_str()
        .with_context(|| format!("`cargo metadata` gave no `{field}`"))
}

fn root_package<'a>(metadata: &'a Value, manifest: &Path) -> anyhow::Result<&'a Value> {
    let wanted = manifest
        .canonicalize()
        .with_context(|| format!("cannot find `{}`", manifest.display()))?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| {
            package["manifest_path"]
                .as_str()
                .and_then(|path| Path::new(path).canonicalize().ok())
                .is_some_and(|path| path == wanted)
        })
        .with_context(|| {
            format!(
                "`{}` is not a package manifest (a virtual workspace?); give a crate's directory",
                manifest.display()
            )
        })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

fn optional(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// Cargo's publish metadata for `package` (a `cargo metadata` package), as cargo builds it.
fn new_crate(package: &Value, manifest: &Path, index_url: &str) -> anyhow::Result<NewCrate> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let readme_file = optional(&package["readme"]);
    let readme = readme_file
        .as_ref()
        .map(|file| std::fs::read_to_string(dir.join(file)))
        .transpose()
        .context("cannot read the package's README")?;
    let mut deps = Vec::new();
    for dep in package["dependencies"].as_array().into_iter().flatten() {
        if let Some(dep) = dependency(dep, index_url)? {
            deps.push(dep);
        }
    }
    let features: BTreeMap<String, Vec<String>> =
        serde_json::from_value(package["features"].clone()).unwrap_or_default();
    Ok(NewCrate {
        name: text(package, "name")?.to_owned(),
        vers: text(package, "version")?.to_owned(),
        deps,
        features: features.into_iter().collect(),
        authors: strings(&package["authors"]),
        description: optional(&package["description"]),
        documentation: optional(&package["documentation"]),
        homepage: optional(&package["homepage"]),
        readme,
        readme_file,
        keywords: strings(&package["keywords"]),
        categories: strings(&package["categories"]),
        license: optional(&package["license"]),
        license_file: optional(&package["license_file"]),
        repository: optional(&package["repository"]),
        badges: BTreeMap::new(),
        links: optional(&package["links"]),
        rust_version: optional(&package["rust_version"]),
    })
}

/// One dependency as cargo publishes it; `None` for a dev-dependency that only has a path
/// (cargo leaves those out of the published crate).
fn dependency(dep: &Value, index_url: &str) -> anyhow::Result<Option<NewCrateDependency>> {
    let name = text(dep, "name")?.to_owned();
    let kind = dep["kind"].as_str().unwrap_or("normal").to_owned();
    let req = text(dep, "req")?.to_owned();
    let source = dep["source"].as_str();
    let has_path = dep["path"].is_string();
    if has_path && kind == "dev" && req == "*" {
        return Ok(None);
    }
    let registry = match (dep["registry"].as_str(), source) {
        (Some(registry), _) if same_registry(registry, index_url) => None,
        (Some(registry), _) => Some(registry.to_owned()),
        (None, Some(source)) if source.starts_with("git+") => bail!(
            "dependency `{name}` comes from git; a published crate may only depend on registries"
        ),
        (None, Some(source)) if source.contains("crates.io-index") => {
            Some(CRATES_IO_INDEX.to_owned())
        }
        _ => None,
    };
    Ok(Some(NewCrateDependency {
        optional: dep["optional"].as_bool().unwrap_or(false),
        default_features: dep["uses_default_features"].as_bool().unwrap_or(true),
        name,
        features: strings(&dep["features"]),
        version_req: req,
        target: optional(&dep["target"]),
        kind,
        registry,
        explicit_name_in_toml: optional(&dep["rename"]),
        artifact: None,
        bindep_target: None,
        lib: false,
    }))
}

fn same_registry(registry: &str, index_url: &str) -> bool {
    let normal = |url: &str| url.trim_end_matches('/').to_ascii_lowercase();
    normal(registry) == normal(index_url)
}
