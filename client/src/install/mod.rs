//! The plugin installer a host embeds: resolve plugins against the host's API, download and
//! check them, unpack them beside the set in use and switch to the new set in one step.
//!
//! [`Installer`] runs `install`, `update` and `remove` on an [`InstallDir`]; [`list`] reads
//! what is installed. Every run holds the directory's lock, cleans what an interrupted run
//! left, and either switches to a complete new set or leaves the previous one in use. The
//! directory layout is described on [`InstallDir`]; the error codes on [`InstallError`].
//!
//! Release signatures are checked through [`ReleaseVerifier`]. Once the registry's root key
//! is pinned ([`Installer::root_key`], remembered by the directory) that is a [`LogVerifier`]:
//! every package of the set is checked against the registry's signed transparency log and
//! every archive against the SHA-256 its release leaf signs. Without one ([`NoVerifier`])
//! only the SHA-256 of each archive against its index line is checked.
//!
//! ```no_run
//! use wharf_client::install::{Installer, PackageRequest};
//! use wharf_resolver::Version;
//!
//! let report = Installer::new("plugins")
//!     .index_url("sparse+https://registry.example/index/")
//!     .host_api(Version::new(2, 1, 0))
//!     .install(&["greeter@1".parse::<PackageRequest>()?])?;
//! for package in &report.installed {
//!     println!("{} {}", package.name, package.version);
//! }
//! # Ok::<(), wharf_client::install::InstallError>(())
//! ```

mod config;
mod dir_lock;
mod download;
mod error;
mod layout;
mod licence;
mod lifecycle;
mod list;
mod log_verifier;
mod request;
mod run;
mod unpack;
mod verifier;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::{InstallConfig, SetManifest};
pub use error::InstallError;
pub use layout::InstallDir;
pub use lifecycle::{FEED_PATH as LIFECYCLE_FEED_PATH, LifecycleFinding, audit};
pub use list::{InstalledPackage, list};
pub use log_verifier::LogVerifier;
pub use request::PackageRequest;
pub use run::InstallReport;
pub use verifier::{NoVerifier, Release, ReleaseVerifier};
use wharf_resolver::Version;
use wharf_trust::PublicKey;

use crate::ClientOptions;

/// What the installer reports while it works (the CLI draws progress bars from it).
pub trait InstallProgress: Send + Sync {
    /// `count` archives are about to be fetched.
    fn fetching(&self, count: usize) {
        let _ = count;
    }
    /// One archive is there, `bytes` long, from the cache or downloaded.
    fn fetched(&self, name: &str, version: &str, bytes: usize, from_cache: bool) {
        let _ = (name, version, bytes, from_cache);
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl InstallProgress for NoProgress {}

/// Runs installs, updates and removals in one install directory.
#[derive(Clone)]
pub struct Installer {
    dir: InstallDir,
    index_url: Option<String>,
    host_api: Option<Version>,
    host_api_name: Option<String>,
    token: Option<String>,
    client: ClientOptions,
    locked: bool,
    wait_for_lock: bool,
    download_threads: usize,
    verifier: Arc<dyn ReleaseVerifier>,
    root_key: Option<PublicKey>,
    licence_file: Option<PathBuf>,
    allowed_advisories: std::collections::BTreeSet<String>,
    progress: Arc<dyn InstallProgress>,
    pause_before_switch: Option<PathBuf>,
}

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installer")
            .field("dir", &self.dir)
            .field("index_url", &self.index_url)
            .field("host_api", &self.host_api)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

impl Installer {
    /// How many archives are downloaded at once by default.
    pub const DEFAULT_DOWNLOAD_THREADS: usize = 4;

    /// An installer for the directory `dir`, with the index URL and host API remembered in
    /// its `wharf-install.toml`, no token, default client options, no release verifier.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: InstallDir::new(dir),
            index_url: None,
            host_api: None,
            host_api_name: None,
            token: None,
            client: ClientOptions::default(),
            locked: false,
            wait_for_lock: false,
            download_threads: Self::DEFAULT_DOWNLOAD_THREADS,
            verifier: Arc::new(NoVerifier),
            root_key: None,
            licence_file: None,
            allowed_advisories: std::collections::BTreeSet::new(),
            progress: Arc::new(NoProgress),
            pause_before_switch: None,
        }
    }

    /// The registry's sparse index (required by the first install; remembered after).
    pub fn index_url(mut self, url: impl Into<String>) -> Self {
        self.index_url = Some(url.into());
        self
    }

    /// The host API version the host provides (required by the first install; remembered
    /// after, and replaced when given again).
    pub fn host_api(mut self, version: Version) -> Self {
        self.host_api = Some(version);
        self
    }

    /// The host API package's name (`host-api` by default).
    pub fn host_api_name(mut self, name: impl Into<String>) -> Self {
        self.host_api_name = Some(name.into());
        self
    }

    /// A registry token, sent as cargo sends it.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// How the index client talks to the registry (retries, stall timeout, CA files, ...).
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client = options;
        self
    }

    /// Installs exactly what `DIR/wharf.lock` says, or refuses with `lock-mismatch`.
    pub fn locked(mut self, locked: bool) -> Self {
        self.locked = locked;
        self
    }

    /// Waits for another run holding the directory instead of refusing with `dir-locked`.
    pub fn wait_for_lock(mut self, wait: bool) -> Self {
        self.wait_for_lock = wait;
        self
    }

    /// How many archives are downloaded at once.
    pub fn download_threads(mut self, threads: usize) -> Self {
        self.download_threads = threads.max(1);
        self
    }

    /// Checks every release with `verifier` before it is unpacked.
    pub fn verifier(mut self, verifier: Arc<dyn ReleaseVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Pins the registry's root public key: this run and every later one (the key is
    /// remembered in `wharf-install.toml`) check each release against the registry's signed
    /// transparency log with a [`LogVerifier`], keeping the last verified state in
    /// `DIR/.wharf/trust`. A pinned key replaces the verifier set with [`Installer::verifier`].
    pub fn root_key(mut self, key: Option<PublicKey>) -> Self {
        self.root_key = key;
        self
    }

    /// A licence file for premium packages (`wharf admin licence issue` writes one): checked
    /// before each premium download and presented with it; remembered in
    /// `wharf-install.toml` for later runs.
    pub fn licence_file(mut self, path: Option<PathBuf>) -> Self {
        self.licence_file = path;
        self
    }

    /// Installs versions under these security advisories anyway (by advisory id); any
    /// other advisory affecting a chosen version refuses the run (`advisory`).
    pub fn allow_advisories(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.allowed_advisories = ids.into_iter().collect();
        self
    }

    /// Reports progress to `progress`.
    pub fn progress(mut self, progress: Arc<dyn InstallProgress>) -> Self {
        self.progress = progress;
        self
    }

    /// Crash testing: once the new set is complete and just before switching to it, create
    /// `marker` and wait while it exists.
    pub fn pause_before_switch(mut self, marker: Option<PathBuf>) -> Self {
        self.pause_before_switch = marker;
        self
    }

    /// The install directory.
    pub fn dir(&self) -> &InstallDir {
        &self.dir
    }
}
