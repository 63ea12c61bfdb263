//! Wharf's HTTP service: cargo's sparse index, downloads and web API, plus health, readiness
//! and Prometheus metrics, on `hyper` 1.x and `tokio`.
//!
//! Handlers hold no business rules: validation of uploads lives in `wharf-index-format`,
//! ownership, scopes and the event log in `wharf-storage`. The sparse index is served from an
//! in-memory cache of precomputed bytes, gzip copies and ETags ([`IndexCache`]). Publishes
//! may be rate limited per user ([`PublishRateLimits`], all off by default): a token bucket
//! in memory and daily counts from storage, answered with 429 and `Retry-After`. With a
//! certificate and key ([`Tls`], [`Server::with_tls`]) it serves HTTPS itself, offering
//! HTTP/2 and HTTP/1.1 by ALPN.
//!
//! ```no_run
//! # async fn demo(storage: wharf_storage::Storage) -> std::io::Result<()> {
//! use std::sync::Arc;
//! use wharf_registry_server::{AppState, Server, ServerConfig, warm_cache};
//! let server = Server::bind("127.0.0.1:8080".parse().unwrap())?;
//! let url = format!("http://{}", server.local_addr()?);
//! let state = Arc::new(AppState::new(storage, ServerConfig::new(url, false)));
//! warm_cache(&state).await.expect("storage readable");
//! server.run(state, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

mod audit;
mod auth;
mod connection;
mod core_sharing;
mod daily_limits;
mod error;
mod fast_path;
mod follower;
mod handlers;
mod index_cache;
mod metrics;
mod mirror;
mod rate_limits;
mod response;
mod router;
mod server;
mod site;
mod state;
mod tenants;
mod tls;
mod web;
mod webhooks;

pub use connection::fd_limit::{OpenFileLimit, RESERVED_DESCRIPTORS, raise_open_file_limit};
pub use connection::{
    ConnectionLimits, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, default_max_connections,
};
pub use core_sharing::DEFAULT_YIELD_EVERY;
pub use error::ApiError;
pub use follower::{POLL_INTERVAL, warm_and_follow};
pub use handlers::log::{DEFAULT_TIMESTAMP_EXPIRY, spawn_timestamp_refresh};
pub use handlers::signatures::{
    KEY_SIGNATURE_HEADER, KEY_STATEMENT_HEADER, RELEASE_STATEMENT_HEADER, SIGNATURE_HEADER,
};
pub use index_cache::{CachedIndexFile, IndexCache};
pub use metrics::{Metrics, Route};
pub use mirror::{
    MIRROR_ENTITLEMENTS, MIRROR_RECORD, MirrorEntitlements, MirrorRecord, MirrorState,
};
pub use rate_limits::PublishRateLimits;
pub use response::{Body, Resp};
pub use router::handle;
pub use server::{Server, warm_cache};
pub use state::{AppState, ServerConfig};
pub use tenants::{TENANT_PREFIX, Tenants};
pub use tls::{Tls, TlsError};
pub use webhooks::spawn_webhook_deliveries;
