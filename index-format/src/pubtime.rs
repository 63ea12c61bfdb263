//! `pubtime`: the publication instant, exactly `YYYY-MM-DDTHH:MM:SSZ`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::FormatItem, macros::format_description,
};

use crate::FormatError;

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// A publication time in UTC with whole seconds. It only ever prints as the 20 characters
/// cargo 1.95 accepts; anything else (fractional seconds, offsets) is refused on parse,
/// because cargo marks such a version invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pubtime(i64);

impl Pubtime {
    /// The current time, truncated to whole seconds.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// From seconds since the Unix epoch.
    pub fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(value: &str) -> Result<Self, FormatError> {
        let invalid = || FormatError::InvalidPubtime {
            value: value.to_owned(),
        };
        if value.len() != 20 {
            return Err(invalid());
        }
        let parsed = PrimitiveDateTime::parse(value, FORMAT).map_err(|_| invalid())?;
        Ok(Self(parsed.assume_utc().unix_timestamp()))
    }
}

impl fmt::Display for Pubtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let instant = OffsetDateTime::from_unix_timestamp(self.0).map_err(|_| fmt::Error)?;
        let text = instant.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Pubtime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Pubtime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_exactly_twenty_characters() {
        let t = Pubtime::parse("2025-11-12T19:30:12Z").unwrap();
        assert_eq!(t.to_string(), "2025-11-12T19:30:12Z");
        assert_eq!(Pubtime::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Pubtime::now().to_string().len(), 20);
    }

    #[test]
    fn refuses_what_cargo_refuses() {
        for bad in [
            "2025-11-12T19:30:12.123Z",
            "2025-11-12T19:30:12+00:00",
            "2025-11-12 19:30:12Z",
            "2025-1-12T19:30:12Z",
        ] {
            assert!(Pubtime::parse(bad).is_err(), "{bad}");
        }
    }
}
