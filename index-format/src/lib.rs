//! Wharf's wire formats, as pure data and rules: no I/O, no async.
//!
//! - [`IndexEntry`] / [`IndexDependency`]: one line of a cargo sparse-index file, with the
//!   exact field order and null/empty rules cargo 1.95 expects (never `null` where cargo wants
//!   `[]`/`{}`, `v` never above 2, [`Pubtime`] exactly `YYYY-MM-DDTHH:MM:SSZ`).
//! - [`RegistryConfig`]: the `config.json` at the index root.
//! - [`PackageName`]: a validated package name and its canonical form (lowercase, `-` == `_`).
//! - [`index_path`]: where a package's file lives in the index tree.
//!
//! ```
//! use wharf_index_format::{IndexEntry, index_path};
//! let line = r#"{"name":"Demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false,"links":null}"#;
//! let entry = IndexEntry::from_line(line).unwrap();
//! assert_eq!(entry.to_line(), line);
//! assert_eq!(index_path("Demo"), "de/mo/demo");
//! ```

mod config;
mod entry;
mod error;
mod name;
mod path;
mod publish_stub;
mod pubtime;
pub use publish_stub::*;

pub use config::RegistryConfig;
pub use entry::{DependencyKind, FeatureMap, INDEX_V_MAX, IndexDependency, IndexEntry, IndexFile};
pub use error::FormatError;
pub use name::{PackageName, canonical_name};
pub use path::{index_path, prefix_path};
pub use pubtime::Pubtime;
