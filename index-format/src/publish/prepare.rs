//! [`prepare_publish`]: everything a registry checks about a publish body before storing it.

use sha2::{Digest, Sha256};

use super::{NewCrate, PackageMetadata, parse_publish_frame};
use crate::plugin::check_metadata_agrees;
use crate::{
    FormatError, IndexEntry, PackageName, PublishLimits, ValidatedPackage, validate_package_tarball,
};

/// A publish that passed every check that needs no database: ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedPublish {
    /// The validated package name (publisher's spelling).
    pub name: PackageName,
    /// The index line: `cksum` is the lowercase hex SHA-256 of [`Self::crate_bytes`],
    /// `pubtime` is `None` (the registry sets it when it commits the publish).
    pub entry: IndexEntry,
    /// The `.crate` bytes exactly as uploaded.
    pub crate_bytes: Vec<u8>,
    /// Descriptive metadata for search and display.
    pub metadata: PackageMetadata,
}

/// Parses and validates a whole `PUT /api/v1/crates/new` body: the frame, the metadata JSON,
/// the name and version, dependencies and features, the `.crate` tarball and its manifest.
/// A package with `plugin.toml` and no `Cargo.toml` is a plugin: its manifest is checked
/// before the metadata, the metadata must say what the manifest says, and
/// [`PackageMetadata::plugin`] carries its kind and capabilities.
/// Checks that need the registry's state (duplicate versions, canonical-name clashes,
/// ownership, signatures) are left to the caller.
pub fn prepare_publish(
    body: &[u8],
    limits: &PublishLimits,
) -> Result<PreparedPublish, FormatError> {
    let frame = parse_publish_frame(body, limits)?;
    let krate = NewCrate::from_json(frame.json, limits)?;
    let name = PackageName::new(&krate.name)?;
    let cksum = hex::encode(Sha256::digest(frame.crate_bytes));
    let package = validate_package_tarball(frame.crate_bytes, name.as_str(), &krate.vers, limits);
    let (entry, metadata, entries) = match package {
        Ok(ValidatedPackage::Plugin(plugin)) => {
            // The manifest was checked first, so its keys are what a refusal names.
            check_metadata_agrees(&plugin.manifest, &krate)?;
            let entry = krate.to_index_entry(&cksum, limits)?;
            let mut metadata = PackageMetadata::from_new_crate(&krate, limits)?;
            metadata.plugin = Some(plugin.manifest.info());
            (entry, metadata, plugin.entries.len())
        }
        Ok(ValidatedPackage::Crate(tarball)) => {
            let entry = krate.to_index_entry(&cksum, limits)?;
            let metadata = PackageMetadata::from_new_crate(&krate, limits)?;
            if tarball.manifest.links != krate.links {
                return Err(FormatError::ManifestMismatch {
                    field: "links".to_owned(),
                    manifest: tarball.manifest.links.unwrap_or_default(),
                    metadata: krate.links.unwrap_or_default(),
                });
            }
            (entry, metadata, tarball.entries.len())
        }
        Err(error) => {
            // A crate's metadata is reported before its tarball; a plugin's manifest first.
            if !matches!(
                error,
                FormatError::InvalidPluginManifest { .. }
                    | FormatError::PluginManifestMismatch { .. }
            ) {
                krate.to_index_entry(&cksum, limits)?;
                PackageMetadata::from_new_crate(&krate, limits)?;
            }
            return Err(error);
        }
    };
    tracing::debug!(
        package.name = %name,
        package.version = %entry.vers,
        crate.bytes = frame.crate_bytes.len(),
        tarball.entries = entries,
        "publish body validated"
    );
    Ok(PreparedPublish {
        name,
        entry,
        crate_bytes: frame.crate_bytes.to_vec(),
        metadata,
    })
}
