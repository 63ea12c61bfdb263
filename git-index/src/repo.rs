//! The bare repository itself: opening it, reading what `main` reflects, and writing commits
//! whose trees reuse every subtree that did not change. Everything here blocks (libgit2).

use std::path::{Path, PathBuf};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, RepositoryInitOptions, Signature};
use wharf_storage::IndexFileSnapshot;

use crate::error::{GitIndexError, git_error};
use crate::message::event_of_message;

/// The branch cargo follows (`HEAD` points at it).
pub const BRANCH: &str = "main";
/// The full name of [`BRANCH`].
pub(crate) const BRANCH_REF: &str = "refs/heads/main";
/// The file at the tree's root that tells cargo where downloads and the API are.
pub const CONFIG_FILE: &str = "config.json";

/// Who commits: the author and committer of every commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The name (`Wharf`).
    pub name: String,
    /// The email (`wharf@localhost`).
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Self {
            name: "Wharf".to_owned(),
            email: "wharf@localhost".to_owned(),
        }
    }
}

/// The commit `main` points at and the log position it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// The commit.
    pub(crate) commit: Oid,
    /// Its `Wharf-Event` trailer (`None`: the commit records none, so it is rebuilt).
    pub(crate) seq: Option<u64>,
}

/// One bare repository on disk.
pub(crate) struct Repo {
    pub(crate) path: PathBuf,
    pub(crate) git: Repository,
}

impl Repo {
    /// Opens the bare repository at `path`, creating it (with `HEAD` on `main`) if missing.
    pub(crate) fn open_or_init(path: &Path) -> Result<Self, GitIndexError> {
        let git = if path.join("HEAD").is_file() {
            Repository::open_bare(path)
        } else {
            Repository::init_opts(
                path,
                RepositoryInitOptions::new()
                    .bare(true)
                    .initial_head(BRANCH)
                    .description("Wharf's index, as a cargo git registry"),
            )
        }
        .map_err(git_error(path))?;
        Ok(Self {
            path: path.to_owned(),
            git,
        })
    }

    fn err(&self) -> impl Fn(git2::Error) -> GitIndexError + '_ {
        git_error(&self.path)
    }

    /// What `main` points at, `None` before the first commit.
    pub(crate) fn head(&self) -> Result<Option<Head>, GitIndexError> {
        let reference = match self.git.find_reference(BRANCH_REF) {
            Ok(reference) => reference,
            Err(error) if error.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(error) => return Err(self.err()(error)),
        };
        let commit = reference.peel_to_commit().map_err(self.err())?;
        let seq = event_of_message(&String::from_utf8_lossy(commit.message_bytes()));
        Ok(Some(Head {
            commit: commit.id(),
            seq,
        }))
    }

    /// The tree a commit holds.
    pub(crate) fn tree_of(&self, commit: Oid) -> Result<Oid, GitIndexError> {
        Ok(self.git.find_commit(commit).map_err(self.err())?.tree_id())
    }

    /// Writes `files` (and `config.json`) as blobs and returns the tree that is `base` with
    /// them put in place (`None`: start from an empty tree). Unchanged subtrees are reused.
    pub(crate) fn updated_tree(
        &self,
        base: Option<Oid>,
        files: &[IndexFileSnapshot],
        config_json: &[u8],
    ) -> Result<Oid, GitIndexError> {
        let base = if let Some(tree) = base {
            tree
        } else {
            self.git
                .treebuilder(None)
                .and_then(|builder| builder.write())
                .map_err(self.err())?
        };
        let base = self.git.find_tree(base).map_err(self.err())?;
        let mut update = TreeUpdateBuilder::new();
        update.upsert(
            CONFIG_FILE,
            self.git.blob(config_json).map_err(self.err())?,
            FileMode::Blob,
        );
        for file in files {
            let blob = self.git.blob(&file.bytes).map_err(self.err())?;
            update.upsert(file.path.as_str(), blob, FileMode::Blob);
        }
        update.create_updated(&self.git, &base).map_err(self.err())
    }

    /// Commits `tree` on `main` with `parents` (the commit `main` must still point at, or
    /// none for a first or root commit) and moves `main` to it only if it still points at
    /// `expected` ([`GitIndexError::Raced`] otherwise).
    pub(crate) fn commit(
        &self,
        author: &Author,
        tree: Oid,
        parent: Option<Oid>,
        expected: Option<Oid>,
        message: &str,
    ) -> Result<Oid, GitIndexError> {
        let signature = Signature::now(&author.name, &author.email).map_err(self.err())?;
        let tree = self.git.find_tree(tree).map_err(self.err())?;
        let parent = parent
            .map(|id| self.git.find_commit(id))
            .transpose()
            .map_err(self.err())?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let commit = self
            .git
            .commit(None, &signature, &signature, message, &tree, &parents)
            .map_err(self.err())?;
        self.move_branch(BRANCH_REF, commit, expected, message)?;
        Ok(commit)
    }

    /// Points `name` at `target` if it now points at `expected` (`None`: if it does not
    /// exist yet).
    pub(crate) fn move_branch(
        &self,
        name: &str,
        target: Oid,
        expected: Option<Oid>,
        message: &str,
    ) -> Result<(), GitIndexError> {
        let subject = message.lines().next().unwrap_or_default();
        let moved = match expected {
            Some(current) => self
                .git
                .reference_matching(name, target, true, current, subject),
            None => self.git.reference(name, target, false, subject),
        };
        match moved {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                ) =>
            {
                Err(GitIndexError::Raced {
                    path: self.path.clone(),
                })
            }
            Err(error) => Err(self.err()(error)),
        }
    }

    /// Whether a branch exists.
    pub(crate) fn has_branch(&self, branch: &str) -> Result<bool, GitIndexError> {
        match self.git.find_reference(&format!("refs/heads/{branch}")) {
            Ok(_) => Ok(true),
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(false),
            Err(error) => Err(self.err()(error)),
        }
    }

    /// The bytes of the blob at `path` in `commit`'s tree, `None` when absent.
    pub(crate) fn file_at(
        &self,
        commit: Oid,
        path: &str,
    ) -> Result<Option<Vec<u8>>, GitIndexError> {
        let tree = self
            .git
            .find_commit(commit)
            .and_then(|commit| commit.tree())
            .map_err(self.err())?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(error) if error.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(error) => return Err(self.err()(error)),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self.git.find_blob(entry.id()).map_err(self.err())?;
        Ok(Some(blob.content().to_vec()))
    }
}
