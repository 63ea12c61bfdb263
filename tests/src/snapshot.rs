//! A logical snapshot of a data directory: every file's hash (blobs, index files) and every
//! row of every table of the SQLite database, so a test can assert that nothing changed.
//!
//! The audit trail (the `audit_log` table and its `audit-head` anchor) is left out: a refused
//! request is itself recorded there, by design (docs/audit.md), and `tests/e2e/audit.rs`
//! checks those records. Everything else a refusal must leave exactly as it was.
//!
//! The full-text indexes' segment tables (`<fts>_data`, `<fts>_idx`) are left out too: they
//! hold the inverted index's physical layout, which the writer compacts in the background
//! once publishes pause (`storage/src/catalogue_compaction.rs`), so it changes after an
//! earlier accepted publish without any change of content. What the indexes hold is compared
//! through their content tables (`<fts>_content`, `<fts>_docsize`), which a refused request
//! that wrote to the catalogue would change.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The audit trail's table, which records refusals too.
const AUDIT_TABLE: &str = "audit_log";
/// The file that anchors the audit trail's newest record.
const AUDIT_HEAD: &str = "audit-head";
/// The full-text indexes' segment tables, whose layout background compaction rewrites.
const FTS_SEGMENT_TABLES: [&str; 4] = [
    "catalogue_fts_data",
    "catalogue_fts_idx",
    "catalogue_fts_yanked_data",
    "catalogue_fts_yanked_idx",
];

/// What a data directory holds, logically.
#[derive(Debug, PartialEq, Eq)]
pub struct DataSnapshot {
    /// Relative path → SHA-256 of every file except the database files.
    pub files: BTreeMap<String, String>,
    /// Table → its rows rendered as text, in rowid order.
    pub tables: BTreeMap<String, Vec<String>>,
}

impl DataSnapshot {
    /// Takes a snapshot (the database is read while the server may run: WAL allows it).
    pub fn take(data_dir: &Path) -> Self {
        let mut files = BTreeMap::new();
        collect_files(data_dir, data_dir, &mut files);
        let mut tables = BTreeMap::new();
        let db_path = data_dir.join("wharf.db");
        let db = rusqlite::Connection::open_with_flags(
            &db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("the registry database opens read-only");
        let names: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("tables are listed");
        for name in names {
            // Token bookkeeping (e.g. last use) may change on any authenticated request.
            if name.contains("token")
                || name == AUDIT_TABLE
                || FTS_SEGMENT_TABLES.contains(&name.as_str())
            {
                continue;
            }
            let mut statement = db
                .prepare(&format!("SELECT * FROM \"{name}\""))
                .expect("every table is readable");
            let columns = statement.column_count();
            let rows: Vec<String> = statement
                .query_map([], |row| {
                    let mut cells = Vec::with_capacity(columns);
                    for i in 0..columns {
                        let value: rusqlite::types::Value = row.get(i)?;
                        cells.push(format!("{value:?}"));
                    }
                    Ok(cells.join("|"))
                })
                .and_then(Iterator::collect)
                .expect("rows are readable");
            tables.insert(name, rows);
        }
        Self { files, tables }
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if !name.starts_with("wharf.db") && name != "admin-token" && name != AUDIT_HEAD {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.insert(relative, hex::encode(Sha256::digest(&bytes)));
        }
    }
}
