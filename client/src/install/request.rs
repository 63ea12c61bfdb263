//! [`PackageRequest`]: `NAME` or `NAME@REQ` as given on a command line.

use std::str::FromStr;

use semver::VersionReq;

use crate::install::InstallError;

/// A package asked for and the versions accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRequest {
    /// The package name.
    pub name: String,
    /// A cargo version requirement (`1.2` means `^1.2`, `=1.2.3` one version); `*` when none
    /// was given.
    pub requirement: String,
}

impl FromStr for PackageRequest {
    type Err = InstallError;

    /// `NAME` (any version) or `NAME@REQ`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, requirement) = text.split_once('@').unwrap_or((text, "*"));
        let invalid = |reason: String| {
            InstallError::InvalidRequest(format!(
                "invalid package request `{text}`: {reason}; write `NAME` or `NAME@REQ` (e.g. `greeter@1.2`)"
            ))
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid("not a package name".to_owned()));
        }
        VersionReq::parse(requirement).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            requirement: requirement.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_requirements_parse_and_bad_ones_are_refused() {
        let plain: PackageRequest = "greeter".parse().unwrap();
        assert_eq!(plain.requirement, "*");
        let pinned: PackageRequest = "greeter@=1.2.3".parse().unwrap();
        assert_eq!(
            (pinned.name.as_str(), pinned.requirement.as_str()),
            ("greeter", "=1.2.3")
        );
        for bad in ["", "@1", "gr eeter", "greeter@not-a-req"] {
            let error = bad.parse::<PackageRequest>().unwrap_err();
            assert_eq!(error.code(), "invalid-request", "{bad}");
        }
    }
}
