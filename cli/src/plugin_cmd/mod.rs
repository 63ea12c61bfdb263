//! `wharf plugin`: author tools for plugins and solution templates (scaffold, check, pack,
//! publish), running the registry's own validation.

mod package_dir;
mod scaffold;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_index_format::PluginKind;

pub(crate) use package_dir::{PackedPlugin, pack_plugin_dir};

/// The plugin author commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PluginCommand {
    /// Create a plugin folder that passes `wharf plugin check`.
    New {
        /// The plugin's package name.
        name: String,
        /// `plugin` or `template`.
        #[arg(long, value_enum, default_value = "plugin")]
        kind: KindArg,
        /// The folder to create [default: ./NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Check a plugin folder with the registry's rules.
    Check {
        /// The plugin folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Write the plugin's deterministic tarball.
    Pack {
        /// The plugin folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write it [default: DIR/target/plugin/NAME-VERSION.tar.gz].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Pack the plugin and publish it to a registry.
    Publish {
        /// The plugin folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The registry: its sparse index URL (`sparse+http://host/index/`) or its API root.
        #[arg(long, value_name = "URL")]
        registry: String,
        /// The API token (sent as cargo sends it).
        #[arg(long, env = "WHARF_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Extra CA certificate (PEM) trusted for an `https` registry.
        #[arg(long, env = "WHARF_CA_CERT", value_name = "FILE")]
        ca_cert: Vec<PathBuf>,
    },
}

/// `--kind` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum KindArg {
    /// Code the host runs.
    Plugin,
    /// A solution template.
    Template,
}

impl From<KindArg> for PluginKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Plugin => Self::Plugin,
            KindArg::Template => Self::Template,
        }
    }
}

/// Runs a plugin command. A plugin that breaks a rule, or that the registry refuses, exits
/// with 1 and one line naming the file and key; other failures are errors (exit 2).
pub(crate) fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::New { name, kind, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = scaffold::scaffold(&name, kind.into(), &dir)?;
            println!(
                "created {} in `{}`: {}",
                name,
                dir.display(),
                files.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Check { dir } => Ok(match checked(&dir)? {
            Some(packed) => {
                println!(
                    "ok: {} {} ({}), {} bytes packed",
                    packed.name,
                    packed.version,
                    packed.kind,
                    packed.tarball.len()
                );
                ExitCode::SUCCESS
            }
            None => ExitCode::from(1),
        }),
        PluginCommand::Pack { dir, out } => {
            let Some(packed) = checked(&dir)? else {
                return Ok(ExitCode::from(1));
            };
            let out = out.unwrap_or_else(|| {
                dir.join("target/plugin")
                    .join(format!("{}-{}.tar.gz", packed.name, packed.version))
            });
            write_file(&out, &packed.tarball)?;
            println!(
                "packed {} {} to `{}` ({} bytes, sha256 {})",
                packed.name,
                packed.version,
                out.display(),
                packed.tarball.len(),
                packed.sha256()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Publish {
            dir,
            registry,
            token,
            ca_cert,
        } => {
            let Some(packed) = checked(&dir)? else {
                return Ok(ExitCode::from(1));
            };
            let body = packed.publish_body()?;
            match wharf_client::upload_publish_body(&registry, token.as_deref(), body, &ca_cert) {
                Ok(_) => {
                    println!(
                        "published {} {} ({}, sha256 {})",
                        packed.name,
                        packed.version,
                        packed.kind,
                        packed.sha256()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(wharf_client::ClientError::Status { status, detail, .. })
                    if (400..500).contains(&status) =>
                {
                    eprintln!(
                        "error: the registry refused {} {} (HTTP {status}): {}",
                        packed.name,
                        packed.version,
                        detail.unwrap_or_default()
                    );
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// Packs and checks `dir`; a rule broken is printed as one line and gives `None`.
fn checked(dir: &Path) -> anyhow::Result<Option<PackedPlugin>> {
    if !dir.join(wharf_index_format::PLUGIN_MANIFEST_FILE).is_file() {
        anyhow::bail!(
            "`{}` has no `plugin.toml`; give the plugin folder (`wharf plugin new NAME` makes one)",
            dir.display()
        );
    }
    match pack_plugin_dir(dir) {
        Ok(packed) => Ok(Some(packed)),
        Err(error) if error.downcast_ref::<std::io::Error>().is_some() => Err(error),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(None)
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write `{}`", path.display()))
}
