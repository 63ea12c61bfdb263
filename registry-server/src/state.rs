//! What every request handler can reach.

use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use wharf_index_format::{PublishLimits, RegistryConfig};
use wharf_storage::Storage;

use crate::connection::ConnectionLimits;
use crate::index_cache::IndexCache;
use crate::metrics::Metrics;
use crate::rate_limits::{PublishLimiter, PublishRateLimits};

/// How the server presents itself.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL clients reach this server at, without a trailing slash
    /// (goes into `config.json` as `api` and into `dl`).
    pub public_url: String,
    /// Whether every request needs a token (`auth-required` in `config.json`).
    pub auth_required: bool,
    /// Upload limits for the publish path.
    pub limits: PublishLimits,
    /// How often one user may publish (all off by default).
    pub rate_limits: PublishRateLimits,
    /// Timeouts and the cap on open connections.
    pub connections: ConnectionLimits,
    /// How long a signed timestamp is valid (one day by default); the server signs a new
    /// one after half of it, or sooner when the log grows.
    pub timestamp_expiry: std::time::Duration,
    /// Refuse unsigned releases (`require-signatures`, off by default): every publish must
    /// carry a release statement signed by a publisher key (`wharf publish --key`).
    pub require_signatures: bool,
    /// The directory holding the git export's bare repository `index.git`, served at
    /// `/git/index` (`None`: no git export; those requests are 404).
    pub git_index: Option<std::path::PathBuf>,
    /// Answer downloads with a 302 to a presigned URL of the blob store, valid this long
    /// (`None`, the default: stream the bytes through the server). Only blob stores that
    /// sign URLs (S3) can do this.
    pub presigned_downloads: Option<std::time::Duration>,
}

impl ServerConfig {
    /// A configuration for `public_url` with default limits.
    pub fn new(public_url: impl Into<String>, auth_required: bool) -> Self {
        Self {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            auth_required,
            limits: PublishLimits::default(),
            rate_limits: PublishRateLimits::default(),
            connections: ConnectionLimits::default(),
            timestamp_expiry: crate::handlers::log::DEFAULT_TIMESTAMP_EXPIRY,
            require_signatures: false,
            git_index: None,
            presigned_downloads: None,
        }
    }

    /// Where cargo sends people to get a token.
    pub fn login_url(&self) -> String {
        format!("{}/me", self.public_url)
    }
}

/// Shared state of the running server.
#[derive(Debug)]
pub struct AppState {
    /// Packages, blobs, users and the log.
    pub storage: Storage,
    /// Presentation settings.
    pub config: ServerConfig,
    /// Index files ready to serve.
    pub cache: IndexCache,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The bytes of `config.json`.
    pub config_json: Bytes,
    /// Set once the cache is warm; `/ready` answers 200 from then on.
    pub ready: AtomicBool,
    /// The per-user publish token buckets, shared by every worker thread.
    pub(crate) publish_limiter: PublishLimiter,
    /// The signed timestamp served at `/index/.wharf/timestamp`.
    pub(crate) timestamp: crate::handlers::log::TimestampCache,
    /// Downloads not yet written, host-compatibility answers, the review rate limit.
    pub(crate) catalogue: crate::handlers::catalogue_state::CatalogueState,
    /// The lifecycle feed signed last (served until the next lifecycle change).
    pub(crate) lifecycle_feed: crate::handlers::lifecycle_feed::FeedCache,
    /// How far this node's index files are behind the event log (PostgreSQL).
    pub(crate) follower_lag: crate::follower::FollowerLag,
}

impl AppState {
    /// State over an opened storage; the cache starts empty (see [`crate::warm_cache`]).
    pub fn new(storage: Storage, config: ServerConfig) -> Self {
        let config_json = Bytes::from(
            RegistryConfig::for_public_url(&config.public_url, config.auth_required).to_json(),
        );
        let publish_limiter = PublishLimiter::new(config.rate_limits.clone());
        Self {
            storage,
            config,
            cache: IndexCache::default(),
            metrics: Metrics::default(),
            config_json,
            ready: AtomicBool::new(false),
            publish_limiter,
            timestamp: crate::handlers::log::TimestampCache::default(),
            catalogue: crate::handlers::catalogue_state::CatalogueState::default(),
            lifecycle_feed: crate::handlers::lifecycle_feed::FeedCache::default(),
            follower_lag: crate::follower::FollowerLag::default(),
        }
    }
}
