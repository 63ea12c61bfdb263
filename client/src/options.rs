//! [`ClientOptions`]: how a [`crate::SparseIndex`] talks to its registry.

use std::path::PathBuf;

/// Settings of a [`crate::SparseIndex`] beyond its URL and token.
///
/// ```
/// use wharf_client::ClientOptions;
///
/// let options = ClientOptions {
///     ca_certs: vec!["registry-ca.pem".into()],
///     ..ClientOptions::default()
/// };
/// assert_eq!(options.prefetch_threads, ClientOptions::DEFAULT_PREFETCH_THREADS);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// PEM files of CA certificates trusted for `https` on top of the platform's roots, as
    /// cargo's `http.cainfo` (e.g. a registry behind a private certificate authority).
    pub ca_certs: Vec<PathBuf>,
    /// How many index files are fetched ahead at once; `0` turns prefetch off, so every file
    /// is fetched only when asked for.
    pub prefetch_threads: usize,
}

impl ClientOptions {
    /// How many files are fetched ahead at once by default.
    pub const DEFAULT_PREFETCH_THREADS: usize = 8;
}

impl Default for ClientOptions {
    /// The platform's roots only, [`ClientOptions::DEFAULT_PREFETCH_THREADS`] prefetch workers.
    fn default() -> Self {
        Self {
            ca_certs: Vec::new(),
            prefetch_threads: Self::DEFAULT_PREFETCH_THREADS,
        }
    }
}
