//! The small text encodings every signed document shares: strict base64 and lowercase hex,
//! [`Hash`], [`UtcTime`], and the canonical `key: value` line format.
//!
//! A canonical document is ASCII: a tag line (e.g. `wharf-release-v1`), then one
//! `key: value` line per field in a fixed order, each ending in LF, nothing else. Values are
//! one or more printable ASCII characters without spaces. [`CanonicalReader`] refuses any
//! other form (CR, extra or missing spaces, reordered, duplicate, unknown or missing fields,
//! trailing bytes), so a document parses only if it is byte for byte what
//! [`CanonicalWriter`] produces for the same values.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::FormatItem, macros::format_description,
};

use crate::TrustError;

/// Standard base64 (RFC 4648 §4) with padding, as C2SP signed notes use it.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64, refusing non-canonical encodings (missing padding,
/// non-zero trailing bits, whitespace).
pub(crate) fn b64_decode(input: &str, what: &str) -> Result<Vec<u8>, TrustError> {
    STANDARD
        .decode(input)
        .map_err(|error| TrustError::BadEncoding {
            what: what.to_owned(),
            value: shorten(input),
            reason: format!("not canonical base64 ({error})"),
        })
}

/// A decimal `u64` without sign or leading zeros (`0` itself is fine).
pub(crate) fn parse_decimal(digits: &str) -> Option<u64> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Cuts a value to at most 80 characters for an error message.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// A SHA-256 value: a Merkle tree hash, a file hash, a snapshot hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// SHA-256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Standard padded base64, 44 characters.
    pub fn to_base64(&self) -> String {
        b64_encode(&self.0)
    }

    /// Parses exactly 64 lowercase hex digits; `what` names the input in the error.
    pub fn from_hex(input: &str, what: &str) -> Result<Self, TrustError> {
        let bad = |reason: &str| TrustError::BadEncoding {
            what: what.to_owned(),
            value: shorten(input),
            reason: reason.to_owned(),
        };
        if input.len() != 64 {
            return Err(bad("expected 64 lowercase hex digits"));
        }
        if !input
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad("expected lowercase hex digits only"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(input, &mut out).map_err(|_| bad("not hex"))?;
        Ok(Self(out))
    }

    /// Parses standard padded base64 of exactly 32 bytes; `what` names the input.
    pub fn from_base64(input: &str, what: &str) -> Result<Self, TrustError> {
        let bytes = b64_decode(input, what)?;
        let array: [u8; 32] =
            bytes
                .try_into()
                .map_err(|bytes: Vec<u8>| TrustError::BadEncoding {
                    what: what.to_owned(),
                    value: shorten(input),
                    reason: format!("decodes to {} bytes, expected 32", bytes.len()),
                })?;
        Ok(Self(array))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Seconds since the epoch of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range a
/// four-digit year can write.
const MIN_UNIX: i64 = -62_167_219_200;
const MAX_UNIX: i64 = 253_402_300_799;

/// An instant in UTC with whole seconds, written exactly `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(i64);

impl UtcTime {
    /// From seconds since the Unix epoch; refuses instants outside years 0000–9999.
    pub fn from_unix(seconds: i64) -> Result<Self, TrustError> {
        if (MIN_UNIX..=MAX_UNIX).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(TrustError::BadEncoding {
                what: "time".to_owned(),
                value: seconds.to_string(),
                reason: "outside the years 0000-9999".to_owned(),
            })
        }
    }

    /// The current time, truncated to whole seconds.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// This instant moved by `seconds` (saturating at the ends of the range).
    #[must_use]
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds).clamp(MIN_UNIX, MAX_UNIX))
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ`; `what` names the input in the error.
    pub fn parse(input: &str, what: &str) -> Result<Self, TrustError> {
        let bad = || TrustError::BadEncoding {
            what: what.to_owned(),
            value: shorten(input),
            reason: "expected exactly YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds)".to_owned(),
        };
        if input.len() != 20 {
            return Err(bad());
        }
        let parsed = PrimitiveDateTime::parse(input, TIME_FORMAT).map_err(|_| bad())?;
        let time = Self(parsed.assume_utc().unix_timestamp());
        if time.to_string() == input {
            Ok(time)
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let instant = OffsetDateTime::from_unix_timestamp(self.0).map_err(|_| fmt::Error)?;
        let text = instant.format(TIME_FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// Checks that `value` may stand as a canonical field value: 1 to 1024 printable ASCII
/// characters without spaces.
pub(crate) fn check_value(document: &str, field: &str, value: &str) -> Result<(), TrustError> {
    let reason = if value.is_empty() {
        "is empty"
    } else if value.len() > 1024 {
        "is longer than 1024 characters"
    } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
        "holds a space, a control character or a non-ASCII character"
    } else {
        return Ok(());
    };
    Err(TrustError::InvalidField {
        document: document.to_owned(),
        field: field.to_owned(),
        value: shorten(value),
        reason: reason.to_owned(),
    })
}

/// Writes a canonical document. Values must already have passed [`check_value`].
pub(crate) struct CanonicalWriter {
    text: String,
}

impl CanonicalWriter {
    /// Starts a document with its tag line.
    pub(crate) fn new(tag: &str) -> Self {
        let mut text = String::with_capacity(256);
        text.push_str(tag);
        text.push('\n');
        Self { text }
    }

    /// Appends one `key: value` line.
    pub(crate) fn field(mut self, key: &str, value: impl fmt::Display) -> Self {
        use fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "{key}: {value}");
        self
    }

    /// Appends a line only when `value` is present.
    pub(crate) fn optional(self, key: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    /// The document.
    pub(crate) fn finish(self) -> String {
        self.text
    }
}

/// Reads a canonical document field by field, in order.
pub(crate) struct CanonicalReader<'a> {
    document: &'static str,
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> CanonicalReader<'a> {
    /// Checks the framing (ASCII, LF line ends, no empty line, final LF) and the tag line.
    /// `document` names the kind of document in errors, e.g. `release statement`.
    pub(crate) fn new(
        document: &'static str,
        bytes: &'a [u8],
        tag: &str,
    ) -> Result<Self, TrustError> {
        let bad = |line: usize, reason: String| TrustError::NonCanonical {
            document: document.to_owned(),
            line,
            reason,
        };
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|text| text.is_ascii())
            .ok_or_else(|| bad(0, "is not ASCII text".to_owned()))?;
        if text.contains('\r') {
            return Err(bad(
                0,
                "holds a carriage return (line ends must be LF)".to_owned(),
            ));
        }
        let Some(body) = text.strip_suffix('\n') else {
            return Err(bad(0, "does not end with a newline".to_owned()));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if let Some(empty) = lines.iter().position(|line| line.is_empty()) {
            return Err(bad(empty + 1, "is empty".to_owned()));
        }
        if lines[0] != tag {
            return Err(bad(
                1,
                format!("is `{}`, expected `{tag}`", shorten(lines[0])),
            ));
        }
        Ok(Self {
            document,
            lines,
            next: 1,
        })
    }

    fn error(&self, line: usize, reason: String) -> TrustError {
        TrustError::NonCanonical {
            document: self.document.to_owned(),
            line: line + 1,
            reason,
        }
    }

    /// Splits line `index` into key and value, checking `key: value` spacing.
    fn split(&self, index: usize) -> Result<(&'a str, &'a str), TrustError> {
        let line = self.lines[index];
        let Some((key, value)) = line.split_once(": ") else {
            return Err(self.error(index, format!("`{}` is not `key: value`", shorten(line))));
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err(self.error(index, format!("`{}` has no valid key", shorten(line))));
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.error(
                index,
                format!(
                    "the value of `{key}` is empty or holds spaces or control characters: `{}`",
                    shorten(value)
                ),
            ));
        }
        Ok((key, value))
    }

    /// The value of the next line, which must be `key: value`.
    pub(crate) fn field(&mut self, key: &str) -> Result<&'a str, TrustError> {
        let index = self.next;
        if index >= self.lines.len() {
            return Err(self.error(index, format!("is missing; expected `{key}: …`")));
        }
        let (found, value) = self.split(index)?;
        if found != key {
            return Err(self.error(index, format!("has key `{found}`, expected `{key}`")));
        }
        self.next += 1;
        Ok(value)
    }

    /// The value of the next line if its key is `key`.
    pub(crate) fn optional(&mut self, key: &str) -> Result<Option<&'a str>, TrustError> {
        if self.next < self.lines.len() && self.split(self.next)?.0 == key {
            self.field(key).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The values of all the following lines whose key is `key` (zero or more).
    pub(crate) fn repeated(&mut self, key: &str) -> Result<Vec<&'a str>, TrustError> {
        let mut values = Vec::new();
        while let Some(value) = self.optional(key)? {
            values.push(value);
        }
        Ok(values)
    }

    /// Checks that no line is left.
    pub(crate) fn finish(self) -> Result<(), TrustError> {
        if self.next < self.lines.len() {
            let (key, _) = self.split(self.next)?;
            return Err(self.error(
                self.next,
                format!("has an unexpected or repeated field `{key}`"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<CanonicalReader<'_>, TrustError> {
        CanonicalReader::new("test document", bytes, "tag-v1")
    }

    #[test]
    fn reads_what_the_writer_writes() {
        let text = CanonicalWriter::new("tag-v1")
            .field("name", "demo")
            .optional("extra", None::<&str>)
            .field("size", 12)
            .finish();
        assert_eq!(text, "tag-v1\nname: demo\nsize: 12\n");
        let mut reader = read(text.as_bytes()).unwrap();
        assert_eq!(reader.field("name").unwrap(), "demo");
        assert_eq!(reader.optional("extra").unwrap(), None);
        assert_eq!(reader.field("size").unwrap(), "12");
        reader.finish().unwrap();
    }

    #[test]
    fn refuses_every_non_canonical_variant() {
        let cases: &[(&[u8], &str)] = &[
            (b"tag-v1\r\nname: demo\r\n", "carriage return"),
            (b"tag-v1\nname: demo", "does not end with a newline"),
            (b"tag-v1\nname:  demo\n", "spaces"),
            (b"tag-v1\nname:demo\n", "is not `key: value`"),
            (b"tag-v1\nname: demo \n", "spaces"),
            (b"tag-v1\n\nname: demo\n", "is empty"),
            (b"tag-v2\nname: demo\n", "expected `tag-v1`"),
            (b"tag-v1\nName: demo\n", "no valid key"),
            (b"tag-v1\nname: d\xc3\xa9mo\n", "not ASCII"),
        ];
        for (bytes, expected) in cases {
            let result = read(bytes).and_then(|mut reader| {
                reader.field("name")?;
                reader.finish()
            });
            let message = result.expect_err(expected).to_string();
            assert!(
                message.contains(expected),
                "{message} should mention {expected}"
            );
        }
    }

    #[test]
    fn refuses_reordered_duplicate_unknown_and_missing_fields() {
        let fields = |bytes: &[u8]| {
            read(bytes).and_then(|mut reader| {
                reader.field("a")?;
                reader.field("b")?;
                reader.finish()
            })
        };
        assert!(fields(b"tag-v1\na: 1\nb: 2\n").is_ok());
        let reordered = fields(b"tag-v1\nb: 2\na: 1\n").unwrap_err().to_string();
        assert!(
            reordered.contains("line 2") && reordered.contains("expected `a`"),
            "{reordered}"
        );
        let duplicate = fields(b"tag-v1\na: 1\nb: 2\nb: 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            duplicate.contains("line 4") && duplicate.contains("`b`"),
            "{duplicate}"
        );
        let unknown = fields(b"tag-v1\na: 1\nb: 2\nc: 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("unexpected or repeated field `c`"),
            "{unknown}"
        );
        let missing = fields(b"tag-v1\na: 1\n").unwrap_err().to_string();
        assert!(missing.contains("line 3 is missing"), "{missing}");
    }

    #[test]
    fn hex_and_base64_are_strict() {
        let hash = Hash::sha256(b"wharf");
        assert_eq!(Hash::from_hex(&hash.to_hex(), "h").unwrap(), hash);
        assert_eq!(Hash::from_base64(&hash.to_base64(), "h").unwrap(), hash);
        assert!(Hash::from_hex(&hash.to_hex().to_uppercase(), "h").is_err());
        assert!(Hash::from_hex(&hash.to_hex()[1..], "h").is_err());
        let unpadded = hash.to_base64().trim_end_matches('=').to_owned();
        assert!(Hash::from_base64(&unpadded, "h").is_err());
        // "AB==" decodes with trailing bits set in the non-canonical "AF==".
        assert!(b64_decode("AF==", "x").is_err());
        assert!(b64_decode("AA==", "x").is_ok());
        assert!(
            Hash::from_base64("AA==", "root hash")
                .unwrap_err()
                .to_string()
                .contains("1 bytes")
        );
    }

    #[test]
    fn time_is_exactly_rfc3339_seconds_in_utc() {
        let time = UtcTime::parse("2026-08-20T10:11:12Z", "time").unwrap();
        assert_eq!(time.to_string(), "2026-08-20T10:11:12Z");
        assert_eq!(UtcTime::from_unix(time.unix()).unwrap(), time);
        for bad in [
            "2026-08-20T10:11:12.5Z",
            "2026-08-20T10:11:12+00:00",
            "2026-08-20 10:11:12Z",
            "2026-8-20T10:11:12Z",
            "2026-02-30T10:11:12Z",
            "2026-08-20t10:11:12z",
        ] {
            assert!(UtcTime::parse(bad, "time").is_err(), "{bad}");
        }
        assert!(UtcTime::from_unix(i64::MAX).is_err());
        assert_eq!(time.plus_seconds(60).unix(), time.unix() + 60);
    }
}
