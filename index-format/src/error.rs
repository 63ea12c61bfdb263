//! The one error type of `wharf-index-format`. Every variant names the offending input.

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
}
