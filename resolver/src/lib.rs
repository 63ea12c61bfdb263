//! Wharf's resolver: cargo's version selection on top of PubGrub.
//!
//! - [`IndexSource`] ([`LocalIndex`], [`MemoryIndex`]): where index lines come from, parsed
//!   lazily per package.
//! - [`RootManifest`]: the `Cargo.toml` being resolved; [`Workspace`] (with
//!   [`resolve_workspace`] or [`Resolver::resolve_workspace`]): a workspace's members and
//!   path dependencies read from disk and resolved together, as cargo locks a workspace.
//! - [`resolve`] with [`ResolveOptions`]: cargo mode (what `cargo generate-lockfile` selects:
//!   one version per semver-compatible bucket, features and optional dependencies, yanked
//!   and pre-release rules, `links`, `rust-version` as a preference) or plugin mode (a
//!   [`HostPin`] on the host API package).
//! - [`Resolution`]: the selected packages, as JSON, Cargo.lock v4 or `wharf.lock`.
//! - [`Lockfile`]: a previous lock whose versions are preferred.
//! - [`NoSolution`]: why nothing fits, as data ([`Derivation`], [`Fact`]) and as text with hints.
//! - For tools embedding the resolver: [`Requirements`] (a root built in code, explained as
//!   "the requirements you gave"), [`Resolver`] (source, host pin, rust-version, lock, deadline
//!   or [`CancelToken`]), entries built with [`IndexEntry::builder`] and
//!   [`IndexDependency::new`] (every index type is re-exported, also as [`index`]),
//!   [`LocalIndex::open`] that refuses a wrong directory, and [`ResolveError::index`] for a
//!   custom [`IndexSource`]'s errors.
//! - Lockfile tools: `Lockfile::from(&resolution)`, [`Lockfile::diff`] ([`LockDiff`]) and
//!   [`Lockfile::check`] ([`Unsatisfied`]).
//! - Feature `async` (on by default): [`AsyncIndexSource`] and [`run_with_async_source`], to
//!   resolve from an async source (an HTTP client on a runtime) without blocking its threads,
//!   fetching the dependencies of each answer ahead.
//! - Feature `serde` (on by default): `Serialize` for [`Resolution`], [`NoSolution`],
//!   [`LockDiff`] and [`Unsatisfied`].
//!
//! ```
//! use std::path::Path;
//! use wharf_resolver::{MemoryIndex, ResolveOptions, RootManifest, resolve};
//! let index = MemoryIndex::default();
//! let root = RootManifest::from_toml_str("[package]\nname = \"app\"\n", Path::new(".")).unwrap();
//! let resolution = resolve(&index, &root, &ResolveOptions::default()).unwrap();
//! assert_eq!(resolution.to_json(), r#"{"packages":[]}"#);
//! ```

#[cfg(feature = "async")]
mod async_source;
mod cancel;
mod catalog;
mod details;
mod error;
mod explain;
mod explanation;
mod hints;
mod json_scan;
mod lockdiff;
mod lockfile;
mod manifest;
mod options;
mod packages;
mod provider;
mod requirements;
mod resolve;
mod resolver;
mod source;
mod toolchain;
mod verify;
mod version_set;
mod workspace;
mod workspace_resolve;

#[cfg(feature = "async")]
pub use async_source::{AsyncIndexSource, PREFETCH_IN_FLIGHT, run_with_async_source};
pub use cancel::CancelToken;
pub use catalog::index_line_version;
pub use error::{ResolveError, SourceError};
pub use explanation::{Derivation, Fact, NoSolution, RootOrigin};
pub use lockdiff::{LockChange, LockChangeKind, LockDiff, Unsatisfied};
pub use lockfile::{LockedPackage, Lockfile};
pub use manifest::RootManifest;
pub use options::{HostPin, ResolveOptions};
pub use requirements::Requirements;
pub use resolve::{Resolution, ResolvedPackage, resolve};
pub use resolver::Resolver;
/// The index-line types of the resolver's signatures, re-exported so callers need no direct
/// `wharf-index-format` dependency.
pub use wharf_index_format::{
    DependencyKind, FeatureMap, IndexDependency, IndexEntry, IndexEntryBuilder, IndexFile, Pubtime,
};
/// The index types and helpers as one module: `use wharf_resolver::index::*`.
pub mod index {
    pub use wharf_index_format::{
        DependencyKind, FeatureMap, FormatError, INDEX_V_MAX, IndexDependency, IndexEntry,
        IndexEntryBuilder, IndexFile, PackageName, Pubtime, canonical_name, index_path,
    };
}
/// The version type of every public API (re-exported so callers need no `semver` dependency).
pub use semver::Version;
pub use source::{IndexSource, LocalIndex, MemoryIndex};
pub use toolchain::{installed_rustc, preferred_rust_version};
pub use workspace::{PathPackage, Workspace};
pub use workspace_resolve::resolve_workspace;
