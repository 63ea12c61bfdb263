//! Serve settings: command-line flags and `WHARF_*` variables override the TOML config file,
//! which overrides the built-in defaults (data in `./wharf-data`, listen on `127.0.0.1:8080`).

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The default data directory.
pub(crate) const DEFAULT_DATA_DIR: &str = "wharf-data";
/// The default listen address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The `[server]`-less flat TOML config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FileSettings {
    /// Data directory.
    pub(crate) data: Option<PathBuf>,
    /// Listen address.
    pub(crate) listen: Option<SocketAddr>,
    /// Public URL clients use.
    pub(crate) public_url: Option<String>,
    /// Require a token for everything.
    pub(crate) auth_required: Option<bool>,
    /// Largest `.crate` accepted, in bytes.
    pub(crate) max_crate_bytes: Option<u64>,
    /// Publishes per minute per user (token bucket refill rate).
    pub(crate) publish_rate_per_minute: Option<NonZeroU32>,
    /// Publishes one user may make at once (token bucket size).
    pub(crate) publish_burst: Option<NonZeroU32>,
    /// New packages per user in any 24 hours.
    pub(crate) new_crates_per_day: Option<NonZeroU32>,
    /// Versions per user in any 24 hours.
    pub(crate) publishes_per_day: Option<NonZeroU32>,
    /// Versions per package in any 24 hours.
    pub(crate) versions_per_crate_per_day: Option<NonZeroU32>,
    /// HTTP worker threads.
    pub(crate) workers: Option<NonZeroUsize>,
    /// Requests a worker answers between two offers of its core.
    pub(crate) yield_every: Option<u32>,
    /// PEM certificate chain for HTTPS.
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub(crate) tls_key: Option<PathBuf>,
}

impl FileSettings {
    /// Reads and parses a config file; unknown keys are an error naming the key.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file `{}`", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file `{}`", path.display()))
    }
}

/// The data directory used when none is given.
pub(crate) fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}

/// Opens (creating if needed) the embedded storage in `dir`: SQLite plus local blobs.
pub(crate) async fn open_storage(dir: &Path) -> anyhow::Result<wharf_storage::Storage> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory `{}`", dir.display()))?;
    wharf_storage::Storage::open(wharf_storage::StorageConfig::local(dir))
        .await
        .with_context(|| format!("opening storage in `{}`", dir.display()))
}
