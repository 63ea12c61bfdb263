//! Users and API tokens: creation, listing, revocation and authentication. Only a SHA-256
//! of each token is stored.

use crate::auth::{SecretToken, token_digest};
use crate::sql::{Engine, Sql, args};
use crate::{CreatedToken, NewToken, Principal, Role, Scope, StorageError, TokenInfo};

fn encode_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_scopes(text: &str) -> Result<Vec<Scope>, StorageError> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(str::parse)
        .collect()
}

fn decode_patterns(text: &str) -> Result<Vec<String>, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        what: format!("token name patterns `{text}`: {e}"),
    })
}

/// Whether a login is acceptable: non-empty printable ASCII without spaces, not naming a
/// team (`team:…`).
fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 64
        && login.bytes().all(|b| b.is_ascii_graphic())
        && !login.starts_with(crate::TEAM_PREFIX)
}

/// Accepts a display name of 1 to 100 characters, not only spaces, without control characters.
pub fn check_display_name(name: &str) -> Result<(), StorageError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(StorageError::InvalidDisplayName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Sets (or, with `None`, clears) the name shown next to a user's login, as in `cargo owner
/// --list`.
pub(crate) fn set_display_name(
    conn: &dyn Sql,
    login: &str,
    name: Option<&str>,
) -> Result<(), StorageError> {
    if let Some(name) = name {
        check_display_name(name)?;
    }
    let changed = conn.exec(
        "UPDATE users SET name = ?2 WHERE login = ?1",
        args![login, name],
    )?;
    if changed == 0 {
        return Err(StorageError::UnknownUser {
            login: login.to_owned(),
        });
    }
    tracing::info!(user = login, "display name changed");
    Ok(())
}

/// Creates the token (and its user when needed) in one transaction.
#[cfg(test)]
pub(crate) fn create_token(
    conn: &dyn Sql,
    request: NewToken,
    now: i64,
) -> Result<CreatedToken, StorageError> {
    create_narrowed_token(conn, request, None, now)
}

/// Reads a stored role.
pub(crate) fn decode_role(text: &str) -> Result<Role, StorageError> {
    text.parse().map_err(|_| StorageError::Corrupt {
        what: format!("stored role `{text}`"),
    })
}

/// Creates the token (and its user when needed, a tenant admin when the login is `admin`,
/// else of the default role) in one transaction; `role` narrows it and must be within the
/// user's role ([`StorageError::RoleAboveUser`], and nothing is created).
pub(crate) fn create_narrowed_token(
    conn: &dyn Sql,
    request: NewToken,
    role: Option<Role>,
    now: i64,
) -> Result<CreatedToken, StorageError> {
    conn.batch(match conn.engine() {
        Engine::Sqlite => "BEGIN IMMEDIATE",
        Engine::Postgres => "BEGIN",
    })?;
    match insert_token(conn, request, role, now) {
        Ok(created) => {
            conn.batch("COMMIT")?;
            Ok(created)
        }
        Err(error) => {
            // Keep the original error; the connection goes back to its pool either way.
            let _ignored = conn.batch("ROLLBACK");
            Err(error)
        }
    }
}

/// [`create_narrowed_token`] inside the caller's transaction.
pub(crate) fn insert_token(
    conn: &dyn Sql,
    request: NewToken,
    role: Option<Role>,
    now: i64,
) -> Result<CreatedToken, StorageError> {
    if !valid_login(&request.user) {
        return Err(StorageError::InvalidLogin {
            login: request.user.clone(),
        });
    }
    let secret = SecretToken::generate();
    let mut scopes = request.scopes;
    scopes.sort_unstable();
    scopes.dedup();
    let patterns =
        serde_json::to_string(&request.name_patterns).map_err(|e| StorageError::Corrupt {
            what: format!("token name patterns: {e}"),
        })?;
    let first_role = crate::roles_store::first_role(&request.user);
    conn.exec(
        "INSERT INTO users (login, created_at, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (login) DO NOTHING",
        args![&request.user, now, first_role.as_str()],
    )?;
    let user = conn
        .row(
            "SELECT id, role FROM users WHERE login = ?1",
            args![&request.user],
        )?
        .ok_or_else(|| StorageError::UnknownUser {
            login: request.user.clone(),
        })?;
    let (user_id, user_role) = (user.i64(0)?, decode_role(&user.string(1)?)?);
    if let Some(requested) = role
        && !requested.within(user_role)
    {
        return Err(StorageError::RoleAboveUser {
            login: request.user,
            requested,
            user_role,
        });
    }
    let id = conn.one_i64(
        "INSERT INTO tokens
           (user_id, token_sha256, scopes, name_patterns, label, expires_at, created_at, role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        args![
            user_id,
            token_digest(secret.expose()),
            encode_scopes(&scopes),
            patterns,
            request.label.as_deref(),
            request.expires_at,
            now,
            role.map(Role::as_str)
        ],
    )?;
    tracing::info!(token.id = id, user = %request.user, "token created");
    Ok(CreatedToken {
        info: TokenInfo {
            id,
            user: request.user,
            scopes,
            expires_at: request.expires_at,
            name_patterns: request.name_patterns,
            label: request.label,
            created_at: now,
            revoked: false,
            role,
        },
        secret,
    })
}

/// Every token, or those of one user, oldest first.
pub(crate) fn list_tokens(
    conn: &dyn Sql,
    user: Option<&str>,
) -> Result<Vec<TokenInfo>, StorageError> {
    let rows = conn.rows(
        "SELECT t.id, u.login, t.scopes, t.expires_at, t.name_patterns, t.label, t.created_at,
                t.revoked_at IS NOT NULL, t.role
         FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE u.login = coalesce(?1, u.login) ORDER BY t.id",
        args![user],
    )?;
    rows.iter()
        .map(|row| {
            let (id, user, scopes, expires_at, patterns, label, created_at, revoked, role) = (
                row.i64(0)?,
                row.string(1)?,
                row.string(2)?,
                row.opt_i64(3)?,
                row.string(4)?,
                row.opt_string(5)?,
                row.i64(6)?,
                row.bool(7)?,
                row.opt_string(8)?,
            );
            Ok(TokenInfo {
                id,
                user,
                scopes: decode_scopes(&scopes)?,
                expires_at,
                name_patterns: decode_patterns(&patterns)?,
                label,
                created_at,
                revoked,
                role: role.as_deref().map(decode_role).transpose()?,
            })
        })
        .collect()
}

/// Revokes a token; revoking twice is fine, an unknown id is [`StorageError::UnknownToken`].
pub(crate) fn revoke_token(conn: &dyn Sql, id: i64, now: i64) -> Result<(), StorageError> {
    if !conn.exists("SELECT 1 FROM tokens WHERE id = ?1", args![id])? {
        return Err(StorageError::UnknownToken { id });
    }
    conn.exec(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        args![id, now],
    )?;
    tracing::info!(token.id = id, "token revoked");
    Ok(())
}

/// The lookup behind every authenticated request (kept in one place so a test can check that
/// its cached statement is reused, not prepared again, from one token to the next).
const AUTHENTICATE_SQL: &str =
    "SELECT t.id, t.user_id, u.login, t.scopes, t.name_patterns, t.expires_at,
        t.revoked_at IS NOT NULL, u.role, t.role
 FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ?1";

/// Finds the principal behind a presented token (the server goes through the token cache).
#[cfg(test)]
pub(crate) fn authenticate(
    conn: &dyn Sql,
    presented: &str,
    now: i64,
) -> Result<Principal, StorageError> {
    let digest = token_digest(presented.trim());
    Ok(verify_digest(conn, &digest, now)?.principal)
}

/// A token found valid, with what decides how long it stays valid without a database change.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedToken {
    /// Who the token acts for.
    pub(crate) principal: Principal,
    /// When the token expires (seconds since the epoch), if ever.
    pub(crate) expires_at: Option<i64>,
}

/// Finds the token whose hex SHA-256 is `digest` and checks that it is neither revoked nor
/// expired at `now`.
pub(crate) fn verify_digest(
    conn: &dyn Sql,
    digest: &str,
    now: i64,
) -> Result<VerifiedToken, StorageError> {
    let Some(row) = conn.row(AUTHENTICATE_SQL, args![digest])? else {
        return Err(StorageError::InvalidToken);
    };
    let (token_id, user_id, login, scopes, patterns, expires_at, revoked) = (
        row.i64(0)?,
        row.i64(1)?,
        row.string(2)?,
        row.string(3)?,
        row.string(4)?,
        row.opt_i64(5)?,
        row.bool(6)?,
    );
    let (role, token_role) = (row.string(7)?, row.opt_string(8)?);
    if revoked {
        return Err(StorageError::RevokedToken);
    }
    if expires_at.is_some_and(|at| at <= now) {
        return Err(StorageError::ExpiredToken);
    }
    Ok(VerifiedToken {
        principal: Principal {
            user_id,
            login,
            token_id,
            scopes: decode_scopes(&scopes)?,
            name_patterns: decode_patterns(&patterns)?,
            role: decode_role(&role)?,
            token_role: token_role.as_deref().map(decode_role).transpose()?,
            expires_at,
        },
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open_connection(&dir.path().join("t.db")).unwrap();
        crate::db::migrate(&mut conn).unwrap();
        (dir, conn)
    }

    fn request(user: &str, expires_at: Option<i64>) -> NewToken {
        NewToken {
            user: user.into(),
            scopes: vec![Scope::Yank, Scope::PublishNew, Scope::Yank],
            expires_at,
            name_patterns: vec!["acme-*".into()],
            label: Some("ci".into()),
        }
    }

    #[test]
    fn display_names_are_checked_and_need_a_known_user() {
        let (_dir, conn) = database();
        create_token(&conn, request("alice", None), 100).unwrap();
        set_display_name(&conn, "alice", Some("Alice Liddell")).unwrap();
        let stored: Option<String> = conn
            .query_row("SELECT name FROM users WHERE login = 'alice'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(stored.as_deref(), Some("Alice Liddell"));
        for bad in ["", "  ", "tab\there", &"x".repeat(101)] {
            assert!(
                matches!(
                    set_display_name(&conn, "alice", Some(bad)),
                    Err(StorageError::InvalidDisplayName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            set_display_name(&conn, "nobody", Some("No Body")),
            Err(StorageError::UnknownUser { .. })
        ));
        set_display_name(&conn, "alice", None).unwrap();
    }

    #[test]
    fn the_token_lookup_is_planned_once_per_connection() {
        let (_dir, conn) = database();
        let alice = create_token(&conn, request("alice", None), 100).unwrap();
        let bob = create_token(&conn, request("bob", None), 100).unwrap();
        for _ in 0..10 {
            for token in [&alice, &bob] {
                authenticate(&conn, token.secret.expose(), 200).unwrap();
            }
            assert!(authenticate(&conn, "wharf_unknown", 200).is_err());
        }
        let statement = conn.prepare_cached(AUTHENTICATE_SQL).unwrap();
        assert_eq!(statement.get_status(rusqlite::StatementStatus::Run), 30);
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "each new token made SQLite plan the lookup again"
        );
    }

    #[test]
    fn tokens_authenticate_until_revoked_or_expired() {
        let (_dir, conn) = database();
        let created = create_token(&conn, request("alice", None), 100).unwrap();
        assert_eq!(created.info.scopes, vec![Scope::PublishNew, Scope::Yank]);
        let who = authenticate(&conn, created.secret.expose(), 200).unwrap();
        assert_eq!(who.login, "alice");
        assert_eq!(who.token_id, created.info.id);
        assert_eq!(who.name_patterns, vec!["acme-*".to_owned()]);
        assert!(matches!(
            authenticate(&conn, "wharf_nope", 200),
            Err(StorageError::InvalidToken)
        ));
        revoke_token(&conn, created.info.id, 300).unwrap();
        revoke_token(&conn, created.info.id, 301).unwrap();
        assert!(matches!(
            authenticate(&conn, created.secret.expose(), 400),
            Err(StorageError::RevokedToken)
        ));
        assert!(matches!(
            revoke_token(&conn, 999, 400),
            Err(StorageError::UnknownToken { id: 999 })
        ));

        let expiring = create_token(&conn, request("alice", Some(500)), 100).unwrap();
        assert!(authenticate(&conn, expiring.secret.expose(), 499).is_ok());
        assert!(matches!(
            authenticate(&conn, expiring.secret.expose(), 500),
            Err(StorageError::ExpiredToken)
        ));
    }

    #[test]
    fn only_digests_are_stored_and_listing_filters_by_user() {
        let (_dir, conn) = database();
        let alice = create_token(&conn, request("alice", None), 1).unwrap();
        create_token(&conn, request("bob", None), 2).unwrap();
        let stored: Vec<String> = conn
            .prepare("SELECT token_sha256 FROM tokens")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(stored.iter().all(|s| !s.contains(alice.secret.expose())));
        assert!(stored.contains(&token_digest(alice.secret.expose())));
        assert_eq!(list_tokens(&conn, None).unwrap().len(), 2);
        let only_alice = list_tokens(&conn, Some("alice")).unwrap();
        assert_eq!(only_alice, vec![alice.info]);
        assert!(matches!(
            create_token(&conn, request("has space", None), 3),
            Err(StorageError::InvalidLogin { .. })
        ));
    }
}
