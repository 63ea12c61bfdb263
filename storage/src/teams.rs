//! Teams: named groups of users that can own packages. A package owned by a team counts as
//! owned by each of its members (who then publish, yank or manage owners as their role
//! allows). Cargo names a team owner `team:NAME` (`cargo owner --add team:NAME`).
//!
//! The queries run on either engine through the [`Sql`] seam (the tables are in
//! `pg_schema.rs` too).
//!
//! Creating a team and changing its members needs [`Action::ManageTeams`] (a tenant admin),
//! or a command run on the data directory.

use serde::Serialize;

use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::{Action, Principal, Storage, StorageError};

/// The tables of teams, their members and the packages they own.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE TABLE team_members (
    team_id   INTEGER NOT NULL REFERENCES teams(id),
    user_id   INTEGER NOT NULL REFERENCES users(id),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_members_by_user ON team_members (user_id);
CREATE TABLE team_owners (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    team_id     INTEGER NOT NULL REFERENCES teams(id),
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (package_id, team_id)
) WITHOUT ROWID;
";

/// How an owner login names a team.
pub const TEAM_PREFIX: &str = "team:";

/// A team, its members and the packages it owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Team {
    /// The team's name.
    pub name: String,
    /// The members' logins, alphabetical.
    pub members: Vec<String>,
    /// The packages the team owns, alphabetical.
    pub packages: Vec<String>,
}

fn invalid(reason: String) -> StorageError {
    StorageError::InvalidTeamRequest { reason }
}

/// Accepts 1 to 64 of lowercase ASCII letters, digits, `-` and `_`, starting with a letter.
pub(crate) fn check_team_name(name: &str) -> Result<(), StorageError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "`{name}` is not a team name: use 1 to 64 lowercase letters, digits, `-` or `_`, starting with a letter"
        )))
    }
}

/// The id of the team called `name`.
pub(crate) fn team_id(conn: &dyn Sql, name: &str) -> Result<i64, StorageError> {
    conn.row("SELECT id FROM teams WHERE name = ?1", args![name])?
        .ok_or_else(|| StorageError::UnknownTeam {
            name: name.to_owned(),
        })?
        .i64(0)
}

fn user_id(conn: &dyn Sql, login: &str) -> Result<i64, StorageError> {
    conn.row("SELECT id FROM users WHERE login = ?1", args![login])?
        .ok_or_else(|| StorageError::UnknownUser {
            login: login.to_owned(),
        })?
        .i64(0)
}

/// Creates the team `name`.
pub(crate) fn create(conn: &dyn Sql, name: &str, now: i64) -> Result<(), StorageError> {
    check_team_name(name)?;
    let inserted = conn.exec(
        "INSERT INTO teams (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        args![name, now],
    )?;
    if inserted == 0 {
        return Err(invalid(format!(
            "the team `{name}` already exists; add members with `wharf team add {name} LOGIN`"
        )));
    }
    tracing::info!(team = name, "team created");
    Ok(())
}

/// Adds (`add`) or removes logins; returns those whose membership changed. Every login must
/// be a user; run it inside a transaction, so nothing changes when one is not.
pub(crate) fn change_members(
    conn: &dyn Sql,
    name: &str,
    logins: &[String],
    add: bool,
    now: i64,
) -> Result<Vec<String>, StorageError> {
    let team = team_id(conn, name)?;
    let mut changed = Vec::new();
    for login in logins {
        let user = user_id(conn, login)?;
        let rows = if add {
            conn.exec(
                "INSERT INTO team_members (team_id, user_id, added_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                args![team, user, now],
            )?
        } else {
            conn.exec(
                "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
                args![team, user],
            )?
        };
        if rows == 1 {
            changed.push(login.clone());
        }
    }
    tracing::info!(
        team = name,
        add,
        changed = changed.len(),
        "team members changed"
    );
    Ok(changed)
}

fn strings(conn: &dyn Sql, sql: &str, id: i64) -> Result<Vec<String>, StorageError> {
    conn.rows(sql, args![id])?
        .iter()
        .map(|row| row.string(0))
        .collect()
}

/// Every team with its members and packages, by name.
pub(crate) fn list(conn: &dyn Sql) -> Result<Vec<Team>, StorageError> {
    let teams = conn
        .rows("SELECT id, name FROM teams ORDER BY name", args![])?
        .iter()
        .map(|row| Ok((row.i64(0)?, row.string(1)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    teams
        .into_iter()
        .map(|(id, name)| {
            Ok(Team {
                name,
                members: strings(
                    conn,
                    "SELECT u.login FROM team_members m JOIN users u ON u.id = m.user_id
                     WHERE m.team_id = ?1 ORDER BY u.login",
                    id,
                )?,
                packages: strings(
                    conn,
                    "SELECT p.name FROM team_owners o JOIN packages p ON p.id = o.package_id
                     WHERE o.team_id = ?1 ORDER BY p.name",
                    id,
                )?,
            })
        })
        .collect()
}

/// The teams owning a package, as `(id, name)`, oldest first.
pub(crate) fn team_owners(
    conn: &dyn Sql,
    package_id: i64,
) -> Result<Vec<(i64, String)>, StorageError> {
    conn.rows(
        "SELECT t.id, t.name FROM team_owners o JOIN teams t ON t.id = o.team_id
         WHERE o.package_id = ?1 ORDER BY o.added_at, t.id",
        args![package_id],
    )?
    .iter()
    .map(|row| Ok((row.i64(0)?, row.string(1)?)))
    .collect()
}

/// Adds (or removes) a team as an owner of a package; whether anything changed.
pub(crate) fn set_team_owner(
    conn: &dyn Sql,
    package_id: i64,
    team: &str,
    add: bool,
    now: i64,
) -> Result<bool, StorageError> {
    let team = team_id(conn, team)?;
    let rows = if add {
        conn.exec(
            "INSERT INTO team_owners (package_id, team_id, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            args![package_id, team, now],
        )?
    } else {
        conn.exec(
            "DELETE FROM team_owners WHERE package_id = ?1 AND team_id = ?2",
            args![package_id, team],
        )?
    };
    Ok(rows == 1)
}

fn authorize(who: Option<&Principal>, what: &str) -> Result<(), StorageError> {
    who.map_or(Ok(()), |who| who.require(Action::ManageTeams, what))
}

impl Storage {
    /// Creates a team. `who` is the acting user (`None`: an operator's command on the data
    /// directory); it needs [`Action::ManageTeams`].
    pub fn create_team(&self, who: Option<&Principal>, name: &str) -> Result<(), StorageError> {
        authorize(who, &format!("create the team `{name}`"))?;
        self.inner
            .pool
            .with_write(|conn| create(conn, name, now_unix()))
    }

    /// Adds users (by login) to a team; returns the logins that were not members before.
    pub fn add_team_members(
        &self,
        who: Option<&Principal>,
        name: &str,
        logins: &[String],
    ) -> Result<Vec<String>, StorageError> {
        authorize(who, &format!("change the members of team `{name}`"))?;
        self.inner
            .pool
            .with_write(|conn| change_members(conn, name, logins, true, now_unix()))
    }

    /// Removes users from a team; returns the logins that were members.
    pub fn remove_team_members(
        &self,
        who: Option<&Principal>,
        name: &str,
        logins: &[String],
    ) -> Result<Vec<String>, StorageError> {
        authorize(who, &format!("change the members of team `{name}`"))?;
        self.inner
            .pool
            .with_write(|conn| change_members(conn, name, logins, false, now_unix()))
    }

    /// Every team with its members and packages, by name.
    pub fn teams(&self) -> Result<Vec<Team>, StorageError> {
        self.inner.pool.with_sql(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_names_are_checked() {
        for good in ["core", "web-team", "a1_b"] {
            assert!(check_team_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Core", "1team", "has space", "team:x", &"a".repeat(65)] {
            assert!(
                matches!(
                    check_team_name(bad),
                    Err(StorageError::InvalidTeamRequest { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
