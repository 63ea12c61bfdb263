//! Which blob store a registry uses, and remembering it.
//!
//! Blobs go under `<data>/blobs` unless `wharf serve --storage s3://BUCKET/PREFIX` puts them
//! in a bucket. The first start with a bucket records its URL in `<data>/blob-storage`, so
//! every later command on that data directory (`wharf admin gc`, `reconcile`, `token`, a
//! restart without `--storage`) uses the same bucket, and a start that names another store
//! is refused instead of serving versions whose blobs are elsewhere. The connection
//! settings (endpoint, region, keys) always come from the `AWS_*` variables. A tenant's
//! blobs are in the registry's bucket under `PREFIX/t/<name>/` when the registry has one
//! (recorded in the tenant's own directory, so every node and command finds them there),
//! else on the local disk, each a link to the one copy its server's tenants share.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wharf_storage::{BlobBackend, S3Config, S3Location};

/// The file in the data directory that names the registry's bucket.
pub(crate) const BLOB_STORAGE_FILE: &str = "blob-storage";

/// The bucket recorded for the registry in `dir`, if any.
pub(crate) fn recorded(dir: &Path) -> anyhow::Result<Option<S3Location>> {
    let path = dir.join(BLOB_STORAGE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let location = text.trim().parse::<S3Location>().with_context(|| {
                format!(
                    "`{}` names no bucket; write the registry's `s3://BUCKET/PREFIX` in it",
                    path.display()
                )
            })?;
            Ok(Some(location))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// The blob backend `wharf serve` opens `dir` with, given its `--storage` (if any): the
/// recorded bucket when none is given, and a refusal when the given store is not the one
/// the registry's blobs are in. Returns whether the bucket still has to be recorded.
pub(crate) fn for_serve(
    dir: &Path,
    given: Option<S3Location>,
) -> anyhow::Result<(BlobBackend, Option<PathBuf>)> {
    let recorded = recorded(dir)?;
    let record = dir.join(BLOB_STORAGE_FILE);
    let location = match (given, recorded) {
        (None, None) => return Ok((local_for(dir), None)),
        (Some(given), Some(recorded)) if given != recorded => anyhow::bail!(
            "the registry in `{}` keeps its blobs at `{recorded}` (recorded in `{}`), not at `{given}`; start it with `--storage {recorded}`, or copy the blobs to the new bucket and write its URL into that file",
            dir.display(),
            record.display()
        ),
        (None | Some(_), Some(recorded)) => return Ok((s3(recorded), None)),
        (Some(given), None) => given,
    };
    if dir.join(wharf_storage::DATABASE_FILE).exists() {
        anyhow::bail!(
            "the registry in `{}` keeps its blobs in `{}`, not at `{location}`; start it without `--storage`, or copy `blobs/` into the bucket (e.g. `aws s3 sync {}/blobs {location}`) and write `{location}` into `{}`",
            dir.display(),
            dir.join("blobs").display(),
            dir.display(),
            record.display()
        );
    }
    Ok((s3(location), Some(record)))
}

/// The blob backend of the existing registry in `dir`: its recorded bucket, else the disk.
pub(crate) fn for_existing(dir: &Path) -> anyhow::Result<BlobBackend> {
    Ok(recorded(dir)?.map_or_else(|| local_for(dir), s3))
}

/// The blobs of `dir` on its own disk: a tenant's are links to the one copy of each blob
/// its server's tenants share (`DATA/tenants/.blobs`), other registries' plain files.
fn local_for(dir: &Path) -> BlobBackend {
    match crate::tenant_table::tenant_of_dir(dir) {
        Some(_) => for_tenant(dir),
        None => BlobBackend::Local,
    }
}

/// The blobs of the tenant whose data directory is `dir` (`DATA/tenants/<name>`): links to
/// the copies in `DATA/tenants/.blobs`.
pub(crate) fn for_tenant(dir: &Path) -> BlobBackend {
    let tenants = dir.parent().unwrap_or(dir);
    BlobBackend::SharedLocal(tenants.join(crate::tenant_table::SHARED_BLOBS_DIR))
}

/// The blob backend of tenant `name` of the registry in `data`, for a tenant directory
/// `dir` that does not record one yet: the registry's bucket under `PREFIX/t/<name>` (and
/// the file in `dir` to record it in), else links to the tenants' shared local copies.
pub(crate) fn for_new_tenant(
    data: &Path,
    dir: &Path,
    name: &str,
) -> anyhow::Result<(BlobBackend, Option<PathBuf>)> {
    Ok(match recorded(data)? {
        Some(registry) => (
            s3(tenant_location(&registry, name)),
            Some(dir.join(BLOB_STORAGE_FILE)),
        ),
        None => (for_tenant(dir), None),
    })
}

/// Where tenant `name` keeps its blobs in the registry's bucket: `PREFIX/t/<name>`.
fn tenant_location(registry: &S3Location, name: &str) -> S3Location {
    let prefix = registry.prefix.trim_matches('/');
    S3Location {
        bucket: registry.bucket.clone(),
        prefix: if prefix.is_empty() {
            format!("t/{name}")
        } else {
            format!("{prefix}/t/{name}")
        },
    }
}

/// Records the bucket of a new registry (after storage opened on it).
pub(crate) fn record(path: &Path, backend: &BlobBackend) -> anyhow::Result<()> {
    if let BlobBackend::S3(config) = backend {
        std::fs::write(path, format!("{}\n", config.location))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

fn s3(location: S3Location) -> BlobBackend {
    BlobBackend::S3(S3Config::from_env(location))
}

/// Parses `--storage`: an `s3://BUCKET/PREFIX` URL.
pub(crate) fn parse_storage(text: &str) -> anyhow::Result<S3Location> {
    text.trim().parse::<S3Location>().map_err(|error| {
        anyhow::anyhow!(
            "`storage`: {error}, or leave it out to keep blobs under the data directory"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_keeps_its_blobs_under_its_own_prefix_of_the_bucket() {
        let shown = |text: &str| tenant_location(&text.parse().unwrap(), "acme").to_string();
        assert_eq!(shown("s3://blobs/registry"), "s3://blobs/registry/t/acme");
        assert_eq!(shown("s3://blobs"), "s3://blobs/t/acme");
    }
}
