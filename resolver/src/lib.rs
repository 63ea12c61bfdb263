//! Wharf's resolver: cargo's version selection on top of PubGrub.
//!
//! - [`IndexSource`] ([`LocalIndex`], [`MemoryIndex`]): where index lines come from, parsed
//!   lazily per package.
//! - [`RootManifest`]: the `Cargo.toml` being resolved.
//! - [`resolve`] with [`ResolveOptions`]: cargo mode (what `cargo generate-lockfile` selects:
//!   one version per semver-compatible bucket, features and optional dependencies, yanked
//!   and pre-release rules, `links`, `rust-version` as a preference) or plugin mode (a
//!   [`HostPin`] on the host API package).
//! - [`Resolution`]: the selected packages, as JSON, Cargo.lock v4 or `wharf.lock`.
//! - [`Lockfile`]: a previous lock whose versions are preferred.
//! - [`NoSolution`]: why nothing fits, as data ([`Derivation`], [`Fact`]) and as text with hints.
//!
//! ```
//! use std::path::Path;
//! use wharf_resolver::{MemoryIndex, ResolveOptions, RootManifest, resolve};
//! let index = MemoryIndex::default();
//! let root = RootManifest::from_toml_str("[package]\nname = \"app\"\n", Path::new(".")).unwrap();
//! let resolution = resolve(&index, &root, &ResolveOptions::default()).unwrap();
//! assert_eq!(resolution.to_json(), r#"{"packages":[]}"#);
//! ```

mod catalog;
mod details;
mod error;
mod explain;
mod explanation;
mod hints;
mod lockfile;
mod manifest;
mod options;
mod packages;
mod provider;
mod resolve;
mod source;
mod version_set;

pub use error::ResolveError;
pub use explanation::{Derivation, Fact, NoSolution};
pub use lockfile::{LockedPackage, Lockfile};
pub use manifest::RootManifest;
pub use options::{HostPin, ResolveOptions};
pub use resolve::{Resolution, ResolvedPackage, resolve};
/// The version type of every public API (re-exported so callers need no `semver` dependency).
pub use semver::Version;
pub use source::{IndexSource, LocalIndex, MemoryIndex};
