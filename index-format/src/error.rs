//! The one error type of `wharf-index-format`. Every variant names the offending input.
//!
//! Each variant has a stable code ([`FormatError::code`]), the name the registry's API and
//! logs use, and a transport-neutral [`ErrorKind`] ([`FormatError::kind`]) a server maps to
//! its own answers: [`ErrorKind::TooLarge`] for an upload over the size limit,
//! [`ErrorKind::Invalid`] for everything else.

/// What sort of problem a [`FormatError`] is, independent of how it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input breaks a rule of the format; sending it again unchanged cannot succeed.
    Invalid,
    /// The upload is bigger than the registry accepts; a smaller one may succeed.
    TooLarge,
}

/// Everything that can be wrong with data in one of Wharf's wire formats.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// A package name breaks the naming rules.
    #[error("invalid package name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks, phrased for a person.
        reason: String,
    },
    /// A package name is reserved (a standard-library crate or a Windows device name).
    #[error("the package name `{name}` is reserved and cannot be used")]
    ReservedName {
        /// The reserved name as given.
        name: String,
    },
    /// A `pubtime` value is not exactly `YYYY-MM-DDTHH:MM:SSZ`.
    #[error(
        "invalid pubtime `{value}`: expected exactly YYYY-MM-DDTHH:MM:SSZ (UTC, no fractional seconds)"
    )]
    InvalidPubtime {
        /// The value as given.
        value: String,
    },
    /// An index line is not valid JSON for the cargo index schema.
    #[error("invalid index line: {reason}")]
    InvalidIndexLine {
        /// What serde reported.
        reason: String,
    },
    /// The publish body is not `[u32 json_len][json][u32 crate_len][crate]`.
    #[error("malformed publish body: {reason}")]
    MalformedFrame {
        /// What is wrong, with the lengths involved.
        reason: String,
    },
    /// The publish metadata JSON is not acceptable.
    #[error("invalid publish metadata (field `{field}`): {reason}")]
    InvalidMetadata {
        /// The JSON field at fault, or `(document)` for the whole document.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `.crate` file is bigger than the upload limit.
    #[error(
        "the .crate file is {size} bytes; the upload limit is {limit} bytes: leave files out of the package (`exclude` in Cargo.toml)"
    )]
    UploadTooLarge {
        /// Size of the upload in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The `.crate` file is not a single well-formed gzip member holding a tar archive.
    #[error("malformed .crate tarball: {reason}")]
    MalformedTarball {
        /// What is wrong.
        reason: String,
    },
    /// The tarball unpacks to more bytes than allowed.
    #[error("the .crate unpacks to more than {limit} bytes ({reason})")]
    TooLarge {
        /// The limit that was crossed, in bytes.
        limit: u64,
        /// Which limit (absolute, or the compression ratio).
        reason: String,
    },
    /// The tarball has more entries than allowed.
    #[error("the .crate holds more than {limit} entries")]
    TooManyEntries {
        /// The entry limit.
        limit: usize,
    },
    /// A path inside the tarball is not acceptable.
    #[error("invalid path `{path}` in the .crate: {reason}")]
    InvalidPath {
        /// The path, with unprintable or non-UTF-8 bytes escaped.
        path: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A tarball entry of a type other than a regular file or directory.
    #[error(
        "unexpected {kind} entry `{path}` in the .crate: only regular files and directories are allowed"
    )]
    UnexpectedEntry {
        /// The entry's path.
        path: String,
        /// The entry type (symlink, hardlink, FIFO, ...).
        kind: String,
    },
    /// Two size fields of one entry disagree.
    #[error("size mismatch for `{path}` in the .crate: {reason}")]
    SizeMismatch {
        /// The entry's path.
        path: String,
        /// Which sizes disagree.
        reason: String,
    },
    /// A PAX extended header or GNU long-name entry is malformed or inconsistent.
    #[error("malformed extended header for `{path}` in the .crate: {reason}")]
    MalformedPax {
        /// The path of the entry it describes, as far as known.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Two entries name the same path, possibly after case folding or Unicode normalisation.
    #[error("`{path}` collides with `{other}` in the .crate ({reason})")]
    DuplicatePath {
        /// The later path.
        path: String,
        /// The earlier path it collides with.
        other: String,
        /// How they collide.
        reason: String,
    },
    /// A path that is reserved on some platform or by cargo itself.
    #[error("reserved path `{path}` in the .crate: {reason}")]
    ReservedPath {
        /// The path.
        path: String,
        /// Why it is reserved.
        reason: String,
    },
    /// An entry mode with setuid, setgid, sticky or world-writable bits.
    #[error(
        "unsafe mode {mode:#o} on `{path}` in the .crate: setuid, setgid, sticky and world-writable bits are refused"
    )]
    UnsafeMode {
        /// The entry's path.
        path: String,
        /// The mode from the tar header.
        mode: u32,
    },
    /// `Cargo.toml` inside the tarball is missing or breaks a rule.
    #[error("invalid manifest `{path}`: {reason}")]
    InvalidManifest {
        /// The manifest path inside the tarball.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The manifest inside the tarball disagrees with the publish metadata.
    #[error("`Cargo.toml` says {field} = `{manifest}` but the publish metadata says `{metadata}`")]
    ManifestMismatch {
        /// The field that differs (`name`, `version`).
        field: String,
        /// The manifest's value.
        manifest: String,
        /// The metadata's value.
        metadata: String,
    },
    /// A version string is not acceptable.
    #[error("invalid version `{version}`: {reason}")]
    InvalidVersion {
        /// The version as given.
        version: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A dependency in the publish metadata is not acceptable.
    #[error("invalid dependency `{name}`: {reason}")]
    InvalidDependency {
        /// The dependency's name (the alias when renamed).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A feature in the publish metadata is not acceptable.
    #[error("invalid feature `{feature}`: {reason}")]
    InvalidFeature {
        /// The feature name.
        feature: String,
        /// What is wrong.
        reason: String,
    },
    /// A plugin's `plugin.toml` breaks a rule of the plugin format.
    #[error("plugin.toml: {field}: {reason}")]
    InvalidPluginManifest {
        /// The key at fault, as `[table] key` (`[plugin] version`, `[capabilities] network`),
        /// or `(document)` for the whole file.
        field: String,
        /// What is wrong, phrased for the plugin's author.
        reason: String,
    },
    /// The `plugin.toml` inside the tarball disagrees with the publish metadata.
    #[error(
        "`plugin.toml` says {field} = `{manifest}` but the publish metadata says `{metadata}`; publish with `wharf plugin publish`, which derives the metadata from the manifest"
    )]
    PluginManifestMismatch {
        /// The field that differs (`name`, `vers`, `deps`, ...).
        field: String,
        /// The manifest's value.
        manifest: String,
        /// The metadata's value.
        metadata: String,
    },
    /// A value given for a solution template's parameter breaks the parameter's spec, names
    /// no parameter of the template, or a required parameter has no value.
    #[error("template parameter `{parameter}`: {reason}")]
    InvalidTemplateValue {
        /// The parameter at fault (or the unknown name given).
        parameter: String,
        /// What is wrong and what to give instead.
        reason: String,
    },
    /// Required template parameters (no default) were given no value.
    #[error("missing template parameters: {list}; give each with `--set NAME=VALUE`")]
    MissingTemplateParameters {
        /// Each missing parameter with its type and description.
        list: String,
    },
    /// A solution template's file cannot be rendered: bad template syntax, an unknown
    /// variable, or a rendered name that is not a safe relative path.
    #[error("template file `{file}`: {reason}")]
    TemplateRender {
        /// The file's path inside the template's files folder.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A registry policy (counts, keyword rules) is not met.
    #[error("policy violation in `{field}`: {reason}")]
    PolicyViolation {
        /// The field at fault.
        field: String,
        /// Which policy, with the limit.
        reason: String,
    },
}

impl FormatError {
    /// The stable code of this error, as the API and logs report it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidName { .. } => "InvalidName",
            Self::ReservedName { .. } => "ReservedName",
            Self::InvalidPubtime { .. } => "InvalidPubtime",
            Self::InvalidIndexLine { .. } => "InvalidIndexLine",
            Self::MalformedFrame { .. } => "MalformedFrame",
            Self::InvalidMetadata { .. } => "InvalidMetadata",
            Self::UploadTooLarge { .. } => "UploadTooLarge",
            Self::MalformedTarball { .. } => "MalformedTarball",
            Self::TooLarge { .. } => "TooLarge",
            Self::TooManyEntries { .. } => "TooManyEntries",
            Self::InvalidPath { .. } => "InvalidPath",
            Self::UnexpectedEntry { .. } => "UnexpectedEntry",
            Self::SizeMismatch { .. } => "SizeMismatch",
            Self::MalformedPax { .. } => "MalformedPax",
            Self::DuplicatePath { .. } => "DuplicatePath",
            Self::ReservedPath { .. } => "ReservedPath",
            Self::UnsafeMode { .. } => "UnsafeMode",
            Self::InvalidManifest { .. } => "InvalidManifest",
            Self::ManifestMismatch { .. } => "ManifestMismatch",
            Self::InvalidVersion { .. } => "InvalidVersion",
            Self::InvalidDependency { .. } => "InvalidDependency",
            Self::InvalidFeature { .. } => "InvalidFeature",
            Self::InvalidPluginManifest { .. } => "InvalidPluginManifest",
            Self::PluginManifestMismatch { .. } => "PluginManifestMismatch",
            Self::InvalidTemplateValue { .. } => "InvalidTemplateValue",
            Self::TemplateRender { .. } => "TemplateRender",
            Self::MissingTemplateParameters { .. } => "MissingTemplateParameters",
            Self::PolicyViolation { .. } => "PolicyViolation",
        }
    }

    /// What sort of problem this is: [`ErrorKind::TooLarge`] for
    /// [`FormatError::UploadTooLarge`], [`ErrorKind::Invalid`] for everything else.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UploadTooLarge { .. } => ErrorKind::TooLarge,
            _ => ErrorKind::Invalid,
        }
    }

    #[cfg(feature = "upload")]
    pub(crate) fn metadata(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidMetadata {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    #[cfg(feature = "upload")]
    pub(crate) fn malformed_tarball(reason: impl Into<String>) -> Self {
        Self::MalformedTarball {
            reason: reason.into(),
        }
    }

    #[cfg(feature = "upload")]
    pub(crate) fn plugin(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidPluginManifest {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// The reason part of an error (without the input it names), for re-reporting it
    /// under another field.
    #[cfg(feature = "upload")]
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::InvalidName { reason, .. }
            | Self::InvalidMetadata { reason, .. }
            | Self::InvalidVersion { reason, .. }
            | Self::InvalidDependency { reason, .. }
            | Self::InvalidFeature { reason, .. }
            | Self::InvalidPluginManifest { reason, .. }
            | Self::PolicyViolation { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }

    #[cfg(feature = "upload")]
    pub(crate) fn policy(field: &str, reason: impl Into<String>) -> Self {
        Self::PolicyViolation {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upload_too_large_is_too_large() {
        let big = FormatError::UploadTooLarge {
            size: 11,
            limit: 10,
        };
        assert_eq!(
            (big.code(), big.kind()),
            ("UploadTooLarge", ErrorKind::TooLarge)
        );
        let frame = FormatError::MalformedFrame { reason: "x".into() };
        assert_eq!(
            (frame.code(), frame.kind()),
            ("MalformedFrame", ErrorKind::Invalid)
        );
        assert_eq!(
            big.to_string(),
            "the .crate file is 11 bytes; the upload limit is 10 bytes: leave files out of the package (`exclude` in Cargo.toml)"
        );
    }
}
