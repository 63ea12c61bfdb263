//! The administrator's moderation beyond hiding: showing a hidden review again (logged with
//! its reason in the append-only `review_moderation`, like a hide) and the list of reported
//! reviews that are still shown. Hiding itself is in `reviews.rs`.

use serde::Serialize;
use wharf_index_format::Pubtime;

use crate::reviews::{ADMIN_LOGIN, MAX_REASON_CHARS};
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::{Principal, Storage, StorageError};

/// The migration that lets the moderation log record `unhide` (the table is rebuilt with
/// the wider check; its append-only triggers are made again).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE review_moderation_next (
    id          INTEGER PRIMARY KEY,
    review_id   INTEGER NOT NULL REFERENCES reviews(id),
    admin_id    INTEGER NOT NULL REFERENCES users(id),
    action      TEXT NOT NULL CHECK (action IN ('hide', 'unhide')),
    reason      TEXT NOT NULL,
    time        INTEGER NOT NULL
);
INSERT INTO review_moderation_next (id, review_id, admin_id, action, reason, time)
    SELECT id, review_id, admin_id, action, reason, time FROM review_moderation;
DROP TABLE review_moderation;
ALTER TABLE review_moderation_next RENAME TO review_moderation;
CREATE INDEX review_moderation_by_review ON review_moderation (review_id, id);
CREATE TRIGGER review_moderation_is_never_updated BEFORE UPDATE ON review_moderation
BEGIN SELECT RAISE(ABORT, 'the moderation log is append-only'); END;
CREATE TRIGGER review_moderation_is_never_deleted BEFORE DELETE ON review_moderation
BEGIN SELECT RAISE(ABORT, 'the moderation log is append-only'); END;
";

/// A review users reported, as the administrator's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportedReview {
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
    /// How many users reported it.
    pub reports: u64,
    /// The latest report's reason.
    pub latest_reason: String,
    /// When the latest report was made (`YYYY-MM-DDTHH:MM:SSZ`).
    pub latest_at: String,
    /// Whether the administrator has hidden it.
    pub hidden: bool,
}

/// Refuses anyone but the administrator.
fn require_admin(who: &Principal, action: &str) -> Result<(), StorageError> {
    who.require(crate::Action::ModerateReviews, action)
}

/// The id of package `name`'s review `id` and whether it is hidden; refused when the
/// package or the review is unknown.
fn review_state(conn: &dyn Sql, name: &str, id: i64) -> Result<bool, StorageError> {
    let package = crate::queries::require_package(conn, name)?;
    conn.row(
        "SELECT hidden_at IS NOT NULL FROM reviews WHERE id = ?1 AND package_id = ?2",
        args![id, package.id],
    )?
    .ok_or(StorageError::UnknownReview {
        name: package.name,
        id,
    })?
    .bool(0)
}

/// Shows hidden review `id` again and logs the administrator's reason; refused (changing
/// nothing) when the review is not hidden.
pub(crate) fn unhide(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StorageError> {
    require_admin(who, "show a hidden review again")?;
    if !review_state(conn, name, id)? {
        return Err(StorageError::InvalidCatalogueRequest {
            reason: format!("review {id} of `{name}` is not hidden; there is nothing to unhide"),
        });
    }
    let chars = reason.trim().chars().count();
    if chars == 0 || chars > MAX_REASON_CHARS {
        return Err(StorageError::InvalidCatalogueRequest {
            reason: format!(
                "the `reason` must be 1 to {MAX_REASON_CHARS} characters (it has {chars}); \
                 say why the review is shown again"
            ),
        });
    }
    conn.exec(
        "INSERT INTO review_moderation (review_id, admin_id, action, reason, time)
         VALUES (?1, ?2, 'unhide', ?3, ?4)",
        args![id, who.user_id, reason, now],
    )?;
    conn.exec(
        "UPDATE reviews SET hidden_at = NULL WHERE id = ?1",
        args![id],
    )?;
    tracing::info!(review = id, package = name, admin = %who.login, reason, "review shown again");
    Ok(())
}

/// Every reported review, most reported first; hidden ones only with `with_hidden`.
pub(crate) fn reported(
    conn: &dyn Sql,
    with_hidden: bool,
) -> Result<Vec<ReportedReview>, StorageError> {
    conn.rows(
        "SELECT p.name, r.id, u.login, r.rating, r.body, count(*),
                (SELECT rp.reason FROM review_reports rp WHERE rp.review_id = r.id
                 ORDER BY rp.created_at DESC, rp.user_id DESC LIMIT 1),
                max(rr.created_at), r.hidden_at IS NOT NULL
         FROM review_reports rr JOIN reviews r ON r.id = rr.review_id
         JOIN packages p ON p.id = r.package_id JOIN users u ON u.id = r.user_id
         WHERE ?1 OR r.hidden_at IS NULL
         GROUP BY r.id, p.name, u.login
         ORDER BY count(*) DESC, max(rr.created_at) DESC, r.id",
        args![with_hidden],
    )?
    .iter()
    .map(|row| {
        Ok(ReportedReview {
            package: row.string(0)?,
            id: row.i64(1)?,
            author: row.string(2)?,
            rating: row.i64(3)?,
            body: row.opt_string(4)?,
            reports: u64::try_from(row.i64(5)?).unwrap_or(0),
            latest_reason: row.string(6)?,
            latest_at: Pubtime::from_unix(row.i64(7)?).to_string(),
            hidden: row.bool(8)?,
        })
    })
    .collect()
}

impl Storage {
    /// The administrator as the `wharf admin` commands acting on the data directory act:
    /// the user `admin` (made by `wharf serve` on its first start) with every scope, under
    /// no token (token id 0). [`StorageError::UnknownUser`] when there is no such user.
    pub async fn administrator(&self) -> Result<Principal, StorageError> {
        let user_id = self
            .read_sql(|conn| {
                conn.row("SELECT id FROM users WHERE login = ?1", args![ADMIN_LOGIN])?
                    .map(|row| row.i64(0))
                    .transpose()
            })
            .await?;
        let user_id = user_id.ok_or_else(|| StorageError::UnknownUser {
            login: ADMIN_LOGIN.to_owned(),
        })?;
        Ok(Principal {
            user_id,
            login: ADMIN_LOGIN.to_owned(),
            token_id: 0,
            scopes: crate::Scope::ALL.to_vec(),
            name_patterns: Vec::new(),
            role: crate::roles::Role::TenantAdmin,
            token_role: None,
            expires_at: None,
        })
    }

    /// Shows hidden review `id` of `name` again (administrator only), logging the reason.
    pub async fn unhide_review(
        &self,
        who: &Principal,
        name: &str,
        id: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (who, name, reason) = (who.clone(), name.to_owned(), reason.to_owned());
        self.inner
            .writer
            .run_sql(move |conn| unhide(conn, &who, &name, id, &reason, now_unix()))
            .await
    }

    /// The reported reviews (administrator only), most reported first; hidden ones only
    /// with `with_hidden`.
    pub async fn reported_reviews(
        &self,
        who: &Principal,
        with_hidden: bool,
    ) -> Result<Vec<ReportedReview>, StorageError> {
        require_admin(who, "list reported reviews")?;
        self.read_sql(move |conn| reported(conn, with_hidden)).await
    }
}
