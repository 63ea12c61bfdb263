//! Cargo's publish metadata (`NewCrate`), parsed strictly, and the descriptive part a
//! registry keeps beside the index line ([`PackageMetadata`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::strict_json;
use crate::{FeatureMap, FormatError, PublishLimits};

/// The JSON document cargo sends in front of the `.crate` (cargo's `crates_io::NewCrate`).
/// Optional values arrive as `null`; every field below is read, unknown fields are ignored
/// so newer cargo versions can still publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCrate {
    /// Package name as written in `Cargo.toml`.
    pub name: String,
    /// Version string.
    pub vers: String,
    /// Dependencies of every kind.
    pub deps: Vec<NewCrateDependency>,
    /// The `[features]` table, possibly with `dep:` / `?/` syntax.
    #[serde(default)]
    pub features: FeatureMap,
    /// `package.authors`.
    #[serde(default)]
    pub authors: Vec<String>,
    /// `package.description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `package.documentation` URL.
    #[serde(default)]
    pub documentation: Option<String>,
    /// `package.homepage` URL.
    #[serde(default)]
    pub homepage: Option<String>,
    /// The README's content.
    #[serde(default)]
    pub readme: Option<String>,
    /// The README's path inside the package.
    #[serde(default)]
    pub readme_file: Option<String>,
    /// `package.keywords`.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `package.categories`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// `package.license` (an SPDX expression).
    #[serde(default)]
    pub license: Option<String>,
    /// `package.license-file` path.
    #[serde(default)]
    pub license_file: Option<String>,
    /// `package.repository` URL.
    #[serde(default)]
    pub repository: Option<String>,
    /// `[badges]` (deprecated by cargo, normally `{}`).
    #[serde(default)]
    pub badges: BTreeMap<String, BTreeMap<String, String>>,
    /// `package.links`.
    #[serde(default)]
    pub links: Option<String>,
    /// `package.rust-version`.
    #[serde(default)]
    pub rust_version: Option<String>,
}

/// One entry of [`NewCrate::deps`] (cargo's `crates_io::NewCrateDependency`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCrateDependency {
    /// Whether the dependency is optional.
    pub optional: bool,
    /// Whether its default features are enabled.
    pub default_features: bool,
    /// The **real** package name (the alias is in `explicit_name_in_toml`).
    pub name: String,
    /// Features to enable.
    pub features: Vec<String>,
    /// The version requirement.
    pub version_req: String,
    /// `cfg(...)` or a target triple; `None` for every platform.
    #[serde(default)]
    pub target: Option<String>,
    /// `normal`, `build` or `dev`.
    pub kind: String,
    /// Index URL of the registry the dependency comes from; `None` for this registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The name used in `Cargo.toml` when the dependency is renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_name_in_toml: Option<String>,
    /// Unstable artifact-dependency kinds (`-Zbindeps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Vec<String>>,
    /// Unstable artifact-dependency target (`-Zbindeps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindep_target: Option<String>,
    /// Unstable artifact-dependency `lib` flag (`-Zbindeps`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lib: bool,
}

impl NewCrate {
    /// Parses the metadata JSON strictly: UTF-8 without BOM, one object, no duplicate keys,
    /// at most [`PublishLimits::max_json_bytes`]. Every failure is
    /// [`FormatError::InvalidMetadata`].
    pub fn from_json(bytes: &[u8], limits: &PublishLimits) -> Result<Self, FormatError> {
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_json_bytes {
            return Err(FormatError::metadata(
                "(document)",
                format!(
                    "the JSON is {} bytes; the limit is {} bytes",
                    bytes.len(),
                    limits.max_json_bytes
                ),
            ));
        }
        let object =
            strict_json::parse_object(bytes).map_err(|r| FormatError::metadata("(document)", r))?;
        for field in ["name", "vers", "deps"] {
            if !object.contains_key(field) {
                return Err(FormatError::metadata(field, "the field is missing"));
            }
        }
        serde_path_to_error::deserialize(serde_json::Value::Object(object)).map_err(|e| {
            let field = e.path().to_string();
            FormatError::metadata(&field, e.into_inner().to_string())
        })
    }
}

/// The descriptive metadata a registry shows and searches, taken from [`NewCrate`].
/// The README is cut to [`PublishLimits::max_readme_bytes`] at a character boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMetadata {
    /// `package.description`.
    pub description: Option<String>,
    /// `package.keywords`.
    pub keywords: Vec<String>,
    /// `package.categories`.
    pub categories: Vec<String>,
    /// `package.license`.
    pub license: Option<String>,
    /// `package.repository`.
    pub repository: Option<String>,
    /// `package.homepage`.
    pub homepage: Option<String>,
    /// `package.documentation`.
    pub documentation: Option<String>,
    /// README content, possibly truncated.
    pub readme: Option<String>,
    /// Whether [`Self::readme`] was truncated.
    pub readme_truncated: bool,
    /// For a plugin, its kind and capabilities (kept by the registry in its own table, not
    /// in this document).
    #[serde(skip)]
    pub plugin: Option<crate::PluginInfo>,
}

impl PackageMetadata {
    /// Checks keyword and category counts and spelling and the license expression, then
    /// copies the descriptive fields.
    pub fn from_new_crate(krate: &NewCrate, limits: &PublishLimits) -> Result<Self, FormatError> {
        check_list("keywords", &krate.keywords, limits.max_keywords)?;
        check_list("categories", &krate.categories, limits.max_categories)?;
        for keyword in &krate.keywords {
            check_keyword(keyword)?;
        }
        if let Some(license) = &krate.license {
            super::license::check_license(license)?;
        }
        let (readme, readme_truncated) = match &krate.readme {
            Some(text) => {
                let cut = truncate_at_char_boundary(text, limits.max_readme_bytes);
                (Some(cut.to_owned()), cut.len() < text.len())
            }
            None => (None, false),
        };
        Ok(Self {
            description: krate.description.clone(),
            keywords: krate.keywords.clone(),
            categories: krate.categories.clone(),
            license: krate.license.clone(),
            repository: krate.repository.clone(),
            homepage: krate.homepage.clone(),
            documentation: krate.documentation.clone(),
            readme,
            readme_truncated,
            plugin: None,
        })
    }
}

fn check_list(field: &str, values: &[String], limit: usize) -> Result<(), FormatError> {
    if values.len() > limit {
        return Err(FormatError::policy(
            field,
            format!("{} given; at most {limit} are allowed", values.len()),
        ));
    }
    Ok(())
}

/// crates.io's keyword rule: 1 to 20 ASCII characters, starting with a letter or digit, then
/// letters, digits, `_`, `-` or `+`.
pub(crate) fn check_keyword(keyword: &str) -> Result<(), FormatError> {
    let mut chars = keyword.chars();
    let valid = keyword.len() <= 20
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'));
    if valid {
        Ok(())
    } else {
        Err(FormatError::policy(
            "keywords",
            format!(
                "`{keyword}` is not a keyword: use 1 to 20 ASCII letters, digits, `_`, `-` or `+`, starting with a letter or digit"
            ),
        ))
    }
}

fn truncate_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata cargo 1.95 sent for a small package, verbatim in shape.
    pub(crate) const CARGO_SAMPLE: &str = r#"{"name":"demo","vers":"0.1.0","deps":[{"optional":false,"default_features":true,"name":"serde","features":["derive"],"version_req":"^1","target":null,"kind":"normal","registry":"https://github.com/rust-lang/crates.io-index"}],"features":{},"authors":[],"description":"A demo","documentation":null,"homepage":null,"readme":null,"readme_file":null,"keywords":["demo"],"categories":[],"license":"MIT","license_file":null,"repository":null,"badges":{},"links":null,"rust_version":"1.70"}"#;

    #[test]
    fn parses_what_cargo_sends() {
        let krate =
            NewCrate::from_json(CARGO_SAMPLE.as_bytes(), &PublishLimits::default()).unwrap();
        assert_eq!(krate.name, "demo");
        assert_eq!(
            krate.deps[0].registry.as_deref(),
            Some("https://github.com/rust-lang/crates.io-index")
        );
        assert_eq!(krate.rust_version.as_deref(), Some("1.70"));
    }

    #[test]
    fn strict_failures_are_invalid_metadata() {
        for bad in [
            "[]".to_owned(),
            "\u{feff}{}".to_owned(),
            CARGO_SAMPLE.replacen(
                "\"vers\":\"0.1.0\",",
                "\"vers\":\"0.1.0\",\"vers\":\"0.2.0\",",
                1,
            ),
            CARGO_SAMPLE.replacen("\"deps\":[", "\"nodeps\":[", 1),
            CARGO_SAMPLE.replacen("\"authors\":[]", "\"authors\":null", 1),
        ] {
            let err = NewCrate::from_json(bad.as_bytes(), &PublishLimits::default()).unwrap_err();
            assert_eq!(err.code(), "InvalidMetadata", "{bad}: {err}");
        }
        let bad = CARGO_SAMPLE.replacen("\"version_req\":\"^1\"", "\"version_req\":1", 1);
        let err = NewCrate::from_json(bad.as_bytes(), &PublishLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid publish metadata (field `deps[0].version_req`): invalid type: integer `1`, expected a string"
        );
        let limits = PublishLimits {
            max_json_bytes: 10,
            ..PublishLimits::default()
        };
        let err = NewCrate::from_json(CARGO_SAMPLE.as_bytes(), &limits).unwrap_err();
        assert!(err.to_string().contains("the limit is 10 bytes"), "{err}");
    }

    #[test]
    fn keywords_and_categories_are_limited() {
        let mut krate =
            NewCrate::from_json(CARGO_SAMPLE.as_bytes(), &PublishLimits::default()).unwrap();
        krate.keywords = (0..6).map(|i| format!("k{i}")).collect();
        let err = PackageMetadata::from_new_crate(&krate, &PublishLimits::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::policy("keywords", "6 given; at most 5 are allowed")
        );
        krate.keywords = vec!["no spaces".into()];
        let err = PackageMetadata::from_new_crate(&krate, &PublishLimits::default()).unwrap_err();
        assert!(err.to_string().contains("`no spaces`"), "{err}");
        krate.keywords = vec![];
        krate.categories = (0..6).map(|i| format!("c{i}")).collect();
        let err = PackageMetadata::from_new_crate(&krate, &PublishLimits::default()).unwrap_err();
        assert_eq!(err.code(), "PolicyViolation");
    }

    #[test]
    fn long_readmes_are_truncated_on_a_character_boundary() {
        let mut krate =
            NewCrate::from_json(CARGO_SAMPLE.as_bytes(), &PublishLimits::default()).unwrap();
        krate.readme = Some("ééé".into());
        let limits = PublishLimits {
            max_readme_bytes: 3,
            ..PublishLimits::default()
        };
        let meta = PackageMetadata::from_new_crate(&krate, &limits).unwrap();
        assert_eq!(meta.readme.as_deref(), Some("é"));
        assert!(meta.readme_truncated);
        assert_eq!(meta.description.as_deref(), Some("A demo"));
    }
}
