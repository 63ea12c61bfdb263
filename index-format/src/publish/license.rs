//! `package.license`: an SPDX license expression, checked as crates.io checks it.

use crate::FormatError;

/// crates.io's parse mode: `/` may stand for `OR` and `GPL-2.0+` for `GPL-2.0-or-later`, and
/// deprecated identifiers (`GPL-3.0`) are accepted; unknown identifiers, lowercase operators
/// and imprecise names (`Apache2`) are not.
const PARSE_MODE: spdx::ParseMode = spdx::ParseMode {
    allow_slash_as_or_operator: true,
    allow_imprecise_license_names: false,
    allow_postfix_plus_on_gpl: true,
    allow_deprecated: true,
    allow_unknown: false,
};

/// Refuses a license that is not an SPDX expression, naming the part that is wrong.
pub(crate) fn check_license(license: &str) -> Result<(), FormatError> {
    spdx::Expression::parse_mode(license, PARSE_MODE)
        .map(drop)
        .map_err(|error| {
            let span = error.span.clone();
            let part = license.get(span).filter(|part| !part.trim().is_empty());
            let problem = match part {
                Some(part) => format!("`{part}`: {}", error.reason),
                None => error.reason.to_string(),
            };
            FormatError::policy(
                "license",
                format!(
                    "`{license}` is not an SPDX license expression ({problem}); use identifiers from https://spdx.org/licenses/ joined by AND, OR or WITH (for example `MIT OR Apache-2.0`), or `license-file` for a license of your own"
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_crates_io_accepts() {
        for license in [
            "MIT",
            "MIT OR Apache-2.0",
            "MIT/Apache-2.0",
            "Apache-2.0 WITH LLVM-exception",
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "GPL-3.0",
            "GPL-2.0+",
            "LicenseRef-Proprietary",
        ] {
            check_license(license).unwrap_or_else(|e| panic!("{license}: {e}"));
        }
    }

    #[test]
    fn refuses_unknown_or_malformed_expressions_naming_the_part() {
        for (license, part) in [
            ("MIT OR Nope-1.0", "Nope-1.0"),
            ("Apache2", "Apache2"),
            ("MIT AND", ""),
            ("mit or apache-2.0", ""),
            ("", ""),
        ] {
            let message = check_license(license).unwrap_err().to_string();
            assert!(
                message.contains("is not an SPDX license expression"),
                "{message}"
            );
            assert!(message.contains(part), "{license}: {message}");
        }
    }
}
