//! The crate's one error type.

use std::path::PathBuf;

use crate::explanation::NoSolution;

/// Everything that can go wrong while reading inputs or resolving.
#[derive(Debug, thiserror::Error)]
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
    /// A dependency of the root uses a source Wharf cannot resolve (path, git, workspace).
    #[error("dependency `{name}` is not a registry dependency ({reason})")]
    UnsupportedDependency {
        /// The dependency's name in the manifest.
        name: String,
        /// Which unsupported key it uses.
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
    #[error("cannot read the index entry of `{package}`: {reason}")]
    Index {
        /// The package asked for.
        package: String,
        /// Why the source could not deliver it.
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
