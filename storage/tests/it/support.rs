//! Helpers shared by the integration tests.

use std::path::Path;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wharf_index_format::PackageMetadata;
use wharf_storage::{BlobBackend, NewToken, Principal, Scope, Storage, StorageConfig, Upload};
use wharf_test_support::{dep, pkg};

/// Test functions return this so they can use `?`.
pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Opens storage on `dir` with the local blob backend.
pub(crate) async fn open(dir: &Path) -> Storage {
    Storage::open(StorageConfig {
        data_dir: dir.to_path_buf(),
        blobs: BlobBackend::Local,
    })
    .await
    .expect("storage opens")
}

/// A fresh storage in a new temporary directory.
pub(crate) async fn fresh() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path()).await;
    (dir, storage)
}

/// Creates a token for `user` with `scopes` and `patterns` and authenticates with it.
pub(crate) fn principal(
    storage: &Storage,
    user: &str,
    scopes: &[Scope],
    patterns: &[&str],
) -> Principal {
    let created = storage
        .create_token(NewToken {
            user: user.to_owned(),
            scopes: scopes.to_vec(),
            expires_at: None,
            name_patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            label: None,
        })
        .expect("token created");
    storage
        .authenticate(created.secret.expose())
        .expect("fresh token authenticates")
}

/// A principal with every scope and no name restriction.
pub(crate) fn admin(storage: &Storage, user: &str) -> Principal {
    principal(storage, user, &Scope::ALL, &[])
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The tarball bytes the tests publish for `name` `version` (distinct per pair).
pub(crate) fn tarball(name: &str, version: &str) -> Bytes {
    Bytes::from(format!("tarball of {name} {version}").into_bytes())
}

/// An upload of `name` `version` with a correct checksum and a description.
pub(crate) fn upload(name: &str, version: &str) -> Upload {
    upload_bytes(name, version, tarball(name, version))
}

/// An upload with the given tarball bytes.
pub(crate) fn upload_bytes(name: &str, version: &str, bytes: Bytes) -> Upload {
    Upload {
        entry: pkg(name, version)
            .with(dep("serde", "^1"))
            .feature("std", &[])
            .cksum(&sha256(&bytes))
            .entry(),
        crate_bytes: bytes,
        metadata: PackageMetadata {
            description: Some(format!("The {name} package")),
            ..PackageMetadata::default()
        },
    }
}

/// Everything observable about a storage, to compare before and after a refused operation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) events: Vec<wharf_storage::LogEvent>,
    pub(crate) files: Vec<wharf_storage::IndexFileSnapshot>,
    pub(crate) blob_files: Vec<std::path::PathBuf>,
    pub(crate) index_on_disk: Vec<(std::path::PathBuf, Vec<u8>)>,
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Snapshots the log, the index files (from the database and on disk) and the blob files.
pub(crate) async fn observe(storage: &Storage) -> Observed {
    storage.settle().await;
    let root = storage.data_dir();
    Observed {
        events: storage.events(0, usize::MAX).expect("events"),
        files: storage.all_index_files().await.expect("index files"),
        blob_files: walk(&root.join("blobs")),
        index_on_disk: walk(&root.join("index"))
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).expect("index file readable");
                (path, bytes)
            })
            .collect(),
    }
}
