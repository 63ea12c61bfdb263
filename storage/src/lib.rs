//! Interface placeholder for wharf-storage, replaced by the real crate on merge.
#![allow(
    missing_docs,
    clippy::unused_async,
    clippy::missing_errors_doc,
    unused_variables,
    clippy::needless_pass_by_value
)]
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wharf_index_format::IndexEntry;
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub blobs: BlobBackend,
}
pub enum BlobBackend {
    Local,
    Memory,
    Custom(Arc<dyn object_store::ObjectStore>),
}
#[derive(Clone, Debug)]
pub struct Storage {
    dir: PathBuf,
}
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("x")]
    InvalidToken,
    #[error("x")]
    ExpiredToken,
    #[error("x")]
    RevokedToken,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Internal,
}
impl StorageError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}
pub struct NewToken {
    pub user: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
    pub name_patterns: Vec<String>,
    pub label: Option<String>,
}
pub struct CreatedToken {
    pub info: TokenInfo,
    pub secret: SecretToken,
}
pub struct SecretToken(String);
impl SecretToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
    pub name_patterns: Vec<String>,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    PublishNew,
    PublishUpdate,
    Yank,
    Owners,
    Read,
}
impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::PublishNew,
        Scope::PublishUpdate,
        Scope::Yank,
        Scope::Owners,
        Scope::Read,
    ];
    pub fn as_str(self) -> &'static str {
        "read"
    }
}
impl std::str::FromStr for Scope {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, StorageError> {
        unimplemented!()
    }
}
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub login: String,
    pub token_id: i64,
    pub scopes: Vec<Scope>,
    pub name_patterns: Vec<String>,
}
pub struct Upload {
    pub entry: IndexEntry,
    pub crate_bytes: bytes::Bytes,
    pub metadata: PackageMeta,
}
#[derive(Default)]
pub struct PackageMeta {
    pub description: Option<String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
}
pub struct Published {
    pub entry: IndexEntry,
    pub index_file: IndexFileSnapshot,
    pub seq: u64,
    pub created_package: bool,
}
#[derive(Debug, Clone)]
pub struct IndexFileSnapshot {
    pub name: String,
    pub path: String,
    pub bytes: bytes::Bytes,
    pub seq: u64,
    pub last_modified: i64,
}
pub struct Owner {
    pub id: u32,
    pub login: String,
    pub name: Option<String>,
}
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub total: u64,
}
pub struct SearchHit {
    pub name: String,
    pub max_version: String,
    pub description: Option<String>,
}
pub struct LogEvent {
    pub seq: u64,
    pub package: String,
    pub version: Option<String>,
    pub actor: String,
    pub time: i64,
    pub payload: serde_json::Value,
}
pub struct ReconcileReport {
    pub checked: usize,
    pub rebuilt: Vec<String>,
}
pub struct VerifyReport {
    pub problems: Vec<String>,
    pub index_files: usize,
    pub blobs: usize,
}
impl Storage {
    pub async fn open(config: StorageConfig) -> Result<Storage, StorageError> {
        unimplemented!()
    }
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
    pub fn create_token(&self, req: NewToken) -> Result<CreatedToken, StorageError> {
        unimplemented!()
    }
    pub fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>, StorageError> {
        unimplemented!()
    }
    pub fn revoke_token(&self, id: i64) -> Result<(), StorageError> {
        unimplemented!()
    }
    pub fn authenticate(&self, presented: &str) -> Result<Principal, StorageError> {
        unimplemented!()
    }
    pub async fn publish(
        &self,
        who: &Principal,
        upload: Upload,
    ) -> Result<Published, StorageError> {
        unimplemented!()
    }
    pub async fn set_yanked(
        &self,
        who: &Principal,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<IndexFileSnapshot, StorageError> {
        unimplemented!()
    }
    pub async fn add_owners(
        &self,
        who: &Principal,
        name: &str,
        logins: &[String],
    ) -> Result<Vec<String>, StorageError> {
        unimplemented!()
    }
    pub async fn remove_owners(
        &self,
        who: &Principal,
        name: &str,
        logins: &[String],
    ) -> Result<Vec<String>, StorageError> {
        unimplemented!()
    }
    pub fn owners(&self, name: &str) -> Result<Vec<Owner>, StorageError> {
        unimplemented!()
    }
    pub fn search(&self, query: &str, limit: usize) -> Result<SearchResults, StorageError> {
        unimplemented!()
    }
    pub async fn index_file(&self, name: &str) -> Result<Option<IndexFileSnapshot>, StorageError> {
        unimplemented!()
    }
    pub async fn all_index_files(&self) -> Result<Vec<IndexFileSnapshot>, StorageError> {
        unimplemented!()
    }
    pub async fn blob(&self, cksum: &str) -> Result<Option<bytes::Bytes>, StorageError> {
        unimplemented!()
    }
    pub fn version_cksum(&self, name: &str, version: &str) -> Result<Option<String>, StorageError> {
        unimplemented!()
    }
    pub fn events(&self, after_seq: u64, limit: usize) -> Result<Vec<LogEvent>, StorageError> {
        unimplemented!()
    }
    pub async fn reconcile(&self) -> Result<ReconcileReport, StorageError> {
        unimplemented!()
    }
    pub async fn verify(&self) -> Result<VerifyReport, StorageError> {
        unimplemented!()
    }
}
