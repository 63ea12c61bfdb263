//! Web UI sign-in sessions, kept in the metadata database (SQLite or PostgreSQL) so they
//! survive a restart and, on PostgreSQL, are seen by every server on the database.
//!
//! A row holds only the SHA-256 of the session id (the browser's cookie holds the id), the
//! id of the API token the user signed in with, and the expiry: never the token's secret.
//! Each lookup authenticates that token again by its stored digest, so a revoked or expired
//! token ends the session; revoking a token also deletes its sessions (a trigger on SQLite,
//! a trigger function on PostgreSQL: `pg_catalogue.rs`), and a
//! session past its expiry is never answered and is deleted on the next sign-in.

use crate::auth::token_digest;
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::{Principal, Storage, StorageError};

/// The most sessions kept at once; beyond it the one closest to expiry goes.
pub const MAX_WEB_SESSIONS: i64 = 10_000;

/// The migration that adds the sessions table and ends sessions with their token.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE web_sessions (
    id_sha256   TEXT PRIMARY KEY,
    token_id    INTEGER NOT NULL REFERENCES tokens(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_by_token ON web_sessions (token_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
CREATE TRIGGER web_sessions_end_with_token AFTER UPDATE OF revoked_at ON tokens
WHEN NEW.revoked_at IS NOT NULL
BEGIN
    DELETE FROM web_sessions WHERE token_id = NEW.id;
END;
";

/// A live session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Who signed in, as the session's token authenticates now.
    pub principal: Principal,
    /// When the session ends (unix seconds).
    pub expires_at: i64,
}

/// Stores a session: drops expired ones, makes room under [`MAX_WEB_SESSIONS`], inserts.
pub(crate) fn insert(
    conn: &dyn Sql,
    id_sha256: &str,
    token_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), StorageError> {
    conn.exec(
        "DELETE FROM web_sessions WHERE expires_at <= ?1",
        args![now],
    )?;
    let live = conn.one_i64("SELECT count(*) FROM web_sessions", args![])?;
    if live >= MAX_WEB_SESSIONS {
        conn.exec(
            "DELETE FROM web_sessions WHERE id_sha256 IN
               (SELECT id_sha256 FROM web_sessions ORDER BY expires_at LIMIT ?1)",
            args![live - MAX_WEB_SESSIONS + 1],
        )?;
    }
    conn.exec(
        "INSERT INTO web_sessions (id_sha256, token_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        args![id_sha256, token_id, now, expires_at],
    )?;
    Ok(())
}

/// The stored digest of the live session's token and the session's expiry.
pub(crate) fn lookup(
    conn: &dyn Sql,
    id_sha256: &str,
    now: i64,
) -> Result<Option<(String, i64)>, StorageError> {
    conn.row(
        "SELECT t.token_sha256, s.expires_at FROM web_sessions s
         JOIN tokens t ON t.id = s.token_id
         WHERE s.id_sha256 = ?1 AND s.expires_at > ?2",
        args![id_sha256, now],
    )?
    .map(|row| Ok((row.string(0)?, row.i64(1)?)))
    .transpose()
}

impl Storage {
    /// Starts a session under `id_sha256` (the SHA-256 of the browser's session id, in hex)
    /// for the presented API token, for `lifetime_seconds`; the token is authenticated first
    /// and only its id is stored.
    pub async fn create_web_session(
        &self,
        token: &str,
        id_sha256: &str,
        lifetime_seconds: i64,
    ) -> Result<Principal, StorageError> {
        let principal = self.authenticate_async(token).await?;
        let (id, token_id) = (id_sha256.to_owned(), principal.token_id);
        self.inner
            .writer
            .run_sql(move |conn| {
                let now = now_unix();
                insert(conn, &id, token_id, now, now + lifetime_seconds)
            })
            .await?;
        Ok(principal)
    }

    /// The live session stored under `id_sha256`, its token authenticated again; `None`
    /// (and the session deleted) when its token is revoked or expired, `None` when there is
    /// no live session.
    pub async fn web_session(&self, id_sha256: &str) -> Result<Option<WebSession>, StorageError> {
        let id = id_sha256.to_owned();
        let Some((digest, expires_at)) = self
            .read_sql(move |conn| lookup(conn, &id, now_unix()))
            .await?
        else {
            return Ok(None);
        };
        match self.authenticate_digest(digest).await {
            Ok(principal) => Ok(Some(WebSession {
                principal,
                expires_at,
            })),
            Err(
                StorageError::InvalidToken
                | StorageError::ExpiredToken
                | StorageError::RevokedToken,
            ) => {
                self.end_web_session(id_sha256).await?;
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Ends the session stored under `id_sha256` (nothing when there is none).
    pub async fn end_web_session(&self, id_sha256: &str) -> Result<(), StorageError> {
        let id = id_sha256.to_owned();
        self.inner
            .writer
            .run_sql(move |conn| {
                conn.exec("DELETE FROM web_sessions WHERE id_sha256 = ?1", args![id])?;
                Ok(())
            })
            .await
    }

    /// How many sessions are stored (live or not yet swept).
    pub async fn web_session_count(&self) -> Result<u64, StorageError> {
        self.read_sql(|conn| {
            let count = conn.one_i64("SELECT count(*) FROM web_sessions", args![])?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }
}

/// The digest under which a session id is stored.
#[must_use]
pub fn web_session_digest(id: &str) -> String {
    token_digest(id)
}
