//! Publisher keys (on either engine, through the [`Sql`] seam): the keys accounts register (`publisher_keys`), the keys bound
//! to each package (`package_keys`), and revocation, which logs an `owner_key_revoke`
//! event for every package the key was bound to.
//!
//! A key is registered with a [`KeyRegistration`] signed by the key itself (proof that the
//! account holds its secret). It becomes a publisher key of a package when the account
//! first publishes a signed release of a package that has no key (trust on first use; see
//! `signed_publish.rs`), which logs an `owner_key_add` event carrying the key's own
//! owner-key-add statement. Revocation is an account action (the key may be lost or
//! stolen): the registry writes and countersigns the owner-key-revoke statement.

use serde::Serialize;
use serde_json::json;
use wharf_trust::{KeyRegistration, OwnerKeys, PublicKey, StatementSignature, UtcTime};

use crate::queries::insert_event;
use crate::sql::{Sql, SqlRow, args};
use crate::{EventKind, Principal, StorageError};

/// How far a signed time (a registration's, a statement's) may be from the registry's
/// clock, in seconds.
pub(crate) const CLOCK_WINDOW_SECONDS: i64 = 300;

/// The publisher-key tables on SQLite, and the events table rebuilt to allow the key event kinds.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE events_with_key_kinds (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('release', 'yank', 'unyank', 'owner_add', 'owner_remove', 'owner_key_add', 'owner_key_revoke')),
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    version     TEXT,
    actor       TEXT NOT NULL,
    time        INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
INSERT INTO events_with_key_kinds (seq, kind, package_id, version, actor, time, payload)
    SELECT seq, kind, package_id, version, actor, time, payload FROM events;
DROP TABLE events;
ALTER TABLE events_with_key_kinds RENAME TO events;
CREATE INDEX events_by_package ON events (package_id, seq);
CREATE TRIGGER events_are_never_updated BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE publisher_keys (
    key_id             TEXT PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users(id),
    public_key         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    revoked_at         INTEGER,
    compromised_since  INTEGER
);
CREATE INDEX publisher_keys_by_user ON publisher_keys (user_id, created_at);
CREATE TABLE package_keys (
    package_id         INTEGER NOT NULL REFERENCES packages(id),
    key_id             TEXT NOT NULL REFERENCES publisher_keys(key_id),
    added_at           INTEGER NOT NULL,
    revoked_at         INTEGER,
    compromised_since  INTEGER,
    PRIMARY KEY (package_id, key_id)
) WITHOUT ROWID;
CREATE INDEX package_keys_by_key ON package_keys (key_id);
";

/// A publisher key registered to an account, as `wharf keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherKeyInfo {
    /// The key id, 64 lowercase hex digits.
    pub id: String,
    /// The public key's text form, `wharf-ed25519:…`.
    pub key: String,
    /// When it was registered (Unix seconds).
    pub created: i64,
    /// When it was revoked (Unix seconds), if it was.
    pub revoked: Option<i64>,
    /// From when it is declared stolen (Unix seconds), if it is.
    pub compromised_since: Option<i64>,
    /// The packages it is a publisher key of (revoked bindings included), by name.
    pub packages: Vec<String>,
}

/// Refuses a signed `time` more than [`CLOCK_WINDOW_SECONDS`] from `now`.
pub(crate) fn check_clock(time: UtcTime, now: i64, what: &str) -> Result<(), StorageError> {
    if (time.unix() - now).abs() > CLOCK_WINDOW_SECONDS {
        let now = UtcTime::from_unix(now)?;
        return Err(StorageError::InvalidSignature {
            reason: format!(
                "the {what} is dated {time}, more than {CLOCK_WINDOW_SECONDS} seconds from the registry's clock ({now}); check this machine's clock and sign again"
            ),
        });
    }
    Ok(())
}

/// Registers the key of a self-signed `registration` to `who`.
pub(crate) fn register(
    conn: &dyn Sql,
    who: &Principal,
    origin: &str,
    registration: &str,
    signature: &str,
    now: i64,
) -> Result<PublisherKeyInfo, StorageError> {
    let malformed = |what: &str, error: &dyn std::fmt::Display| StorageError::InvalidKeyRequest {
        reason: format!(
            "the key registration's {what} is malformed: {error}; register with `wharf keys register`"
        ),
    };
    let registration = KeyRegistration::parse(registration.as_bytes())
        .map_err(|error| malformed("text", &error))?;
    let signature =
        StatementSignature::parse(signature).map_err(|error| malformed("signature", &error))?;
    if registration.origin() != origin {
        return Err(StorageError::InvalidSignature {
            reason: format!(
                "the key registration is for registry `{}`, not this one (`{origin}`); register against this registry's URL",
                registration.origin()
            ),
        });
    }
    if registration.login() != who.login {
        return Err(StorageError::InvalidSignature {
            reason: format!(
                "the key registration names user `{}`, but the token is `{}`'s; register with your own token",
                registration.login(),
                who.login
            ),
        });
    }
    check_clock(registration.time(), now, "key registration")?;
    registration
        .verify(&signature)
        .map_err(|error| StorageError::InvalidSignature {
            reason: format!("{error}: the registration must be signed by the key it registers"),
        })?;
    let key = registration.key();
    let inserted = conn.exec(
        "INSERT INTO publisher_keys (key_id, user_id, public_key, created_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        args![key.key_id().to_string(), who.user_id, key.to_text(), now],
    )?;
    if inserted == 0 {
        return Err(StorageError::KeyAlreadyRegistered {
            id: key.key_id().short(),
        });
    }
    tracing::info!(user = %who.login, key = %key.key_id().short(), "publisher key registered");
    Ok(PublisherKeyInfo {
        id: key.key_id().to_string(),
        key: key.to_text(),
        created: now,
        revoked: None,
        compromised_since: None,
        packages: Vec::new(),
    })
}

/// The keys registered to `user_id`, oldest first.
pub(crate) fn list(conn: &dyn Sql, user_id: i64) -> Result<Vec<PublisherKeyInfo>, StorageError> {
    let mut keys = conn
        .rows(
            "SELECT key_id, public_key, created_at, revoked_at, compromised_since
             FROM publisher_keys WHERE user_id = ?1 ORDER BY created_at, key_id",
            args![user_id],
        )?
        .iter()
        .map(|row| {
            Ok::<_, StorageError>(PublisherKeyInfo {
                id: row.string(0)?,
                key: row.string(1)?,
                created: row.i64(2)?,
                revoked: row.opt_i64(3)?,
                compromised_since: row.opt_i64(4)?,
                packages: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    for key in &mut keys {
        key.packages = conn
            .rows(
                "SELECT p.name FROM package_keys k JOIN packages p ON p.id = k.package_id
                 WHERE k.key_id = ?1 ORDER BY p.name",
                args![&key.id],
            )?
            .iter()
            .map(|row| row.string(0))
            .collect::<Result<Vec<String>, _>>()?;
    }
    Ok(keys)
}

/// The key of `who` named by `id`: its 64-digit id or the first 16 digits.
fn find(conn: &dyn Sql, who: &Principal, id: &str) -> Result<PublisherKeyInfo, StorageError> {
    let id = id.to_ascii_lowercase();
    list(conn, who.user_id)?
        .into_iter()
        .find(|key| key.id == id || (id.len() >= 16 && key.id.starts_with(&id)))
        .ok_or_else(|| StorageError::UnknownPublisherKey {
            id,
            login: who.login.clone(),
        })
}

/// Revokes the key `id` of `who`, optionally declared stolen since `compromised_since`
/// (Unix seconds, not after now), and logs an `owner_key_revoke` event for every package it
/// is bound to. Returns the key as it now is and the packages whose log grew, with the
/// event's sequence number.
pub(crate) fn revoke(
    conn: &dyn Sql,
    who: &Principal,
    id: &str,
    compromised_since: Option<i64>,
    now: i64,
) -> Result<(PublisherKeyInfo, Vec<(i64, u64)>), StorageError> {
    let key = find(conn, who, id)?;
    let public_key = PublicKey::parse(&key.key)?;
    if key.revoked.is_some() {
        return Err(StorageError::KeyRevoked {
            id: public_key.key_id().short(),
        });
    }
    if let Some(since) = compromised_since
        && since > now
    {
        return Err(StorageError::InvalidKeyRequest {
            reason: format!(
                "`compromised-since` {} is in the future; give the time the key may have been stolen, not later than now",
                UtcTime::from_unix(since)?
            ),
        });
    }
    conn.exec(
        "UPDATE publisher_keys SET revoked_at = ?2, compromised_since = ?3 WHERE key_id = ?1",
        args![&key.id, now, compromised_since],
    )?;
    let bound: Vec<i64> = conn
        .rows(
            "SELECT package_id FROM package_keys WHERE key_id = ?1 AND revoked_at IS NULL
             ORDER BY package_id",
            args![&key.id],
        )?
        .iter()
        .map(|row| row.i64(0))
        .collect::<Result<_, _>>()?;
    let mut changed = Vec::new();
    for package_id in bound {
        conn.exec(
            "UPDATE package_keys SET revoked_at = ?3, compromised_since = ?4
             WHERE package_id = ?1 AND key_id = ?2",
            args![package_id, &key.id, now, compromised_since],
        )?;
        let payload = json!({ "key": key.key, "compromised_since": compromised_since });
        let seq = insert_event(
            conn,
            EventKind::OwnerKeyRevoke,
            package_id,
            None,
            &who.login,
            now,
            &payload,
        )?;
        changed.push((package_id, seq));
    }
    tracing::info!(user = %who.login, key = %public_key.key_id().short(), packages = changed.len(), "publisher key revoked");
    let key = find(conn, who, &key.id)?;
    Ok((key, changed))
}

/// The publisher keys of a package over time, as the log has them (threshold 1).
pub(crate) fn package_owner_keys(
    conn: &dyn Sql,
    package_id: i64,
    name: &str,
) -> Result<OwnerKeys, StorageError> {
    let rows = conn
        .rows(
            "SELECT k.public_key, pk.added_at, pk.revoked_at, pk.compromised_since
             FROM package_keys pk JOIN publisher_keys k ON k.key_id = pk.key_id
             WHERE pk.package_id = ?1 ORDER BY pk.added_at, pk.key_id",
            args![package_id],
        )?
        .iter()
        .map(|row: &SqlRow| {
            Ok::<_, StorageError>((
                row.string(0)?,
                row.i64(1)?,
                row.opt_i64(2)?,
                row.opt_i64(3)?,
            ))
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let mut owners = OwnerKeys::new(name, 1);
    for (key, added, revoked, compromised_since) in rows {
        let key = PublicKey::parse(&key)?;
        owners.add(key, UtcTime::from_unix(added)?)?;
        if let Some(revoked) = revoked {
            owners.revoke(
                &key,
                UtcTime::from_unix(revoked)?,
                compromised_since.map(UtcTime::from_unix).transpose()?,
            )?;
        }
    }
    Ok(owners)
}

/// The key `key_id` (64 hex digits) when it is registered to `user_id` and not revoked.
pub(crate) fn live_key_of_user(
    conn: &dyn Sql,
    user_id: i64,
    key_id: &str,
) -> Result<Option<PublicKey>, StorageError> {
    let key = conn
        .row(
            "SELECT public_key FROM publisher_keys
             WHERE key_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
            args![key_id, user_id],
        )?
        .map(|row| row.string(0))
        .transpose()?;
    Ok(key.map(|key| PublicKey::parse(&key)).transpose()?)
}

/// Binds `key` to the package (the first signed release's trust on first use).
pub(crate) fn bind(
    conn: &dyn Sql,
    package_id: i64,
    key: &PublicKey,
    now: i64,
) -> Result<(), StorageError> {
    conn.exec(
        "INSERT INTO package_keys (package_id, key_id, added_at) VALUES (?1, ?2, ?3)",
        args![package_id, key.key_id().to_string(), now],
    )?;
    Ok(())
}
