//! The catalogue reads the web pages need beyond search and package pages: a publisher's
//! packages, the categories in use, and the administrator's views of hidden reviews and of
//! users. Each is one query on a pooled connection of either engine.

use serde::Serialize;
use wharf_index_format::Pubtime;

use crate::sql::{Sql, SqlRow, args, json_text};
use crate::{Principal, Storage, StorageError};

/// One package of a publisher, described by its latest release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnedPackage {
    /// The name as published.
    pub name: String,
    /// The latest release.
    pub latest: String,
    /// `crate`, `plugin` or `template`.
    pub kind: String,
    /// Its description.
    pub description: Option<String>,
    /// When the latest release was published (`YYYY-MM-DDTHH:MM:SSZ`).
    pub updated: String,
    /// Downloads of every version, all time.
    pub downloads: u64,
}

/// A category and how many packages' latest releases list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryCount {
    /// The category, lowercase.
    pub category: String,
    /// How many packages list it.
    pub packages: u64,
}

/// A review the administrator hid, with the logged reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeratedReview {
    /// The package reviewed.
    pub package: String,
    /// The review's id.
    pub id: i64,
    /// The reviewer's login.
    pub author: String,
    /// 1 to 5.
    pub rating: i64,
    /// The text, if any.
    pub body: Option<String>,
    /// The reason the administrator gave.
    pub reason: String,
    /// When it was hidden (`YYYY-MM-DDTHH:MM:SSZ`).
    pub hidden_at: String,
    /// How many users reported it.
    pub reports: u64,
}

/// A user as the administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    /// The login.
    pub login: String,
    /// The display name, if any.
    pub name: Option<String>,
    /// When the user was created (`YYYY-MM-DDTHH:MM:SSZ`).
    pub created: String,
    /// Tokens neither revoked nor expired.
    pub active_tokens: u64,
    /// Packages the user owns.
    pub packages: u64,
    /// Reviews the user wrote.
    pub reviews: u64,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The packages `login` owns, by name; `None` when there is no such user.
fn owned_by(conn: &dyn Sql, login: &str) -> Result<Option<Vec<OwnedPackage>>, StorageError> {
    let Some(user) = conn.row("SELECT id FROM users WHERE login = ?1", args![login])? else {
        return Ok(None);
    };
    let description = json_text(conn.engine(), "v.metadata", "description");
    let packages = conn
        .rows(
            &format!(
                "SELECT p.name, v.version, e.kind, {description}, e.updated_at,
                        coalesce((SELECT total FROM download_totals t WHERE t.package_id = p.id), 0)
                 FROM owners o JOIN packages p ON p.id = o.package_id
                 JOIN catalogue_entries e ON e.package_id = p.id
                 JOIN versions v ON v.id = e.version_id
                 WHERE o.user_id = ?1 ORDER BY p.lower_name"
            ),
            args![user.i64(0)?],
        )?
        .iter()
        .map(|row| {
            Ok(OwnedPackage {
                name: row.string(0)?,
                latest: row.string(1)?,
                kind: row.string(2)?,
                description: row.opt_string(3)?,
                updated: Pubtime::from_unix(row.i64(4)?).to_string(),
                downloads: count(row.i64(5)?),
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Some(packages))
}

/// The `limit` categories listed by most packages, ties by name.
fn categories(conn: &dyn Sql, limit: usize) -> Result<Vec<CategoryCount>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.rows(
        "SELECT value, count(*) AS n FROM catalogue_tags WHERE tag_kind = 'category'
         GROUP BY value ORDER BY n DESC, value LIMIT ?1",
        args![limit],
    )?
    .iter()
    .map(|row| {
        Ok(CategoryCount {
            category: row.string(0)?,
            packages: count(row.i64(1)?),
        })
    })
    .collect()
}

/// Every hidden review with its latest hide reason, most recently hidden first.
fn hidden_reviews(conn: &dyn Sql) -> Result<Vec<ModeratedReview>, StorageError> {
    conn.rows(
        "SELECT p.name, r.id, u.login, r.rating, r.body, m.reason, m.time,
                (SELECT count(*) FROM review_reports rp WHERE rp.review_id = r.id)
         FROM reviews r JOIN packages p ON p.id = r.package_id
         JOIN users u ON u.id = r.user_id
         JOIN review_moderation m ON m.id =
              (SELECT max(id) FROM review_moderation WHERE review_id = r.id)
         WHERE r.hidden_at IS NOT NULL ORDER BY m.time DESC, r.id DESC",
        args![],
    )?
    .iter()
    .map(|row: &SqlRow| {
        Ok(ModeratedReview {
            package: row.string(0)?,
            id: row.i64(1)?,
            author: row.string(2)?,
            rating: row.i64(3)?,
            body: row.opt_string(4)?,
            reason: row.string(5)?,
            hidden_at: Pubtime::from_unix(row.i64(6)?).to_string(),
            reports: count(row.i64(7)?),
        })
    })
    .collect()
}

/// Every user with counts of tokens, packages and reviews, by login.
fn users(conn: &dyn Sql, now: i64) -> Result<Vec<UserSummary>, StorageError> {
    conn.rows(
        "SELECT u.login, u.name, u.created_at,
                (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL
                   AND (t.expires_at IS NULL OR t.expires_at > ?1)),
                (SELECT count(*) FROM owners o WHERE o.user_id = u.id),
                (SELECT count(*) FROM reviews r WHERE r.user_id = u.id)
         FROM users u ORDER BY u.login",
        args![now],
    )?
    .iter()
    .map(|row| {
        Ok(UserSummary {
            login: row.string(0)?,
            name: row.opt_string(1)?,
            created: Pubtime::from_unix(row.i64(2)?).to_string(),
            active_tokens: count(row.i64(3)?),
            packages: count(row.i64(4)?),
            reviews: count(row.i64(5)?),
        })
    })
    .collect()
}

impl Storage {
    /// The packages the user `login` owns, by name; `None` when there is no such user.
    pub async fn packages_owned_by(
        &self,
        login: &str,
    ) -> Result<Option<Vec<OwnedPackage>>, StorageError> {
        let login = login.to_owned();
        self.read_sql(move |conn| owned_by(conn, &login)).await
    }

    /// The `limit` categories listed by most packages' latest releases.
    pub async fn catalogue_categories(
        &self,
        limit: usize,
    ) -> Result<Vec<CategoryCount>, StorageError> {
        self.read_sql(move |conn| categories(conn, limit)).await
    }

    /// Every hidden review with the logged reason (administrator only:
    /// [`StorageError::NotAdmin`] for anyone else).
    pub async fn hidden_reviews(
        &self,
        who: &Principal,
    ) -> Result<Vec<ModeratedReview>, StorageError> {
        who.require(crate::Action::ModerateReviews, "list hidden reviews")?;
        self.read_sql(hidden_reviews).await
    }

    /// Every user with its counts (administrator only: [`StorageError::NotAdmin`] for anyone
    /// else).
    pub async fn user_summaries(&self, who: &Principal) -> Result<Vec<UserSummary>, StorageError> {
        who.require(crate::Action::ManageUsers, "list users")?;
        let now = crate::storage::now_unix();
        self.read_sql(move |conn| users(conn, now)).await
    }
}
