//! The same storage scenarios on the local disk and on a real S3 server (Garage on
//! loopback): a publish and its download, a refused publish leaving no blob, orphan blob
//! collection, presigned download URLs, and the start-up checks of an unusable bucket.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use wharf_storage::{BlobBackend, GcOptions, S3Config, Storage, StorageConfig, StorageError};
use wharf_test_support::garage::GarageServer;

use crate::support::{TestResult, admin, sha256, upload, upload_bytes};

/// Where a scenario keeps its blobs.
enum Backend {
    Local,
    S3(Box<GarageServer>),
}

/// The key prefix the S3 scenarios use inside the bucket.
const PREFIX: &str = "registry/blobs";

impl Backend {
    fn s3() -> Self {
        Self::S3(Box::new(GarageServer::start()))
    }

    fn config(&self, data: &Path) -> StorageConfig {
        let blobs = match self {
            Self::Local => BlobBackend::Local,
            Self::S3(garage) => BlobBackend::S3(s3_config(garage, &garage.url(PREFIX))),
        };
        StorageConfig {
            data_dir: data.to_path_buf(),
            blobs,
        }
    }

    async fn open(&self, data: &Path) -> Storage {
        Storage::open(self.config(data))
            .await
            .expect("storage opens")
    }

    /// The blob store as a client outside storage sees it (the bucket under the prefix, or
    /// `<data>/blobs`).
    fn raw_blobs(&self, data: &Path) -> Arc<dyn ObjectStore> {
        match self {
            Self::Local => {
                Arc::new(LocalFileSystem::new_with_prefix(data.join("blobs")).expect("blob dir"))
            }
            Self::S3(garage) => Arc::new(PrefixStore::new(bucket_client(garage), PREFIX)),
        }
    }
}

fn s3_config(garage: &GarageServer, url: &str) -> S3Config {
    S3Config {
        location: url.parse().expect("a valid s3 URL"),
        overrides: garage.object_store_options(),
    }
}

/// A client of the whole bucket, built independently of storage.
fn bucket_client(garage: &GarageServer) -> Arc<dyn ObjectStore> {
    let mut builder = AmazonS3Builder::new().with_bucket_name(&garage.bucket);
    for (key, value) in garage.object_store_options() {
        builder = builder.with_config(key.parse().expect("an object_store key"), value);
    }
    Arc::new(builder.build().expect("an S3 client"))
}

fn blob_key(cksum: &str) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}/{}/{cksum}", &cksum[..2], &cksum[2..4]))
}

async fn publish_download_and_reopen(backend: Backend) -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = backend.open(dir.path()).await;
    let alice = admin(&storage, "alice");
    let upload = upload("demo", "1.0.0");
    let bytes = upload.crate_bytes.clone();
    let cksum = sha256(&bytes);
    storage.publish(&alice, upload).await?;
    assert_eq!(storage.blob(&cksum).await?, Some(bytes.clone()));
    // The blob sits at its content address under the prefix, as any client reads it.
    let raw = backend.raw_blobs(dir.path());
    assert_eq!(raw.get(&blob_key(&cksum)).await?.bytes().await?, bytes);
    let report = storage.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.blobs, 1);
    drop(storage);
    let reopened = backend.open(dir.path()).await;
    assert_eq!(reopened.blob(&cksum).await?, Some(bytes));
    if let Backend::S3(_) = backend {
        // Blobs live in the bucket only; index files stay next to the database.
        assert!(!dir.path().join("blobs").exists());
        assert!(dir.path().join("index").is_dir());
    }
    Ok(())
}

#[tokio::test]
async fn a_published_blob_is_downloaded_and_survives_a_restart_on_local_disk() -> TestResult {
    publish_download_and_reopen(Backend::Local).await
}

#[tokio::test]
async fn a_published_blob_is_downloaded_and_survives_a_restart_on_s3() -> TestResult {
    publish_download_and_reopen(Backend::s3()).await
}

/// A blob of `len` bytes that compress poorly (a counter through SHA-256).
fn large_blob(len: usize) -> Bytes {
    let mut bytes = Vec::with_capacity(len + 32);
    let mut block = 0u64;
    while bytes.len() < len {
        bytes.extend_from_slice(sha256(&block.to_le_bytes()).as_bytes());
        block += 1;
    }
    bytes.truncate(len);
    Bytes::from(bytes)
}

async fn a_large_blob_is_read_in_chunks(backend: Backend) -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = backend.open(dir.path()).await;
    let alice = admin(&storage, "alice");
    let bytes = large_blob(24 << 20);
    let cksum = sha256(&bytes);
    storage
        .publish(&alice, upload_bytes("large", "1.0.0", bytes.clone()))
        .await?;
    let blob = storage
        .blob_stream(&cksum)
        .await?
        .expect("the blob is stored");
    assert_eq!(blob.size(), bytes.len() as u64);
    let chunks = blob.into_chunks().await?;
    // Never one buffer of the whole blob: the chunks arrive as the store reads them.
    let largest = chunks.iter().map(Bytes::len).max().unwrap_or_default();
    assert!(
        chunks.len() > 1 && largest < bytes.len(),
        "{} chunks, the largest {largest} bytes",
        chunks.len()
    );
    assert!(chunks.concat() == bytes, "the chunks are not the blob");
    assert!(storage.blob_stream(&sha256(b"absent")).await?.is_none());
    assert!(storage.blob_stream("not-hex").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_large_blob_is_read_in_chunks_on_local_disk() -> TestResult {
    a_large_blob_is_read_in_chunks(Backend::Local).await
}

#[tokio::test]
async fn a_large_blob_is_read_in_chunks_on_s3() -> TestResult {
    a_large_blob_is_read_in_chunks(Backend::s3()).await
}

async fn refused_publishes_store_no_blob(backend: Backend) -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = backend.open(dir.path()).await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("demo", "1.0.0")).await?;
    let duplicate = upload_bytes("demo", "1.0.0", Bytes::from_static(b"other bytes"));
    let refused = storage.publish(&alice, duplicate).await.unwrap_err();
    assert!(
        matches!(refused, StorageError::DuplicateVersion { .. }),
        "{refused}"
    );
    let clash = upload_bytes("Demo", "2.0.0", Bytes::from_static(b"clashing bytes"));
    let refused = storage.publish(&alice, clash).await.unwrap_err();
    assert!(
        matches!(refused, StorageError::NameTaken { .. }),
        "{refused}"
    );
    let raw = backend.raw_blobs(dir.path());
    for bytes in [&b"other bytes"[..], b"clashing bytes"] {
        let missing = raw.head(&blob_key(&sha256(bytes))).await.unwrap_err();
        assert!(
            matches!(missing, object_store::Error::NotFound { .. }),
            "{missing}"
        );
    }
    assert_eq!(storage.verify().await?.blobs, 1);
    Ok(())
}

#[tokio::test]
async fn refused_publishes_store_no_blob_on_local_disk() -> TestResult {
    refused_publishes_store_no_blob(Backend::Local).await
}

#[tokio::test]
async fn refused_publishes_store_no_blob_on_s3() -> TestResult {
    refused_publishes_store_no_blob(Backend::s3()).await
}

async fn orphans_are_collected(backend: Backend) -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = backend.open(dir.path()).await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("demo", "1.0.0")).await?;
    // What a crash between a publish's blob write and its commit leaves.
    let orphan = Bytes::from_static(b"never committed");
    let orphan_cksum = sha256(&orphan);
    let raw = backend.raw_blobs(dir.path());
    raw.put(&blob_key(&orphan_cksum), PutPayload::from_bytes(orphan))
        .await?;
    let young = storage.collect_garbage(GcOptions::default()).await?;
    assert_eq!((young.referenced, young.young), (1, 1));
    assert!(young.collected.is_empty());
    // Older than a grace period of nothing: listed times are in whole milliseconds or
    // seconds, so wait past the second the orphan was written in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let options = GcOptions {
        grace: Duration::ZERO,
        dry_run: false,
    };
    let report = storage.collect_garbage(options).await?;
    assert_eq!(report.referenced, 1);
    let collected: Vec<&str> = report.collected.iter().map(|b| b.cksum.as_str()).collect();
    assert_eq!(collected, [orphan_cksum.as_str()]);
    let gone = raw.head(&blob_key(&orphan_cksum)).await.unwrap_err();
    assert!(
        matches!(gone, object_store::Error::NotFound { .. }),
        "{gone}"
    );
    let verified = storage.verify().await?;
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.blobs, 1);
    Ok(())
}

#[tokio::test]
async fn orphan_blobs_are_collected_on_local_disk() -> TestResult {
    orphans_are_collected(Backend::Local).await
}

#[tokio::test]
async fn orphan_blobs_are_collected_on_s3() -> TestResult {
    orphans_are_collected(Backend::s3()).await
}

#[tokio::test]
async fn s3_signs_download_urls_that_serve_the_blob_and_local_disk_does_not() -> TestResult {
    let dir = tempfile::tempdir()?;
    let local = Backend::Local.open(dir.path()).await;
    assert!(!local.signs_download_urls());
    drop(local);

    let dir = tempfile::tempdir()?;
    let backend = Backend::s3();
    let storage = backend.open(dir.path()).await;
    assert!(storage.signs_download_urls());
    let alice = admin(&storage, "alice");
    let upload = upload("demo", "1.0.0");
    let bytes = upload.crate_bytes.clone();
    storage.publish(&alice, upload).await?;
    let url = storage
        .blob_download_url(&sha256(&bytes), Duration::from_mins(1))
        .await?
        .expect("a URL for a stored blob");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let response = reqwest::get(&url).await?;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.bytes().await?, bytes);
    // Without the signature the bucket refuses: the URL carries the permission.
    let unsigned = url.split('?').next().unwrap_or_default().to_owned();
    assert_eq!(reqwest::get(&unsigned).await?.status().as_u16(), 403);
    let missing = storage
        .blob_download_url(&sha256(b"absent"), Duration::from_mins(1))
        .await?;
    assert_eq!(missing, None);
    Ok(())
}

/// Opening on an unusable bucket fails with `expected` in the message and creates nothing.
async fn refused_at_open(config: S3Config, expected: &[&str]) -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let error = Storage::open(StorageConfig {
        data_dir: data.clone(),
        blobs: BlobBackend::S3(config),
    })
    .await
    .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, StorageError::S3Unusable { .. }),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    for fragment in expected {
        assert!(message.contains(fragment), "`{fragment}` in: {message}");
    }
    assert!(!data.exists(), "nothing created in the data directory");
    Ok(())
}

#[tokio::test]
async fn an_unusable_bucket_is_refused_at_open_with_what_to_do() -> TestResult {
    let garage = GarageServer::start();
    refused_at_open(
        s3_config(&garage, "s3://no-such-bucket/x"),
        &["s3://no-such-bucket/x", "does not exist", "create it"],
    )
    .await?;
    let mut bad_secret = s3_config(&garage, &garage.url(PREFIX));
    bad_secret
        .overrides
        .push(("aws_secret_access_key".to_owned(), "0".repeat(64)));
    refused_at_open(
        bad_secret,
        &["refused the credentials", "AWS_SECRET_ACCESS_KEY"],
    )
    .await?;
    let mut unreachable = s3_config(&garage, &garage.url(PREFIX));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let endpoint = format!("http://{closed}");
    unreachable
        .overrides
        .push(("aws_endpoint".to_owned(), endpoint.clone()));
    refused_at_open(
        unreachable,
        &["cannot reach", &endpoint, "AWS_ENDPOINT_URL"],
    )
    .await?;
    Ok(())
}
