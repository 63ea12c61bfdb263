//! One module per resource; each handler takes the state and the parts of the request it needs.

pub(crate) mod catalogue;
pub(crate) mod catalogue_compat;
pub(crate) mod catalogue_readme;
pub(crate) mod catalogue_state;
pub(crate) mod download;
pub(crate) mod entitlements;
pub(crate) mod git;
pub(crate) mod index;
pub(crate) mod install_reports;
pub(crate) mod keys;
pub(crate) mod lifecycle;
pub(crate) mod lifecycle_feed;
pub(crate) mod log;
pub(crate) mod openapi;
pub(crate) mod operations;
pub(crate) mod owners;
pub(crate) mod plugins;
pub(crate) mod publish;
pub(crate) mod recommendations;
pub(crate) mod reviews;
pub(crate) mod roles;
pub(crate) mod search;
pub(crate) mod signatures;
pub(crate) mod teams;
pub(crate) mod usage;
pub(crate) mod webhooks;
pub(crate) mod yank;

/// The answer of a download check of a feature whose tables are not on PostgreSQL yet
/// (premium packages, quarantines): such a feature refuses every write there, so it holds
/// nothing that could refuse a download, and the check finds nothing (`None`). Any other
/// answer passes through unchanged.
pub(crate) fn nothing_held_on_postgres<T>(
    checked: Result<Option<T>, wharf_storage::StorageError>,
) -> Result<Option<T>, wharf_storage::StorageError> {
    match checked {
        Err(wharf_storage::StorageError::NotOnPostgres { feature }) => {
            tracing::debug!(%feature, "download check of a feature not on PostgreSQL yet");
            Ok(None)
        }
        other => other,
    }
}
