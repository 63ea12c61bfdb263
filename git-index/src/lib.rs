//! Wharf's git export of the index: a bare repository (`<data>/git/index.git`) that cargo
//! fetches as a git registry, with `config.json` at the root and every package's file at
//! cargo's path (`1/`, `2/`, `3/x/`, `ab/cd/`), byte for byte the sparse index's files.
//!
//! Like the sparse files, the repository is derived from the event log and written behind
//! the answers: [`spawn_worker`] commits each batch of events as one commit (`Publish foo
//! 1.2.0`, `Yank bar 0.3.1`, `3 events: …`) whose `Wharf-Event: N` trailer records the log
//! position its tree reflects, and pushes to the configured remotes. Trees are updated in
//! place (libgit2's `git_tree_create_updated`), so a commit writes only the changed file's
//! blob and the trees on its path. [`GitIndex::reconcile`] brings a lagging repository up
//! to the log, rebuilds a missing one, and replaces a tree that differs from the database;
//! [`GitIndex::squash`] starts the history again from the current tree, keeping the old one
//! on a dated branch. The layout, messages and URLs are described in `docs/git-index.md`.

mod error;
mod export;
mod message;
mod push;
mod repo;
mod worker;

pub use error::GitIndexError;
pub use export::{
    Committed, GIT_DIR, GitIndex, GitReconcileReport, REPO_DIR, SAVED_CONFIG, Squashed,
};
pub use message::{EVENT_TRAILER, event_of_message};
pub use push::{pack_when_needed, push};
pub use repo::{Author, BRANCH, CONFIG_FILE};
pub use worker::{DEFAULT_POLL, WorkerOptions, spawn_worker};
