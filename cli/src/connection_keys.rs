//! The connection keys of `wharf serve` (`header-timeout`, `body-timeout`, `min-upload-rate`,
//! `idle-timeout`, `max-connections`): durations as flags, variables and config file values,
//! and the limits they make.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use wharf_registry_server::ConnectionLimits;

/// Reads a duration such as `10s`, `2m` or `1m 30s`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|error| format!("`{text}` is not a duration like `10s` or `2m` ({error})"))
}

/// Reads a config file duration (`"10s"`, `"2m"`).
pub(crate) fn duration_key<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// The connection keys as given (each `None` when no source gave it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GivenConnectionKeys {
    /// `header-timeout`.
    pub(crate) header_timeout: Option<Duration>,
    /// `body-timeout`.
    pub(crate) body_timeout: Option<Duration>,
    /// `min-upload-rate`.
    pub(crate) min_upload_rate: Option<u64>,
    /// `idle-timeout`.
    pub(crate) idle_timeout: Option<Duration>,
    /// `max-connections`.
    pub(crate) max_connections: Option<NonZeroUsize>,
}

impl GivenConnectionKeys {
    /// The limits to run with: the server's defaults for keys not given; `0s` turns a timeout
    /// off.
    pub(crate) fn limits(self) -> ConnectionLimits {
        let defaults = ConnectionLimits::default();
        let timeout = |given: Option<Duration>, default: Option<Duration>| match given {
            Some(Duration::ZERO) => None,
            Some(set) => Some(set),
            None => default,
        };
        ConnectionLimits {
            header_timeout: timeout(self.header_timeout, defaults.header_timeout),
            body_timeout: timeout(self.body_timeout, defaults.body_timeout),
            min_upload_rate: self.min_upload_rate.unwrap_or(defaults.min_upload_rate),
            idle_timeout: timeout(self.idle_timeout, defaults.idle_timeout),
            max_connections: self
                .max_connections
                .map_or(defaults.max_connections, NonZeroUsize::get),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_turns_a_timeout_off_and_missing_keys_take_the_defaults() {
        let limits = GivenConnectionKeys {
            header_timeout: Some(Duration::from_secs(3)),
            body_timeout: None,
            min_upload_rate: Some(10),
            idle_timeout: Some(Duration::ZERO),
            max_connections: NonZeroUsize::new(50),
        }
        .limits();
        let defaults = ConnectionLimits::default();
        assert_eq!(limits.header_timeout, Some(Duration::from_secs(3)));
        assert_eq!(limits.body_timeout, defaults.body_timeout);
        assert_eq!(limits.min_upload_rate, 10);
        assert_eq!(limits.idle_timeout, None);
        assert_eq!(limits.max_connections, 50);
    }

    #[test]
    fn a_bad_duration_names_the_value() {
        let error = parse_duration("soon").unwrap_err();
        assert!(
            error.starts_with("`soon` is not a duration like `10s`"),
            "{error}"
        );
    }
}
