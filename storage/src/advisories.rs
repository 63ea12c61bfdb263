//! Security advisories: published by the registry administrator, kept one row per id, and
//! served inside the signed lifecycle feed (`lifecycle.rs`) and by
//! `GET /api/wharf/v1/advisories`.

use wharf_trust::{Advisory, UtcTime};

use crate::lifecycle::{bump_serial, check_text, require_admin};
use crate::queries::require_package;
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::{Principal, Storage, StorageError};

/// Longest advisory description, in characters.
pub const MAX_ADVISORY_DESCRIPTION: usize = 4000;

/// What an administrator submits; the registry sets `published-at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AdvisoryInput {
    /// The advisory's id, e.g. `WHARF-2026-0001`.
    pub id: String,
    /// The affected package.
    pub package: String,
    /// The affected semver ranges.
    pub affected: Vec<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: wharf_trust::Severity,
    /// The first fixed version, if any.
    #[serde(default)]
    pub fixed: Option<String>,
    /// What the issue is.
    pub description: String,
}

/// Every advisory, oldest first.
pub(crate) fn read_all(conn: &dyn Sql) -> Result<Vec<Advisory>, StorageError> {
    conn.rows(
        "SELECT advisory FROM advisories ORDER BY published_at, id",
        args![],
    )?
    .iter()
    .map(|row| {
        serde_json::from_str(&row.string(0)?).map_err(|e| StorageError::Corrupt {
            what: format!("stored advisory: {e}"),
        })
    })
    .collect()
}

fn apply_publish(
    conn: &dyn Sql,
    who: &Principal,
    input: AdvisoryInput,
    now: i64,
) -> Result<Advisory, StorageError> {
    require_admin(who, "publish an advisory")?;
    let package = require_package(conn, &input.package)?;
    if input.description.chars().count() > MAX_ADVISORY_DESCRIPTION {
        return Err(StorageError::InvalidLifecycleRequest {
            reason: format!(
                "the advisory description has more than {MAX_ADVISORY_DESCRIPTION} characters; shorten it"
            ),
        });
    }
    if input.description.trim().is_empty() {
        check_text("advisory description", &input.description)?;
    }
    let advisory = Advisory {
        id: input.id,
        package: package.name,
        affected: input.affected,
        severity: input.severity,
        fixed: input.fixed,
        description: input.description,
        published_at: UtcTime::from_unix(now)?.to_string(),
    };
    advisory
        .check()
        .map_err(|e| StorageError::InvalidLifecycleRequest {
            reason: e.to_string(),
        })?;
    let exists = conn.exists(
        "SELECT 1 FROM advisories WHERE id = ?1",
        args![&advisory.id],
    )?;
    if exists {
        return Err(StorageError::LifecycleConflict {
            reason: format!(
                "advisory `{}` is already published; advisories are never edited, publish a new id",
                advisory.id
            ),
        });
    }
    let json = serde_json::to_string(&advisory).map_err(|e| StorageError::Corrupt {
        what: format!("advisory `{}`: {e}", advisory.id),
    })?;
    conn.exec(
        "INSERT INTO advisories (id, package_id, advisory, published_at) VALUES (?1, ?2, ?3, ?4)",
        args![&advisory.id, package.id, json, now],
    )?;
    bump_serial(conn)?;
    Ok(advisory)
}

impl Storage {
    /// Publishes a security advisory (the administrator only); returns it as stored.
    #[tracing::instrument(skip(self, who, input), fields(user = %who.login, id = %input.id))]
    pub async fn publish_advisory(
        &self,
        who: &Principal,
        input: AdvisoryInput,
    ) -> Result<Advisory, StorageError> {
        let who = who.clone();
        self.inner
            .writer
            .run_sql(move |conn| apply_publish(conn, &who, input, now_unix()))
            .await
    }

    /// Every advisory, oldest first.
    pub async fn advisories(&self) -> Result<Vec<Advisory>, StorageError> {
        self.read_sql(read_all).await
    }
}
