//! [`GitIndex`]: the git export of one registry's data directory, brought up to the event
//! log incrementally ([`GitIndex::advance`]), checked and rebuilt whole
//! ([`GitIndex::reconcile`]), and squashed ([`GitIndex::squash`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wharf_storage::Storage;

use crate::error::GitIndexError;
use crate::message::{batch_message, rebuild_message, squash_message};
use crate::repo::{Author, Repo};

/// The directory under the data directory that holds the export.
pub const GIT_DIR: &str = "git";
/// The bare repository's directory name inside [`GIT_DIR`] (served at `/git/index`).
pub const REPO_DIR: &str = "index.git";
/// The saved `config.json` inside [`GIT_DIR`], next to the repository, so a rebuild of a
/// deleted repository knows it.
pub const SAVED_CONFIG: &str = "config.json";

/// A commit the export made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The commit id (hex).
    pub commit: String,
    /// The log position its tree reflects.
    pub seq: u64,
    /// What it was: the commit message's first line.
    pub subject: String,
}

/// What [`GitIndex::reconcile`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitReconcileReport {
    /// The commit that brought the branch up to the log, event by event.
    pub advanced: Option<Committed>,
    /// The commit that replaced a tree that differed from the database (or made the first).
    pub rebuilt: Option<Committed>,
    /// The log position `main` reflects now.
    pub seq: u64,
}

/// What [`GitIndex::squash`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Squashed {
    /// The branch now holding the old history (`snapshot-2026-12-06`).
    pub branch: String,
    /// The new root commit on `main`.
    pub root: Committed,
}

/// The git export kept in `<data>/git/index.git`.
#[derive(Debug, Clone)]
pub struct GitIndex {
    root: PathBuf,
    config_json: Arc<[u8]>,
    author: Author,
}

impl GitIndex {
    /// The export of the registry in `data_dir`, whose `config.json` is `config_json` (the
    /// sparse index's): saves it next to the repository for later rebuilds. The server
    /// calls this; the repository is made by the first [`GitIndex::reconcile`].
    pub fn create(
        data_dir: &Path,
        config_json: &[u8],
        author: Author,
    ) -> Result<Self, GitIndexError> {
        let root = data_dir.join(GIT_DIR);
        let saved = root.join(SAVED_CONFIG);
        let io = |source| GitIndexError::Io {
            path: saved.clone(),
            source,
        };
        std::fs::create_dir_all(&root).map_err(io)?;
        if std::fs::read(&saved).ok().as_deref() != Some(config_json) {
            let temporary = root.join(".config.json.tmp");
            std::fs::write(&temporary, config_json).map_err(io)?;
            std::fs::rename(&temporary, &saved).map_err(io)?;
        }
        Ok(Self {
            root,
            config_json: config_json.into(),
            author,
        })
    }

    /// The export of the registry in `data_dir` as the server last configured it; `None`
    /// when the git export was never turned on there.
    pub fn existing(data_dir: &Path, author: Author) -> Result<Option<Self>, GitIndexError> {
        let root = data_dir.join(GIT_DIR);
        let saved = root.join(SAVED_CONFIG);
        match std::fs::read(&saved) {
            Ok(config_json) => Ok(Some(Self {
                root,
                config_json: config_json.into(),
                author,
            })),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(GitIndexError::Io {
                path: saved,
                source,
            }),
        }
    }

    /// [`GitIndex::existing`], failing with [`GitIndexError::NotEnabled`] when there is none.
    pub fn require(data_dir: &Path, author: Author) -> Result<Self, GitIndexError> {
        Self::existing(data_dir, author)?.ok_or_else(|| GitIndexError::NotEnabled {
            path: data_dir.join(GIT_DIR).join(SAVED_CONFIG),
        })
    }

    /// The bare repository (`<data>/git/index.git`).
    pub fn repo_path(&self) -> PathBuf {
        self.root.join(REPO_DIR)
    }

    /// The directory holding the repository (`GIT_PROJECT_ROOT` when serving it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `config.json` every commit's tree holds.
    pub fn config_json(&self) -> &[u8] {
        &self.config_json
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, GitIndexError>
    where
        F: FnOnce(&Repo, &GitIndex) -> Result<T, GitIndexError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let repo = Repo::open_or_init(&this.repo_path())?;
            work(&repo, &this)
        })
        .await?
    }

    /// Commits the index changes logged after the position `main` records, one commit for
    /// all of them (`Publish foo 1.2.0`, `3 events: …`). Without a commit, or with one that
    /// records no position, rebuilds the tree whole instead. `None` when nothing changed.
    pub async fn advance(&self, storage: &Storage) -> Result<Option<Committed>, GitIndexError> {
        let head = self.blocking(|repo, _| repo.head()).await?;
        let Some((head, seq)) = head.and_then(|head| Some((head.commit, head.seq?))) else {
            return self.rebuild(storage).await;
        };
        let changes = storage.index_changes_since(seq).await?;
        if changes.events.is_empty() {
            return Ok(None);
        }
        self.blocking(move |repo, this| {
            let base = repo.tree_of(head)?;
            let tree = repo.updated_tree(Some(base), &changes.files, &this.config_json)?;
            let message = batch_message(&changes.events, changes.head);
            let commit = repo.commit(&this.author, tree, Some(head), Some(head), &message)?;
            let committed = committed(commit, changes.head, &message);
            tracing::info!(commit = %committed.commit, seq = committed.seq, subject = %committed.subject, "git index committed");
            Ok(Some(committed))
        })
        .await
    }

    /// Builds the whole tree from the database and commits it when it differs from the
    /// tree on `main` (or `main` has no commit, or records no position).
    pub async fn rebuild(&self, storage: &Storage) -> Result<Option<Committed>, GitIndexError> {
        let state = storage.index_state().await?;
        self.blocking(move |repo, this| {
            let head = repo.head()?;
            let tree = repo.updated_tree(None, &state.files, &this.config_json)?;
            if let Some(head) = head
                && head.seq.is_some()
                && repo.tree_of(head.commit)? == tree
            {
                return Ok(None);
            }
            let message = rebuild_message(state.head, state.files.len());
            let parent = head.map(|head| head.commit);
            let commit = repo.commit(&this.author, tree, parent, parent, &message)?;
            let committed = committed(commit, state.head, &message);
            tracing::info!(commit = %committed.commit, seq = committed.seq, "git index rebuilt");
            Ok(Some(committed))
        })
        .await
    }

    /// Brings `main` up to the log ([`GitIndex::advance`]), then checks its whole tree
    /// against the database and commits a rebuilt one if they differ (a file changed or
    /// removed by hand, another `config.json`). Creates the repository when it is missing.
    pub async fn reconcile(&self, storage: &Storage) -> Result<GitReconcileReport, GitIndexError> {
        let recorded = self
            .blocking(|repo, _| Ok(repo.head()?.and_then(|head| head.seq)))
            .await?;
        // Without a recorded position there is nothing to advance from: rebuild only.
        let advanced = match recorded {
            Some(_) => self.advance(storage).await?,
            None => None,
        };
        let rebuilt = self.rebuild(storage).await?;
        let seq = self
            .blocking(|repo, _| Ok(repo.head()?.and_then(|head| head.seq)))
            .await?
            .unwrap_or_default();
        Ok(GitReconcileReport {
            advanced,
            rebuilt,
            seq,
        })
    }

    /// Makes a new root commit on `main` with the current tree (the same tree object: no
    /// file is written again) and keeps the old history on branch `snapshot-<date>`
    /// (`snapshot-<date>-2`, … when that exists). `date` is `YYYY-MM-DD`.
    pub async fn squash(&self, date: &str) -> Result<Squashed, GitIndexError> {
        let date = date.to_owned();
        self.blocking(move |repo, this| {
            let Some(head) = repo.head()? else {
                return Err(GitIndexError::NoCommit {
                    path: repo.path.clone(),
                });
            };
            let mut branch = format!("snapshot-{date}");
            let mut attempt = 1;
            while repo.has_branch(&branch)? {
                attempt += 1;
                branch = format!("snapshot-{date}-{attempt}");
            }
            let seq = head.seq.unwrap_or_default();
            let message = squash_message(seq, &branch);
            repo.move_branch(&format!("refs/heads/{branch}"), head.commit, None, &message)?;
            let tree = repo.tree_of(head.commit)?;
            let root = repo.commit(&this.author, tree, None, Some(head.commit), &message)?;
            Ok(Squashed {
                branch,
                root: committed(root, seq, &message),
            })
        })
        .await
    }

    /// The commit `main` points at (hex) and the log position it records.
    pub async fn head(&self) -> Result<Option<(String, Option<u64>)>, GitIndexError> {
        self.blocking(|repo, _| Ok(repo.head()?.map(|head| (head.commit.to_string(), head.seq))))
            .await
    }

    /// The bytes of `path` in the tree `main` points at (`None` when absent).
    pub async fn file(&self, path: &str) -> Result<Option<Vec<u8>>, GitIndexError> {
        let path = path.to_owned();
        self.blocking(move |repo, _| match repo.head()? {
            Some(head) => repo.file_at(head.commit, &path),
            None => Ok(None),
        })
        .await
    }
}

fn committed(commit: git2::Oid, seq: u64, message: &str) -> Committed {
    Committed {
        commit: commit.to_string(),
        seq,
        subject: message.lines().next().unwrap_or_default().to_owned(),
    }
}
