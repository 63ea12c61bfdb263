//! Tokens verified recently, so an authenticated request does not look its token up in SQLite
//! every time.
//!
//! An entry is trusted only while the database is unchanged. Every lookup first reads
//! `PRAGMA data_version` on a connection of the cache's own, a number that changes whenever
//! any other connection commits: this process's writer and pool, or `wharf token revoke` run
//! by another process on the same data directory. When it has changed, the cache is emptied
//! before it is read, so a revoked token, a narrowed scope or a removed user is never served
//! from it; expiry is checked on every hit. Only tokens found valid are kept (unknown ones
//! would let anyone fill memory), keyed by the token's SHA-256, so the cache holds no secret,
//! and it is emptied when it reaches [`MAX_ENTRIES`].
//!
//! On PostgreSQL, which several servers share and which has no `data_version`, the cache is
//! emptied by notifications of token and user changes instead (`token_notify.rs`).
//!
//! One lock and one watching connection serve every thread. (Splitting the cache into
//! per-thread shards, each with its own connection, was slower: concurrent reads of
//! `data_version` contend for SQLite's file locks in the kernel instead.)

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::db::open_connection;
use crate::engine::EnginePool;
use crate::token_notify::NotifiedTokenCache;
use crate::tokens::{VerifiedToken, verify_digest};
use crate::{Principal, StorageError};

/// Most tokens kept at once; a full cache starts over empty.
const MAX_ENTRIES: usize = 4096;

/// Verified tokens, valid while the database's `data_version` stays what it was (SQLite),
/// or until a change is notified (PostgreSQL).
#[derive(Debug)]
pub(crate) struct TokenCache {
    /// The database file, for the watching connection; `None` on PostgreSQL.
    db_path: Option<PathBuf>,
    state: Mutex<State>,
    /// The cache used on PostgreSQL.
    notified: NotifiedTokenCache,
}

#[derive(Debug, Default)]
struct State {
    /// A connection that only ever reads `PRAGMA data_version` (opened on first use).
    watcher: Option<Connection>,
    /// The version the entries were verified against.
    data_version: Option<i64>,
    /// Verified tokens by the hex SHA-256 of the token.
    entries: HashMap<String, VerifiedToken>,
}

impl TokenCache {
    /// An empty cache for the database at `db_path`.
    pub(crate) fn new(db_path: PathBuf) -> Self {
        Self {
            db_path: Some(db_path),
            state: Mutex::new(State::default()),
            notified: NotifiedTokenCache::default(),
        }
    }

    /// An empty cache for a PostgreSQL database, emptied by notifications of changes.
    pub(crate) fn notified() -> Self {
        Self {
            db_path: None,
            state: Mutex::new(State::default()),
            notified: NotifiedTokenCache::default(),
        }
    }

    /// Forgets every verified token, right after a token or user changed through this
    /// process (on SQLite the next lookup would notice anyway; on PostgreSQL the
    /// notification of the change arrives a moment later).
    pub(crate) fn forget_all(&self) {
        self.lock().entries.clear();
        self.notified.forget_all();
    }

    /// The principal behind the token whose hex SHA-256 is `digest`, from the cache when the
    /// database is unchanged since it was verified, else from `pool` (and then kept).
    pub(crate) fn authenticate(
        &self,
        pool: &EnginePool,
        digest: &str,
        now: i64,
    ) -> Result<Principal, StorageError> {
        let Some(db_path) = &self.db_path else {
            return match pool {
                EnginePool::Postgres(database) => self.notified.authenticate(database, digest, now),
                EnginePool::Sqlite(_) => {
                    pool.with_sql(|conn| Ok(verify_digest(conn, digest, now)?.principal))
                }
            };
        };
        let version = {
            let mut state = self.lock();
            let version = state.refresh(db_path)?;
            if let Some(answer) = state.hit(digest, now) {
                return answer;
            }
            version
        };
        // The lookup runs without the lock, so other requests are not held up by it.
        let verified = pool.with_sql(|conn| verify_digest(conn, digest, now))?;
        let principal = verified.principal.clone();
        self.keep(version, digest, verified);
        Ok(principal)
    }

    /// The answer from memory for the token whose hex SHA-256 is `digest` (its principal,
    /// or [`StorageError::ExpiredToken`]), without waiting on a database server: on SQLite
    /// after reading `data_version` from the local file, on PostgreSQL from memory alone.
    /// `None` on a miss (or when `data_version` cannot be read): then
    /// [`TokenCache::authenticate`] must look the token up.
    pub(crate) fn cached(&self, digest: &str, now: i64) -> Option<Result<Principal, StorageError>> {
        let Some(db_path) = &self.db_path else {
            return self.notified.cached(digest, now);
        };
        let mut state = self.lock();
        state.refresh(db_path).ok()?;
        state.hit(digest, now)
    }

    /// Keeps `verified` unless the database changed after `version` was read: a change seen
    /// meanwhile by another request may have revoked the token after it was looked up.
    fn keep(&self, version: i64, digest: &str, verified: VerifiedToken) {
        let mut state = self.lock();
        if state.data_version != Some(version) {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(digest.to_owned(), verified);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters: at worst an entry is missing.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tokens kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Tokens kept on PostgreSQL.
    #[cfg(test)]
    pub(crate) fn notified_len(&self) -> usize {
        self.notified.len()
    }
}

impl State {
    /// The answer the entry of `digest` gives (an expired token is refused and forgotten).
    fn hit(&mut self, digest: &str, now: i64) -> Option<Result<Principal, StorageError>> {
        let hit = self.entries.get(digest)?;
        if hit.expires_at.is_some_and(|at| at <= now) {
            self.entries.remove(digest);
            return Some(Err(StorageError::ExpiredToken));
        }
        Some(Ok(hit.principal.clone()))
    }

    /// Reads the database's current version, emptying the entries when it changed.
    fn refresh(&mut self, db_path: &std::path::Path) -> Result<i64, StorageError> {
        let watcher = match &mut self.watcher {
            Some(watcher) => watcher,
            None => self.watcher.insert(open_connection(db_path)?),
        };
        let version: i64 = watcher
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if self.data_version != Some(version) {
            if !self.entries.is_empty() {
                tracing::debug!(
                    dropped = self.entries.len(),
                    "database changed; verified tokens forgotten"
                );
            }
            self.entries.clear();
            self.data_version = Some(version);
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewToken;
    use crate::auth::token_digest;
    use crate::db::{DB_FILE, migrate};
    use crate::tokens::{create_token, revoke_token};

    struct Fixture {
        _dir: tempfile::TempDir,
        /// Another connection, standing for the writer or another process.
        other: Connection,
        pool: EnginePool,
        cache: TokenCache,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let mut other = open_connection(&path).unwrap();
        migrate(&mut other).unwrap();
        Fixture {
            other,
            pool: EnginePool::Sqlite(crate::db::ConnectionPool::new(path.clone())),
            cache: TokenCache::new(path),
            _dir: dir,
        }
    }

    fn token(user: &str, expires_at: Option<i64>) -> NewToken {
        NewToken {
            user: user.into(),
            scopes: crate::Scope::ALL.to_vec(),
            expires_at,
            name_patterns: vec![],
            label: None,
        }
    }

    #[test]
    fn a_verified_token_is_kept_until_the_database_changes() {
        let f = fixture();
        let alice = create_token(&f.other, token("alice", None), 100).unwrap();
        let digest = token_digest(alice.secret.expose());
        let who = f.cache.authenticate(&f.pool, &digest, 200).unwrap();
        assert_eq!(who.login, "alice");
        assert_eq!(f.cache.len(), 1);
        assert_eq!(f.cache.authenticate(&f.pool, &digest, 200).unwrap(), who);

        revoke_token(&f.other, alice.info.id, 300).unwrap();
        assert!(matches!(
            f.cache.authenticate(&f.pool, &digest, 400),
            Err(StorageError::RevokedToken)
        ));
        assert_eq!(f.cache.len(), 0, "refusals are not kept");
    }

    #[test]
    fn any_commit_empties_the_cache() {
        let f = fixture();
        let alice = create_token(&f.other, token("alice", None), 100).unwrap();
        let digest = token_digest(alice.secret.expose());
        f.cache.authenticate(&f.pool, &digest, 200).unwrap();
        assert_eq!(f.cache.len(), 1);
        create_token(&f.other, token("bob", None), 100).unwrap();
        f.cache.authenticate(&f.pool, &digest, 200).unwrap();
        assert_eq!(
            f.cache.len(),
            1,
            "alice was verified again against the new state"
        );
    }

    #[test]
    fn expiry_is_checked_on_every_hit() {
        let f = fixture();
        let soon = create_token(&f.other, token("carol", Some(500)), 100).unwrap();
        let digest = token_digest(soon.secret.expose());
        f.cache.authenticate(&f.pool, &digest, 499).unwrap();
        assert_eq!(f.cache.len(), 1);
        assert!(matches!(
            f.cache.authenticate(&f.pool, &digest, 500),
            Err(StorageError::ExpiredToken)
        ));
        assert_eq!(f.cache.len(), 0);
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_not_kept() {
        let f = fixture();
        let alice = create_token(&f.other, token("alice", None), 100).unwrap();
        let digest = token_digest(alice.secret.expose());
        let before = f
            .cache
            .lock()
            .refresh(f.cache.db_path.as_deref().unwrap())
            .unwrap();
        let verified = f
            .pool
            .with(|conn| verify_digest(conn, &digest, 200))
            .unwrap();
        // The token is revoked after the lookup, and another request notices first.
        revoke_token(&f.other, alice.info.id, 300).unwrap();
        f.cache
            .lock()
            .refresh(f.cache.db_path.as_deref().unwrap())
            .unwrap();
        f.cache.keep(before, &digest, verified);
        assert_eq!(f.cache.len(), 0);
        assert!(matches!(
            f.cache.authenticate(&f.pool, &digest, 400),
            Err(StorageError::RevokedToken)
        ));
    }

    #[test]
    fn unknown_tokens_are_never_kept() {
        let f = fixture();
        for n in 0..10 {
            let digest = token_digest(&format!("wharf_unknown_{n}"));
            assert!(matches!(
                f.cache.authenticate(&f.pool, &digest, 200),
                Err(StorageError::InvalidToken)
            ));
        }
        assert_eq!(f.cache.len(), 0);
    }
}
