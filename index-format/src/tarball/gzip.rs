//! Decompression of the `.crate`: exactly one gzip member, nothing after it, bounded output.

use std::io::Read;

use crate::{FormatError, PublishLimits};

/// Decompresses `compressed`, which must be exactly one gzip member (no concatenated
/// members, no trailing bytes), into at most [`PublishLimits::unpacked_limit_for`] bytes.
pub(crate) fn gunzip_one_member(
    compressed: &[u8],
    limits: &PublishLimits,
) -> Result<Vec<u8>, FormatError> {
    if !compressed.starts_with(&[0x1f, 0x8b]) {
        let shown: Vec<String> = compressed
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        return Err(FormatError::malformed_tarball(format!(
            "not gzip: the file starts with bytes `{}` instead of `1f 8b`",
            shown.join(" ")
        )));
    }
    let compressed_len = u64::try_from(compressed.len()).unwrap_or(u64::MAX);
    let limit = limits.unpacked_limit_for(compressed_len);
    let mut decoder = flate2::bufread::GzDecoder::new(compressed);
    let mut unpacked = Vec::new();
    (&mut decoder)
        .take(limit.saturating_add(1))
        .read_to_end(&mut unpacked)
        .map_err(|e| FormatError::malformed_tarball(format!("gzip stream is corrupt: {e}")))?;
    if u64::try_from(unpacked.len()).unwrap_or(u64::MAX) > limit {
        let reason = if limit == limits.max_unpacked_bytes {
            "the registry's unpacked-size limit".to_owned()
        } else {
            format!(
                "{}× the {compressed_len}-byte .crate",
                limits.max_compression_ratio
            )
        };
        return Err(FormatError::TooLarge { limit, reason });
    }
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        let what = if rest.starts_with(&[0x1f, 0x8b]) {
            "a second gzip member"
        } else {
            "trailing bytes"
        };
        return Err(FormatError::malformed_tarball(format!(
            "{what} after the gzip stream ({} bytes); a .crate is exactly one gzip member",
            rest.len()
        )));
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use wharf_test_support::gzip;

    use super::*;

    #[test]
    fn round_trips_one_member() {
        let data = b"hello tar".repeat(10);
        assert_eq!(
            gunzip_one_member(&gzip(&data), &PublishLimits::default()).unwrap(),
            data
        );
    }

    #[test]
    fn refuses_second_members_and_trailing_bytes() {
        let mut two = gzip(b"first");
        two.extend(gzip(b"second"));
        let err = gunzip_one_member(&two, &PublishLimits::default()).unwrap_err();
        assert!(err.to_string().contains("a second gzip member"), "{err}");
        let mut trailing = gzip(b"first");
        trailing.extend_from_slice(b"junk");
        let err = gunzip_one_member(&trailing, &PublishLimits::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("trailing bytes after the gzip stream (4 bytes)"),
            "{err}"
        );
    }

    #[test]
    fn refuses_non_gzip_and_corrupt_streams() {
        let err = gunzip_one_member(b"PK\x03\x04", &PublishLimits::default()).unwrap_err();
        assert!(err.to_string().contains("`50 4b 03 04`"), "{err}");
        let mut corrupt = gzip(&b"payload".repeat(50));
        let crc_at = corrupt.len() - 8;
        corrupt[crc_at] ^= 0xff;
        let err = gunzip_one_member(&corrupt, &PublishLimits::default()).unwrap_err();
        assert_eq!(err.code(), "MalformedTarball", "{err}");
    }

    #[test]
    fn enforces_ratio_and_absolute_limits() {
        let bomb = gzip(&vec![0_u8; 1 << 20]);
        let limits = PublishLimits {
            ratio_exempt_bytes: 64 * 1024,
            ..PublishLimits::default()
        };
        let err = gunzip_one_member(&bomb, &limits).unwrap_err();
        assert_eq!(err.code(), "TooLarge");
        assert!(err.to_string().contains("20×"), "{err}");
        let limits = PublishLimits {
            max_unpacked_bytes: 100,
            max_compression_ratio: 1_000_000,
            ..PublishLimits::default()
        };
        let err = gunzip_one_member(&gzip(&[1; 101]), &limits).unwrap_err();
        assert_eq!(
            err,
            FormatError::TooLarge {
                limit: 100,
                reason: "the registry's unpacked-size limit".into()
            }
        );
    }
}
