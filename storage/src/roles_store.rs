//! Users' roles in the database: the migration that gives every user one, and setting and
//! reading it. A role change empties the token cache (the database changed), so the next
//! request of each of the user's tokens already runs under the new role.

use rusqlite::{Connection, OptionalExtension, params};

use crate::tokens::decode_role;
use crate::{Action, Principal, Role, Storage, StorageError};

/// Every user gets a role (`maintainer`, what every user could do before roles existed);
/// the login `admin`, the administrator until then, becomes a tenant admin. Tokens get an
/// optional narrowed role.
pub(crate) const MIGRATION: &str = r"
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'maintainer';
UPDATE users SET role = 'tenant-admin' WHERE login = 'admin';
ALTER TABLE tokens ADD COLUMN role TEXT;
";

fn role_of(conn: &Connection, login: &str) -> Result<Role, StorageError> {
    let stored: String = conn
        .prepare_cached("SELECT role FROM users WHERE login = ?1")?
        .query_row([login], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StorageError::UnknownUser {
            login: login.to_owned(),
        })?;
    decode_role(&stored)
}

/// Sets the role; returns the role before.
fn set_role(conn: &Connection, login: &str, role: Role) -> Result<Role, StorageError> {
    let before = role_of(conn, login)?;
    conn.execute(
        "UPDATE users SET role = ?2 WHERE login = ?1",
        params![login, role.as_str()],
    )?;
    tracing::info!(user = login, from = %before, to = %role, "role changed");
    Ok(before)
}

fn users_with_roles(conn: &Connection) -> Result<Vec<(String, Role)>, StorageError> {
    let mut statement = conn.prepare_cached("SELECT login, role FROM users ORDER BY login")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (login, role) = row?;
        Ok((login, decode_role(&role)?))
    })
    .collect()
}

impl Storage {
    /// Gives `login` the role `role`; returns the role it had. `who` is the acting user
    /// (`None`: an operator's command on the data directory), who needs
    /// [`Action::ManageUsers`].
    pub fn set_role(
        &self,
        who: Option<&Principal>,
        login: &str,
        role: Role,
    ) -> Result<Role, StorageError> {
        if let Some(who) = who {
            who.require(
                Action::ManageUsers,
                &format!("change the role of `{login}`"),
            )?;
        }
        self.inner.pool.with(|conn| set_role(conn, login, role))
    }

    /// The role of `login` ([`StorageError::UnknownUser`] when there is none).
    pub fn role(&self, login: &str) -> Result<Role, StorageError> {
        self.inner.pool.with(|conn| role_of(conn, login))
    }

    /// Every user's login and role, by login.
    pub fn roles(&self) -> Result<Vec<(String, Role)>, StorageError> {
        self.inner.pool.with(|conn| users_with_roles(conn))
    }
}
