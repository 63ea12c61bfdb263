//! The one error type of the git export.

use std::path::PathBuf;

use wharf_storage::StorageError;

/// Everything that can go wrong while keeping or serving the git export.
#[derive(Debug, thiserror::Error)]
pub enum GitIndexError {
    /// libgit2 failed on the repository at `path`.
    #[error("git repository `{path}`: {source}")]
    Git {
        /// The bare repository.
        path: PathBuf,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// Reading the registry's database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file next to the repository could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The git export was never turned on for this data directory, so its `config.json` is
    /// unknown.
    #[error(
        "`{path}` is missing: the git index of this registry was never made; start `wharf serve` with `git-index = true` once"
    )]
    NotEnabled {
        /// Where the saved `config.json` should be.
        path: PathBuf,
    },
    /// The repository has no commit yet (nothing to squash).
    #[error("the git index `{path}` has no commit yet; run `wharf admin reconcile` first")]
    NoCommit {
        /// The bare repository.
        path: PathBuf,
    },
    /// Another process moved the branch between reading and updating it.
    #[error(
        "branch `main` of `{path}` moved while it was being updated (another process wrote it); run the command again"
    )]
    Raced {
        /// The bare repository.
        path: PathBuf,
    },
    /// `git push` to a remote failed.
    #[error("git push to `{remote}` failed: {detail}")]
    Push {
        /// The remote URL.
        remote: String,
        /// The first line git printed, or how it ended.
        detail: String,
    },
    /// A blocking task panicked or was cancelled.
    #[error("git export task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Turns a libgit2 error on `path` into a [`GitIndexError::Git`].
pub(crate) fn git_error(path: &std::path::Path) -> impl Fn(git2::Error) -> GitIndexError + '_ {
    move |source| GitIndexError::Git {
        path: path.to_owned(),
        source,
    }
}
