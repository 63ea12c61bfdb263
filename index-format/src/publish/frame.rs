//! The binary frame of cargo's publish request:
//! `[u32 LE json_len][json][u32 LE crate_len][crate]`, nothing before or after. The parser
//! the registry runs and the one encoder every test, benchmark and tool uses live together.

use std::ops::Range;

use crate::{FormatError, PublishLimits};

/// The two parts of a publish body, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFrame<'body> {
    /// The metadata JSON bytes (not yet checked).
    pub json: &'body [u8],
    /// The `.crate` bytes (not yet checked).
    pub crate_bytes: &'body [u8],
    /// Where the `.crate` bytes sit inside the body.
    pub crate_range: Range<usize>,
}

/// Splits a publish body into its JSON and `.crate` parts. Strict: a body shorter than a
/// declared length, or with bytes after the crate, is [`FormatError::MalformedFrame`]; JSON
/// over the limit is [`FormatError::InvalidMetadata`]; a crate over the limit is
/// [`FormatError::UploadTooLarge`].
pub fn parse_publish_frame<'body>(
    body: &'body [u8],
    limits: &PublishLimits,
) -> Result<PublishFrame<'body>, FormatError> {
    let (json_len, after_len) = read_length(body, 0, "metadata")?;
    if json_len > limits.max_json_bytes {
        return Err(FormatError::metadata(
            "(document)",
            format!(
                "declared JSON length is {json_len} bytes; the limit is {} bytes",
                limits.max_json_bytes
            ),
        ));
    }
    let json_range = take(body, after_len, json_len, "metadata JSON")?;
    let (crate_len, crate_start) = read_length(body, json_range.end, "crate")?;
    if crate_len > limits.max_crate_bytes {
        return Err(FormatError::UploadTooLarge {
            size: crate_len,
            limit: limits.max_crate_bytes,
        });
    }
    let crate_range = take(body, crate_start, crate_len, ".crate")?;
    if crate_range.end != body.len() {
        return Err(FormatError::MalformedFrame {
            reason: format!(
                "{} trailing bytes after the .crate (body is {} bytes, frame ends at {})",
                body.len() - crate_range.end,
                body.len(),
                crate_range.end
            ),
        });
    }
    Ok(PublishFrame {
        json: &body[json_range],
        crate_bytes: &body[crate_range.clone()],
        crate_range,
    })
}

/// Builds a publish body from the metadata JSON and the `.crate` bytes, as cargo frames it.
/// A part longer than its `u32` length field can hold is [`FormatError::MalformedFrame`].
///
/// ```
/// use wharf_index_format::{PublishLimits, encode_publish_frame, parse_publish_frame};
/// let body = encode_publish_frame(b"{}", b"crate").unwrap();
/// let frame = parse_publish_frame(&body, &PublishLimits::default()).unwrap();
/// assert_eq!((frame.json, frame.crate_bytes), (&b"{}"[..], &b"crate"[..]));
/// ```
pub fn encode_publish_frame(json: &[u8], crate_bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    let length = |part: &[u8], what: &str| {
        u32::try_from(part.len()).map_err(|_| FormatError::MalformedFrame {
            reason: format!(
                "the {what} is {} bytes; a frame's length field holds at most {} bytes",
                part.len(),
                u32::MAX
            ),
        })
    };
    let json_len = length(json, "metadata JSON")?;
    let crate_len = length(crate_bytes, ".crate")?;
    let mut body = Vec::with_capacity(json.len() + crate_bytes.len() + 8);
    body.extend_from_slice(&json_len.to_le_bytes());
    body.extend_from_slice(json);
    body.extend_from_slice(&crate_len.to_le_bytes());
    body.extend_from_slice(crate_bytes);
    Ok(body)
}

/// Reads the u32 LE length at `at`; returns it and the offset after it.
fn read_length(body: &[u8], at: usize, what: &str) -> Result<(u64, usize), FormatError> {
    let bytes = body
        .get(at..at + 4)
        .ok_or_else(|| FormatError::MalformedFrame {
            reason: format!(
                "body ends at byte {} before the 4-byte {what} length at offset {at}",
                body.len()
            ),
        })?;
    let length = u32::from_le_bytes(bytes.try_into().expect("the slice is 4 bytes long"));
    Ok((u64::from(length), at + 4))
}

/// The range of `len` bytes starting at `start`, if the body holds them.
fn take(body: &[u8], start: usize, len: u64, what: &str) -> Result<Range<usize>, FormatError> {
    let short = || FormatError::MalformedFrame {
        reason: format!(
            "{what} length is declared as {len} bytes but only {} bytes follow",
            body.len() - start
        ),
    };
    let len = usize::try_from(len).map_err(|_| short())?;
    let end = start.checked_add(len).ok_or_else(short)?;
    if end > body.len() {
        return Err(short());
    }
    Ok(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
        encode_publish_frame(json, krate).expect("small parts fit their length fields")
    }

    #[test]
    fn the_encoder_writes_little_endian_lengths_before_each_part() {
        let body = frame(b"{}", b"tarball");
        assert_eq!(&body[..4], &2u32.to_le_bytes());
        assert_eq!(&body[4..6], b"{}");
        assert_eq!(&body[6..10], &7u32.to_le_bytes());
        assert_eq!(&body[10..], b"tarball");
    }

    #[test]
    fn splits_a_well_formed_body() {
        let body = frame(b"{}", b"tarball");
        let parsed = parse_publish_frame(&body, &PublishLimits::default()).unwrap();
        assert_eq!(parsed.json, b"{}");
        assert_eq!(parsed.crate_bytes, b"tarball");
        assert_eq!(parsed.crate_range, 10..17);
    }

    #[test]
    fn short_bodies_are_malformed() {
        let body = frame(b"{}", b"tarball");
        for cut in [0, 3, 5, 7, 9, 16] {
            let err = parse_publish_frame(&body[..cut], &PublishLimits::default()).unwrap_err();
            assert_eq!(err.code(), "MalformedFrame", "cut at {cut}: {err}");
        }
        let err = parse_publish_frame(&body[..16], &PublishLimits::default()).unwrap_err();
        assert!(
            err.to_string().contains("declared as 7 bytes but only 6"),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut body = frame(b"{}", b"tarball");
        body.push(0);
        let err = parse_publish_frame(&body, &PublishLimits::default()).unwrap_err();
        assert_eq!(err.code(), "MalformedFrame");
        assert!(err.to_string().contains("1 trailing bytes"), "{err}");
    }

    #[test]
    fn lengths_beyond_the_limits_are_refused_before_reading() {
        let limits = PublishLimits {
            max_json_bytes: 1,
            ..PublishLimits::default()
        };
        let err = parse_publish_frame(&frame(b"{}", b""), &limits).unwrap_err();
        assert_eq!(err.code(), "InvalidMetadata");
        let limits = PublishLimits {
            max_crate_bytes: 3,
            ..PublishLimits::default()
        };
        let err = parse_publish_frame(&frame(b"{}", b"four"), &limits).unwrap_err();
        assert_eq!(err, FormatError::UploadTooLarge { size: 4, limit: 3 });
        assert_eq!(err.kind(), crate::ErrorKind::TooLarge);
        // A huge declared length is refused by the limit, not by a short read.
        let mut body = frame(b"{}", b"");
        body[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            parse_publish_frame(&body, &PublishLimits::default())
                .unwrap_err()
                .code(),
            "UploadTooLarge"
        );
    }
}
