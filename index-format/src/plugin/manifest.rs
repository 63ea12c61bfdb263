//! The `plugin.toml` document: its keys (unknown keys are refused) and its parser, whose
//! errors name the key at fault.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{Capabilities, TemplateSpec};
use crate::{FeatureMap, FormatError};

/// The manifest's file name at a plugin package's root.
pub const PLUGIN_MANIFEST_FILE: &str = "plugin.toml";

/// A whole `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// `[plugin]`: who the package is.
    pub plugin: PluginSection,
    /// `[dependencies]`: other plugins and the host API (`host-api`), by semver requirement.
    #[serde(default)]
    pub dependencies: BTreeMap<String, PluginDependency>,
    /// `[features]`, as in cargo: each feature lists features and optional dependencies.
    #[serde(default)]
    pub features: FeatureMap,
    /// `[capabilities]`: what the plugin asks the host for.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// `[template]`: a solution template's files folder, lineage and parameters (only with
    /// `kind = "template"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSpec>,
}

/// The `[plugin]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginSection {
    /// The package name (cargo's naming rules).
    pub name: String,
    /// The version (semver, canonical spelling).
    pub version: String,
    /// `plugin` or `template`.
    pub kind: PluginKind,
    /// One sentence saying what it does.
    pub description: String,
    /// An SPDX license expression.
    pub license: String,
    /// Authors, `Name <email>`.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Source repository URL.
    #[serde(default)]
    pub repository: Option<String>,
    /// The file the host loads, relative to the package root; it must be in the package.
    pub entry: String,
    /// Catalogue categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Search keywords (crates.io's keyword rules).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The oldest host version the plugin runs on; must satisfy the `host-api` requirement.
    #[serde(default)]
    pub min_host_version: Option<String>,
    /// The README file, relative to the package root (default `README.md` when present).
    #[serde(default)]
    pub readme: Option<String>,
}

/// What a package is for the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Code the host runs (a connector, a trigger, a step).
    Plugin,
    /// A solution template: a ready-made flow built from plugins.
    Template,
}

impl PluginKind {
    /// `plugin` or `template`, as written in `plugin.toml` and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plugin => "plugin",
            Self::Template => "template",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[dependencies]` entry: `name = "^1.2"` or
/// `name = { version = "^1.2", optional = true, features = [..], default-features = false }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PluginDependency {
    /// The semver requirement.
    pub version: String,
    /// Whether only a feature turns it on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Features of the dependency to enable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Whether the dependency's `default` feature is enabled.
    #[serde(skip_serializing_if = "Clone::clone")]
    pub default_features: bool,
}

fn yes() -> bool {
    true
}

impl PluginDependency {
    /// A plain requirement: not optional, default features, no extra features.
    pub fn new(version: &str) -> Self {
        Self {
            version: version.to_owned(),
            optional: false,
            features: Vec::new(),
            default_features: true,
        }
    }
}

/// The table form, with unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DetailedDependency {
    version: String,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default = "yes")]
    default_features: bool,
}

impl<'de> Deserialize<'de> for PluginDependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DependencyVisitor;
        impl<'de> Visitor<'de> for DependencyVisitor {
            type Value = PluginDependency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version requirement string or a table with `version`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PluginDependency, E> {
                Ok(PluginDependency::new(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PluginDependency, A::Error> {
                let detailed =
                    DetailedDependency::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PluginDependency {
                    version: detailed.version,
                    optional: detailed.optional,
                    features: detailed.features,
                    default_features: detailed.default_features,
                })
            }
        }
        deserializer.deserialize_any(DependencyVisitor)
    }
}

impl PluginManifest {
    /// Parses `plugin.toml` text. Syntax errors, unknown keys and wrong types are
    /// [`FormatError::InvalidPluginManifest`] naming the key (`[plugin] kind`) and the line.
    /// Parsing checks only the shape; [`PluginManifest::check`] applies the rules.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let deserializer = toml::de::Deserializer::parse(text).map_err(|e| {
            FormatError::plugin(
                "(document)",
                format!("invalid TOML{}: {}", line_of(text, &e), e.message()),
            )
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = describe_path(e.path());
            let inner = e.into_inner();
            let mut reason = inner.message().to_owned();
            if let Some((_, known)) = reason
                .strip_prefix("unknown field ")
                .and_then(|rest| rest.split_once(", expected "))
            {
                reason = format!("unknown key; remove it or use {known}");
            }
            FormatError::plugin(&field, format!("{reason}{}", line_of(text, &inner)))
        })
    }

    /// Writes the manifest back as TOML (the form `wharf plugin new` scaffolds).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest always serialises")
    }
}

/// ` (line N)` for an error with a span, else nothing.
fn line_of(text: &str, error: &toml::de::Error) -> String {
    error.span().map_or_else(String::new, |span| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!(" (line {line})")
    })
}

/// `plugin.kind` → `[plugin] kind`; `capabilities.network[1]` → `[capabilities] network[1]`.
fn describe_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut table = None;
    let mut rest = String::new();
    for segment in path {
        match segment {
            Segment::Map { key } if table.is_none() => table = Some(key.clone()),
            Segment::Map { key } => {
                if !rest.is_empty() {
                    rest.push('.');
                }
                rest.push_str(key);
            }
            Segment::Seq { index } => {
                rest.push('[');
                rest.push_str(&index.to_string());
                rest.push(']');
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    match (table, rest.is_empty()) {
        (None, _) => "(document)".to_owned(),
        (Some(table), true) => format!("[{table}]"),
        (Some(table), false) => format!("[{table}] {rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"
[plugin]
name = "http-client"
version = "1.2.0"
kind = "plugin"
description = "HTTP client"
license = "MIT OR Apache-2.0"
entry = "main.wat"
min-host-version = "1.4.0"

[dependencies]
host-api = "^1.4"
json-codec = { version = "^0.3", optional = true, features = ["fast"] }

[features]
default = ["json"]
json = ["dep:json-codec"]

[capabilities]
network = ["*.example.com:443"]
storage = "read"
"#;

    #[test]
    fn parses_both_dependency_forms() {
        let manifest = PluginManifest::parse(SAMPLE).unwrap();
        assert_eq!(manifest.plugin.kind, PluginKind::Plugin);
        assert_eq!(
            manifest.dependencies["host-api"],
            PluginDependency::new("^1.4")
        );
        assert!(manifest.dependencies["json-codec"].optional);
        assert_eq!(
            manifest.capabilities.storage,
            super::super::StorageAccess::Read
        );
        let again = PluginManifest::parse(&manifest.to_toml()).unwrap();
        assert_eq!(again, manifest);
    }

    #[test]
    fn shape_errors_name_the_key() {
        for (from, to, field, says) in [
            (
                "kind = \"plugin\"",
                "kind = \"widget\"",
                "[plugin] kind",
                "unknown variant `widget`",
            ),
            (
                "entry = \"main.wat\"",
                "entry = \"main.wat\"\ncolour = \"red\"",
                "[plugin] colour",
                "unknown key; remove it or use one of `name`",
            ),
            (
                "storage = \"read\"",
                "storage = \"read\"\nfilesystem = true",
                "[capabilities] filesystem",
                "unknown key",
            ),
            (
                "optional = true,",
                "optional = true, path = \"x\",",
                "[dependencies] json-codec.path",
                "unknown key",
            ),
            (
                "network = [\"*.example.com:443\"]",
                "network = [1]",
                "[capabilities] network[0]",
                "invalid type",
            ),
            (
                "name = \"http-client\"\n",
                "",
                "[plugin]",
                "missing field `name`",
            ),
        ] {
            let text = SAMPLE.replacen(from, to, 1);
            let err = PluginManifest::parse(&text).unwrap_err();
            let FormatError::InvalidPluginManifest { field: got, reason } = &err else {
                panic!("{err}");
            };
            assert_eq!(got, field, "{err}");
            assert!(reason.contains(says), "{err} should say {says}");
        }
        let err = PluginManifest::parse("[plugin\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("plugin.toml: (document): invalid TOML (line 1)"),
            "{err}"
        );
    }
}
