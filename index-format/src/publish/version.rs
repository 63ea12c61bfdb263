//! The version rule of a publish: semver, canonical spelling, at most [`MAX_VERSION_LEN`]
//! characters.

use crate::FormatError;

/// The longest version string a registry accepts: 150 characters, crates.io's limit (cargo
/// itself sets none). It counts characters, as crates.io states it; a valid semver version
/// is ASCII only, so for every version that can be published characters and bytes agree.
pub const MAX_VERSION_LEN: usize = 150;

/// Checks a version string for publishing: at most [`MAX_VERSION_LEN`] characters, valid
/// semver, and written exactly as semver prints it (so the `.crate` path prefix, the index
/// line and download URLs all carry the same text).
pub fn validate_version(vers: &str) -> Result<semver::Version, FormatError> {
    check_version_length(vers)?;
    let invalid = |reason: String| FormatError::InvalidVersion {
        version: vers.to_owned(),
        reason,
    };
    let version = semver::Version::parse(vers).map_err(|e| invalid(e.to_string()))?;
    let canonical = version.to_string();
    if canonical != vers {
        return Err(invalid(format!("write it as `{canonical}`")));
    }
    Ok(version)
}

/// The length rule alone: at most [`MAX_VERSION_LEN`] characters, else
/// [`FormatError::InvalidVersion`] naming the version and its length. The one place the rule
/// is written; storage applies it to versions that reach it by other ways than a publish body.
pub fn check_version_length(vers: &str) -> Result<(), FormatError> {
    let length = vers.chars().count();
    if length > MAX_VERSION_LEN {
        return Err(FormatError::InvalidVersion {
            version: vers.to_owned(),
            reason: format!("it is {length} characters long; the limit is {MAX_VERSION_LEN}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_semver_with_build_metadata() {
        assert_eq!(
            validate_version("1.2.3-rc.1+build.5").unwrap().to_string(),
            "1.2.3-rc.1+build.5"
        );
    }

    #[test]
    fn refuses_non_semver_and_long_versions() {
        for bad in ["1.0", "v1.0.0", " 1.0.0", "1.0.0-01", "01.0.0", ""] {
            let err = validate_version(bad).unwrap_err();
            assert_eq!(err.code(), "InvalidVersion", "{bad}");
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        let long = format!("1.0.0+{}", "a".repeat(145));
        let err = validate_version(&long).unwrap_err();
        assert!(
            err.to_string()
                .contains("151 characters long; the limit is 150"),
            "{err}"
        );
        let longest = format!("1.0.0+{}", "a".repeat(144));
        assert_eq!(validate_version(&longest).unwrap().to_string(), longest);
    }

    #[test]
    fn the_length_counts_characters() {
        // Not semver, but the length rule alone counts the 150 two-byte characters as 150.
        assert!(check_version_length(&"é".repeat(150)).is_ok());
        assert!(check_version_length(&"é".repeat(151)).is_err());
    }
}
