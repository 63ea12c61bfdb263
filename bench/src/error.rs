//! The one error type of the load tools.

use std::path::PathBuf;

/// What can go wrong while preparing or sending benchmark traffic.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A request could not be sent or its answer could not be read.
    #[error("request to `{url}` failed: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an unexpected status.
    #[error("`{url}` answered {status}, expected 200")]
    Status {
        /// The URL requested.
        url: String,
        /// The status received.
        status: u16,
    },
    /// An index file came without an `ETag`.
    #[error("`{url}` sent no usable `ETag` header")]
    MissingEtag {
        /// The URL requested.
        url: String,
    },
    /// Reading or writing a local file failed.
    #[error("I/O on `{path}` failed: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The ecosystem generator produced something it cannot write.
    #[error("cannot generate the ecosystem: {reason}")]
    Generate {
        /// What went wrong.
        reason: String,
    },
    /// Building a `.crate` tarball in memory failed.
    #[error("building the tarball of `{package}` failed: {source}")]
    Tarball {
        /// `name-version` of the package.
        package: String,
        /// The builder's error, naming the entry.
        #[source]
        source: wharf_test_support::SupportError,
    },
    /// A generated manifest could not be written as TOML.
    #[error("writing the manifest of `{package}` failed: {source}")]
    Manifest {
        /// `name-version` of the package.
        package: String,
        /// The serialiser's error.
        #[source]
        source: toml::ser::Error,
    },
    /// The publish body could not be framed (a part too long for its `u32` length field).
    #[error("framing the publish body of `{package}` failed: {source}")]
    Frame {
        /// `name-version` of the package.
        package: String,
        /// The encoder's error, naming the part and its length.
        #[source]
        source: wharf_index_format::FormatError,
    },
    /// A file of an ecosystem directory is not a publish body.
    #[error("`{path}` is not a publish body: {reason}", path = path.display())]
    Ecosystem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client failed: {0}")]
    Client(#[source] reqwest::Error),
    /// A signed publish could not be prepared (a key registration the registry refused to
    /// describe, a statement that cannot be built).
    #[error("signing: {0}")]
    Signing(String),
    /// A worker task died.
    #[error("a load worker stopped unexpectedly: {0}")]
    Worker(#[from] tokio::task::JoinError),
}
