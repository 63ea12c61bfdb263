//! Tokens verified recently on PostgreSQL, so an authenticated request does not wait on a
//! database round trip every time, while a token revoked (or a role changed) through any
//! node or command stops working on every node within the time a notification takes.
//!
//! A statement trigger on `tokens` and `users` sends a notification on channel
//! [`TOKEN_CHANNEL`] in every transaction that changes them (PostgreSQL delivers it when
//! that transaction commits). Each node listens on a connection of its own, started by its
//! first token check; every notification empties the node's cache. The cache is trusted
//! only while that connection listens: until `LISTEN` took effect, and from the moment the
//! connection is lost until it listens again, every check reads the database (a change made
//! meanwhile would be missed), and each (re)connection starts from an empty cache.
//!
//! A lookup records the cache's generation before it reads the database and keeps what it
//! found only if no notification (and no local change) came meanwhile, so a token revoked
//! while it was being looked up is not kept. As a backstop for a notification lost anyway,
//! an entry is trusted for [`MAX_AGE`] at most; expiry is checked on every hit. Only valid
//! tokens are kept, keyed by the token's SHA-256 (the cache holds no secret), and the cache
//! starts over empty when it reaches [`MAX_ENTRIES`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::pg::{ListenEvent, PgDatabase};
use crate::tokens::{VerifiedToken, verify_digest};
use crate::{Principal, StorageError};

/// The notification channel of token and user changes.
pub(crate) const TOKEN_CHANNEL: &str = "wharf_tokens";

/// The longest a verified token is answered from memory before it is looked up again (a
/// backstop: notifications end entries far sooner).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(10);

/// Most tokens kept at once; a full cache starts over empty.
const MAX_ENTRIES: usize = 4096;

/// Verified tokens, valid while the node listens for token changes and none arrived.
#[derive(Debug, Default)]
pub(crate) struct NotifiedTokenCache {
    /// Shared with the listener's handler.
    state: Arc<Mutex<State>>,
    /// Starts the listener on the first check.
    listener: OnceLock<()>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether `LISTEN` is in effect on the listening connection.
    listening: bool,
    /// Moves on with every change notified or made here; a lookup keeps its result only if
    /// it has not moved since the lookup began.
    generation: u64,
    /// Verified tokens by the hex SHA-256 of the token, with when they were looked up.
    entries: HashMap<String, (VerifiedToken, Instant)>,
}

impl State {
    /// The answer the entry of `digest` gives (an expired token is refused and forgotten);
    /// `None` when there is no entry or it is too old to trust.
    fn hit(&mut self, digest: &str, now: i64) -> Option<Result<Principal, StorageError>> {
        let (hit, at) = self.entries.get(digest)?;
        if hit.expires_at.is_some_and(|at| at <= now) {
            self.entries.remove(digest);
            return Some(Err(StorageError::ExpiredToken));
        }
        if at.elapsed() < MAX_AGE {
            return Some(Ok(hit.principal.clone()));
        }
        self.entries.remove(digest);
        None
    }

    /// Forgets every entry and moves the generation on.
    fn forget(&mut self, why: &'static str) {
        if !self.entries.is_empty() {
            tracing::debug!(
                dropped = self.entries.len(),
                why,
                "verified tokens forgotten"
            );
        }
        self.entries.clear();
        self.generation += 1;
    }
}

impl NotifiedTokenCache {
    /// The principal behind the token whose hex SHA-256 is `digest`: from memory when it was
    /// verified since the last change, else from `database` (and then kept).
    pub(crate) fn authenticate(
        &self,
        database: &PgDatabase,
        digest: &str,
        now: i64,
    ) -> Result<Principal, StorageError> {
        self.listener.get_or_init(|| self.listen(database));
        let generation = {
            let mut state = self.lock();
            if let Some(answer) = state.hit(digest, now) {
                return answer;
            }
            state.generation
        };
        // The lookup runs without the lock, so other requests are not held up by it.
        let verified = database
            .connection()
            .and_then(|conn| verify_digest(&conn, digest, now))?;
        let principal = verified.principal.clone();
        let mut state = self.lock();
        if state.listening && state.generation == generation {
            if state.entries.len() >= MAX_ENTRIES {
                state.forget("the cache is full");
            }
            state
                .entries
                .insert(digest.to_owned(), (verified, Instant::now()));
        }
        Ok(principal)
    }

    /// The answer from memory for the token whose hex SHA-256 is `digest` (its principal,
    /// or [`StorageError::ExpiredToken`]); `None` when the database must be asked.
    pub(crate) fn cached(&self, digest: &str, now: i64) -> Option<Result<Principal, StorageError>> {
        self.lock().hit(digest, now)
    }

    /// Forgets every verified token: a token or user changed through this node (the
    /// notification of the change reaches this node too, a moment later).
    pub(crate) fn forget_all(&self) {
        self.lock().forget("a token or user changed here");
    }

    /// Starts listening for token changes on a connection of its own.
    fn listen(&self, database: &PgDatabase) {
        let state = Arc::clone(&self.state);
        database.spawn_listener(
            TOKEN_CHANNEL,
            Arc::new(move |event| {
                let mut state = lock(&state);
                match event {
                    ListenEvent::Listening => {
                        state.listening = true;
                        state.forget("listening for token changes");
                    }
                    ListenEvent::Notified => state.forget("a token or user changed"),
                    ListenEvent::Lost => {
                        state.listening = false;
                        state.forget("not listening for token changes");
                    }
                }
            }),
        );
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Tokens kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the map half-updated in a way that
    // matters: at worst an entry is missing.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use wharf_test_support::postgres::PostgresServer;

    use crate::StorageError;
    use crate::auth::SecretToken;
    use crate::metadata_tests::{pg_node, two_pg_nodes};
    use crate::sql::Sql;
    use crate::{Principal, Role, Storage};

    /// A bound for a stuck notification, not a performance target.
    const DEADLINE: Duration = Duration::from_secs(30);

    fn alice(storage: &Storage) -> (i64, SecretToken) {
        let created = storage
            .create_token(crate::metadata_tests::full_token("alice"))
            .unwrap();
        (created.info.id, created.secret)
    }

    fn kept(storage: &Storage) -> usize {
        storage.inner.token_cache.notified_len()
    }

    /// Checks the token on `node` until the node keeps it (its listener is up), so the
    /// checks after this one are answered from memory.
    fn until_kept(node: &Storage, secret: &SecretToken) -> Principal {
        let started = Instant::now();
        loop {
            let who = node.authenticate(secret.expose()).unwrap();
            if kept(node) == 1 {
                return who;
            }
            assert!(started.elapsed() < DEADLINE, "the token was never kept");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Checks the token on `node` until `done` holds for the answer; returns that answer.
    fn until(
        node: &Storage,
        secret: &SecretToken,
        done: impl Fn(&Result<Principal, StorageError>) -> bool,
    ) -> Result<Principal, StorageError> {
        let started = Instant::now();
        loop {
            let answer = node.authenticate(secret.expose());
            if done(&answer) {
                return answer;
            }
            assert!(started.elapsed() < DEADLINE, "still {answer:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_token_revoked_on_one_node_is_refused_by_the_other() {
        let server = PostgresServer::start();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = two_pg_nodes(&server, &dir_a, &dir_b).await;
        let (id, secret) = alice(&a);
        until_kept(&a, &secret);
        until_kept(&b, &secret);
        // Answered from memory on both nodes now.
        assert_eq!(b.authenticate(secret.expose()).unwrap().login, "alice");

        a.revoke_token(id).unwrap();
        // The node that revoked it refuses it at once.
        assert!(matches!(
            a.authenticate(secret.expose()),
            Err(StorageError::RevokedToken)
        ));
        // The other once the notification arrives.
        let refused = until(&b, &secret, Result::is_err);
        assert!(
            matches!(refused, Err(StorageError::RevokedToken)),
            "{refused:?}"
        );
        assert_eq!(kept(&b), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_role_changed_on_one_node_is_seen_by_the_other() {
        let server = PostgresServer::start();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = two_pg_nodes(&server, &dir_a, &dir_b).await;
        let (_, secret) = alice(&a);
        let before = until_kept(&b, &secret);
        assert_ne!(before.role, Role::Reader);

        b.set_role(None, "alice", Role::Reader).unwrap();
        assert_eq!(b.authenticate(secret.expose()).unwrap().role, Role::Reader);
        let seen = until(&a, &secret, |answer| {
            answer.as_ref().is_ok_and(|who| who.role == Role::Reader)
        });
        assert!(seen.is_ok());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_change_made_by_another_process_empties_the_cache() {
        let server = PostgresServer::start();
        let dir = tempfile::tempdir().unwrap();
        let storage = pg_node(dir.path(), &server).await;
        let (id, secret) = alice(&storage);
        until_kept(&storage, &secret);
        // A connection of its own, as `psql` or a command on another host would be.
        let other = crate::pg::PgDatabase::connect(&server.url()).unwrap();
        let revoked = other
            .connection()
            .unwrap()
            .exec(
                "UPDATE tokens SET revoked_at = 1 WHERE id = ?1",
                crate::sql::args![id],
            )
            .unwrap();
        assert_eq!(revoked, 1);
        let refused = until(&storage, &secret, Result::is_err);
        assert!(
            matches!(refused, Err(StorageError::RevokedToken)),
            "{refused:?}"
        );
    }

    /// Runs on a runtime of one thread: were a token lookup waiting on the database to hold
    /// that thread, the token answered from memory could not be checked meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn a_token_lookup_waiting_on_the_database_holds_up_no_other_request() {
        let server = PostgresServer::start();
        let dir = tempfile::tempdir().unwrap();
        let storage = pg_node(dir.path(), &server).await;
        // Both tokens made before the first check starts the listener, so no notification
        // of their making empties the cache later.
        let (_, known) = alice(&storage);
        let unknown = storage
            .create_token(crate::metadata_tests::full_token("bob"))
            .unwrap()
            .secret;
        until_kept(&storage, &known);
        // Another session locks the table every lookup reads (a stuck migration would).
        let other = crate::pg::PgDatabase::connect(&server.url()).unwrap();
        let locker = other.connection().unwrap();
        locker
            .batch("BEGIN; LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let waiting = tokio::spawn({
            let storage = storage.clone();
            async move { storage.authenticate_async(unknown.expose()).await }
        });
        // Until bob's lookup waits for the lock.
        let watcher = other.connection().unwrap();
        let started = Instant::now();
        while !watcher
            .exists(
                "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                 WHERE NOT l.granted AND c.relname = 'tokens'",
                crate::sql::args![],
            )
            .unwrap()
        {
            assert!(started.elapsed() < DEADLINE, "the lookup never waited");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Meanwhile, on the same thread, a verified token is still answered.
        for _ in 0..3 {
            let who = storage.authenticate_async(known.expose()).await.unwrap();
            assert_eq!(who.login, "alice");
        }
        assert!(!waiting.is_finished(), "bob's lookup waits for the lock");
        locker.batch("COMMIT").unwrap();
        let bob = waiting.await.unwrap().unwrap();
        assert_eq!(bob.login, "bob");
    }
}
