//! Where storage keeps its data: the data directory and the blob backend.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

use bytes::Bytes;

use crate::StorageError;
use crate::blobs::put_blob;
use crate::s3::{S3Blobs, S3Config};
use crate::shared_blobs::SharedBlobs;

/// How to open a [`crate::Storage`].
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Directory holding `wharf.db`, `index/` (except for [`BlobBackend::Custom`] and
    /// [`BlobBackend::Memory`]) and, for [`BlobBackend::Local`], `blobs/`.
    pub data_dir: PathBuf,
    /// Where blobs and derived index files go.
    pub blobs: BlobBackend,
}

impl StorageConfig {
    /// The zero-configuration default: everything under `data_dir`, blobs on the local disk.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            blobs: BlobBackend::Local,
        }
    }
}

/// The object store for blobs (`sha256/ab/cd/<hex>`) and index files (`index/<path>`).
///
/// With [`BlobBackend::S3`] only the blobs are remote: index files stay under
/// `<data_dir>/index`. They are derived from the database (which is local too), rebuilt by
/// reconcile, and read on every index request, so they belong next to the database and
/// off the network path.
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// Blobs under `<data_dir>/blobs`, fsynced before a publish is acknowledged; index files
    /// under `<data_dir>/index`.
    Local,
    /// Process memory, for unit tests: nothing survives the process.
    Memory,
    /// Blobs under `<data_dir>/blobs` as with [`BlobBackend::Local`], each file a hard link
    /// to the one copy of its bytes in the directory given, which several registries on one
    /// disk share (a server's tenants); a registry still reads and deletes only its own
    /// links (`shared_blobs.rs`).
    SharedLocal(PathBuf),
    /// Any object store; it must make a successful `put` durable. Index files go to it too.
    Custom(Arc<dyn ObjectStore>),
    /// Blobs in an S3 bucket under a prefix (`s3://BUCKET/PREFIX`); index files under
    /// `<data_dir>/index`. Storage refuses to open when the bucket cannot be written, read
    /// and deleted from.
    S3(S3Config),
}

/// The two object stores storage writes to. For the custom and memory backends both are the
/// same store (the key prefixes `sha256/` and `index/` keep them apart).
#[derive(Debug, Clone)]
pub(crate) struct ObjectStores {
    /// Content-addressed `.crate` blobs; a successful put is durable.
    pub(crate) blobs: Arc<dyn ObjectStore>,
    /// Derived index files; a put is atomic but need not be durable.
    pub(crate) index: Arc<dyn ObjectStore>,
    /// The S3 bucket, when blobs are there: it signs download URLs.
    pub(crate) s3: Option<S3Blobs>,
    /// The shared directory blobs are written through, with [`BlobBackend::SharedLocal`].
    pub(crate) shared: Option<SharedBlobs>,
}

impl ObjectStores {
    /// Stores `bytes` under `cksum` in the blob store (through the shared directory when
    /// there is one). Idempotent; durable when it returns.
    pub(crate) async fn put_blob(&self, cksum: &str, bytes: Bytes) -> Result<(), StorageError> {
        match &self.shared {
            Some(shared) => shared.put(cksum, bytes).await,
            None => put_blob(self.blobs.as_ref(), cksum, bytes).await,
        }
    }
}

impl BlobBackend {
    /// Connects to the remote bucket, if any, checking it can be used: before anything in the
    /// data directory is touched, so a bad bucket changes nothing.
    pub(crate) async fn connect(&self) -> Result<Option<S3Blobs>, StorageError> {
        match self {
            Self::S3(config) => S3Blobs::connect(config).await.map(Some),
            Self::Local | Self::SharedLocal(_) | Self::Memory | Self::Custom(_) => Ok(None),
        }
    }

    /// The remote bucket, if any, without the write probe [`Self::connect`] makes (for a
    /// read-only open: a bucket that cannot be read fails at the first read).
    pub(crate) fn connect_read_only(&self) -> Result<Option<S3Blobs>, StorageError> {
        match self {
            Self::S3(config) => S3Blobs::connect_read_only(config).map(Some),
            Self::Local | Self::SharedLocal(_) | Self::Memory | Self::Custom(_) => Ok(None),
        }
    }

    /// Opens the stores of an existing data directory, creating nothing.
    pub(crate) fn open_existing(
        &self,
        data_dir: &std::path::Path,
        s3: Option<S3Blobs>,
    ) -> Result<ObjectStores, StorageError> {
        if let Self::Local | Self::SharedLocal(_) = self {
            let blob_dir = data_dir.join("blobs");
            if !blob_dir.is_dir() {
                return Err(StorageError::Path {
                    path: blob_dir,
                    cause: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the registry's blob directory is missing",
                    ),
                });
            }
            return Ok(ObjectStores {
                blobs: Arc::new(LocalFileSystem::new_with_prefix(&blob_dir)?),
                index: Arc::new(LocalFileSystem::new_with_prefix(data_dir)?),
                s3: None,
                shared: self.shared(&blob_dir),
            });
        }
        self.open(data_dir, s3)
    }

    /// The shared directory a registry whose own blobs are in `blob_dir` writes through.
    fn shared(&self, blob_dir: &std::path::Path) -> Option<SharedBlobs> {
        match self {
            Self::SharedLocal(shared) => {
                Some(SharedBlobs::new(shared.clone(), blob_dir.to_path_buf()))
            }
            _ => None,
        }
    }

    /// Opens the stores, creating local directories as needed; `s3` is what
    /// [`Self::connect`] returned.
    pub(crate) fn open(
        &self,
        data_dir: &std::path::Path,
        s3: Option<S3Blobs>,
    ) -> Result<ObjectStores, StorageError> {
        Ok(match (self, s3) {
            (Self::S3(config), None) => {
                return Err(StorageError::S3Unusable {
                    location: config.location.to_string(),
                    reason: "the bucket was not connected before opening".to_owned(),
                });
            }
            (Self::S3(_), Some(s3)) => ObjectStores {
                blobs: s3.store(),
                index: Arc::new(LocalFileSystem::new_with_prefix(data_dir)?),
                s3: Some(s3),
                shared: None,
            },
            (_, Some(_)) => unreachable!("only the S3 backend connects"),
            (Self::Local | Self::SharedLocal(_), None) => {
                let blob_dir = data_dir.join("blobs");
                std::fs::create_dir_all(&blob_dir).map_err(|cause| StorageError::Path {
                    path: blob_dir.clone(),
                    cause,
                })?;
                // `with_fsync` syncs the file and its parent directories before `put` returns.
                let blobs = LocalFileSystem::new_with_prefix(&blob_dir)?.with_fsync(true);
                let index = LocalFileSystem::new_with_prefix(data_dir)?;
                ObjectStores {
                    blobs: Arc::new(blobs),
                    index: Arc::new(index),
                    s3: None,
                    shared: self.shared(&blob_dir),
                }
            }
            (Self::Memory, None) => {
                let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                ObjectStores {
                    blobs: Arc::clone(&store),
                    index: store,
                    s3: None,
                    shared: None,
                }
            }
            (Self::Custom(store), None) => ObjectStores {
                blobs: Arc::clone(store),
                index: Arc::clone(store),
                s3: None,
                shared: None,
            },
        })
    }
}
