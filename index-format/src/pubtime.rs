//! `pubtime`: the publication instant, exactly `YYYY-MM-DDTHH:MM:SSZ`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FormatError;

const SECONDS_PER_DAY: i64 = 86_400;

/// A publication time in UTC with whole seconds. It only ever prints as the 20 characters
/// cargo 1.95 accepts; anything else (fractional seconds, offsets) is refused on parse,
/// because cargo marks such a version invalid.
///
/// The calendar arithmetic is the proleptic Gregorian conversion of
/// <https://howardhinnant.github.io/date_algorithms.html> (tested against the `time` crate),
/// so this type needs no date-time dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pubtime(i64);

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01, as (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Pubtime {
    /// The current time, truncated to whole seconds.
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
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
        let bytes = value.as_bytes();
        if bytes.len() != 20 {
            return Err(invalid());
        }
        for (at, separator) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ] {
            if bytes[at] != separator {
                return Err(invalid());
            }
        }
        let number = |from: usize, to: usize| -> Result<i64, FormatError> {
            bytes[from..to].iter().try_fold(0_i64, |n, digit| {
                if digit.is_ascii_digit() {
                    Ok(n * 10 + i64::from(digit - b'0'))
                } else {
                    Err(invalid())
                }
            })
        };
        let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        if !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(invalid());
        }
        let days = days_from_civil(year, month, day);
        Ok(Self(
            days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second,
        ))
    }
}

impl fmt::Display for Pubtime {
    /// `YYYY-MM-DDTHH:MM:SSZ`; an error for instants outside the years 0000 to 9999, which
    /// no parsed or current time is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.0.div_euclid(SECONDS_PER_DAY));
        if !(0..=9999).contains(&year) {
            return Err(fmt::Error);
        }
        let of_day = self.0.rem_euclid(SECONDS_PER_DAY);
        let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
        )
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

    proptest::proptest! {
        /// The same text and instants as the `time` crate, from year 0 to 9999.
        #[test]
        fn agrees_with_the_time_crate(seconds in -62_167_219_200_i64..253_402_300_800) {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            );
            let expected = time::OffsetDateTime::from_unix_timestamp(seconds)
                .unwrap()
                .format(format)
                .unwrap();
            let ours = Pubtime::from_unix(seconds).to_string();
            proptest::prop_assert_eq!(&ours, &expected);
            proptest::prop_assert_eq!(Pubtime::parse(&ours).unwrap().unix(), seconds);
        }
    }

    #[test]
    fn leap_days_and_era_edges_round_trip() {
        for text in [
            "2000-02-29T12:00:00Z",
            "2024-02-29T23:59:59Z",
            "1900-03-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(Pubtime::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Pubtime::parse("1969-12-31T23:59:59Z").unwrap().unix(), -1);
    }

    #[test]
    fn refuses_what_cargo_refuses() {
        for bad in [
            "2025-11-12T19:30:12.123Z",
            "2025-11-12T19:30:12+00:00",
            "2025-11-12 19:30:12Z",
            "2025-1-12T19:30:12Z",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-11-12T24:00:00Z",
            "2025-11-12T19:60:12Z",
            "+025-11-12T19:30:12Z",
        ] {
            assert!(Pubtime::parse(bad).is_err(), "{bad}");
        }
    }
}
