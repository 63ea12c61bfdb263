//! The audit log: an append-only, hash-chained record of every security-relevant action,
//! on either engine.
//!
//! Each record holds `prev_hash` (the `hash` of the record before it; 64 zeros for the
//! first) and its own `hash`: SHA-256 over `wharf-audit-v1 ‖ 0x00 ‖ <JSON of the record
//! without its hash>` (fields in the order of [`AuditRecord`], serde_json's encoding). An
//! edited field breaks that record's hash, a dropped or swapped record breaks the chain.
//! Triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL), but the evidence does
//! not depend on them: after every append the newest `seq` and `hash` are also written
//! outside the database (the *anchor*), so a tail cut off the table (and the chain
//! recomputed) no longer reaches the anchored head.
//!
//! Where the anchor lives depends on the engine:
//!
//! - **SQLite**: the file `<data>/audit-head`, beside the database it vouches for (one
//!   server owns the data directory).
//! - **PostgreSQL**: several servers append to one database, each with a data directory of
//!   its own, so a file there would only vouch for that node's appends. Each node instead
//!   writes its newest appended record to the object `audit-heads/<node>` of the blob store
//!   (the bucket every node shares), `<node>` being a random id kept in `<data>/audit-node`.
//!   One object per node, so no node overwrites another's anchor with an older head, and
//!   each only ever moves forward. [`crate::Storage::verify_audit`] checks the records
//!   against every node's anchor: a tail cut below any node's last append is caught. A row
//!   in the database would not do: whoever can rewrite the audit table can rewrite that row
//!   in the same transaction.
//!
//! Records are appended inside the writer's group commit (the [`AuditQueue`] hook, on either
//! engine's connection) or in a write transaction of their own ([`crate::Storage::audit_now`],
//! and changes audited in the same transaction); on PostgreSQL both hold the writers'
//! advisory lock, so the chain of several servers stays one gap-free sequence.
//!
//! Secrets never enter a record: callers pass logins, package names, key ids and token
//! ids, never a token or a licence text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wharf_trust::UtcTime;

use crate::StorageError;
use crate::sql::{Sql, SqlRow, args};
use crate::write_behind::PendingWrites;

/// The migration that adds the table on SQLite (PostgreSQL's is in `pg_schema.rs`).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    source     TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_is_never_updated BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_never_deleted BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// The file (in the data directory) holding the newest record's `seq` and `hash`.
pub const AUDIT_HEAD_FILE: &str = "audit-head";

/// The blob-store prefix of the anchors of the nodes on one PostgreSQL database
/// (`audit-heads/<node>`).
pub const AUDIT_HEADS_PREFIX: &str = "audit-heads";

/// The file (in the data directory) holding this node's anchor id, on PostgreSQL.
const AUDIT_NODE_FILE: &str = "audit-node";

/// The tenant of the default registry's records.
pub const DEFAULT_TENANT: &str = "default";

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as a caller reports it (the log adds sequence, time, tenant and hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who acted: a login, `admin` for a local admin command, `anonymous` when unknown.
    pub actor: String,
    /// The client's address, or `local` for a command run on the server's machine.
    pub source: String,
    /// What was done, e.g. `publish`, `token.create`, `auth.denied`.
    pub action: String,
    /// What it was done to, e.g. `acme-widget@1.0.0`, `token 4`.
    pub target: String,
    /// `ok`, or what refused it (`denied 403: …`).
    pub outcome: String,
}

impl AuditEntry {
    /// An entry; every value is kept to one line.
    pub fn new(
        actor: impl Into<String>,
        source: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            source: source.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into().replace(['\n', '\r'], " "),
        }
    }
}

/// One record, as stored and exported (one JSON line each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Gap-free position, from 1.
    pub seq: u64,
    /// When (`YYYY-MM-DDTHH:MM:SSZ`).
    pub time: String,
    /// Who acted.
    pub actor: String,
    /// The tenant the record is about: the registry's own (`default` for the default
    /// registry), or for a refusal at a tenant's gate, the tenant that was asked.
    pub tenant: String,
    /// The client's address.
    pub source: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// How it ended.
    pub outcome: String,
    /// The hash of the record before.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// The hashed part of a record: every field but `hash`, in order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    time: &'a str,
    actor: &'a str,
    tenant: &'a str,
    source: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// The hash this record's fields give (what `hash` must be).
    pub fn computed_hash(&self) -> String {
        let hashed = Hashed {
            seq: self.seq,
            time: &self.time,
            actor: &self.actor,
            tenant: &self.tenant,
            source: &self.source,
            action: &self.action,
            target: &self.target,
            outcome: &self.outcome,
            prev_hash: &self.prev_hash,
        };
        let json = serde_json::to_vec(&hashed).expect("strings always serialise");
        let mut digest = Sha256::new();
        digest.update(b"wharf-audit-v1\0");
        digest.update(&json);
        hex::encode(digest.finalize())
    }
}

/// Appends `entry` about `tenant` inside the caller's write transaction and returns the
/// record.
pub(crate) fn append(
    conn: &dyn Sql,
    entry: &AuditEntry,
    tenant: &str,
    now: i64,
) -> Result<AuditRecord, StorageError> {
    let last = conn.row(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        args![],
    )?;
    let (seq, prev_hash) = match last {
        Some(row) => (row.i64(0)?.unsigned_abs() + 1, row.string(1)?),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let time = UtcTime::from_unix(now).unwrap_or_else(|_| UtcTime::now());
    let mut record = AuditRecord {
        seq,
        time: time.to_string(),
        actor: entry.actor.clone(),
        tenant: tenant.to_owned(),
        source: entry.source.clone(),
        action: entry.action.clone(),
        target: entry.target.clone(),
        outcome: entry.outcome.clone(),
        prev_hash,
        hash: String::new(),
    };
    record.hash = record.computed_hash();
    conn.exec(
        "INSERT INTO audit_log (seq, time, actor, tenant, source, action, target, outcome, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        args![
            i64::try_from(seq).expect("fewer than 2^63 records"),
            time.unix(),
            &record.actor,
            &record.tenant,
            &record.source,
            &record.action,
            &record.target,
            &record.outcome,
            &record.prev_hash,
            &record.hash,
        ],
    )?;
    Ok(record)
}

fn record_of(row: &SqlRow) -> Result<AuditRecord, StorageError> {
    let time = row.i64(1)?;
    Ok(AuditRecord {
        seq: row.i64(0)?.unsigned_abs(),
        time: UtcTime::from_unix(time).map_or_else(|_| time.to_string(), |t| t.to_string()),
        actor: row.string(2)?,
        tenant: row.string(3)?,
        source: row.string(4)?,
        action: row.string(5)?,
        target: row.string(6)?,
        outcome: row.string(7)?,
        prev_hash: row.string(8)?,
        hash: row.string(9)?,
    })
}

/// The records with `time >= since` (all when `None`), in order.
pub(crate) fn records(
    conn: &dyn Sql,
    since: Option<i64>,
) -> Result<Vec<AuditRecord>, StorageError> {
    conn.rows(
        "SELECT seq, time, actor, tenant, source, action, target, outcome, prev_hash, hash
         FROM audit_log WHERE time >= ?1 ORDER BY seq",
        args![since.unwrap_or(i64::MIN)],
    )?
    .iter()
    .map(record_of)
    .collect()
}

/// The anchored head: the newest record's `seq` and `hash` as last written to
/// `<data>/audit-head`; `None` when the file does not exist.
pub fn read_head(data_dir: &Path) -> Result<Option<(u64, String)>, StorageError> {
    let path = data_dir.join(AUDIT_HEAD_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(StorageError::Path { path, cause }),
    };
    parse_head(&text, &path.display().to_string()).map(Some)
}

/// Moves the anchor to `record` when it is newer than the one on disk (temp file + rename).
pub(crate) fn write_head(data_dir: &Path, record: &AuditRecord) -> Result<(), StorageError> {
    if read_head(data_dir)
        .ok()
        .flatten()
        .is_some_and(|(seq, _)| seq >= record.seq)
    {
        return Ok(());
    }
    let path = data_dir.join(AUDIT_HEAD_FILE);
    let temp = data_dir.join(format!("{AUDIT_HEAD_FILE}.{}.tmp", std::process::id()));
    let text = format!("{} {}\n", record.seq, record.hash);
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|cause| StorageError::Path { path, cause })
}

/// Checks a run of records: every hash, every link, gap-free sequence numbers, and the
/// anchored head. `complete` says the run starts at the first record (its `prev_hash` must
/// be the genesis hash); an export made with `--since` is not. Returns one line per problem.
pub fn verify_records(
    records: &[AuditRecord],
    head: Option<&(u64, String)>,
    complete: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut previous: Option<&AuditRecord> = None;
    for record in records {
        if record.hash != record.computed_hash() {
            problems.push(format!(
                "record {}: its fields do not hash to its `hash` (edited)",
                record.seq
            ));
        }
        match previous {
            Some(before) => {
                if record.seq != before.seq + 1 {
                    problems.push(format!(
                        "record {} follows record {}: records are missing or out of order",
                        record.seq, before.seq
                    ));
                }
                if record.prev_hash != before.hash {
                    problems.push(format!(
                        "record {}: `prev_hash` is not the hash of record {} (a record was dropped, reordered or edited)",
                        record.seq, before.seq
                    ));
                }
            }
            None if complete && (record.seq != 1 || record.prev_hash != GENESIS_HASH) => {
                problems.push(format!(
                    "record {}: the log does not start at record 1 with the genesis hash (records dropped at the start)",
                    record.seq
                ));
            }
            None => {}
        }
        previous = Some(record);
    }
    if let Some(head) = head {
        problems.extend(check_head(records, head));
    }
    problems
}

/// The problem with `records` against one anchored head, if any: the record the head names
/// has another hash (rewritten), or is missing from the end (truncated).
fn check_head(records: &[AuditRecord], (seq, hash): &(u64, String)) -> Option<String> {
    match records.iter().find(|record| record.seq == *seq) {
        Some(record) if record.hash == *hash => None,
        Some(record) => Some(format!(
            "record {}: its hash differs from the anchored head `{}` (the tail was rewritten)",
            record.seq,
            &hash[..hash.len().min(16)]
        )),
        None if records.last().is_none_or(|last| last.seq < *seq) => Some(format!(
            "the log ends at record {} but the anchored head is record {seq}: the tail was truncated",
            records.last().map_or(0, |last| last.seq)
        )),
        None => None,
    }
}

/// Parses an anchor's text, `<seq> <hash>`; `what` names it in the error.
fn parse_head(text: &str, what: &str) -> Result<(u64, String), StorageError> {
    text.trim()
        .split_once(' ')
        .and_then(|(seq, hash)| Some((seq.parse().ok()?, hash.to_owned())))
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("`{what}` is not `<seq> <hash>`; the audit head anchor was altered"),
        })
}

/// Where a node keeps the newest record's `seq` and `hash`, outside the database (see the
/// module documentation).
#[derive(Debug)]
enum Anchor {
    /// `<data>/audit-head` (SQLite).
    File(PathBuf),
    /// `audit-heads/<node>` in the shared blob store (PostgreSQL).
    Store(StoreAnchor),
}

/// A node's anchor object in the blob store. Writes run on the storage's runtime (the
/// writer thread is none), one at a time and only forwards, and
/// [`crate::Storage::settle`] waits for them.
#[derive(Debug)]
struct StoreAnchor {
    store: Arc<dyn ObjectStore>,
    key: object_store::path::Path,
    runtime: tokio::runtime::Handle,
    pending: Arc<PendingWrites>,
    /// The `seq` the object holds (`None`: not read yet), and the lock that keeps writes in
    /// order.
    written: Arc<tokio::sync::Mutex<Option<u64>>>,
}

impl StoreAnchor {
    fn move_to(&self, record: &AuditRecord) {
        let pending = self.pending.start();
        let (store, key) = (Arc::clone(&self.store), self.key.clone());
        let written = Arc::clone(&self.written);
        let seq = record.seq;
        let text = format!("{} {}\n", record.seq, record.hash);
        self.runtime.spawn(async move {
            let _pending = pending;
            let mut written = written.lock().await;
            // What the object holds, read once per process: an anchor never moves back, not
            // even across a restart after the table lost its tail.
            let current = match *written {
                Some(current) => current,
                None => match stored_seq(store.as_ref(), &key).await {
                    Ok(current) => current,
                    Err(error) => {
                        tracing::error!(%error, %key, "the audit head anchor could not be read; it is left as it is");
                        return;
                    }
                },
            };
            *written = Some(current);
            if current >= seq {
                return;
            }
            match store.put(&key, PutPayload::from(text.into_bytes())).await {
                Ok(_) => *written = Some(seq),
                Err(error) => {
                    tracing::error!(%error, %key, "the audit head anchor could not be written");
                }
            }
        });
    }
}

/// The `seq` an anchor object names (0 when there is none yet).
async fn stored_seq(
    store: &dyn ObjectStore,
    key: &object_store::path::Path,
) -> Result<u64, StorageError> {
    match store.get(key).await {
        Ok(found) => {
            let bytes = found.bytes().await?;
            Ok(parse_head(&String::from_utf8_lossy(&bytes), key.as_ref())?.0)
        }
        Err(object_store::Error::NotFound { .. }) => Ok(0),
        Err(error) => Err(error.into()),
    }
}

/// This node's anchor id (`<data>/audit-node`), made on first use.
fn node_id(data_dir: &Path) -> Result<String, StorageError> {
    let path = data_dir.join(AUDIT_NODE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(cause) => return Err(StorageError::Path { path, cause }),
    }
    let id = hex::encode(rand::random::<[u8; 8]>());
    std::fs::write(&path, format!("{id}\n")).map_err(|cause| StorageError::Path {
        path: path.clone(),
        cause,
    })?;
    Ok(id)
}

/// Records queued by the server, appended in the writer's next group commit (after that
/// group's jobs), so they cost no commit of their own; and where the node anchors the head.
#[derive(Debug)]
pub(crate) struct AuditQueue {
    anchor: Anchor,
    /// The entries and the tenant each is about (`None`: this registry's).
    pending: std::sync::Mutex<Vec<(AuditEntry, Option<String>)>>,
    newest: std::sync::Mutex<Option<AuditRecord>>,
    /// This registry's tenant name (`default` until the server names it).
    tenant: std::sync::RwLock<String>,
    /// Whether the group being committed queued webhook deliveries.
    announced: std::sync::atomic::AtomicBool,
    /// Wakes the webhook delivery worker.
    webhook_work: tokio::sync::Notify,
}

/// How long a queued record waits for a group commit before it makes one.
const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

impl AuditQueue {
    /// An empty queue whose head anchor is the file `<data_dir>/audit-head` (SQLite).
    pub(crate) fn new(data_dir: PathBuf) -> Self {
        Self::with_anchor(Anchor::File(data_dir))
    }

    /// An empty queue whose head anchor is this node's object in the shared blob `store`
    /// (PostgreSQL); anchor writes run on `runtime` and count in `pending`.
    pub(crate) fn in_store(
        data_dir: &Path,
        store: Arc<dyn ObjectStore>,
        runtime: tokio::runtime::Handle,
        pending: Arc<PendingWrites>,
    ) -> Result<Self, StorageError> {
        let node = node_id(data_dir)?;
        Ok(Self::with_anchor(Anchor::Store(StoreAnchor {
            store,
            key: object_store::path::Path::from(format!("{AUDIT_HEADS_PREFIX}/{node}")),
            runtime,
            pending,
            written: Arc::default(),
        })))
    }

    fn with_anchor(anchor: Anchor) -> Self {
        Self {
            anchor,
            pending: std::sync::Mutex::new(Vec::new()),
            newest: std::sync::Mutex::new(None),
            tenant: std::sync::RwLock::new(DEFAULT_TENANT.to_owned()),
            announced: std::sync::atomic::AtomicBool::new(false),
            webhook_work: tokio::sync::Notify::new(),
        }
    }

    fn push(&self, entry: AuditEntry, tenant: Option<String>) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((entry, tenant));
    }

    /// This registry's tenant name.
    pub(crate) fn tenant(&self) -> String {
        self.tenant
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Tells the webhook delivery worker that deliveries are due.
    pub(crate) fn webhooks_due(&self) {
        self.webhook_work.notify_one();
    }

    /// Resolves when [`AuditQueue::webhooks_due`] was called (since the last wait).
    pub(crate) async fn webhook_work(&self) {
        self.webhook_work.notified().await;
    }

    /// Moves the anchor to `record`, which has just committed (on PostgreSQL the write
    /// finishes in the background; [`crate::Storage::settle`] waits for it).
    pub(crate) fn anchor(&self, record: &AuditRecord) -> Result<(), StorageError> {
        match &self.anchor {
            Anchor::File(data_dir) => write_head(data_dir, record),
            Anchor::Store(store) => {
                store.move_to(record);
                Ok(())
            }
        }
    }

    /// Every anchored head this registry's records must reach: the file's, or each node's
    /// object.
    async fn heads(&self) -> Result<Vec<(u64, String)>, StorageError> {
        match &self.anchor {
            Anchor::File(data_dir) => Ok(read_head(data_dir)?.into_iter().collect()),
            Anchor::Store(anchor) => {
                let prefix = object_store::path::Path::from(AUDIT_HEADS_PREFIX);
                let listed: Vec<_> = anchor.store.list(Some(&prefix)).try_collect().await?;
                let mut heads = Vec::with_capacity(listed.len());
                for meta in listed {
                    let bytes = anchor.store.get(&meta.location).await?.bytes().await?;
                    let text = String::from_utf8_lossy(&bytes);
                    heads.push(parse_head(&text, meta.location.as_ref())?);
                }
                Ok(heads)
            }
        }
    }

    /// Appends the queued records on `conn`, inside the group's transaction.
    fn flush(&self, conn: &dyn Sql) -> Result<(), StorageError> {
        let entries = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let now = crate::storage::now_unix();
        let own = self.tenant();
        let mut newest = None;
        for (entry, tenant) in &entries {
            let record = append(conn, entry, tenant.as_deref().unwrap_or(&own), now)?;
            if crate::webhook_outbox::announce(conn, &record, now)? {
                self.announced
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            newest = Some(record);
        }
        if newest.is_some() {
            *self
                .newest
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = newest;
        }
        Ok(())
    }
}

impl<C: Sql> crate::writer::GroupHook<C> for AuditQueue {
    fn is_idle(&self) -> bool {
        // A record queued after this look joins the next group (its own flush makes one).
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    fn before_commit(&self, conn: &C) -> Result<(), StorageError> {
        self.flush(conn)
    }

    fn after_commit(&self, committed: bool) {
        if self
            .announced
            .swap(false, std::sync::atomic::Ordering::Relaxed)
            && committed
        {
            self.webhooks_due();
        }
        let newest = self
            .newest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match newest {
            Some(record) if committed => {
                if let Err(error) = self.anchor(&record) {
                    tracing::error!(%error, "the audit head anchor could not be written");
                }
            }
            Some(record) => {
                tracing::error!(
                    seq = record.seq,
                    "a group commit failed; its audit records are lost"
                );
            }
            None => {}
        }
    }
}

impl crate::Storage {
    /// Runs `work` in a write transaction of its own and appends the audit entry it returns
    /// in the same transaction, then moves the anchor: the change and its record commit
    /// together or not at all. Blocks (a pooled connection): for commands and small admin
    /// changes.
    pub(crate) fn audited_change<T>(
        &self,
        work: impl FnOnce(&dyn Sql) -> Result<(T, AuditEntry), StorageError>,
    ) -> Result<T, StorageError> {
        let tenant = self.inner.audit_queue.tenant();
        let (value, record) = self.inner.pool.with_write(|conn| {
            let (value, entry) = work(conn)?;
            let now = crate::storage::now_unix();
            let record = append(conn, &entry, &tenant, now)?;
            crate::webhook_outbox::announce(conn, &record, now)?;
            Ok((value, record))
        })?;
        self.inner.audit_queue.anchor(&record)?;
        Ok(value)
    }

    /// Appends `entry` now, in a short transaction of its own (for commands run beside a
    /// server, like `wharf token create`), and moves the audit head. On PostgreSQL the
    /// anchor object is written in the background: a command awaits
    /// [`crate::Storage::settle`] before it exits.
    pub fn audit_now(&self, entry: &AuditEntry) -> Result<(), StorageError> {
        self.audited_change(|_| Ok(((), entry.clone())))
    }

    /// Queues `entry` without waiting: it is appended in the writer's next group commit
    /// (after that group's jobs), so a busy server pays no commit of its own for it; when
    /// no write comes within 100 ms, an empty job makes that commit.
    /// [`crate::Storage::settle`] waits for it.
    pub fn audit(&self, entry: AuditEntry) {
        self.queue_audit(entry, None);
    }

    /// [`crate::Storage::audit`] of a record about tenant `tenant` rather than this registry: a
    /// request refused at the gate of a tenant, kept in the log of the registry that refused
    /// it.
    pub fn audit_about(&self, tenant: &str, entry: AuditEntry) {
        self.queue_audit(entry, Some(tenant.to_owned()));
    }

    /// Names this registry's tenant in the records it appends from now on (the default
    /// registry's records say `default`).
    pub fn set_tenant(&self, name: &str) {
        name.clone_into(
            &mut self
                .inner
                .audit_queue
                .tenant
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    /// This registry's tenant name (`default` for the default registry).
    pub fn tenant(&self) -> String {
        self.inner.audit_queue.tenant()
    }

    fn queue_audit(&self, entry: AuditEntry, tenant: Option<String>) {
        self.inner.audit_queue.push(entry, tenant);
        let storage = self.clone();
        let pending = self.inner.pending_writes.start();
        tokio::spawn(async move {
            let _pending = pending;
            tokio::time::sleep(FLUSH_AFTER).await;
            if let Err(error) = storage.inner.writer.run_sql(|_| Ok(())).await {
                tracing::error!(%error, "queued audit records could not be committed");
            }
        });
    }

    /// The audit records with `time >= since` (Unix seconds; all when `None`), in order.
    pub fn audit_records(&self, since: Option<i64>) -> Result<Vec<AuditRecord>, StorageError> {
        self.inner.pool.with_sql(|conn| records(conn, since))
    }

    /// The anchored heads the audit log must reach: `<data>/audit-head` on SQLite, every
    /// node's `audit-heads/<node>` object in the blob store on PostgreSQL (see the module
    /// documentation of `audit.rs`). Call [`crate::Storage::settle`] first to include
    /// anchor writes still in flight.
    pub async fn audit_heads(&self) -> Result<Vec<(u64, String)>, StorageError> {
        self.inner.audit_queue.heads().await
    }

    /// Checks the whole audit log against its chain and every anchored head; one line per
    /// problem (none: intact).
    pub async fn verify_audit(&self) -> Result<Vec<String>, StorageError> {
        self.settle().await;
        let storage = self.clone();
        let records = tokio::task::spawn_blocking(move || storage.audit_records(None)).await??;
        let mut problems = verify_records(&records, None, true);
        for head in self.audit_heads().await? {
            problems.extend(check_head(&records, &head));
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(count: usize) -> Vec<AuditRecord> {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open_connection(&dir.path().join("a.db")).unwrap();
        crate::db::migrate(&mut conn).unwrap();
        (0..count)
            .map(|i| {
                let entry =
                    AuditEntry::new("alice", "127.0.0.1", "publish", format!("p@{i}.0.0"), "ok");
                append(&conn, &entry, DEFAULT_TENANT, 1_800_000_000).unwrap()
            })
            .collect()
    }

    #[test]
    fn each_tampering_is_named() {
        let records = chain(4);
        let head = (4, records[3].hash.clone());
        assert!(verify_records(&records, Some(&head), true).is_empty());

        let mut edited = records.clone();
        edited[1].actor = "mallory".into();
        assert!(verify_records(&edited, Some(&head), true)[0].contains("edited"));

        let mut dropped = records.clone();
        dropped.remove(2);
        assert!(!verify_records(&dropped, Some(&head), true).is_empty());

        let mut swapped = records.clone();
        swapped.swap(1, 2);
        assert!(!verify_records(&swapped, Some(&head), true).is_empty());

        let truncated = &records[..3];
        let problems = verify_records(truncated, Some(&head), true);
        assert!(problems[0].contains("truncated"), "{problems:?}");
    }
}
