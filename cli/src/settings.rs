//! Serve settings. Every key exists three ways: a key of the flat TOML config file, a
//! command-line flag and a `WHARF_*` variable (clap reads both into the same fields). For
//! every key a flag or variable overrides the file, which overrides the built-in defaults
//! (data in `./wharf-data`, listen on `127.0.0.1:8080`).

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clap::builder::BoolishValueParser;
use serde::Deserialize;
use wharf_registry_server::{ConnectionLimits, DEFAULT_YIELD_EVERY, PublishRateLimits};
use wharf_storage::{MetadataDatabase, S3Location};

pub(crate) use crate::open_registry::{open_existing_storage, open_existing_storage_read_only};

use crate::connection_keys::{GivenConnectionKeys, duration_key, parse_duration};
use crate::listen::ListenAddr;
use crate::open_registry::DatabaseUrl;

/// The default data directory.
pub(crate) const DEFAULT_DATA_DIR: &str = "wharf-data";
/// The default listen address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Help heading of the publish rate limits.
const RATE_LIMITS: &str = "Publish rate limits (per user; off unless set)";
/// Help heading of the HTTPS keys.
const HTTPS: &str = "HTTPS (plain HTTP unless both are set)";
/// Help heading of the connection limits.
const CONNECTIONS: &str = "Connections (durations as 10s, 2m; 0s turns a timeout off)";
const GIT: &str = "Git export of the index (served at /git/index)";
/// Help heading of the blob storage keys.
const STORAGE: &str = "Blob storage (the local disk unless --storage names a bucket)";

/// The keys of `wharf serve`, each `None` when not given. Read from the config file (kebab-case
/// keys) and from flags and variables; [`SettingKeys::over`] puts one source above another.
#[derive(Debug, Default, Clone, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SettingKeys {
    /// Directory for the SQLite database, blobs and index files [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// Where the registry's metadata lives: `sqlite` (the embedded database in the data
    /// directory) or a PostgreSQL URL, `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, which
    /// several nodes (each with its own data directory) may share [default: sqlite].
    #[arg(long, env = "WHARF_DATABASE", value_name = "URL")]
    pub(crate) database: Option<DatabaseUrl>,
    /// Address to listen on: HOST:PORT (`127.0.0.1:8080`, `0.0.0.0:80`, `[::1]:8080`,
    /// `localhost:8080`) or a port alone (on 127.0.0.1) [default: 127.0.0.1:8080]; port 0
    /// picks a free port.
    #[arg(long, env = "WHARF_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<ListenAddr>,
    /// URL clients reach the registry at, as written into config.json
    /// [default: `http://` (`https://` with --tls-cert) and the listen address].
    #[arg(long, env = "WHARF_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// Require an API token for every index file, download and API call
    /// (`--auth-required=false` turns off what the config file turned on).
    #[arg(
        long,
        env = "WHARF_AUTH_REQUIRED",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub(crate) auth_required: Option<bool>,
    /// Refuse unsigned releases: every publish must carry a release statement signed by a
    /// publisher key (`wharf publish --key FILE`); `cargo publish` alone gets HTTP 400
    /// (`--require-signatures=false` turns off what the config file turned on) [default: false].
    #[arg(
        long,
        env = "WHARF_REQUIRE_SIGNATURES",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub(crate) require_signatures: Option<bool>,
    /// Largest `.crate` file accepted, in bytes; larger uploads get HTTP 413 [default: 10485760].
    #[arg(long, env = "WHARF_MAX_CRATE_BYTES", value_name = "BYTES")]
    pub(crate) max_crate_bytes: Option<u64>,
    /// HTTP worker threads, each with its own listening socket [default: one per core].
    #[arg(long, env = "WHARF_WORKERS", value_name = "N")]
    pub(crate) workers: Option<NonZeroUsize>,
    /// Requests a busy worker answers before it offers its core to other runnable threads
    /// (a proxy, a sidecar, clients on the same machine); 0 never offers it [default: 32].
    #[arg(long, env = "WHARF_YIELD_EVERY", value_name = "N")]
    pub(crate) yield_every: Option<u32>,
    /// Answer index file GETs of public registries on plain HTTP with Wharf's narrow HTTP/1.1
    /// path; `--index-fast-path=false` serves every request with the general HTTP stack
    /// instead (same answers, more CPU per request) [default: true].
    #[arg(
        long,
        env = "WHARF_INDEX_FAST_PATH",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub(crate) index_fast_path: Option<bool>,
    /// How long a signed timestamp (`/index/.wharf/timestamp`) is valid (`1d`, `12h`); the
    /// server signs a new one after half of it, or sooner when the log grows [default: 1d].
    #[arg(long, env = "WHARF_TIMESTAMP_EXPIRY", value_name = "DURATION", value_parser = parse_expiry)]
    #[serde(default, deserialize_with = "expiry_from_text")]
    pub(crate) timestamp_expiry: Option<std::time::Duration>,
    /// A registry (index URL as cargo writes it in publish metadata) that published crates may
    /// take dependencies from, besides this registry itself. Repeatable; the variable takes a
    /// comma-separated list, and an empty value allows this registry alone
    /// [default: crates.io, `https://github.com/rust-lang/crates.io-index` and
    /// `sparse+https://index.crates.io/`].
    #[arg(
        long = "allowed-dependency-registry",
        env = "WHARF_ALLOWED_DEPENDENCY_REGISTRIES",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub(crate) allowed_dependency_registries: Option<Vec<String>>,
    /// Publishes per minute one user may keep up; faster ones get 429 until the rate allows
    /// another.
    #[arg(long, env = "WHARF_PUBLISH_RATE_PER_MINUTE", value_name = "N", help_heading = RATE_LIMITS)]
    pub(crate) publish_rate_per_minute: Option<NonZeroU32>,
    /// Publishes one user may send at once before the per-minute rate applies
    /// [default: the per-minute rate].
    #[arg(long, env = "WHARF_PUBLISH_BURST", value_name = "N", help_heading = RATE_LIMITS)]
    pub(crate) publish_burst: Option<NonZeroU32>,
    /// New crates one user may create in any 24 hours (new versions are not counted).
    #[arg(long, env = "WHARF_NEW_CRATES_PER_DAY", value_name = "N", help_heading = RATE_LIMITS)]
    pub(crate) new_crates_per_day: Option<NonZeroU32>,
    /// Versions one user may publish in any 24 hours, new crates included.
    #[arg(long, env = "WHARF_PUBLISHES_PER_DAY", value_name = "N", help_heading = RATE_LIMITS)]
    pub(crate) publishes_per_day: Option<NonZeroU32>,
    /// Versions one crate may get in any 24 hours, from all its owners together.
    #[arg(long, env = "WHARF_VERSIONS_PER_CRATE_PER_DAY", value_name = "N", help_heading = RATE_LIMITS)]
    pub(crate) versions_per_crate_per_day: Option<NonZeroU32>,
    /// PEM certificate chain to serve HTTPS with: the server's certificate first, then any
    /// intermediate ones. Needs --tls-key. Reloaded on SIGHUP.
    #[arg(long, env = "WHARF_TLS_CERT", value_name = "FILE", help_heading = HTTPS)]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert certificate (unencrypted). Reloaded on SIGHUP.
    #[arg(long, env = "WHARF_TLS_KEY", value_name = "FILE", help_heading = HTTPS)]
    pub(crate) tls_key: Option<PathBuf>,
    /// Time a client gets to send a complete request head, from connecting (or from the first
    /// byte of a later request on the connection); then the connection is closed [default: 10s].
    #[arg(long, env = "WHARF_HEADER_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, help_heading = CONNECTIONS)]
    #[serde(default, deserialize_with = "duration_key")]
    pub(crate) header_timeout: Option<Duration>,
    /// Time an upload may send nothing before it is answered with 408 and its connection
    /// closed; also the window `--min-upload-rate` is averaged over [default: 60s].
    #[arg(long, env = "WHARF_BODY_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, help_heading = CONNECTIONS)]
    #[serde(default, deserialize_with = "duration_key")]
    pub(crate) body_timeout: Option<Duration>,
    /// Bytes per second an upload must average over each body-timeout window; 0 accepts any
    /// upload that keeps moving [default: 0].
    #[arg(long, env = "WHARF_MIN_UPLOAD_RATE", value_name = "BYTES_PER_SECOND", help_heading = CONNECTIONS)]
    pub(crate) min_upload_rate: Option<u64>,
    /// Time a connection with no request in flight is kept open [default: 75s].
    #[arg(long, env = "WHARF_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, help_heading = CONNECTIONS)]
    #[serde(default, deserialize_with = "duration_key")]
    pub(crate) idle_timeout: Option<Duration>,
    /// Connections open at once, all workers together; further ones wait in the listen backlog
    /// until one closes [default: 3/4 of the open-file limit, raised to the hard limit at start, at most 16384].
    #[arg(long, env = "WHARF_MAX_CONNECTIONS", value_name = "N", help_heading = CONNECTIONS)]
    pub(crate) max_connections: Option<NonZeroUsize>,
    /// Keep the index also as a git repository (`<data>/git/index.git`), served to cargo at
    /// `/git/index` and rebuilt by `wharf admin reconcile` [default: false].
    #[arg(
        long,
        env = "WHARF_GIT_INDEX",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        help_heading = GIT
    )]
    pub(crate) git_index: Option<bool>,
    /// Push the git index (every branch, forced) to this remote after each commit; repeat
    /// for several. Failures are logged and retried.
    #[arg(
        long = "git-push",
        env = "WHARF_GIT_PUSH",
        value_name = "URL",
        value_delimiter = ',',
        help_heading = GIT
    )]
    pub(crate) git_push: Option<Vec<String>>,
    /// Keep `.crate` blobs in an S3 bucket, `s3://BUCKET/PREFIX`, reached with the `AWS_*`
    /// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`); the database and index files stay in the
    /// data directory [default: the data directory's `blobs/`].
    #[arg(long, env = "WHARF_STORAGE", value_name = "URL", help_heading = STORAGE)]
    pub(crate) storage: Option<String>,
    /// Answer downloads with a redirect (302) to a presigned URL of the bucket, valid for
    /// 5 minutes, instead of sending the bytes through the server; needs an S3 --storage
    /// [default: false].
    #[arg(
        long,
        env = "WHARF_S3_PRESIGNED_DOWNLOADS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        help_heading = STORAGE
    )]
    pub(crate) s3_presigned_downloads: Option<bool>,
    /// Plans file naming each plan's limits (docs/plans.md); the registry's plan is chosen
    /// with `wharf admin plan set` [default: none, so no plan limits anything].
    #[arg(long, env = "WHARF_PLANS", value_name = "FILE")]
    pub(crate) plans: Option<PathBuf>,
}

/// Which HTTP path answers index file GETs of public registries on plain HTTP
/// (`index-fast-path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexPath {
    /// Wharf's narrow HTTP/1.1 path (the default).
    Fast,
    /// The general HTTP stack, like every other request.
    General,
}

/// The settings `wharf serve` runs with, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServeSettings {
    /// Data directory.
    pub(crate) data: PathBuf,
    /// Where the metadata lives.
    pub(crate) database: MetadataDatabase,
    /// Listen address.
    pub(crate) listen: SocketAddr,
    /// Public URL, when given (else `http://` and the bound address).
    pub(crate) public_url: Option<String>,
    /// Require a token for everything.
    pub(crate) auth_required: bool,
    /// Refuse unsigned releases.
    pub(crate) require_signatures: bool,
    /// Largest `.crate`, when given (else the server's default).
    pub(crate) max_crate_bytes: Option<u64>,
    /// HTTP workers, when given (else one per core).
    pub(crate) workers: Option<NonZeroUsize>,
    /// Requests between two offers of a worker's core.
    pub(crate) yield_every: u32,
    /// Which HTTP path answers index file GETs.
    pub(crate) index_path: IndexPath,
    /// How long a signed timestamp is valid.
    pub(crate) timestamp_expiry: std::time::Duration,
    /// Registries besides this one that dependencies may come from.
    pub(crate) allowed_dependency_registries: Vec<String>,
    /// Publish rate limits.
    pub(crate) rate_limits: PublishRateLimits,
    /// The certificate chain and key files for HTTPS, when both are given.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// Connection timeouts and the cap on open connections.
    pub(crate) connection_limits: ConnectionLimits,
    pub(crate) git_index: bool,
    pub(crate) git_push: Vec<String>,
    /// The bucket for blobs, when given (else the recorded one or the local disk).
    pub(crate) storage: Option<S3Location>,
    /// How long presigned download URLs are valid, when downloads are redirected.
    pub(crate) presigned_downloads: Option<Duration>,
    /// The plans file, when given.
    pub(crate) plans: Option<PathBuf>,
}

/// How long a presigned download URL is valid: long enough for a slow client to start,
/// short enough that a leaked URL is soon useless.
pub(crate) const PRESIGNED_DOWNLOAD_EXPIRY: Duration = Duration::from_mins(5);

impl SettingKeys {
    /// Reads and parses a config file; any error is one line naming the file, the line and
    /// the key's problem (an unknown key lists the known ones).
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file `{}`", path.display()))?;
        toml::from_str(&text).map_err(|error| {
            let place = error.span().map_or_else(String::new, |span| {
                let line = text[..span.start].matches('\n').count() + 1;
                let shown = text.lines().nth(line - 1).unwrap_or_default().trim();
                format!(" line {line} (`{shown}`)")
            });
            anyhow::anyhow!(
                "config file `{}`{place}: {}; fix the file or leave the key out",
                path.display(),
                error.message().trim().replace('\n', " ")
            )
        })
    }

    /// These keys, each falling back to the same key of `lower` when not given here.
    pub(crate) fn over(self, lower: Self) -> Self {
        // Destructured without `..`, so a new key cannot be forgotten here.
        let Self {
            data,
            database,
            listen,
            public_url,
            auth_required,
            require_signatures,
            max_crate_bytes,
            workers,
            yield_every,
            index_fast_path,
            timestamp_expiry,
            allowed_dependency_registries,
            publish_rate_per_minute,
            publish_burst,
            new_crates_per_day,
            publishes_per_day,
            versions_per_crate_per_day,
            tls_cert,
            tls_key,
            header_timeout,
            body_timeout,
            min_upload_rate,
            idle_timeout,
            max_connections,
            git_index,
            git_push,
            storage,
            s3_presigned_downloads,
            plans,
        } = self;
        Self {
            data: data.or(lower.data),
            database: database.or(lower.database),
            listen: listen.or(lower.listen),
            public_url: public_url.or(lower.public_url),
            auth_required: auth_required.or(lower.auth_required),
            require_signatures: require_signatures.or(lower.require_signatures),
            max_crate_bytes: max_crate_bytes.or(lower.max_crate_bytes),
            workers: workers.or(lower.workers),
            yield_every: yield_every.or(lower.yield_every),
            index_fast_path: index_fast_path.or(lower.index_fast_path),
            timestamp_expiry: timestamp_expiry.or(lower.timestamp_expiry),
            allowed_dependency_registries: allowed_dependency_registries
                .or(lower.allowed_dependency_registries),
            publish_rate_per_minute: publish_rate_per_minute.or(lower.publish_rate_per_minute),
            publish_burst: publish_burst.or(lower.publish_burst),
            new_crates_per_day: new_crates_per_day.or(lower.new_crates_per_day),
            publishes_per_day: publishes_per_day.or(lower.publishes_per_day),
            versions_per_crate_per_day: versions_per_crate_per_day
                .or(lower.versions_per_crate_per_day),
            tls_cert: tls_cert.or(lower.tls_cert),
            tls_key: tls_key.or(lower.tls_key),
            header_timeout: header_timeout.or(lower.header_timeout),
            body_timeout: body_timeout.or(lower.body_timeout),
            min_upload_rate: min_upload_rate.or(lower.min_upload_rate),
            idle_timeout: idle_timeout.or(lower.idle_timeout),
            max_connections: max_connections.or(lower.max_connections),
            git_index: git_index.or(lower.git_index),
            git_push: git_push.or(lower.git_push),
            storage: storage.or(lower.storage),
            s3_presigned_downloads: s3_presigned_downloads.or(lower.s3_presigned_downloads),
            plans: plans.or(lower.plans),
        }
    }

    /// The settings to run with: defaults for keys not given, and checks across keys.
    pub(crate) fn resolve(self) -> anyhow::Result<ServeSettings> {
        let rate_limits = PublishRateLimits {
            publish_rate_per_minute: self.publish_rate_per_minute,
            publish_burst: self.publish_burst,
            new_crates_per_day: self.new_crates_per_day,
            publishes_per_day: self.publishes_per_day,
            versions_per_crate_per_day: self.versions_per_crate_per_day,
        };
        if rate_limits.publish_burst.is_some() && rate_limits.publish_rate_per_minute.is_none() {
            anyhow::bail!(
                "`publish-burst` is set without `publish-rate-per-minute`; set the rate too (the burst is the size of the bucket that rate refills)"
            );
        }
        let tls = match (self.tls_cert, self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(_), None) => anyhow::bail!(
                "`tls-cert` is set without `tls-key`; give the certificate's private key too (--tls-key, WHARF_TLS_KEY or the config key `tls-key`), or neither for plain HTTP"
            ),
            (None, Some(_)) => anyhow::bail!(
                "`tls-key` is set without `tls-cert`; give the certificate chain too (--tls-cert, WHARF_TLS_CERT or the config key `tls-cert`), or neither for plain HTTP"
            ),
        };
        let connection_limits = GivenConnectionKeys {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            min_upload_rate: self.min_upload_rate,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
        .limits();
        let git_index = self.git_index.unwrap_or(false);
        let git_push: Vec<String> = self
            .git_push
            .unwrap_or_default()
            .into_iter()
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .collect();
        if !git_push.is_empty() && !git_index {
            anyhow::bail!(
                "`git-push` is set without `git-index = true`; turn the git export on (--git-index, WHARF_GIT_INDEX or the config key `git-index`) or leave `git-push` out"
            );
        }
        let storage = self
            .storage
            .as_deref()
            .map(crate::blob_storage::parse_storage)
            .transpose()?;
        let presigned_downloads = self
            .s3_presigned_downloads
            .unwrap_or(false)
            .then_some(PRESIGNED_DOWNLOAD_EXPIRY);
        let allowed_dependency_registries = match self.allowed_dependency_registries {
            Some(urls) => checked_registry_urls(urls)?,
            None => wharf_index_format::default_dependency_registries(),
        };
        let database = self
            .database
            .as_ref()
            .map(|url| MetadataDatabase::parse(url.as_given()))
            .transpose()
            .map_err(|error| anyhow::anyhow!("`database`: {error}"))?
            .unwrap_or_default();
        Ok(ServeSettings {
            data: self.data.unwrap_or_else(default_data_dir),
            database,
            listen: self.listen.map_or_else(
                || {
                    DEFAULT_LISTEN
                        .parse()
                        .expect("the default listen address parses")
                },
                |listen| listen.0,
            ),
            public_url: self.public_url,
            auth_required: self.auth_required.unwrap_or(false),
            require_signatures: self.require_signatures.unwrap_or(false),
            max_crate_bytes: self.max_crate_bytes,
            workers: self.workers,
            yield_every: self.yield_every.unwrap_or(DEFAULT_YIELD_EVERY),
            index_path: if self.index_fast_path.unwrap_or(true) {
                IndexPath::Fast
            } else {
                IndexPath::General
            },
            timestamp_expiry: self
                .timestamp_expiry
                .unwrap_or(wharf_registry_server::DEFAULT_TIMESTAMP_EXPIRY),
            allowed_dependency_registries,
            rate_limits,
            tls,
            connection_limits,
            git_index,
            git_push,
            storage,
            presigned_downloads,
            plans: self.plans,
        })
    }
}

/// A timestamp validity as humantime reads it: at least a minute, so a client has time to
/// use it.
fn parse_expiry(text: &str) -> Result<std::time::Duration, String> {
    let expiry = humantime::parse_duration(text.trim()).map_err(|error| {
        format!("`{text}` is not a duration ({error}); write it like `1d`, `12h` or `90m`")
    })?;
    if expiry < std::time::Duration::from_mins(1) {
        return Err(format!(
            "`{text}` is shorter than a minute; clients need time to use a timestamp, give `1m` or more"
        ));
    }
    Ok(expiry)
}

/// `timestamp-expiry` in the config file, written as for the flag.
fn expiry_from_text<'de, D>(deserializer: D) -> Result<Option<std::time::Duration>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse_expiry(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// The operator's registry URLs without blanks (an empty value means "none"); anything that
/// is not a URL is refused, naming it.
fn checked_registry_urls(urls: Vec<String>) -> anyhow::Result<Vec<String>> {
    let urls: Vec<String> = urls
        .into_iter()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    if let Some(bad) = urls
        .iter()
        .find(|url| !url.contains("://") || url.chars().any(char::is_whitespace))
    {
        anyhow::bail!(
            "`{bad}` in `allowed-dependency-registries` is not an index URL; write it as cargo does, e.g. `sparse+https://registry.example/index/` or `https://github.com/rust-lang/crates.io-index`"
        );
    }
    Ok(urls)
}

/// The data directory used when none is given.
pub(crate) fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
