//! Placeholder for the publish-path API, replaced on merge.
#![allow(missing_docs, clippy::missing_errors_doc, unused_variables)]
use crate::{FormatError, IndexEntry, PackageName};
#[derive(Debug, Clone, Default)]
pub struct PublishLimits {
    pub max_json: usize,
    pub max_crate: usize,
}
#[derive(Debug, Clone, Default)]
pub struct PackageMetadata {
    pub description: Option<String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
    pub readme: Option<String>,
}
pub struct PreparedPublish {
    pub name: PackageName,
    pub entry: IndexEntry,
    pub crate_bytes: Vec<u8>,
    pub metadata: PackageMetadata,
}
pub fn prepare_publish(
    body: &[u8],
    limits: &PublishLimits,
) -> Result<PreparedPublish, FormatError> {
    unimplemented!()
}
impl FormatError {
    pub fn code(&self) -> &'static str {
        "x"
    }
    pub fn http_status(&self) -> u16 {
        400
    }
}
