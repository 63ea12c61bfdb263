//! Wharf's HTTP client for registries: a sparse index as a source for the resolver.
//!
//! - [`SparseIndex`]: implements [`wharf_resolver::IndexSource`] over
//!   `sparse+https://host/…/index/` (or `http`), as cargo reads it (`config.json` first,
//!   404/410/451 mean "no such package", `Authorization: <token>` when a token is given), with
//!   every answer cached in memory and the dependencies of each file fetched ahead in parallel.
//! - [`ClientOptions`]: extra CA certificates trusted for `https` (as cargo's `http.cainfo`),
//!   the number of prefetch workers, retries, and an optional on-disk cache (`cache_dir`)
//!   whose files are revalidated with `If-None-Match` / `If-Modified-Since` (a 304 serves the
//!   cached copy, counted by [`SparseIndex::revalidated`]; entries unused for
//!   `cache_max_age`, three months by default, are deleted), for [`SparseIndex::with_options`].
//!   Against a registry that serves snapshot bins (`/index/.wharf/bins`), a cached file whose
//!   hash its bin lists is used without any request ([`SparseIndex::unchanged_by_snapshot`]),
//!   so an unchanged index costs one request for the bin list.
//! - [`verify`]: [`verify::Verifier`] checks a registry from a pinned root key down to each
//!   index line (keyset chain, timestamp, checkpoint consistency, snapshot, log leaves,
//!   signatures) and fails closed.
//! - [`upload_publish_body`]: sends a publish frame to a registry's `PUT /api/v1/crates/new`.
//! - [`AsyncSparseIndex`]: the same index read with an async client on a tokio runtime, a
//!   [`wharf_resolver::AsyncIndexSource`] for [`wharf_resolver::run_with_async_source`]
//!   (the resolver runs on its own thread; dependencies are fetched ahead).
//! - [`IndexUrl`]: the index URL, checked and normalised (`http` or `https`).
//! - [`ClientError`]: the one error type; [`ClientError::for_package`] turns it into the
//!   resolver's [`wharf_resolver::ResolveError::Index`].
//!
//! `https` uses rustls with the `ring` provider; server certificates are checked against the
//! platform's roots plus the extra CA certificates given. A rejected certificate is a
//! [`ClientError::Certificate`] naming the URL.
//!
//! ```no_run
//! use std::path::Path;
//! use wharf_client::SparseIndex;
//! use wharf_resolver::{ResolveOptions, RootManifest, resolve};
//!
//! let index = SparseIndex::new("sparse+https://registry.example/index/", None)?;
//! let root = RootManifest::from_path(Path::new("Cargo.toml"))?;
//! index.prefetch(root.dependencies.iter().map(|dep| dep.package_name()));
//! let resolution = resolve(&index, &root, &ResolveOptions::default())?;
//! println!("{}", resolution.to_json());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod async_index;
mod cache_gc;
mod cache_legacy;
mod cache_pack;
mod connections;
mod disk_cache;
mod error;
mod fetcher;
mod index_files;
mod index_url;
pub mod install;
mod options;
mod publish;
mod snapshot_bins;
mod sparse_index;
mod tls;
pub mod verify;

pub use async_index::AsyncSparseIndex;
pub use error::ClientError;
pub use index_url::IndexUrl;
pub use options::ClientOptions;
pub use publish::upload_publish_body;
pub use sparse_index::SparseIndex;
pub use tls::client_config as tls_client_config;
