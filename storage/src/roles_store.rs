//! Users' roles in the database: the migration that gives every user one, and setting and
//! reading it. A role change empties the token cache (the database changed), so the next
//! request of each of the user's tokens already runs under the new role.
//!
//! The queries run on either engine through the [`Sql`] seam (PostgreSQL keeps the same
//! `role` columns, `pg_schema.rs`). A registry always keeps one tenant admin: demoting the
//! last one is refused ([`StorageError::LastTenantAdmin`]).

use crate::sql::{Sql, args};
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

pub(crate) fn role_of(conn: &dyn Sql, login: &str) -> Result<Role, StorageError> {
    let stored = conn
        .row("SELECT role FROM users WHERE login = ?1", args![login])?
        .ok_or_else(|| StorageError::UnknownUser {
            login: login.to_owned(),
        })?
        .string(0)?;
    decode_role(&stored)
}

/// The role a new user gets with its first token: the login `admin` starts as a tenant
/// admin, every other user as [`Role::DEFAULT`]. The one place this rule lives.
pub(crate) fn first_role(login: &str) -> Role {
    if login == crate::ADMIN_LOGIN {
        Role::TenantAdmin
    } else {
        Role::DEFAULT
    }
}

/// The role a login has, or the one its first token will give it ([`first_role`]).
pub(crate) fn role_or_first(conn: &dyn Sql, login: &str) -> Result<Role, StorageError> {
    match role_of(conn, login) {
        Err(StorageError::UnknownUser { .. }) => Ok(first_role(login)),
        other => other,
    }
}

/// How many users are tenant admins.
pub(crate) fn tenant_admins(conn: &dyn Sql) -> Result<i64, StorageError> {
    conn.one_i64(
        "SELECT count(*) FROM users WHERE role = ?1",
        args![Role::TenantAdmin.as_str()],
    )
}

/// Sets the role; returns the role before. Refuses to demote the last tenant admin, so the
/// registry always keeps someone who can give roles. Run it inside a transaction (the
/// count and the change must see one state).
pub(crate) fn set_role(conn: &dyn Sql, login: &str, role: Role) -> Result<Role, StorageError> {
    let before = role_of(conn, login)?;
    if before == Role::TenantAdmin && role != Role::TenantAdmin && tenant_admins(conn)? <= 1 {
        return Err(StorageError::LastTenantAdmin {
            login: login.to_owned(),
        });
    }
    conn.exec(
        "UPDATE users SET role = ?2 WHERE login = ?1",
        args![login, role.as_str()],
    )?;
    tracing::info!(user = login, from = %before, to = %role, "role changed");
    Ok(before)
}

pub(crate) fn users_with_roles(conn: &dyn Sql) -> Result<Vec<(String, Role)>, StorageError> {
    conn.rows("SELECT login, role FROM users ORDER BY login", args![])?
        .iter()
        .map(|row| Ok((row.string(0)?, decode_role(&row.string(1)?)?)))
        .collect()
}

impl Storage {
    /// Gives `login` the role `role`; returns the role it had. `who` is the acting user
    /// (`None`: an operator's command on the data directory), who needs
    /// [`Action::ManageUsers`]. The last tenant admin cannot be demoted.
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
        let before = self
            .inner
            .pool
            .with_write(|conn| set_role(conn, login, role));
        self.inner.token_cache.forget_all();
        before
    }

    /// The role of `login` ([`StorageError::UnknownUser`] when there is none).
    pub fn role(&self, login: &str) -> Result<Role, StorageError> {
        self.inner.pool.with_sql(|conn| role_of(conn, login))
    }

    /// Every user's login and role, by login.
    pub fn roles(&self) -> Result<Vec<(String, Role)>, StorageError> {
        self.inner.pool.with_sql(users_with_roles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn the_migration_makes_the_existing_admin_a_tenant_admin_and_others_maintainers() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE,
                                 name TEXT, created_at INTEGER NOT NULL);
             CREATE TABLE tokens (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL);
             INSERT INTO users (login, created_at) VALUES ('admin', 1), ('alice', 2);
             INSERT INTO tokens (user_id) VALUES (1);",
        )
        .unwrap();
        conn.execute_batch(MIGRATION).unwrap();
        assert_eq!(role_of(&conn, "admin").unwrap(), Role::TenantAdmin);
        assert_eq!(role_of(&conn, "alice").unwrap(), Role::Maintainer);
        let token_role: Option<String> = conn
            .query_row("SELECT role FROM tokens", [], |row| row.get(0))
            .unwrap();
        assert_eq!(token_role, None);
        assert_eq!(
            set_role(&conn, "alice", Role::Auditor).unwrap(),
            Role::Maintainer
        );
        assert_eq!(
            users_with_roles(&conn).unwrap(),
            vec![
                ("admin".to_owned(), Role::TenantAdmin),
                ("alice".to_owned(), Role::Auditor)
            ]
        );
        assert!(matches!(
            set_role(&conn, "admin", Role::Reader),
            Err(StorageError::LastTenantAdmin { .. })
        ));
        assert!(matches!(
            set_role(&conn, "nobody", Role::Reader),
            Err(StorageError::UnknownUser { .. })
        ));
    }
}
