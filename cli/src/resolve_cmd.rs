//! `wharf resolve`: resolve a manifest against a local sparse-index tree.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_resolver::{
    HostPin, LocalIndex, Lockfile, ResolveError, ResolveOptions, RootManifest, Version, resolve,
};

/// Output formats of `wharf resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ResolveFormat {
    /// `{"packages":[{"name":…,"version":…,"features":[…]},…]}`, root excluded.
    Json,
    /// A Cargo.lock v4.
    CargoLock,
    /// A `wharf.lock` (plugin install set).
    WharfLock,
}

/// Resolve a manifest's dependencies the way `cargo generate-lockfile` does, or as a plugin
/// install set when `--host-api` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct ResolveArgs {
    /// Sparse-index directory tree (cargo layout).
    #[arg(long)]
    index_dir: PathBuf,
    /// The root `Cargo.toml`.
    #[arg(long)]
    manifest: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: ResolveFormat,
    /// An existing Cargo.lock or wharf.lock whose versions are kept when they still fit.
    #[arg(long)]
    lock: Option<PathBuf>,
    /// Plugin mode: the host API version this host provides (pinned exactly).
    #[arg(long)]
    host_api: Option<Version>,
    /// Name of the host API package.
    #[arg(long, default_value = HostPin::DEFAULT_NAME)]
    host_api_name: String,
    /// Prefer versions whose `rust-version` this toolchain version satisfies.
    #[arg(long)]
    rust_version: Option<Version>,
    /// Source id written into Cargo.lock entries.
    #[arg(
        long,
        default_value = "registry+https://github.com/rust-lang/crates.io-index"
    )]
    source_id: String,
}

/// Runs `wharf resolve`; exit code 1 with the explanation on stderr when nothing fits.
pub(crate) fn run(args: &ResolveArgs) -> anyhow::Result<ExitCode> {
    let root = RootManifest::from_path(&args.manifest)?;
    let lock = args
        .lock
        .as_deref()
        .map(Lockfile::from_path)
        .transpose()
        .context("reading the lockfile")?;
    let options = ResolveOptions {
        rust_version: args.rust_version.clone(),
        lock,
        host_api: args.host_api.clone().map(|version| HostPin {
            name: args.host_api_name.clone(),
            version,
        }),
        unlock: Vec::new(),
    };
    let index = LocalIndex::new(&args.index_dir);
    match resolve(&index, &root, &options) {
        Ok(resolution) => {
            let text = match args.format {
                ResolveFormat::Json => resolution.to_json() + "\n",
                ResolveFormat::CargoLock => resolution.to_cargo_lock(&root, &args.source_id),
                ResolveFormat::WharfLock => resolution.to_wharf_lock(),
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ (ResolveError::NoSolution(_) | ResolveError::Cycle { .. })) => {
            eprint!("error: {error}");
            if !error.to_string().ends_with('\n') {
                eprintln!();
            }
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use clap::Parser as _;
    use wharf_index_format::index_path;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ResolveArgs,
    }

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("wharf-resolve-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn setup(label: &str, requirement: &str) -> (Scratch, Vec<String>) {
        let scratch = Scratch::new(label);
        let index = scratch.0.join("index");
        write(
            &index.join(index_path("plugin")),
            r#"{"name":"plugin","vers":"1.0.0","deps":[{"name":"host-api","req":"^2","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],"cksum":"aa","features":{},"yanked":false,"links":null}"#,
        );
        let manifest = scratch.0.join("Cargo.toml");
        write(
            &manifest,
            &format!("[package]\nname = \"host\"\n[dependencies]\nplugin = \"{requirement}\"\n"),
        );
        let args = vec![
            "resolve".to_owned(),
            "--index-dir".to_owned(),
            index.display().to_string(),
            "--manifest".to_owned(),
            manifest.display().to_string(),
        ];
        (scratch, args)
    }

    #[test]
    fn resolves_in_plugin_mode() {
        let (_scratch, mut args) = setup("ok", "1");
        args.extend([
            "--host-api".to_owned(),
            "2.4.1".to_owned(),
            "--format".to_owned(),
            "wharf-lock".to_owned(),
        ]);
        let cli = Cli::parse_from(args);
        assert_eq!(run(&cli.args).unwrap(), ExitCode::SUCCESS);
    }

    #[test]
    fn no_solution_exits_with_code_one() {
        let (_scratch, mut args) = setup("none", "1");
        args.extend(["--host-api".to_owned(), "3.0.0".to_owned()]);
        let cli = Cli::parse_from(args);
        assert_eq!(run(&cli.args).unwrap(), ExitCode::from(1));
    }

    #[test]
    fn unreadable_inputs_are_errors() {
        let (_scratch, mut args) = setup("bad", "not a version");
        args.extend(["--format".to_owned(), "cargo-lock".to_owned()]);
        let cli = Cli::parse_from(args);
        let err = run(&cli.args).unwrap_err();
        assert!(err.to_string().contains("not a version"), "{err}");
    }
}
