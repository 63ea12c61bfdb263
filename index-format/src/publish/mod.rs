//! The publish path: frame → metadata → index line, plus the one entry point the server calls.

mod features;
mod frame;
mod license;
mod metadata;
mod prepare;
mod release_line;
mod strict_json;
mod translate;
mod version;

pub use frame::{PublishFrame, encode_publish_frame, parse_publish_frame};
pub(crate) use license::check_license;
pub(crate) use metadata::check_keyword;
pub use metadata::{NewCrate, NewCrateDependency, PackageMetadata};
pub use prepare::{PreparedPublish, prepare_publish};
pub use release_line::release_index_line;
pub use version::{MAX_VERSION_LEN, check_version_length, validate_version};
