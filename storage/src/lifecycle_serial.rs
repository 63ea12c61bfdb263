//! The lifecycle feed's serial on its own: one row read, so a server can tell whether the
//! feed it signed last is still current without reading and signing it again.

use crate::sql::{Sql, args};
use crate::{Storage, StorageError};

/// The serial of the last lifecycle change.
pub(crate) fn serial(conn: &dyn Sql) -> Result<u64, StorageError> {
    Ok(conn
        .one_i64("SELECT serial FROM lifecycle_serial", args![])?
        .unsigned_abs())
}

impl Storage {
    /// The serial of the last lifecycle change (a deprecation, quarantine or advisory, or
    /// their withdrawal): the feed of [`Storage::lifecycle_feed`] carries at least it.
    pub async fn lifecycle_serial(&self) -> Result<u64, StorageError> {
        self.read_sql(serial).await
    }
}
