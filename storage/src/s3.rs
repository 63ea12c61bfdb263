//! Blobs on an S3-compatible object store (`s3://BUCKET/PREFIX`), through `object_store`'s
//! S3 client.
//!
//! The client reads the usual `AWS_*` variables (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT`,
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, …);
//! [`S3Config::overrides`] puts settings above them. Requests are path-style unless
//! `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
//!
//! Blob keys are the same as on the local disk, under the prefix:
//! `PREFIX/sha256/ab/cd/<hex>`. A PUT that S3 answered with success is durable (S3's own
//! guarantee; a self-hosted server must be configured to sync its writes), so "durable
//! before acknowledged" holds as on the local disk.
//!
//! [`S3Blobs::connect`] checks the bucket before anything else starts: it writes, reads and
//! deletes a small object under `PREFIX/.wharf-probe/`, and turns the usual failures
//! (endpoint unreachable, bucket missing, credentials refused) into one line saying what
//! to do.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{Method, Signer};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::StorageError;
use crate::blobs::blob_key;

/// A bucket and a key prefix, written `s3://BUCKET/PREFIX` (the prefix may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl FromStr for S3Location {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, StorageError> {
        let invalid = |reason: &str| StorageError::InvalidS3Url {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("it does not start with `s3://`"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(invalid(
                "the bucket name must be 3 to 63 lowercase letters, digits, `-` or `.`",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if Path::parse(prefix).is_err() || prefix.split('/').any(|part| part == "..") {
            return Err(invalid(
                "the prefix must be plain path segments such as `wharf/blobs`",
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to reach the bucket: the location, and settings over the `AWS_*` environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket and key prefix.
    pub location: S3Location,
    /// Settings applied over the environment, by `object_store`'s key names (`aws_endpoint`,
    /// `aws_region`, `aws_access_key_id`, `aws_secret_access_key`, `aws_allow_http`, …).
    pub overrides: Vec<(String, String)>,
}

impl S3Config {
    /// The bucket at `location`, everything else from the `AWS_*` environment.
    #[must_use]
    pub fn from_env(location: S3Location) -> Self {
        Self {
            location,
            overrides: Vec::new(),
        }
    }

    /// The client builder: the environment, the overrides and the bucket.
    fn builder(&self) -> Result<AmazonS3Builder, StorageError> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&self.location.bucket);
        for (key, value) in &self.overrides {
            let key = AmazonS3ConfigKey::from_str(key).map_err(|_| StorageError::S3Unusable {
                location: self.location.to_string(),
                reason: format!("`{key}` is not an S3 setting; use object_store's key names such as `aws_endpoint`"),
            })?;
            builder = builder.with_config(key, value);
        }
        Ok(builder)
    }
}

/// A connected bucket: the store blobs go to (keys under the prefix) and what signs
/// download URLs.
#[derive(Debug, Clone)]
pub(crate) struct S3Blobs {
    client: Arc<AmazonS3>,
    prefix: Path,
}

impl S3Blobs {
    /// Builds the client and checks that the bucket can be written, read and deleted from.
    pub(crate) async fn connect(config: &S3Config) -> Result<Self, StorageError> {
        // The S3 client speaks HTTPS through rustls; the process picks ring.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let location = config.location.to_string();
        let builder = config.builder()?;
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| "AWS's default endpoint".to_owned());
        if builder
            .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
            .is_none()
        {
            return Err(StorageError::S3Unusable {
                location,
                reason: "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key that may read and write the bucket".to_owned(),
            });
        }
        let unusable = |error: &object_store::Error| StorageError::S3Unusable {
            location: location.clone(),
            reason: explain(error, &config.location.bucket, &endpoint),
        };
        // The probe fails fast; the serving client retries transient errors.
        let probe_client = builder
            .clone()
            .with_retry(RetryConfig {
                max_retries: 0,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|error| unusable(&error))?;
        let client = Arc::new(builder.build().map_err(|error| unusable(&error))?);
        let prefix = Path::from(config.location.prefix.as_str());
        let probe = PrefixStore::new(probe_client, prefix.clone());
        let key = Path::from(format!(
            ".wharf-probe/{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let payload = PutPayload::from_static(b"wharf probe");
        probe
            .put(&key, payload)
            .await
            .map_err(|error| unusable(&error))?;
        let read = probe.get(&key).await.map_err(|error| unusable(&error))?;
        read.bytes().await.map_err(|error| unusable(&error))?;
        probe.delete(&key).await.map_err(|error| unusable(&error))?;
        tracing::info!(%location, %endpoint, "S3 bucket reachable, writable and readable");
        Ok(Self { client, prefix })
    }

    /// Builds the client without the write probe (a read-only open): only the credentials
    /// are checked here.
    pub(crate) fn connect_read_only(config: &S3Config) -> Result<Self, StorageError> {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let location = config.location.to_string();
        let builder = config.builder()?;
        if builder
            .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
            .is_none()
        {
            return Err(StorageError::S3Unusable {
                location,
                reason: "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key that may read the bucket".to_owned(),
            });
        }
        let client = Arc::new(builder.build().map_err(|error| StorageError::S3Unusable {
            location: location.clone(),
            reason: error.to_string(),
        })?);
        Ok(Self {
            client,
            prefix: Path::from(config.location.prefix.as_str()),
        })
    }

    /// The store blob keys (`sha256/…`) are written to, under the prefix.
    pub(crate) fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(PrefixStore::new(
            Arc::clone(&self.client),
            self.prefix.clone(),
        ))
    }

    /// A presigned GET URL of `key` (a key as [`Self::store`] names it), valid for `expiry`.
    pub(crate) async fn download_url(
        &self,
        key: &Path,
        expiry: Duration,
    ) -> Result<String, StorageError> {
        let full: Path = self.prefix.parts().chain(key.parts()).collect();
        let url = self.client.signed_url(Method::GET, &full, expiry).await?;
        Ok(url.into())
    }
}

impl crate::Storage {
    /// Whether blobs are in a bucket that can sign download URLs (the S3 backend).
    #[must_use]
    pub fn signs_download_urls(&self) -> bool {
        self.inner.stores.s3.is_some()
    }

    /// A presigned URL the blob with this checksum can be downloaded from for `expiry`;
    /// `None` when the blob is absent or `cksum` is not a checksum. Errors with the local
    /// backends, which cannot sign: check [`crate::Storage::signs_download_urls`].
    pub async fn blob_download_url(
        &self,
        cksum: &str,
        expiry: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        let Some(s3) = &self.inner.stores.s3 else {
            return Err(StorageError::ObjectStore(
                object_store::Error::NotSupported {
                    source: "only S3 blob storage signs download URLs".into(),
                },
            ));
        };
        let Some(key) = blob_key(cksum) else {
            return Ok(None);
        };
        // A URL for a missing blob would answer 403 or 404 depending on the bucket's policy;
        // the registry answers 404 itself.
        match self.inner.stores.blobs.head(&key).await {
            Ok(_) => s3.download_url(&key, expiry).await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

/// One sentence for a failed probe: what went wrong and what to do.
fn explain(error: &object_store::Error, bucket: &str, endpoint: &str) -> String {
    let chain: String =
        std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |error| {
            error.source()
        })
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    let text = chain.replace('\n', " ");
    if text.contains("NoSuchBucket") {
        format!(
            "bucket `{bucket}` does not exist at {endpoint}; create it (e.g. `garage bucket create {bucket}`, `aws s3 mb s3://{bucket}`) or name an existing bucket"
        )
    } else if matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "Forbidden",
        "403",
    ]
    .iter()
    .any(|needle| text.contains(needle))
    {
        format!(
            "{endpoint} refused the credentials for bucket `{bucket}` ({text}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION, and that the key may read, write and delete in the bucket"
        )
    } else if [
        "error sending request",
        "connect",
        "Connection refused",
        "dns error",
        "timed out",
    ]
    .iter()
    .any(|needle| text.contains(needle))
    {
        format!(
            "cannot reach {endpoint} ({text}); check AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for an http:// endpoint) and that the S3 server runs"
        )
    } else {
        format!("writing a test object to bucket `{bucket}` at {endpoint} failed: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        let with_prefix: S3Location = "s3://wharf/registry/blobs/".parse().unwrap();
        assert_eq!(with_prefix.bucket, "wharf");
        assert_eq!(with_prefix.prefix, "registry/blobs");
        assert_eq!(with_prefix.to_string(), "s3://wharf/registry/blobs");
        let bare: S3Location = "s3://wharf".parse().unwrap();
        assert_eq!(bare.prefix, "");
        for bad in [
            "wharf",
            "http://x/y",
            "s3://",
            "s3://UPPER/x",
            "s3://ok-name/a/../b",
        ] {
            let error = bad.parse::<S3Location>().unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }
}
