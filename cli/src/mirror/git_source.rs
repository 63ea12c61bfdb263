//! A git index as the upstream (`--from git+URL`, `git+file://…` or a local path): Wharf's
//! own export at `/git/index` or any cargo git index. The index is fetched into a bare clone
//! kept at `<data>/upstream.git`, so a second sync fetches only new commits; the listing is
//! the tree of the fetched `HEAD` (every file but `config.json` and dot files), and the
//! files' bytes come from it. Blobs are downloaded from the `dl` URL of its `config.json`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

/// Where a mirror keeps the bare clone of a git upstream.
pub(crate) const CLONE_DIR: &str = "upstream.git";

/// Whether `from` names a git index rather than a sparse one.
pub(crate) fn is_git(from: &str) -> bool {
    let from = from.trim();
    from.starts_with("git+") || (!from.contains("://") && Path::new(from).exists())
}

/// The URL git is given: `git+` removed; a path as it is.
fn git_url(from: &str) -> &str {
    let from = from.trim();
    from.strip_prefix("git+").unwrap_or(from)
}

/// A fetched git index: `config.json`'s bytes and every index file's bytes by path.
pub(crate) struct GitIndexTree {
    pub(crate) config: Vec<u8>,
    pub(crate) files: BTreeMap<String, Vec<u8>>,
}

/// Fetches `from`'s `HEAD` into `<data>/upstream.git` (made on the first sync) and reads
/// its tree.
pub(crate) fn fetch(from: &str, data: &Path) -> anyhow::Result<GitIndexTree> {
    let url = git_url(from);
    let clone = data.join(CLONE_DIR);
    std::fs::create_dir_all(data).with_context(|| format!("creating `{}`", data.display()))?;
    let repo = match git2::Repository::open_bare(&clone) {
        Ok(repo) => repo,
        Err(_) => git2::Repository::init_bare(&clone)
            .with_context(|| format!("creating the clone `{}`", clone.display()))?,
    };
    let mut remote = repo
        .remote_anonymous(url)
        .with_context(|| format!("`{from}` is not a git URL or path"))?;
    remote
        .fetch(&["+HEAD:refs/remotes/upstream/HEAD"], None, None)
        .with_context(|| {
            format!(
                "fetching `{url}`: is it a git index (a repository with `config.json` at its root)?"
            )
        })?;
    let head = repo
        .find_reference("refs/remotes/upstream/HEAD")
        .and_then(|reference| reference.peel_to_tree())
        .with_context(|| format!("`{url}` has no HEAD commit"))?;
    let mut files = BTreeMap::new();
    let mut config = None;
    let mut failed = None;
    head.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let name = entry.name().unwrap_or_default();
        if name.starts_with('.') {
            return git2::TreeWalkResult::Skip;
        }
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        let path = format!("{dir}{name}");
        match entry
            .to_object(&repo)
            .and_then(|object| object.peel_to_blob())
        {
            Ok(blob) if path == "config.json" => config = Some(blob.content().to_vec()),
            Ok(blob) => {
                files.insert(path, blob.content().to_vec());
            }
            Err(error) => {
                failed = Some(format!("reading `{path}` from `{url}`: {error}"));
                return git2::TreeWalkResult::Abort;
            }
        }
        git2::TreeWalkResult::Ok
    })
    .ok();
    if let Some(failed) = failed {
        bail!(failed);
    }
    let config = config.with_context(|| {
        format!("`{url}` has no `config.json` at its root: it is not a cargo git index")
    })?;
    Ok(GitIndexTree { config, files })
}
