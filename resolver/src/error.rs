//! The crate's one error type.

use std::path::PathBuf;

use crate::explanation::NoSolution;

/// The error an [`crate::IndexSource`] gives when it cannot deliver a package, kept whole as
/// the `source()` of [`ResolveError::Index`].
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while reading inputs or resolving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The root manifest is not a usable `Cargo.toml`.
    #[error("invalid manifest `{path}`: {reason}")]
    InvalidManifest {
        /// The manifest (or `<memory>` when parsed from a string).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A dependency of a single manifest uses a source it cannot resolve alone (`path` or
    /// `workspace = true`: read it with [`crate::Workspace::load`]).
    #[error(
        "dependency `{name}` is not a registry dependency ({reason}); load the manifest as a `Workspace` to resolve path and `workspace = true` dependencies"
    )]
    UnsupportedDependency {
        /// The dependency's name in the manifest.
        name: String,
        /// Which unsupported key it uses.
        reason: String,
    },
    /// A dependency comes from a git repository, which the resolver does not read.
    #[error(
        "dependency `{name}` of `{package}` is a git dependency ({url}); Wharf's resolver reads registry and path dependencies only"
    )]
    GitDependency {
        /// The dependency's name in the manifest.
        name: String,
        /// The package whose manifest declares it.
        package: String,
        /// The repository URL.
        url: String,
    },
    /// The root manifest has a section that changes where packages come from (`[patch]`,
    /// `[replace]`), which the resolver does not apply: resolving without it would silently
    /// differ from cargo.
    #[error(
        "`{path}` has a `[{section}]` section, which Wharf's resolver does not apply (cargo would replace registry packages with it); remove the section to resolve against the index alone, or use cargo for this manifest"
    )]
    UnsupportedSection {
        /// The manifest.
        path: PathBuf,
        /// The section's name as written (`patch.crates-io`, `replace`).
        section: String,
    },
    /// A path dependency's directory has no usable `Cargo.toml`, or holds another version.
    #[error("dependency `{name}` of `{package}` at path `{path}`: {reason}")]
    PathDependency {
        /// The dependency's name in the manifest.
        name: String,
        /// The package whose manifest declares it.
        package: String,
        /// The directory the dependency points to.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A version requirement does not parse.
    #[error("invalid version requirement `{requirement}` for `{package}`: {reason}")]
    InvalidRequirement {
        /// The package whose requirement it is.
        package: String,
        /// The requirement text.
        requirement: String,
        /// The parser's message.
        reason: String,
    },
    /// A lockfile does not parse.
    #[error("invalid lockfile: {reason}")]
    InvalidLockfile {
        /// What is wrong.
        reason: String,
    },
    /// The index source cannot deliver a package's entry (unreachable, refused, broken).
    #[error("cannot read the index entry of `{package}`: {source}")]
    Index {
        /// The package asked for.
        package: String,
        /// Why the source could not deliver it, as the source reported it.
        source: SourceError,
    },
    /// A directory given as a sparse index is missing or does not look like one.
    #[error(
        "`{path}` is not a sparse-index directory: {reason}; give the directory that holds the index's `config.json`"
    )]
    NotAnIndex {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The resolution was stopped by its deadline or its [`crate::CancelToken`].
    #[error("resolution cancelled: {reason}; allow more time or simplify the requirements")]
    Cancelled {
        /// What stopped it (the deadline, or the token).
        reason: String,
    },
    /// The thread a resolution runs on (see `run_with_async_source`) could not start or
    /// panicked.
    #[error("the resolver thread failed: {reason}")]
    Thread {
        /// What happened.
        reason: String,
    },
    /// No set of versions satisfies the requirements.
    #[error("{}", .0.render())]
    NoSolution(Box<NoSolution>),
    /// The solution has a cycle through normal or build dependencies, which cargo rejects.
    #[error("cyclic package dependency: `{}`", .cycle.join("` -> `"))]
    Cycle {
        /// The packages on the cycle, as `name version`, first one repeated at the end.
        cycle: Vec<String>,
    },
}

impl ResolveError {
    /// [`ResolveError::Index`] for `package`, keeping `source` as the error's `source()`: what
    /// a custom [`crate::IndexSource`] returns when it cannot deliver a package.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use wharf_resolver::ResolveError;
    /// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "registry timed out");
    /// let error = ResolveError::index("serde", io);
    /// assert_eq!(error.to_string(), "cannot read the index entry of `serde`: registry timed out");
    /// assert!(error.source().is_some());
    /// ```
    pub fn index(package: impl Into<String>, source: impl Into<SourceError>) -> Self {
        Self::Index {
            package: package.into(),
            source: source.into(),
        }
    }
}
