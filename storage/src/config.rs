//! Where storage keeps its data: the data directory and the blob backend.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

use crate::StorageError;

/// How to open a [`crate::Storage`].
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Directory holding `wharf.db` (and, for [`BlobBackend::Local`], `blobs/` and `index/`).
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
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// Blobs under `<data_dir>/blobs`, fsynced before a publish is acknowledged; index files
    /// under `<data_dir>/index`.
    Local,
    /// Process memory, for unit tests: nothing survives the process.
    Memory,
    /// Any object store (S3 and friends); it must make a successful `put` durable.
    Custom(Arc<dyn ObjectStore>),
}

/// The two object stores storage writes to. For the custom and memory backends both are the
/// same store (the key prefixes `sha256/` and `index/` keep them apart).
#[derive(Debug, Clone)]
pub(crate) struct ObjectStores {
    /// Content-addressed `.crate` blobs; a successful put is durable.
    pub(crate) blobs: Arc<dyn ObjectStore>,
    /// Derived index files; a put is atomic but need not be durable.
    pub(crate) index: Arc<dyn ObjectStore>,
}

impl BlobBackend {
    /// Opens the stores, creating local directories as needed.
    pub(crate) fn open(&self, data_dir: &std::path::Path) -> Result<ObjectStores, StorageError> {
        Ok(match self {
            Self::Local => {
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
                }
            }
            Self::Memory => {
                let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                ObjectStores {
                    blobs: Arc::clone(&store),
                    index: store,
                }
            }
            Self::Custom(store) => ObjectStores {
                blobs: Arc::clone(store),
                index: Arc::clone(store),
            },
        })
    }
}
