//! Builders shared by Wharf's tests, benchmarks and load tools, so each wire shape is built in
//! one place:
//!
//! - [`CrateBuilder`]: a `.crate` laid out the way `cargo package` writes one
//!   ([`crate_tarball`] for the usual small library), and [`gzip`] for hand-made streams.
//! - [`raw_tar::RawTar`]: tar streams written header by header, for inputs the `tar` crate's
//!   builder refuses to write (any name bytes, any type flag, PAX records, lying sizes).
//! - [`metadata_json`] / [`dependency_json`]: the publish metadata in the exact shape cargo
//!   sends, and [`publish_body`] / [`frame`] around it (the frame itself is
//!   `wharf_index_format::encode_publish_frame`, the encoder next to the registry's parser).
//! - [`pkg`] / [`dep`] / [`DepExt`]: index entries ([`IndexEntryBuilder`]) for resolvers,
//!   caches and storage.
//! - [`garage::GarageServer`]: a throwaway Garage (a real S3 server) on loopback.
//! - [`postgres::PostgresServer`]: a throwaway PostgreSQL cluster on loopback.
//! - [`signed_publish_headers`]: the headers of a signed release, as `wharf publish` sends
//!   them.
//!
//! ```
//! use wharf_index_format::{PublishLimits, prepare_publish};
//! let prepared = prepare_publish(
//!     &wharf_test_support::publish_body("demo", "1.0.0"),
//!     &PublishLimits::default(),
//! )
//! .unwrap();
//! assert_eq!(prepared.entry.to_line(), wharf_test_support::pkg("demo", "1.0.0")
//!     .cksum(&prepared.entry.cksum)
//!     .entry()
//!     .to_line());
//! ```

mod entry;
mod error;
pub mod garage;
pub mod postgres;
mod publish;
pub mod raw_tar;
mod signed;
mod tarball;

pub use entry::{DepExt, IndexEntryBuilder, dep, pkg};
pub use error::SupportError;
pub use publish::{
    body, dependency_json, frame, metadata_json, metadata_json_with_deps, publish_body,
    publish_body_with_deps,
};
pub use signed::signed_publish_headers;
pub use tarball::{CARGO_MTIME, CrateBuilder, crate_tarball, gzip, manifest};
