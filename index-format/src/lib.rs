//! Wharf's wire formats, as pure data and rules: no I/O, no async.
//!
//! - [`IndexEntry`] / [`IndexDependency`]: one line of a cargo sparse-index file, with the
//!   exact field order and null/empty rules cargo 1.95 expects (never `null` where cargo wants
//!   `[]`/`{}`, `v` never above 2, [`Pubtime`] exactly `YYYY-MM-DDTHH:MM:SSZ`).
//! - [`RegistryConfig`]: the `config.json` at the index root.
//! - [`PackageName`]: a validated package name and its canonical form (lowercase, `-` == `_`).
//! - [`index_path`]: where a package's file lives in the index tree.
//! - The publish path: [`prepare_publish`] takes the raw `PUT /api/v1/crates/new` body and
//!   returns the index line, the `.crate` bytes and the descriptive metadata, after
//!   [`parse_publish_frame`], [`NewCrate::from_json`], [`NewCrate::to_index_entry`] and
//!   [`validate_tarball`] (with [`parse_crate_manifest`]) have checked everything within
//!   [`PublishLimits`], including the registries dependencies may come from
//!   ([`PublishLimits::with_dependency_registries`]).
//! - Plugins: a package whose root holds `plugin.toml` (a [`PluginManifest`]) instead of
//!   `Cargo.toml` goes through the same publish path; [`PluginManifest::check`] applies the
//!   format's rules and [`prepare_publish`] checks the metadata agrees with the manifest.
//! - [`IndexEntry::builder`] / [`IndexDependency::new`]: entries and dependencies built in
//!   code (for in-memory indexes and tools), with crates.io's `features2` split applied.
//! - Cargo features: `upload` (on by default) brings the publish path above and its
//!   dependencies (tar, flate2, sha2, spdx, toml, ...); with `default-features = false` the
//!   crate is only the index-line types, names and paths, which is all a resolver needs.
//! - [`FormatError`]: the one error type; [`FormatError::code`] gives its stable code and
//!   [`FormatError::kind`] its transport-neutral [`ErrorKind`] (this crate knows no HTTP).
//!
//! ```
//! use wharf_index_format::{IndexEntry, index_path};
//! let line = r#"{"name":"Demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false,"links":null}"#;
//! let entry = IndexEntry::from_line(line).unwrap();
//! assert_eq!(entry.to_line(), line);
//! assert_eq!(index_path("Demo"), "de/mo/demo");
//! ```

mod builder;
mod config;
mod dependency_registries;
mod entry;
mod error;
#[cfg(feature = "upload")]
mod limits;
#[cfg(feature = "upload")]
mod manifest;
mod name;
mod path;
#[cfg(feature = "upload")]
mod plugin;
#[cfg(feature = "upload")]
mod publish;
mod pubtime;
#[cfg(feature = "upload")]
mod tarball;

pub use builder::IndexEntryBuilder;
pub use config::{RegistryConfig, download_url};
pub use dependency_registries::{
    CRATES_IO_GIT_INDEX, CRATES_IO_SPARSE_INDEX, default_dependency_registries, own_index_url,
    same_index_url,
};
pub use entry::{DependencyKind, FeatureMap, INDEX_V_MAX, IndexDependency, IndexEntry, IndexFile};
pub use error::{ErrorKind, FormatError};
#[cfg(feature = "upload")]
pub use limits::PublishLimits;
#[cfg(feature = "upload")]
pub use manifest::{CrateManifest, parse_crate_manifest};
pub use name::{PackageName, canonical_name};
pub use path::{index_path, prefix_path};
#[cfg(feature = "upload")]
pub use plugin::{
    Capabilities, HOST_API_PACKAGE, MAX_PARAMETER_CHOICES, MAX_PARAMETER_TEXT,
    MAX_RENDERED_FILE_BYTES, MAX_TEMPLATE_PARAMETERS, PACK_MTIME, PLUGIN_MANIFEST_FILE, PackFile,
    ParameterType, ParameterValue, PluginDependency, PluginInfo, PluginKind, PluginManifest,
    PluginSection, RenderedFile, StorageAccess, TemplateInfo, TemplateParameter, TemplateSpec,
    TemplateValues, pack_plugin,
};
#[cfg(feature = "upload")]
pub use publish::{
    MAX_VERSION_LEN, NewCrate, NewCrateDependency, PackageMetadata, PreparedPublish, PublishFrame,
    check_version_length, encode_publish_frame, parse_publish_frame, prepare_publish,
    release_index_line, validate_version,
};
pub use pubtime::Pubtime;
#[cfg(feature = "upload")]
pub use tarball::{
    TarballEntry, TarballEntryKind, ValidatedPackage, ValidatedPluginTarball, ValidatedTarball,
    validate_package_tarball, validate_tarball,
};
