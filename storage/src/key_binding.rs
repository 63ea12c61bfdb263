//! Adding a publisher key to a package explicitly (`wharf keys add-to`), besides the binding
//! a package's first signed release makes.
//!
//! The request is an owner-key-add statement and its signatures. The key it adds must be
//! registered, unrevoked, to an owner of the package. A package with keys needs the
//! statement signed by one of them, valid now (`OwnerKeys::verify`); a package without any
//! needs it signed by the key it adds (trust on first use, as `OwnerKeys::apply` wants of a
//! package's first event). The statement and the signatures that counted go into the
//! `owner_key_add` leaf.

use serde_json::json;
use wharf_trust::{PublicKey, Statement, StatementBody, StatementSignature, UtcTime};

use crate::publisher_keys::{bind, check_clock, package_owner_keys};
use crate::queries::insert_event;
use crate::sql::{Sql, args};
use crate::write_ops::{PackageChange, authorize};
use crate::{EventKind, Principal, Scope, StorageError};

fn invalid(reason: String) -> StorageError {
    StorageError::InvalidKeyRequest { reason }
}

/// Binds the key of the owner-key-add `statement` to its package; returns the package's
/// change (for its index file) and the key.
pub(crate) fn add_to_package(
    conn: &dyn Sql,
    who: &Principal,
    origin: &str,
    statement: &str,
    signatures: &[String],
    now: i64,
) -> Result<PackageChange<PublicKey>, StorageError> {
    let statement = Statement::parse(statement.as_bytes())
        .map_err(|e| invalid(format!("the owner-key-add statement is malformed: {e}")))?;
    let signatures = signatures
        .iter()
        .map(|text| StatementSignature::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("a signature is malformed: {e}")))?;
    let StatementBody::OwnerKeyAdd { key } = statement.body() else {
        return Err(invalid(format!(
            "the statement is a {}, not an owner-key-add statement",
            statement.describe()
        )));
    };
    if statement.origin() != origin {
        return Err(invalid(format!(
            "the statement is for registry `{}`, not this one (`{origin}`)",
            statement.origin()
        )));
    }
    check_clock(statement.time(), now, "owner-key-add statement")?;
    let package = authorize(conn, who, statement.name(), Scope::Owners)?;
    let id = key.key_id().to_string();
    let registered_to_owner = conn.exists(
        "SELECT u.login FROM publisher_keys k
         JOIN users u ON u.id = k.user_id
         JOIN owners o ON o.user_id = k.user_id AND o.package_id = ?2
         WHERE k.key_id = ?1 AND k.revoked_at IS NULL",
        args![id, package.id],
    )?;
    if !registered_to_owner {
        return Err(StorageError::KeyNotAllowed {
            reason: format!(
                "key {} is not a registered, unrevoked key of an owner of `{}`; its owner registers it with `wharf keys register`",
                key.key_id().short(),
                package.name
            ),
        });
    }
    let owners = package_owner_keys(conn, package.id, &package.name)?;
    if owners.keys().iter().any(|known| known.key() == key) {
        return Err(StorageError::KeyNotAllowed {
            reason: format!(
                "key {} is already a publisher key of `{}` (a revoked key never comes back; make a new one)",
                key.key_id().short(),
                package.name
            ),
        });
    }
    let counted = counted_signatures(&owners, &statement, key, &signatures, &package.name, now)?;
    bind(conn, package.id, key, now)?;
    let signatures: Vec<String> = counted.iter().map(StatementSignature::to_text).collect();
    let seq = insert_event(
        conn,
        EventKind::OwnerKeyAdd,
        package.id,
        None,
        &who.login,
        now,
        &json!({
            "key": key.to_text(),
            "statement": statement.to_text(),
            "signatures": signatures,
        }),
    )?;
    tracing::info!(user = %who.login, package = %package.name, key = %key.key_id().short(), "publisher key added");
    Ok(PackageChange {
        package_id: package.id,
        seq,
        value: *key,
    })
}

/// The signatures that authorise `statement` adding `key` to `package`: the key's own when
/// the package has no key yet, otherwise those by its current keys.
fn counted_signatures(
    owners: &wharf_trust::OwnerKeys,
    statement: &Statement,
    key: &PublicKey,
    signatures: &[StatementSignature],
    package: &str,
    now: i64,
) -> Result<Vec<StatementSignature>, StorageError> {
    if owners.keys().is_empty() {
        let own = signatures
            .iter()
            .find(|signature| signature.key_id == key.key_id())
            .ok_or_else(|| StorageError::KeyNotAllowed {
                reason: format!(
                    "`{package}` has no publisher key yet: its first key must sign its own addition (`wharf keys add-to {package} --key FILE`)"
                ),
            })?;
        statement
            .verify(own, key)
            .map_err(|e| StorageError::InvalidSignature {
                reason: e.to_string(),
            })?;
        return Ok(vec![*own]);
    }
    let ids = owners
        .verify(statement, signatures, UtcTime::from_unix(now)?)
        .map_err(|error| match error {
            error @ wharf_trust::TrustError::BadSignature { .. } => {
                StorageError::InvalidSignature {
                    reason: error.to_string(),
                }
            }
            error => StorageError::KeyNotAllowed {
                reason: format!(
                    "{error}; sign with a current publisher key of `{package}` (`--key FILE`)"
                ),
            },
        })?;
    Ok(signatures
        .iter()
        .filter(|signature| ids.contains(&signature.key_id))
        .copied()
        .collect())
}
