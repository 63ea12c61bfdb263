//! Tests of the blobs a server's tenants share (`shared_blobs.rs`, `shared_existing.rs`).

use std::cell::Cell;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::StorageError;
use crate::blobs::{blob_key, sha256_hex};
use crate::shared_blobs::{SharedBlobs, Swept, TEMPORARY_DIR, link_error, sweep_blocking};
use crate::shared_existing::{Hashing, Shared};

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

fn links(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().nlink()
}

/// Two registries (`acme`, `beta`) sharing `<dir>/shared`.
fn two_registries(dir: &Path) -> (SharedBlobs, SharedBlobs) {
    let shared = dir.join("shared");
    (
        SharedBlobs::new(shared.clone(), dir.join("acme")),
        SharedBlobs::new(shared, dir.join("beta")),
    )
}

/// `bytes`, their checksum and their key (`sha256/ab/cd/<hex>`).
fn blob(bytes: &'static [u8]) -> (Bytes, String, String) {
    let cksum = sha256_hex(bytes);
    let key = blob_key(&cksum).unwrap().to_string();
    (Bytes::from_static(bytes), cksum, key)
}

/// A minute from now: every copy is older than that.
fn later() -> SystemTime {
    SystemTime::now() + Duration::from_mins(1)
}

#[tokio::test]
async fn identical_bytes_are_one_copy_and_outlive_one_registrys_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (acme, beta) = two_registries(dir.path());
    let (bytes, cksum, key) = blob(b"crate bytes");
    acme.put(&cksum, bytes.clone()).await.unwrap();
    beta.put(&cksum, bytes.clone()).await.unwrap();
    beta.put(&cksum, bytes.clone()).await.unwrap();
    let (in_acme, in_beta, shared) = (
        acme.own.join(&key),
        beta.own.join(&key),
        acme.shared.join(&key),
    );
    assert_eq!(inode(&in_acme), inode(&in_beta));
    assert_eq!(inode(&in_acme), inode(&shared));
    assert_eq!(links(&in_acme), 3);
    assert_eq!(acme.sweep(later()).await.unwrap(), Swept::default());

    std::fs::remove_file(&in_acme).unwrap();
    assert_eq!(acme.sweep(later()).await.unwrap(), Swept::default());
    assert_eq!(std::fs::read(&in_beta).unwrap(), bytes.as_ref());

    std::fs::remove_file(&in_beta).unwrap();
    assert_eq!(
        acme.sweep(SystemTime::UNIX_EPOCH).await.unwrap(),
        Swept::default()
    );
    let swept = acme.sweep(later()).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            blobs: 1,
            bytes: 11
        }
    );
    assert!(!shared.exists());
    assert!(
        std::fs::read_dir(acme.shared.join(TEMPORARY_DIR))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn a_temporary_file_an_interrupted_put_linked_is_swept_once_old() {
    let dir = tempfile::tempdir().unwrap();
    let (acme, _) = two_registries(dir.path());
    let (bytes, cksum, key) = blob(b"interrupted");
    acme.put(&cksum, bytes).await.unwrap();
    // A put that stopped after linking its temporary file under the checksum.
    let left = acme.shared.join(TEMPORARY_DIR).join("left-behind");
    std::fs::hard_link(acme.shared.join(&key), &left).unwrap();
    assert_eq!(
        acme.sweep(SystemTime::UNIX_EPOCH).await.unwrap(),
        Swept::default()
    );
    assert!(left.exists(), "a young temporary file may be a put's");
    acme.sweep(later()).await.unwrap();
    assert!(!left.exists());
    assert_eq!(links(&acme.own.join(&key)), 2);
}

/// The interleaving that lost the sharing: a collection finds the copy unlinked (acme's
/// last link gone) and old, then beta's put of the same bytes links it, then the collection
/// removes it. The put lands exactly there (the sweep's `between` step), and the copy stays
/// linked to beta's blob.
#[test]
fn a_sweep_racing_a_put_of_the_same_bytes_keeps_the_copy_the_put_linked() {
    let dir = tempfile::tempdir().unwrap();
    let (acme, beta) = two_registries(dir.path());
    let (bytes, _, key) = blob(b"bytes both tenants publish");
    acme.put_blocking(&key, &bytes).unwrap();
    // acme's collection removed its link: the copy is unlinked, and old for a sweep whose
    // cutoff is a minute from now.
    std::fs::remove_file(acme.own.join(&key)).unwrap();
    let (shared, in_beta) = (acme.shared.join(&key), beta.own.join(&key));
    let puts = Cell::new(0);
    let swept = sweep_blocking(&acme.shared, later(), &|candidate| {
        assert_eq!(candidate, shared);
        beta.put_blocking(&key, &bytes).unwrap();
        puts.set(puts.get() + 1);
    })
    .unwrap();
    assert_eq!(
        puts.get(),
        1,
        "the put ran between the sweep's look and its removal"
    );
    assert_eq!(swept, Swept::default());
    assert_eq!(
        inode(&shared),
        inode(&in_beta),
        "beta's blob is the shared copy"
    );
    assert_eq!(links(&in_beta), 2);
    assert_eq!(std::fs::read(&in_beta).unwrap(), bytes.as_ref());

    // Put after the removal: the new bytes become the copy.
    std::fs::remove_file(&in_beta).unwrap();
    let swept = sweep_blocking(&acme.shared, later(), &|_| {}).unwrap();
    assert_eq!(swept.blobs, 1);
    acme.put_blocking(&key, &bytes).unwrap();
    assert_eq!(inode(&shared), inode(&acme.own.join(&key)));
}

/// Writes `bytes` as the registry's own separate file `key` (how blobs were written before
/// they were shared); returns its path.
fn separate_file(registry: &SharedBlobs, key: &str, bytes: &[u8]) -> PathBuf {
    let path = registry.own.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn files_written_before_sharing_become_links_to_one_copy_and_damaged_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (acme, beta) = two_registries(dir.path());
    let (bytes, _, key) = blob(b"old layout bytes");
    let (_, _, damaged_key) = blob(b"what the name says");
    let in_acme = separate_file(&acme, &key, &bytes);
    let in_beta = separate_file(&beta, &key, &bytes);
    let damaged = separate_file(&beta, &damaged_key, b"other bytes");
    std::fs::write(beta.own.join("sha256/not-a-blob"), b"left alone").unwrap();

    assert_eq!(
        acme.share_existing(true).await.unwrap(),
        Shared {
            blobs: 1,
            bytes: 0,
            damaged: 0
        },
        "a dry run counts, and acme's file would become the copy"
    );
    assert_eq!(links(&in_acme), 1, "a dry run changes nothing");
    assert_eq!(
        acme.share_existing(false).await.unwrap(),
        Shared {
            blobs: 1,
            bytes: 0,
            damaged: 0
        }
    );
    let shared = acme.shared.join(&key);
    assert_eq!(inode(&shared), inode(&in_acme));
    assert_eq!(
        beta.share_existing(true).await.unwrap(),
        Shared {
            blobs: 2,
            bytes: bytes.len() as u64,
            damaged: 0
        }
    );
    assert_eq!(
        beta.share_existing(false).await.unwrap(),
        Shared {
            blobs: 1,
            bytes: bytes.len() as u64,
            damaged: 1
        }
    );
    assert_eq!(inode(&in_beta), inode(&shared));
    assert_eq!(links(&shared), 3);
    assert_eq!(std::fs::read(&in_beta).unwrap(), bytes.as_ref());
    assert_eq!(links(&damaged), 1, "damaged bytes never become a copy");
    assert!(!acme.shared.join(&damaged_key).exists());
    assert_eq!(
        beta.share_existing(false).await.unwrap().blobs,
        0,
        "a second run finds nothing to share"
    );
    assert!(
        std::fs::read_dir(acme.shared.join(TEMPORARY_DIR))
            .unwrap()
            .next()
            .is_none()
    );

    // Files a restore checked already are shared without reading them.
    let (_, _, restored_key) = blob(b"restored");
    let restored = separate_file(&acme, &restored_key, b"restored");
    let made = acme.share_existing_blocking(Hashing::Done).unwrap();
    assert_eq!(made.blobs, 1);
    assert_eq!(inode(&restored), inode(&acme.shared.join(&restored_key)));
}

#[test]
fn a_link_across_two_file_systems_is_one_line_naming_both_paths_and_what_to_do() {
    let (shared, from, to) = (
        Path::new("/data/tenants/.blobs"),
        Path::new("/data/tenants/.blobs/sha256/ab/cd/abcd"),
        Path::new("/data/tenants/acme/blobs/sha256/ab/cd/abcd"),
    );
    let exdev = std::io::Error::from_raw_os_error(rustix::io::Errno::XDEV.raw_os_error());
    let error = link_error(shared, from, to, exdev);
    assert!(
        matches!(error, StorageError::BlobsOnTwoFileSystems { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    for part in [
        "/data/tenants/acme/blobs/sha256/ab/cd/abcd",
        "/data/tenants/.blobs/sha256/ab/cd/abcd",
        "different file systems",
        "put that directory on the file system of the tenants' directories",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let other = link_error(
        shared,
        from,
        to,
        std::io::ErrorKind::PermissionDenied.into(),
    );
    assert!(matches!(other, StorageError::Path { .. }), "{other:?}");
}

/// With the shared directory on another file system than the registry's (`/dev/shm` is a
/// memory file system of its own on Linux), a put fails with that line and leaves the
/// registry no blob.
#[tokio::test]
async fn a_put_across_two_file_systems_is_refused_with_that_line() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir_in("/dev/shm").unwrap();
    let device = |path: &Path| std::fs::metadata(path).unwrap().dev();
    assert_ne!(
        device(dir.path()),
        device(other.path()),
        "this test needs /dev/shm on a file system of its own"
    );
    let registry = SharedBlobs::new(other.path().join("shared"), dir.path().join("acme"));
    let (bytes, cksum, key) = blob(b"two file systems");
    let error = registry.put(&cksum, bytes).await.unwrap_err();
    assert!(
        matches!(error, StorageError::BlobsOnTwoFileSystems { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&registry.own.join(&key).display().to_string())
    );
    assert!(!registry.own.join(&key).exists());
}
