//! The one error type of `wharf-test-support`.

/// What can fail while building test data. Builders used only by tests panic instead; this
/// is for the load tools, which report the package they were building.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupportError {
    /// The `tar` crate refused an entry (a path it cannot encode, for example).
    #[error("cannot add `{path}` to the tarball: {source}; use a shorter path of plain ASCII")]
    Tarball {
        /// The entry's path inside the tarball.
        path: String,
        /// The `tar` crate's error.
        #[source]
        source: std::io::Error,
    },
    /// A signed publish could not be built (metadata without a name, a value a statement
    /// cannot hold).
    #[error("cannot sign the publish: {0}")]
    Signing(String),
}
