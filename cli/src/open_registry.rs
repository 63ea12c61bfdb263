//! Opening a registry's storage, for `wharf serve` and for the commands that work on a data
//! directory: metadata in the embedded SQLite database (the default) or in PostgreSQL
//! (`--database postgres://…`).
//!
//! A node on PostgreSQL keeps its signing keys, index files and (without `--storage`) blobs in
//! its data directory, and records the database it belongs to in `<data>/database` (the URL
//! with its password left out). That record lets every later command on the directory refuse
//! a mix-up in one line: `wharf serve` without `--database` on a node's directory, a node's
//! `--database` on a directory that holds an embedded registry, or a command that works on
//! the embedded database only.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use wharf_storage::{MetadataDatabase, S3Location, Storage};

/// The file in a node's data directory that names its PostgreSQL database (no password).
pub(crate) const DATABASE_RECORD: &str = "database";

/// A `--database` value as given (`sqlite` or a PostgreSQL URL, parsed later). It may hold a
/// password, so `Debug` shows it without one, like every log line and error.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The value as given, password included: only for connecting.
    pub(crate) fn as_given(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&wharf_storage::redact_database_url(&self.0), f)
    }
}

/// `--database` of the commands other than `serve` that open a registry.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct DatabaseArg {
    /// The registry's PostgreSQL database, `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, as
    /// given to `wharf serve --database`, when its metadata lives there [default: the data
    /// directory's embedded database].
    #[arg(long, env = "WHARF_DATABASE", value_name = "URL")]
    pub(crate) database: Option<DatabaseUrl>,
}

impl DatabaseArg {
    /// The database named, or the embedded one.
    pub(crate) fn parsed(&self) -> anyhow::Result<MetadataDatabase> {
        self.database
            .as_ref()
            .map(|url| MetadataDatabase::parse(url.as_given()))
            .transpose()
            .map_err(|error| anyhow::anyhow!("`--database`: {error}"))
            .map(Option::unwrap_or_default)
    }
}

/// The database as recorded and logged: `sqlite`, or the URL without its password.
pub(crate) fn shown(database: &MetadataDatabase) -> String {
    match database {
        MetadataDatabase::Embedded => "sqlite".to_owned(),
        MetadataDatabase::Postgres(url) => wharf_storage::redact_database_url(url),
    }
}

/// The PostgreSQL database recorded in `dir`, if any (its URL without password).
fn recorded_database(dir: &Path) -> anyhow::Result<Option<String>> {
    let path = dir.join(DATABASE_RECORD);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        // A data path that is a file, or lies under one, is named by the directory checks
        // that follow (one line with its cause), not as this record's read error.
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Creates `dir` when missing and checks it is a readable directory.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => anyhow::bail!(
            "data directory `{}` is a file, not a directory; give a directory with `--data DIR` or `WHARF_DATA`",
            dir.display()
        ),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory `{}`", dir.display()))?,
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot use data directory `{}`", dir.display()));
        }
    }
    // Reading the directory first names it when it is unreadable; SQLite would not.
    std::fs::read_dir(dir)
        .with_context(|| format!("cannot read data directory `{}`", dir.display()))?;
    Ok(())
}

/// Refuses to serve `dir` with `database` when the directory belongs to the other engine.
fn check_serve_database(dir: &Path, database: &MetadataDatabase) -> anyhow::Result<()> {
    let recorded = recorded_database(dir)?;
    let embedded = dir.join(wharf_storage::DATABASE_FILE).exists();
    match (database, recorded) {
        (MetadataDatabase::Embedded, Some(recorded)) => anyhow::bail!(
            "the data directory `{}` belongs to a node of the registry in PostgreSQL `{recorded}` (recorded in `{}`); start it with `--database` and that URL with its password (or WHARF_DATABASE, or the config key `database`)",
            dir.display(),
            dir.join(DATABASE_RECORD).display()
        ),
        (MetadataDatabase::Postgres(_), _) if embedded => anyhow::bail!(
            "the data directory `{}` holds a registry in its embedded database `{}`, so it cannot be a node of `{}`; give the node a new, empty data directory (with `keys/` copied from a node of that registry), or start without `--database`",
            dir.display(),
            wharf_storage::DATABASE_FILE,
            shown(database)
        ),
        _ => Ok(()),
    }
}

/// Opens the storage in `dir` (index files, and blobs on the local disk or in the bucket of
/// `storage`) with the metadata in `database`, creating the directory and an empty registry
/// if there is none: only `wharf serve` does this (and `wharf tenant create` for a tenant's
/// directory, [`open_tenant_node`]). A registry made by this start is named `origin` in its
/// signed documents. A node on PostgreSQL checks its keys against the
/// registry's keyset and records its database in `dir`.
pub(crate) async fn open_node(
    dir: &Path,
    storage: Option<S3Location>,
    database: &MetadataDatabase,
    origin: Option<String>,
) -> anyhow::Result<Storage> {
    prepare_data_dir(dir)?;
    check_serve_database(dir, database)?;
    let (blobs, record) = crate::blob_storage::for_serve(dir, storage)?;
    open_prepared(dir, blobs, record.as_deref(), database, origin).await
}

/// Opens the registry of tenant `name` of the registry in `data` (its directory
/// `<data>/tenants/<name>`) with its metadata in `database`, making the directory and the
/// registry when they are new (`wharf tenant create`, or a node serving a tenant made
/// elsewhere, after its keys were installed): its blobs go where the directory records, or,
/// for a new one, under the registry's bucket (`PREFIX/t/<name>`) or as links to the copies
/// the server's tenants share on the local disk.
pub(crate) async fn open_tenant_node(
    data: &Path,
    name: &str,
    database: &MetadataDatabase,
) -> anyhow::Result<Storage> {
    let dir = crate::tenant_table::tenant_dir(data, name);
    prepare_data_dir(&dir)?;
    check_serve_database(&dir, database)?;
    let made_before = dir.join(DATABASE_RECORD).exists()
        || dir.join(wharf_storage::DATABASE_FILE).exists()
        || crate::blob_storage::recorded(&dir)?.is_some();
    let (blobs, record) = if made_before {
        (crate::blob_storage::for_existing(&dir)?, None)
    } else {
        crate::blob_storage::for_new_tenant(data, &dir, name)?
    };
    let storage = open_prepared(&dir, blobs, record.as_deref(), database, None).await?;
    storage.set_tenant(name);
    Ok(storage)
}

/// Opens (creating) the registry in the prepared `dir` with `blobs` (recording its bucket in
/// `record` when one is given) and the metadata in `database`.
async fn open_prepared(
    dir: &Path,
    blobs: wharf_storage::BlobBackend,
    record: Option<&Path>,
    database: &MetadataDatabase,
    origin: Option<String>,
) -> anyhow::Result<Storage> {
    let config = wharf_storage::StorageConfig {
        data_dir: dir.to_path_buf(),
        blobs: blobs.clone(),
    };
    let opened = Storage::open_with_origin(config, database.clone(), origin)
        .await
        .with_context(|| format!("cannot open the registry in `{}`", dir.display()))?;
    if let Some(record) = record {
        crate::blob_storage::record(record, &blobs)?;
    }
    if let MetadataDatabase::Postgres(_) = database {
        let path = dir.join(DATABASE_RECORD);
        std::fs::write(&path, format!("{}\n", shown(database)))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(opened)
}

/// Opens the registry whose data is in `dir`, for the commands other than `serve`: a
/// directory without a registry database is refused (and nothing is created), so a command
/// run from the wrong place cannot make a registry no server uses. For the commands that
/// work on the embedded database only: a node of a PostgreSQL registry is refused, naming
/// what to use instead.
pub(crate) async fn open_existing_storage(dir: &Path) -> anyhow::Result<Storage> {
    refuse_postgres_node(dir)?;
    check_existing_registry(dir)?;
    open_in(dir, &MetadataDatabase::Embedded).await
}

/// [`open_existing_storage`] for the commands that take `--database`: a node's directory
/// with its PostgreSQL database, or an embedded registry.
pub(crate) async fn open_existing_storage_on(
    dir: &Path,
    database: &DatabaseArg,
) -> anyhow::Result<Storage> {
    open_existing_on(dir, &database.parsed()?).await
}

/// [`open_existing_storage_on`] with the database parsed: a node's directory with its
/// PostgreSQL database, or an embedded registry.
pub(crate) async fn open_existing_on(
    dir: &Path,
    database: &MetadataDatabase,
) -> anyhow::Result<Storage> {
    match database {
        MetadataDatabase::Embedded => {
            if let Some(recorded) = recorded_database(dir)? {
                anyhow::bail!(
                    "the registry in `{}` keeps its metadata in PostgreSQL `{recorded}`; give `--database` with that URL and its password (or WHARF_DATABASE)",
                    dir.display()
                );
            }
            check_existing_registry(dir)?;
        }
        MetadataDatabase::Postgres(_) => {
            if recorded_database(dir)?.is_none() {
                let shown_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
                anyhow::bail!(
                    "no node of a PostgreSQL registry in `{}` (it has no `{DATABASE_RECORD}` file, which `wharf serve --database` writes); point to a node's data directory with `--data DIR` or `WHARF_DATA`",
                    shown_dir.display()
                );
            }
        }
    }
    open_in(dir, database).await
}

/// [`open_existing_storage`] without changing anything in `dir`: the database read-only (no
/// migration, no repair), blobs read from the store the registry uses (its disk or its
/// recorded bucket).
pub(crate) async fn open_existing_storage_read_only(dir: &Path) -> anyhow::Result<Storage> {
    refuse_postgres_node(dir)?;
    check_existing_registry(dir)?;
    let config = wharf_storage::StorageConfig {
        data_dir: dir.to_path_buf(),
        blobs: crate::blob_storage::for_existing(dir)?,
    };
    Storage::open_read_only(config)
        .await
        .with_context(|| format!("cannot read the registry in `{}`", dir.display()))
}

/// Refuses a node of a PostgreSQL registry for a command that works on the embedded
/// database only.
pub(crate) fn refuse_postgres_node(dir: &Path) -> anyhow::Result<()> {
    if let Some(recorded) = recorded_database(dir)? {
        anyhow::bail!(
            "the registry in `{}` keeps its metadata in PostgreSQL `{recorded}`, and this command works on the embedded database only (the commands that take `--database` work on it); a PostgreSQL registry is backed up with pg_basebackup and WAL archiving plus the bucket's versioning (docs/backup.md)",
            dir.display()
        );
    }
    Ok(())
}

/// Refuses a `dir` that holds no registry database, creating nothing.
fn check_existing_registry(dir: &Path) -> anyhow::Result<()> {
    // Messages show where the command looked, also when it was given a relative path.
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let elsewhere = "point to the registry's data directory with `--data DIR` or `WHARF_DATA` (`wharf serve` creates a registry)";
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => anyhow::bail!(
            "data directory `{}` is a file, not a directory; {elsewhere}",
            shown.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "no registry at `{}`: the directory does not exist; {elsewhere}",
            shown.display()
        ),
        Err(error) => anyhow::bail!(
            "cannot use data directory `{}`: {error}; {elsewhere}",
            shown.display()
        ),
    }
    let database = shown.join(wharf_storage::DATABASE_FILE);
    match std::fs::metadata(&database) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => anyhow::bail!(
            "`{}` is not a database file; {elsewhere}",
            database.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "no registry in `{}` (it has no `{}`); {elsewhere}",
            shown.display(),
            wharf_storage::DATABASE_FILE
        ),
        Err(error) => anyhow::bail!("cannot read `{}`: {error}", database.display()),
    }
    Ok(())
}

/// Opens the existing registry in `dir` on `database`, its blobs where it keeps them.
async fn open_in(dir: &Path, database: &MetadataDatabase) -> anyhow::Result<Storage> {
    let config = wharf_storage::StorageConfig {
        data_dir: dir.to_path_buf(),
        blobs: crate::blob_storage::for_existing(dir)?,
    };
    let storage = Storage::open_with_database(config, database.clone())
        .await
        .with_context(|| format!("cannot open the registry in `{}`", dir.display()))?;
    if let Some(tenant) = crate::tenant_table::tenant_of_dir(dir) {
        storage.set_tenant(&tenant);
    }
    OPENED_BY_COMMAND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(storage.clone());
    Ok(storage)
}

/// The registries a command opened, settled by [`run_command`] before it exits.
static OPENED_BY_COMMAND: std::sync::Mutex<Vec<Storage>> = std::sync::Mutex::new(Vec::new());

/// Runs a command's `work` on a runtime of its own, then waits until every registry it opened
/// has settled: on PostgreSQL an audit record's anchor object is written in the background
/// (and index files behind a change), and a process that exited before them would leave the
/// anchor behind the record.
pub(crate) fn run_command<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let outcome = work.await;
        let opened = std::mem::take(
            &mut *OPENED_BY_COMMAND
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for storage in opened {
            storage.settle().await;
        }
        outcome
    })
}
