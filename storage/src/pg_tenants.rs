//! Tenants of a registry on PostgreSQL: one database per tenant, on the same server and with
//! the same role as the registry's own database.
//!
//! Tenant `acme` of the registry in database `wharf` keeps its metadata in the database
//! `wharf_t_acme`; the empty registry that answers names that are no tenant uses
//! `wharf_void`. A tenant's connections can only reach its own database (PostgreSQL has no
//! query across databases), so every table, trigger, sequence number, advisory lock and
//! `NOTIFY` channel is the tenant's alone: the same separation as one SQLite file per tenant.

use crate::pg::PgDatabase;
use crate::sql::{Sql, SqlValue};
use crate::{MetadataDatabase, StorageError};

/// The longest database name PostgreSQL keeps (`NAMEDATALEN - 1` bytes); longer names are
/// cut silently, so two tenants could end up in one database: refused instead.
const MAX_DATABASE_NAME: usize = 63;

/// What [`MetadataDatabase::create_database`] does when the database already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingDatabase {
    /// Refuse ([`StorageError::TenantDatabase`]): a new tenant must start empty.
    Refuse,
    /// Use it (the empty registry of unknown tenants, made once by the first server).
    Reuse,
}

impl MetadataDatabase {
    /// The metadata of tenant `tenant` of the registry kept here: the embedded database of the
    /// tenant's own data directory for an embedded registry, the database
    /// `<database>_t_<tenant>` on the same server for a PostgreSQL one.
    ///
    /// # Errors
    /// [`StorageError::InvalidDatabaseUrl`] when this URL names no database, and
    /// [`StorageError::TenantDatabase`] when the tenant's database name would be longer than
    /// PostgreSQL keeps.
    pub fn for_tenant(&self, tenant: &str) -> Result<Self, StorageError> {
        self.sibling(tenant, &format!("_t_{tenant}"))
    }

    /// The metadata of the empty registry that answers names that are no tenant:
    /// `<database>_void` next to a PostgreSQL registry (the `_t_` of tenants' names keeps it
    /// apart from every tenant), the embedded database otherwise.
    ///
    /// # Errors
    /// As [`MetadataDatabase::for_tenant`].
    pub fn for_unknown_tenants(&self) -> Result<Self, StorageError> {
        self.sibling("(unknown tenants)", "_void")
    }

    /// The database named after this one's name with `suffix`, on the same server.
    fn sibling(&self, tenant: &str, suffix: &str) -> Result<Self, StorageError> {
        let Self::Postgres(url) = self else {
            return Ok(Self::Embedded);
        };
        let config: tokio_postgres::Config =
            url.parse().map_err(|error: tokio_postgres::Error| {
                StorageError::InvalidDatabaseUrl {
                    url: crate::pg::redact(url),
                    reason: error.to_string(),
                }
            })?;
        let base = config.get_dbname().or(config.get_user()).ok_or_else(|| {
            StorageError::InvalidDatabaseUrl {
                url: crate::pg::redact(url),
                reason: "it names no database".to_owned(),
            }
        })?;
        let name = format!("{base}{suffix}");
        if name.len() > MAX_DATABASE_NAME {
            return Err(StorageError::TenantDatabase {
                tenant: tenant.to_owned(),
                database: name,
                reason: format!(
                    "PostgreSQL keeps database names of at most {MAX_DATABASE_NAME} bytes; choose a shorter tenant name"
                ),
            });
        }
        Ok(Self::Postgres(with_database_name(url, &name)))
    }

    /// Creates this PostgreSQL database through a connection to `server` (the registry's own
    /// database), with `server`'s encoding and collation and owned by its role, which needs
    /// the `CREATEDB` privilege. Nothing to do for the embedded database.
    ///
    /// # Errors
    /// [`StorageError::TenantDatabase`] when the database exists and `existing` is
    /// [`ExistingDatabase::Refuse`], or when PostgreSQL refuses to create it;
    /// [`StorageError::DatabaseUnreachable`] when `server` cannot be reached.
    pub async fn create_database(
        &self,
        server: &Self,
        tenant: &str,
        existing: ExistingDatabase,
    ) -> Result<(), StorageError> {
        let (Self::Postgres(url), Self::Postgres(server)) = (self, server) else {
            return Ok(());
        };
        let name = url
            .parse::<tokio_postgres::Config>()
            .ok()
            .and_then(|config| config.get_dbname().map(str::to_owned))
            .unwrap_or_default();
        let server = server.clone();
        let tenant = tenant.to_owned();
        tokio::task::spawn_blocking(move || create(&server, &name, &tenant, existing)).await?
    }
}

/// `CREATE DATABASE name` on the server of `server_url`, unless it exists (see
/// [`ExistingDatabase`]).
fn create(
    server_url: &str,
    name: &str,
    tenant: &str,
    existing: ExistingDatabase,
) -> Result<(), StorageError> {
    let refused = |reason: String| StorageError::TenantDatabase {
        tenant: tenant.to_owned(),
        database: name.to_owned(),
        reason,
    };
    let server = PgDatabase::connect(server_url)?;
    let conn = server.connection()?;
    let found = conn.rows(
        "SELECT 1 FROM pg_database WHERE datname = ?1",
        &[SqlValue::Text(name.to_owned())],
    )?;
    if !found.is_empty() {
        return match existing {
            ExistingDatabase::Reuse => Ok(()),
            ExistingDatabase::Refuse => Err(refused(
                "it exists already; drop it (`dropdb`) if nothing uses it, or choose another tenant name".to_owned(),
            )),
        };
    }
    let locale = conn
        .row(
            "SELECT pg_encoding_to_char(encoding)::text, datcollate::text, datctype::text \
             FROM pg_database WHERE datname = current_database()",
            &[],
        )?
        .ok_or_else(|| refused("the registry's own database is not in pg_database".to_owned()))?;
    let text = |column: usize| locale.string(column);
    let statement = format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        identifier(name),
        literal(&text(0)?),
        literal(&text(1)?),
        literal(&text(2)?),
    );
    conn.batch(&statement).map_err(|error| {
        refused(format!(
            "{error}; the registry's PostgreSQL role needs the CREATEDB privilege (`ALTER ROLE ... CREATEDB`)"
        ))
    })?;
    tracing::info!(database = name, tenant, "PostgreSQL database created");
    Ok(())
}

/// `name` as a quoted SQL identifier.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `url` with its database (the URL's path) replaced by `name`, percent-encoded.
fn with_database_name(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(head, query)| (head, Some(query)));
    let authority_start = head.find("://").map_or(0, |scheme| scheme + 3);
    let host_start = head[authority_start..]
        .rfind('@')
        .map_or(authority_start, |at| authority_start + at + 1);
    let path_start = head[host_start..]
        .find('/')
        .map_or(head.len(), |slash| host_start + slash);
    let mut rebuilt = format!("{}/", &head[..path_start]);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            rebuilt.push(char::from(byte));
        } else {
            rebuilt.push('%');
            rebuilt.push_str(&hex::encode_upper([byte]));
        }
    }
    if let Some(query) = query {
        rebuilt.push('?');
        rebuilt.push_str(query);
    }
    rebuilt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_database_is_named_after_the_registry_database_on_the_same_server() {
        let base = MetadataDatabase::Postgres(
            "postgres://wharf:secret@db:5432/wharf?sslmode=disable".to_owned(),
        );
        assert_eq!(
            base.for_tenant("acme-eu").unwrap(),
            MetadataDatabase::Postgres(
                "postgres://wharf:secret@db:5432/wharf_t_acme-eu?sslmode=disable".to_owned()
            )
        );
        assert_eq!(
            base.for_unknown_tenants().unwrap(),
            MetadataDatabase::Postgres(
                "postgres://wharf:secret@db:5432/wharf_void?sslmode=disable".to_owned()
            )
        );
        let no_path = MetadataDatabase::Postgres("postgres://registry@db".to_owned());
        assert_eq!(
            no_path.for_tenant("acme").unwrap(),
            MetadataDatabase::Postgres("postgres://registry@db/registry_t_acme".to_owned())
        );
        assert_eq!(
            MetadataDatabase::Embedded.for_tenant("acme").unwrap(),
            MetadataDatabase::Embedded
        );
    }

    #[test]
    fn a_tenant_database_name_postgres_would_cut_is_refused() {
        let base = MetadataDatabase::Postgres("postgres://wharf@db/wharf".to_owned());
        let long = format!("a{}", "b".repeat(60));
        let error = base.for_tenant(&long).unwrap_err().to_string();
        assert!(
            error.contains(&long) && error.contains("at most 63 bytes") && !error.contains('\n'),
            "{error}"
        );
    }
}
