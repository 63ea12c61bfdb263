//! The real `cargo` binary with its own `CARGO_HOME`, and crate projects to feed it.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A `CARGO_HOME` configured with one registry named `wharf`.
#[derive(Debug)]
pub struct CargoEnv {
    home: TempDir,
    work: TempDir,
    vars: Vec<(String, OsString)>,
}

impl CargoEnv {
    /// A fresh `CARGO_HOME` whose `[registries.wharf]` points at `index_url`.
    pub fn new(index_url: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("wharf-cargo-home-")
            .tempdir()
            .expect("a temp dir");
        let work = tempfile::Builder::new()
            .prefix("wharf-cargo-work-")
            .tempdir()
            .expect("a temp dir");
        let env = Self {
            home,
            work,
            vars: Vec::new(),
        };
        env.point_at(index_url);
        env
    }

    /// Rewrites the registry URL (e.g. after the server moved).
    pub fn point_at(&self, index_url: &str) {
        let config = format!(
            "[registries.wharf]\nindex = \"{index_url}\"\ncredential-provider = \"cargo:token\"\n\n\
             [registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n\
             [net]\nretry = 1\n\n[term]\ncolor = \"never\"\n"
        );
        std::fs::write(self.home.path().join("config.toml"), config).expect("writing cargo config");
    }

    /// Sets an environment variable for every cargo run (e.g. `CARGO_HTTP_CAINFO`).
    pub fn with_var(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.vars.push((name.to_owned(), value.into()));
        self
    }

    /// The `CARGO_HOME`.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A scratch directory for projects.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// Runs cargo in `dir` with this home. Builds share one target directory per test run.
    pub fn cargo(&self, dir: &Path, args: &[&str]) -> Output {
        let target = std::env::temp_dir().join("wharf-e2e-cargo-target");
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(args)
            .current_dir(dir)
            .env("CARGO_HOME", self.home())
            .env("CARGO_TARGET_DIR", target)
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_REGISTRIES_WHARF_TOKEN")
            .envs(self.vars.iter().map(|(name, value)| (name, value)))
            .output()
            .expect("cargo runs")
    }

    /// Runs cargo and panics with its output unless it succeeds.
    pub fn cargo_ok(&self, dir: &Path, args: &[&str]) -> Output {
        let output = self.cargo(dir, args);
        assert!(
            output.status.success(),
            "cargo {args:?} failed in {}:\n{}",
            dir.display(),
            describe(&output)
        );
        output
    }

    /// Runs cargo and panics unless it fails; returns stderr.
    pub fn cargo_err(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.cargo(dir, args);
        assert!(
            !output.status.success(),
            "cargo {args:?} unexpectedly succeeded:\n{}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// `cargo login --registry wharf <token>`.
    pub fn login(&self, token: &str) {
        self.cargo_ok(self.work_dir(), &["login", "--registry", "wharf", token]);
    }
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A crate project written to disk.
#[derive(Debug, Clone)]
pub struct CrateProject {
    name: String,
    version: String,
    dependencies: Vec<String>,
    features: Vec<String>,
    lib_rs: String,
    main_rs: Option<String>,
    extra_package: Vec<String>,
}

impl CrateProject {
    /// A library crate `name` at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            dependencies: Vec::new(),
            features: Vec::new(),
            lib_rs: String::new(),
            main_rs: None,
            extra_package: Vec::new(),
        }
    }

    /// Adds a `[dependencies]` line, e.g. `dep("a", r#"{ version = "1", registry = "wharf" }"#)`.
    pub fn dep(mut self, name: &str, spec: &str) -> Self {
        self.dependencies.push(format!("{name} = {spec}"));
        self
    }

    /// Adds a `[features]` entry.
    pub fn feature(mut self, name: &str, enables: &[&str]) -> Self {
        let list: Vec<String> = enables.iter().map(|e| format!("\"{e}\"")).collect();
        self.features
            .push(format!("{name} = [{}]", list.join(", ")));
        self
    }

    /// Sets `src/lib.rs`.
    pub fn lib(mut self, source: &str) -> Self {
        source.clone_into(&mut self.lib_rs);
        self
    }

    /// Adds `src/main.rs`.
    pub fn main(mut self, source: &str) -> Self {
        self.main_rs = Some(source.to_owned());
        self
    }

    /// Adds a raw line to `[package]` (e.g. `links = "z"`).
    pub fn package_line(mut self, line: &str) -> Self {
        self.extra_package.push(line.to_owned());
        self
    }

    /// Writes the project under `parent/<name>-<version>` and returns its directory.
    pub fn write(&self, parent: &Path) -> PathBuf {
        let dir = parent.join(format!("{}-{}", self.name, self.version.replace('+', "_")));
        std::fs::create_dir_all(dir.join("src")).expect("creating the project");
        let mut manifest = format!(
            "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\ndescription = \"Test crate {}\"\nlicense = \"MIT\"\npublish = [\"wharf\"]\n",
            self.name, self.version, self.name
        );
        for line in &self.extra_package {
            let _ = writeln!(manifest, "{line}");
        }
        manifest.push_str("\n[dependencies]\n");
        for line in &self.dependencies {
            let _ = writeln!(manifest, "{line}");
        }
        manifest.push_str("\n[features]\n");
        for line in &self.features {
            let _ = writeln!(manifest, "{line}");
        }
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("writing Cargo.toml");
        std::fs::write(dir.join("src/lib.rs"), &self.lib_rs).expect("writing lib.rs");
        if let Some(main) = &self.main_rs {
            std::fs::write(dir.join("src/main.rs"), main).expect("writing main.rs");
        }
        dir
    }
}
