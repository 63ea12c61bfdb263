//! The git export over a real storage in a temporary directory and real repositories:
//! commits per batch, reconcile, squash and push.

mod measure;

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use git2::Repository;
use wharf_git_index::{Author, GitIndex, event_of_message};
use wharf_index_format::IndexEntry;
use wharf_storage::{BlobBackend, NewToken, Principal, Scope, Storage, StorageConfig, Upload};

const CONFIG: &[u8] =
    br#"{"dl":"http://reg.example/blobs/sha256/{sha256-checksum}","api":"http://reg.example"}"#;

async fn open(dir: &Path) -> (Storage, Principal) {
    let storage = Storage::open(StorageConfig {
        data_dir: dir.into(),
        blobs: BlobBackend::Memory,
    })
    .await
    .unwrap();
    let token = storage
        .create_token(NewToken {
            user: "alice".into(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: vec![],
            label: None,
        })
        .unwrap();
    let who = storage.authenticate(token.secret.expose()).unwrap();
    (storage, who)
}

async fn publish(storage: &Storage, who: &Principal, name: &str, version: &str) {
    let bytes = Bytes::from(format!("{name} {version}"));
    let line = format!(r#"{{"name":"{name}","vers":"{version}","deps":[],"cksum":""}}"#);
    storage
        .publish(
            who,
            Upload {
                entry: IndexEntry::from_line(&line).unwrap(),
                crate_bytes: bytes,
                metadata: wharf_index_format::PackageMetadata::default(),
            },
        )
        .await
        .unwrap();
}

fn main_commit(repo: &Repository) -> git2::Commit<'_> {
    repo.find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap()
}

fn file_in(repo: &Repository, commit: &git2::Commit<'_>, path: &str) -> Option<Vec<u8>> {
    let entry = commit.tree().unwrap().get_path(Path::new(path)).ok()?;
    Some(repo.find_blob(entry.id()).unwrap().content().to_vec())
}

/// Every file of the tree and the database's files agree byte for byte.
async fn assert_tree_equals_database(storage: &Storage, repo: &Repository) {
    let commit = main_commit(repo);
    let state = storage.index_state().await.unwrap();
    let mut paths = Vec::new();
    commit
        .tree()
        .unwrap()
        .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                paths.push(format!("{dir}{}", entry.name().unwrap()));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
    paths.sort();
    let mut expected: Vec<String> = state.files.iter().map(|f| f.path.clone()).collect();
    expected.push("config.json".into());
    expected.sort();
    assert_eq!(paths, expected);
    for file in &state.files {
        assert_eq!(
            file_in(repo, &commit, &file.path).unwrap(),
            file.bytes.to_vec()
        );
    }
    assert_eq!(file_in(repo, &commit, "config.json").unwrap(), CONFIG);
    assert_eq!(
        event_of_message(commit.message().unwrap()),
        Some(state.head)
    );
}

#[tokio::test]
async fn each_batch_is_one_commit_with_a_readable_message_and_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, who) = open(dir.path()).await;
    let index = GitIndex::create(dir.path(), CONFIG, Author::default()).unwrap();
    let first = index.reconcile(&storage).await.unwrap();
    assert!(
        first.rebuilt.is_some(),
        "the first reconcile makes the repository"
    );
    assert_eq!(first.seq, 0);

    publish(&storage, &who, "foo", "1.2.0").await;
    let one = index.advance(&storage).await.unwrap().unwrap();
    assert_eq!(one.subject, "Publish foo 1.2.0");
    assert_eq!(index.advance(&storage).await.unwrap(), None, "nothing new");

    publish(&storage, &who, "bar", "0.3.1").await;
    publish(&storage, &who, "a", "0.1.0").await;
    storage
        .set_yanked(&who, "bar", "0.3.1", true)
        .await
        .unwrap();
    let batch = index.advance(&storage).await.unwrap().unwrap();
    assert_eq!(
        batch.subject,
        "3 events: Publish bar 0.3.1, Publish a 0.1.0, Yank bar 0.3.1"
    );
    let repo = Repository::open_bare(index.repo_path()).unwrap();
    assert_eq!(repo.head().unwrap().name().unwrap(), "refs/heads/main");
    let commit = main_commit(&repo);
    let author = commit.author();
    assert_eq!(
        (author.name().unwrap(), author.email().unwrap()),
        ("Wharf", "wharf@localhost")
    );
    assert_eq!(commit.parent_count(), 1);
    assert_tree_equals_database(&storage, &repo).await;
    assert!(
        String::from_utf8(file_in(&repo, &commit, "3/b/bar").unwrap_or_default())
            .unwrap()
            .contains(r#""yanked":true"#)
    );
}

#[tokio::test]
async fn unchanged_subtrees_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, who) = open(dir.path()).await;
    let index = GitIndex::create(dir.path(), CONFIG, Author::default()).unwrap();
    publish(&storage, &who, "serde", "1.0.0").await;
    publish(&storage, &who, "tokio", "1.0.0").await;
    index.reconcile(&storage).await.unwrap();
    let repo = Repository::open_bare(index.repo_path()).unwrap();
    let before = main_commit(&repo).tree().unwrap();
    publish(&storage, &who, "serde", "1.0.1").await;
    index.advance(&storage).await.unwrap().unwrap();
    let after = main_commit(&repo).tree().unwrap();
    let id = |tree: &git2::Tree<'_>, path: &str| tree.get_path(Path::new(path)).unwrap().id();
    assert_eq!(
        id(&before, "to"),
        id(&after, "to"),
        "tokio's subtree is the same object"
    );
    assert_ne!(id(&before, "se"), id(&after, "se"));
}

#[tokio::test]
async fn reconcile_rebuilds_a_deleted_or_changed_repository_and_advances_a_lagging_one() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, who) = open(dir.path()).await;
    let index = GitIndex::create(dir.path(), CONFIG, Author::default()).unwrap();
    publish(&storage, &who, "foo", "1.0.0").await;
    index.reconcile(&storage).await.unwrap();

    // Lagging: two events the export has not seen.
    publish(&storage, &who, "foo", "1.1.0").await;
    publish(&storage, &who, "qux", "1.0.0").await;
    let report = index.reconcile(&storage).await.unwrap();
    assert_eq!(
        report.advanced.unwrap().subject,
        "2 events: Publish foo 1.1.0, Publish qux 1.0.0"
    );
    assert_eq!(
        report.rebuilt, None,
        "the advanced tree equals the database"
    );
    let repo = Repository::open_bare(index.repo_path()).unwrap();
    assert_tree_equals_database(&storage, &repo).await;

    // Deleted: made again from the saved config.json.
    std::fs::remove_dir_all(index.repo_path()).unwrap();
    let again = GitIndex::require(dir.path(), Author::default()).unwrap();
    let report = again.reconcile(&storage).await.unwrap();
    assert!(
        report
            .rebuilt
            .unwrap()
            .subject
            .starts_with("Rebuild the index at event ")
    );
    let repo = Repository::open_bare(index.repo_path()).unwrap();
    assert_tree_equals_database(&storage, &repo).await;

    // Changed by hand: a commit that removes a file is replaced by a rebuild on top.
    let head = main_commit(&repo);
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.remove("3/q/qux");
    let tree = update.create_updated(&repo, &head.tree().unwrap()).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let sig = git2::Signature::now("x", "x@x").unwrap();
    let message = format!(
        "tamper\n\nWharf-Event: {}\n",
        storage.index_state().await.unwrap().head
    );
    repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        &message,
        &tree,
        &[&head],
    )
    .unwrap();
    let report = again.reconcile(&storage).await.unwrap();
    assert!(report.rebuilt.is_some());
    assert_tree_equals_database(&storage, &repo).await;
    assert_eq!(again.reconcile(&storage).await.unwrap().rebuilt, None);

    // Not enabled elsewhere.
    let other = tempfile::tempdir().unwrap();
    assert!(
        GitIndex::existing(other.path(), Author::default())
            .unwrap()
            .is_none()
    );
    let refused = GitIndex::require(other.path(), Author::default()).unwrap_err();
    assert!(
        refused.to_string().contains("git-index = true"),
        "{refused}"
    );
}

#[tokio::test]
async fn squash_keeps_the_tree_and_the_old_history_on_a_dated_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, who) = open(dir.path()).await;
    let index = GitIndex::create(dir.path(), CONFIG, Author::default()).unwrap();
    assert!(
        index
            .squash("2026-12-06")
            .await
            .unwrap_err()
            .to_string()
            .contains("no commit yet")
    );
    publish(&storage, &who, "foo", "1.0.0").await;
    index.reconcile(&storage).await.unwrap();
    publish(&storage, &who, "foo", "1.1.0").await;
    index.advance(&storage).await.unwrap().unwrap();
    let repo = Repository::open_bare(index.repo_path()).unwrap();
    let old = main_commit(&repo);

    let squashed = index.squash("2026-12-06").await.unwrap();
    assert_eq!(squashed.branch, "snapshot-2026-12-06");
    let root = main_commit(&repo);
    assert_eq!(root.id().to_string(), squashed.root.commit);
    assert_eq!(root.parent_count(), 0);
    assert_eq!(root.tree_id(), old.tree_id(), "the tree object is reused");
    let kept = repo
        .find_reference("refs/heads/snapshot-2026-12-06")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(kept.id(), old.id());
    assert_eq!(
        event_of_message(root.message().unwrap()),
        event_of_message(old.message().unwrap())
    );
    // The export goes on from the new root; a second squash the same day gets its own branch.
    publish(&storage, &who, "foo", "1.2.0").await;
    let next = index.advance(&storage).await.unwrap().unwrap();
    assert_eq!(next.subject, "Publish foo 1.2.0");
    assert_eq!(main_commit(&repo).parent_id(0).unwrap(), root.id());
    assert_eq!(
        index.squash("2026-12-06").await.unwrap().branch,
        "snapshot-2026-12-06-2"
    );
}

#[tokio::test]
async fn push_sends_every_branch_to_a_bare_remote_and_names_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, who) = open(dir.path()).await;
    let index = GitIndex::create(dir.path(), CONFIG, Author::default()).unwrap();
    publish(&storage, &who, "foo", "1.0.0").await;
    index.reconcile(&storage).await.unwrap();
    index.squash("2026-12-06").await.unwrap();
    let remote = dir.path().join("remote.git");
    let init = Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(&remote)
        .status()
        .unwrap();
    assert!(init.success());
    let url = format!("file://{}", remote.display());
    wharf_git_index::push(&index.repo_path(), &url).unwrap();
    let pushed = Repository::open_bare(&remote).unwrap();
    let (commit, _) = index.head().await.unwrap().unwrap();
    assert_eq!(main_commit(&pushed).id().to_string(), commit);
    assert!(
        pushed
            .find_reference("refs/heads/snapshot-2026-12-06")
            .is_ok()
    );

    let missing = format!("file://{}", dir.path().join("nowhere.git").display());
    let error = wharf_git_index::push(&index.repo_path(), &missing).unwrap_err();
    assert!(error.to_string().contains("nowhere.git"), "{error}");
}
