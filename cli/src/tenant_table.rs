//! The tenants table: `<data>/tenants.json`, the list of a server's tenants and their state.
//!
//! `wharf tenant` commands change it (under a lock, replacing the file atomically); a running
//! `wharf serve` reads it again when it changes. Each tenant's registry lives in
//! `<data>/tenants/<name>/`, a data directory of its own. A registry on PostgreSQL keeps
//! its tenants in a table of its database instead (`tenant_nodes.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The table's file name inside the data directory.
pub(crate) const TABLE_FILE: &str = "tenants.json";
/// The directory holding one data directory per tenant.
pub(crate) const TENANTS_DIR: &str = "tenants";
/// The data directory (inside [`TENANTS_DIR`]) of the empty registry whose storage answers
/// requests to names that are no tenant; its leading dot keeps it out of the names allowed.
pub(crate) const VOID_DIR: &str = ".void";
/// The directory (inside [`TENANTS_DIR`]) holding one copy of each tenant blob; every
/// tenant's `blobs/` links to it (its leading dot keeps it out of the names allowed).
pub(crate) const SHARED_BLOBS_DIR: &str = ".blobs";
/// Names a tenant may not take: they read as parts of Wharf's own paths or as the default.
const RESERVED: [&str; 14] = [
    "default", "t", "api", "index", "blobs", "git", "admin", "me", "health", "ready", "metrics",
    "static", "tenants", "wharf",
];
/// The longest tenant name (a DNS label's limit, so a name can also be a host name).
const MAX_NAME_LEN: usize = 63;

/// The whole table.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TenantTable {
    /// Every tenant, in the order they were created.
    pub(crate) tenants: Vec<TenantRecord>,
}

/// One tenant (the same record as a row of the tenants table on PostgreSQL).
pub(crate) use wharf_storage::TenantEntry as TenantRecord;

impl TenantTable {
    /// Reads `<data>/tenants.json`; no file is an empty table.
    pub(crate) fn load(data: &Path) -> anyhow::Result<Self> {
        let path = table_path(data);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read `{}`", path.display()));
            }
        };
        serde_json::from_str(&text).with_context(|| {
            format!(
                "`{}` is not a tenants table; restore it from a backup or fix the JSON by hand",
                path.display()
            )
        })
    }

    /// Writes the table to `<data>/tenants.json` atomically (a temporary file renamed over it).
    pub(crate) fn save(&self, data: &Path) -> anyhow::Result<()> {
        let path = table_path(data);
        let temporary = data.join(format!("{TABLE_FILE}.tmp"));
        let mut text = serde_json::to_string_pretty(self).context("serialising the tenants")?;
        text.push('\n');
        std::fs::write(&temporary, text)
            .with_context(|| format!("cannot write `{}`", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot replace `{}`", path.display()))
    }

    /// The tenant called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&TenantRecord> {
        self.tenants.iter().find(|tenant| tenant.name == name)
    }

    /// The tenant called `name`, to change.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut TenantRecord> {
        self.tenants.iter_mut().find(|tenant| tenant.name == name)
    }
}

/// `<data>/tenants.json`.
pub(crate) fn table_path(data: &Path) -> PathBuf {
    data.join(TABLE_FILE)
}

/// The data directory of tenant `name`: `<data>/tenants/<name>`.
pub(crate) fn tenant_dir(data: &Path, name: &str) -> PathBuf {
    data.join(TENANTS_DIR).join(name)
}

/// The tenant whose data directory `dir` is (`<data>/tenants/<name>` beside a tenants
/// table, or in a node's directory of a registry on PostgreSQL, whose table is in the
/// database), so its audit records name it; `None` for any other directory.
pub(crate) fn tenant_of_dir(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_str()?;
    let tenants = dir.parent()?;
    let is_tenant = tenants.file_name()? == TENANTS_DIR
        && tenants.parent().is_some_and(|data| {
            table_path(data).exists() || data.join(crate::open_registry::DATABASE_RECORD).exists()
        })
        && check_tenant_name(name).is_ok();
    is_tenant.then(|| name.to_owned())
}

/// Holds `<data>/tenants.lock` while a `wharf tenant` command reads and rewrites the table, so
/// two commands at once cannot lose each other's change.
pub(crate) fn lock_table(data: &Path) -> anyhow::Result<std::fs::File> {
    let path = data.join("tenants.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(file)
}

/// Refuses a name that is not a tenant name: 1 to 63 lower-case ASCII letters, digits and
/// `-`, starting with a letter and not ending with `-`, and none of the reserved names.
pub(crate) fn check_tenant_name(name: &str) -> anyhow::Result<()> {
    let rule = "a tenant name is 1 to 63 lower-case letters, digits and `-`, starting with a letter and not ending with `-`";
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        bail!("tenant name `{name}` is empty or longer than {MAX_NAME_LEN} characters; {rule}");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        bail!("tenant name `{name}` contains `{bad}`; {rule}");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.ends_with('-') {
        bail!("tenant name `{name}` must start with a letter and not end with `-`; {rule}");
    }
    if RESERVED.contains(&name) {
        bail!(
            "tenant name `{name}` is reserved (reserved: {}); choose another name",
            RESERVED.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_directory_is_named_by_its_tenant() {
        let data = tempfile::tempdir().unwrap();
        let acme = tenant_dir(data.path(), "acme");
        assert_eq!(tenant_of_dir(&acme), None, "no tenants table yet");
        TenantTable::default().save(data.path()).unwrap();
        assert_eq!(tenant_of_dir(&acme).as_deref(), Some("acme"));
        assert_eq!(tenant_of_dir(&tenant_dir(data.path(), VOID_DIR)), None);
        assert_eq!(tenant_of_dir(data.path()), None);
    }

    #[test]
    fn tenant_names_follow_the_rules() {
        for good in ["acme", "a", "team-42", "x1"] {
            assert!(check_tenant_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "../x", "Acme", "acme-", "1acme", "default", "api", "a/b", ".void", "a b",
        ] {
            let error = check_tenant_name(bad).expect_err(bad).to_string();
            assert!(!error.contains('\n'), "{error}");
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
        assert!(check_tenant_name(&"a".repeat(64)).is_err());
    }
}
