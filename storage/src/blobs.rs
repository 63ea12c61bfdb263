//! Content-addressed blobs: `.crate` bytes stored under `sha256/ab/cd/<hex>`.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use crate::StorageError;

/// The key prefix under which all blobs live.
pub(crate) const BLOB_PREFIX: &str = "sha256";

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `cksum` is 64 lowercase hex digits (what cargo compares against).
pub(crate) fn is_valid_cksum(cksum: &str) -> bool {
    cksum.len() == 64
        && cksum
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The object key of a blob, or `None` when `cksum` is not a lowercase hex SHA-256.
pub(crate) fn blob_key(cksum: &str) -> Option<Path> {
    is_valid_cksum(cksum).then(|| {
        Path::from(format!(
            "{BLOB_PREFIX}/{}/{}/{cksum}",
            &cksum[0..2],
            &cksum[2..4]
        ))
    })
}

/// Stores `bytes` under its checksum. Idempotent: the same bytes always land on the same key.
pub(crate) async fn put_blob(
    store: &dyn ObjectStore,
    cksum: &str,
    bytes: Bytes,
) -> Result<(), StorageError> {
    let key = blob_key(cksum).ok_or(StorageError::ChecksumMismatch)?;
    store.put(&key, PutPayload::from_bytes(bytes)).await?;
    Ok(())
}

/// Reads a blob; `None` when it is absent or `cksum` is not a valid checksum.
pub(crate) async fn get_blob(
    store: &dyn ObjectStore,
    cksum: &str,
) -> Result<Option<Bytes>, StorageError> {
    let Some(key) = blob_key(cksum) else {
        return Ok(None);
    };
    match store.get(&key).await {
        Ok(found) => Ok(Some(found.bytes().await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// A blob read from the store a chunk at a time, so serving it never holds it whole in
/// memory (an object in a bucket arrives in the chunks of its HTTP response, a local file in
/// reads of a few kilobytes).
pub struct BlobStream {
    /// The blob's length in bytes, as the store reports it.
    size: u64,
    /// The chunks, in order.
    chunks: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BlobStream {
    /// The blob's length in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next chunk: `Ready(None)` after the last one; an error when the store failed
    /// mid-way (the blob is then incomplete and must not be served as whole).
    pub fn poll_chunk(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, StorageError>>> {
        self.chunks.poll_next_unpin(cx)
    }

    /// Every chunk, in order (for tests and small blobs).
    ///
    /// # Errors
    /// When the store fails mid-way.
    pub async fn into_chunks(self) -> Result<Vec<Bytes>, StorageError> {
        self.chunks.try_collect().await
    }
}

/// Opens a blob for reading a chunk at a time; `None` when it is absent or `cksum` is not a
/// valid checksum.
pub(crate) async fn get_blob_stream(
    store: &dyn ObjectStore,
    cksum: &str,
) -> Result<Option<BlobStream>, StorageError> {
    let Some(key) = blob_key(cksum) else {
        return Ok(None);
    };
    match store.get(&key).await {
        Ok(found) => Ok(Some(BlobStream {
            size: found.meta.size,
            chunks: found.into_stream().map_err(StorageError::from).boxed(),
        })),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// Every blob key in the store, with the checksum its key claims.
pub(crate) async fn list_blobs(store: &dyn ObjectStore) -> Result<Vec<Path>, StorageError> {
    let prefix = Path::from(BLOB_PREFIX);
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    Ok(metas.into_iter().map(|meta| meta.location).collect())
}

/// Checks one listed blob: its key must be well formed and its bytes must hash to it.
/// Returns a sentence describing the problem, if any.
pub(crate) async fn check_blob(
    store: &dyn ObjectStore,
    key: &Path,
) -> Result<Option<String>, StorageError> {
    let claimed = key.filename().unwrap_or_default().to_owned();
    if blob_key(&claimed).as_ref() != Some(key) {
        return Ok(Some(format!("blob key `{key}` is not a sha256 blob key")));
    }
    let bytes = store.get(key).await?.bytes().await?;
    let actual = sha256_hex(&bytes);
    Ok((actual != claimed).then(|| format!("blob `{key}` has sha256 `{actual}`")))
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn keys_fan_out_by_prefix_and_reject_bad_checksums() {
        let cksum = sha256_hex(b"hello");
        let key = blob_key(&cksum).unwrap();
        assert_eq!(
            key.as_ref(),
            format!("sha256/{}/{}/{cksum}", &cksum[..2], &cksum[2..4])
        );
        assert!(blob_key(&cksum.to_uppercase()).is_none());
        assert!(blob_key("../../etc/passwd").is_none());
        assert!(blob_key(&cksum[..63]).is_none());
    }

    #[tokio::test]
    async fn put_is_idempotent_and_missing_is_none() {
        let store = InMemory::new();
        let cksum = sha256_hex(b"crate bytes");
        put_blob(&store, &cksum, Bytes::from_static(b"crate bytes"))
            .await
            .unwrap();
        put_blob(&store, &cksum, Bytes::from_static(b"crate bytes"))
            .await
            .unwrap();
        assert_eq!(
            get_blob(&store, &cksum).await.unwrap().unwrap(),
            Bytes::from_static(b"crate bytes")
        );
        assert_eq!(get_blob(&store, &sha256_hex(b"other")).await.unwrap(), None);
        assert_eq!(get_blob(&store, "not-hex").await.unwrap(), None);
        let keys = list_blobs(&store).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(check_blob(&store, &keys[0]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn tampered_blobs_are_reported() {
        let store = InMemory::new();
        let cksum = sha256_hex(b"original");
        let key = blob_key(&cksum).unwrap();
        store
            .put(&key, PutPayload::from_static(b"tampered"))
            .await
            .unwrap();
        let problem = check_blob(&store, &key).await.unwrap().unwrap();
        assert!(problem.contains(&cksum), "{problem}");
    }
}
