//! Wharf's HTTP client for registries: a sparse index as a source for the resolver.
//!
//! - [`SparseIndex`]: implements [`wharf_resolver::IndexSource`] over
//!   `sparse+http://host/…/index/`, as cargo reads it (`config.json` first, 404/410/451 mean
//!   "no such package", `Authorization: <token>` when a token is given), with every answer
//!   cached in memory and the dependencies of each file fetched ahead in parallel.
//! - [`IndexUrl`]: the index URL, checked and normalised. `https` URLs are refused for now:
//!   the workspace builds reqwest without a TLS backend.
//! - [`ClientError`]: the one error type; [`ClientError::for_package`] turns it into the
//!   resolver's [`wharf_resolver::ResolveError::Index`].
//!
//! ```no_run
//! use std::path::Path;
//! use wharf_client::SparseIndex;
//! use wharf_resolver::{ResolveOptions, RootManifest, resolve};
//!
//! let index = SparseIndex::new("sparse+http://127.0.0.1:8080/index/", None)?;
//! let root = RootManifest::from_path(Path::new("Cargo.toml"))?;
//! index.prefetch(root.dependencies.iter().map(|dep| dep.package_name()));
//! let resolution = resolve(&index, &root, &ResolveOptions::default())?;
//! println!("{}", resolution.to_json());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod fetcher;
mod index_files;
mod index_url;
mod sparse_index;

pub use error::ClientError;
pub use index_url::IndexUrl;
pub use sparse_index::SparseIndex;
