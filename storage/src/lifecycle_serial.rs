//! The lifecycle feed's serial on its own: one row read, so a server can tell whether the
//! feed it signed last is still current without reading and signing it again.

use rusqlite::Connection;

use crate::{Storage, StorageError};

fn serial(conn: &Connection) -> Result<u64, StorageError> {
    let serial: i64 = conn
        .prepare_cached("SELECT serial FROM lifecycle_serial")?
        .query_row([], |row| row.get(0))?;
    Ok(serial.unsigned_abs())
}

impl Storage {
    /// The serial of the last lifecycle change (a deprecation, quarantine or advisory, or
    /// their withdrawal): the feed of [`Storage::lifecycle_feed`] carries at least it.
    pub async fn lifecycle_serial(&self) -> Result<u64, StorageError> {
        self.read(serial).await
    }
}
