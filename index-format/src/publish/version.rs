//! The version rule of a publish: semver, canonical spelling, at most 150 characters.

use crate::{FormatError, PublishLimits};

/// Checks a version string for publishing: at most [`PublishLimits::max_version_len`]
/// characters, valid semver, and written exactly as semver prints it (so the `.crate`
/// path prefix, the index line and download URLs all carry the same text).
pub fn validate_version(
    vers: &str,
    limits: &PublishLimits,
) -> Result<semver::Version, FormatError> {
    let invalid = |reason: String| FormatError::InvalidVersion {
        version: vers.to_owned(),
        reason,
    };
    let length = vers.chars().count();
    if length > limits.max_version_len {
        return Err(invalid(format!(
            "it is {length} characters long; the limit is {}",
            limits.max_version_len
        )));
    }
    let version = semver::Version::parse(vers).map_err(|e| invalid(e.to_string()))?;
    let canonical = version.to_string();
    if canonical != vers {
        return Err(invalid(format!("write it as `{canonical}`")));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_semver_with_build_metadata() {
        let limits = PublishLimits::default();
        assert_eq!(
            validate_version("1.2.3-rc.1+build.5", &limits)
                .unwrap()
                .to_string(),
            "1.2.3-rc.1+build.5"
        );
    }

    #[test]
    fn refuses_non_semver_and_long_versions() {
        let limits = PublishLimits::default();
        for bad in ["1.0", "v1.0.0", " 1.0.0", "1.0.0-01", "01.0.0", ""] {
            let err = validate_version(bad, &limits).unwrap_err();
            assert_eq!(err.code(), "InvalidVersion", "{bad}");
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        let long = format!("1.0.0+{}", "a".repeat(145));
        let err = validate_version(&long, &limits).unwrap_err();
        assert!(
            err.to_string()
                .contains("151 characters long; the limit is 150"),
            "{err}"
        );
    }
}
