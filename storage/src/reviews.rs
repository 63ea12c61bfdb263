//! Ratings and reviews: one rating (1–5) and optional text per user per package, editable,
//! kept with the version it was written for; an owner's reply; users' reports; and the
//! administrator's hide with its reason, logged in the append-only `review_moderation`.
//! Every rule is checked before anything is written, so a refused request changes nothing.

use serde::Serialize;
use wharf_index_format::Pubtime;

use crate::queries::{find_version, is_owner, require_package};
use crate::sql::{Sql, SqlRow, args};
use crate::{Principal, StorageError};

/// The migration that adds the review tables.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body        TEXT,
    version     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    hidden_at   INTEGER,
    UNIQUE (package_id, user_id)
);
CREATE TABLE review_replies (
    review_id   INTEGER PRIMARY KEY REFERENCES reviews(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE review_reports (
    review_id   INTEGER NOT NULL REFERENCES reviews(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (review_id, user_id)
) WITHOUT ROWID;
CREATE TABLE review_moderation (
    id          INTEGER PRIMARY KEY,
    review_id   INTEGER NOT NULL REFERENCES reviews(id),
    admin_id    INTEGER NOT NULL REFERENCES users(id),
    action      TEXT NOT NULL CHECK (action IN ('hide')),
    reason      TEXT NOT NULL,
    time        INTEGER NOT NULL
);
CREATE TRIGGER review_moderation_is_never_updated BEFORE UPDATE ON review_moderation
BEGIN SELECT RAISE(ABORT, 'the moderation log is append-only'); END;
CREATE TRIGGER review_moderation_is_never_deleted BEFORE DELETE ON review_moderation
BEGIN SELECT RAISE(ABORT, 'the moderation log is append-only'); END;
";

/// The longest review text, in characters.
pub const MAX_REVIEW_CHARS: usize = 5_000;
/// The longest owner reply, in characters.
pub const MAX_REPLY_CHARS: usize = 2_000;
/// The longest report or hide reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The login of the first administrator (made by `wharf serve` on its first start): a user
/// created with this login is a tenant admin.
pub const ADMIN_LOGIN: &str = "admin";

/// What a user sends to rate a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewInput {
    /// 1 to 5.
    pub rating: i64,
    /// Optional text.
    pub body: Option<String>,
    /// The version reviewed; the latest when `None`.
    pub version: Option<String>,
}

/// A review as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Review {
    /// Its id, unique in the registry.
    pub id: i64,
    /// The reviewer's login.
    pub author: String,
    /// 1 to 5.
    pub rating: i64,
    /// The text, if any.
    pub body: Option<String>,
    /// The version it was written for.
    pub version: String,
    /// Whether the reviewer's token fetched one of this package's blobs, or came with an
    /// install report listing the package.
    pub verified_install: bool,
    /// First written (`YYYY-MM-DDTHH:MM:SSZ`).
    pub created: String,
    /// Last edited.
    pub updated: String,
    /// The owner's reply.
    pub reply: Option<ReviewReply>,
    /// How many users reported it.
    pub reports: u64,
    /// Why and when the administrator hid it (only in the administrator's listing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<HiddenReview>,
}

/// An owner's reply to a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewReply {
    /// The owner's login.
    pub author: String,
    /// The text.
    pub body: String,
    /// Last written (`YYYY-MM-DDTHH:MM:SSZ`).
    pub updated: String,
}

/// The moderation of a hidden review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HiddenReview {
    /// The reason the administrator gave.
    pub reason: String,
    /// When (`YYYY-MM-DDTHH:MM:SSZ`).
    pub at: String,
}

fn refuse(reason: String) -> StorageError {
    StorageError::InvalidCatalogueRequest { reason }
}

/// Checks an optional text's length, and that it is not only white space.
fn check_text(field: &str, text: &str, max: usize) -> Result<(), StorageError> {
    let chars = text.chars().count();
    if chars > max {
        return Err(refuse(format!(
            "`{field}` is {chars} characters long; the limit is {max}: shorten it"
        )));
    }
    if text.trim().is_empty() {
        return Err(refuse(format!(
            "`{field}` is empty; write some text or leave the field out"
        )));
    }
    Ok(())
}

/// Creates or replaces `who`'s review of `name`; returns its id.
pub(crate) fn upsert(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    input: &ReviewInput,
    now: i64,
) -> Result<i64, StorageError> {
    let package = require_package(conn, name)?;
    if !(1..=5).contains(&input.rating) {
        return Err(refuse(format!(
            "`rating` is {}; rate from 1 to 5",
            input.rating
        )));
    }
    if let Some(body) = &input.body {
        check_text("body", body, MAX_REVIEW_CHARS)?;
    }
    let version = match &input.version {
        Some(version) => {
            find_version(conn, package.id, version)?
                .ok_or_else(|| StorageError::UnknownVersion {
                    name: package.name.clone(),
                    version: version.clone(),
                })?
                .version
        }
        None => conn
            .row(
                "SELECT version FROM versions WHERE package_id = ?1 ORDER BY id DESC LIMIT 1",
                args![package.id],
            )?
            .ok_or_else(|| StorageError::UnknownPackage {
                name: package.name.clone(),
            })?
            .string(0)?,
    };
    conn.one_i64(
        "INSERT INTO reviews (package_id, user_id, rating, body, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (package_id, user_id) DO UPDATE SET rating = excluded.rating,
           body = excluded.body, version = excluded.version, updated_at = excluded.updated_at
         RETURNING id",
        args![
            package.id,
            who.user_id,
            input.rating,
            input.body.as_deref(),
            version,
            now
        ],
    )
}

/// The review `id` of package `name`, refused when it belongs to another package.
fn require_review(conn: &dyn Sql, name: &str, id: i64) -> Result<i64, StorageError> {
    let package = require_package(conn, name)?;
    if !conn.exists(
        "SELECT 1 FROM reviews WHERE id = ?1 AND package_id = ?2",
        args![id, package.id],
    )? {
        return Err(StorageError::UnknownReview {
            name: package.name.clone(),
            id,
        });
    }
    Ok(package.id)
}

/// Sets the owner's reply to review `id`.
pub(crate) fn reply(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    id: i64,
    body: &str,
    now: i64,
) -> Result<(), StorageError> {
    let package_id = require_review(conn, name, id)?;
    if !is_owner(conn, package_id, who.user_id)? {
        return Err(StorageError::NotOwner {
            login: who.login.clone(),
            name: name.to_owned(),
        });
    }
    check_text("body", body, MAX_REPLY_CHARS)?;
    conn.exec(
        "INSERT INTO review_replies (review_id, user_id, body, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (review_id) DO UPDATE SET user_id = excluded.user_id,
           body = excluded.body, updated_at = excluded.updated_at",
        args![id, who.user_id, body, now],
    )?;
    Ok(())
}

/// Records `who`'s report of review `id` (a second report by the same user keeps the first).
pub(crate) fn report(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StorageError> {
    require_review(conn, name, id)?;
    check_text("reason", reason, MAX_REASON_CHARS)?;
    conn.exec(
        "INSERT INTO review_reports (review_id, user_id, reason, created_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        args![id, who.user_id, reason, now],
    )?;
    Ok(())
}

/// Hides review `id` and logs the administrator's reason.
pub(crate) fn hide(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StorageError> {
    who.require(crate::Action::ModerateReviews, "hide a review")?;
    require_review(conn, name, id)?;
    check_text("reason", reason, MAX_REASON_CHARS)?;
    conn.exec(
        "INSERT INTO review_moderation (review_id, admin_id, action, reason, time)
         VALUES (?1, ?2, 'hide', ?3, ?4)",
        args![id, who.user_id, reason, now],
    )?;
    conn.exec(
        "UPDATE reviews SET hidden_at = ?2 WHERE id = ?1 AND hidden_at IS NULL",
        args![id, now],
    )?;
    tracing::info!(review = id, package = name, admin = %who.login, reason, "review hidden");
    Ok(())
}

/// The reviews of `name`, newest first; hidden ones only when `with_hidden`.
pub(crate) fn list(
    conn: &dyn Sql,
    name: &str,
    with_hidden: bool,
) -> Result<Vec<Review>, StorageError> {
    let package = require_package(conn, name)?;
    conn.rows(
        "SELECT r.id, u.login, r.rating, r.body, r.version, r.created_at, r.updated_at,
                r.hidden_at,
                EXISTS (SELECT 1 FROM download_fetchers f
                        WHERE f.package_id = r.package_id AND f.user_id = r.user_id)
                OR EXISTS (SELECT 1 FROM install_reporters i
                           WHERE i.package_id = r.package_id AND i.user_id = r.user_id),
                ru.login, rr.body, rr.updated_at,
                (SELECT count(*) FROM review_reports rp WHERE rp.review_id = r.id),
                (SELECT m.reason FROM review_moderation m WHERE m.review_id = r.id
                 ORDER BY m.id DESC LIMIT 1)
         FROM reviews r JOIN users u ON u.id = r.user_id
         LEFT JOIN review_replies rr ON rr.review_id = r.id
         LEFT JOIN users ru ON ru.id = rr.user_id
         WHERE r.package_id = ?1 AND (?2 OR r.hidden_at IS NULL)
         ORDER BY r.updated_at DESC, r.id DESC",
        args![package.id, with_hidden],
    )?
    .iter()
    .map(review)
    .collect()
}

/// A review from a row of [`list`]'s query.
fn review(row: &SqlRow) -> Result<Review, StorageError> {
    let time = |at: i64| Pubtime::from_unix(at).to_string();
    let reply = match row.opt_string(9)? {
        Some(author) => Some(ReviewReply {
            author,
            body: row.string(10)?,
            updated: time(row.i64(11)?),
        }),
        None => None,
    };
    let reason = row.opt_string(13)?;
    Ok(Review {
        id: row.i64(0)?,
        author: row.string(1)?,
        rating: row.i64(2)?,
        body: row.opt_string(3)?,
        version: row.string(4)?,
        created: time(row.i64(5)?),
        updated: time(row.i64(6)?),
        verified_install: row.bool(8)?,
        reply,
        reports: u64::try_from(row.i64(12)?).unwrap_or(0),
        hidden: row.opt_i64(7)?.map(|at| HiddenReview {
            reason: reason.unwrap_or_default(),
            at: time(at),
        }),
    })
}
