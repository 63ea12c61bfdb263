//! One line of a cargo index file, and whole files of them.
//!
//! Field order and null rules follow `cargo-util-schemas`' `IndexPackage` as crates.io emits it,
//! so a line Wharf writes parses back and prints again byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{FormatError, Pubtime};

/// The highest index schema version stable cargo understands. Wharf never emits more.
pub const INDEX_V_MAX: u32 = 2;

/// A `[features]` table: feature name → what it enables.
pub type FeatureMap = BTreeMap<String, Vec<String>>;

/// One published version, as one JSON line of the package's index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Package name, in its published case.
    pub name: String,
    /// The version.
    pub vers: semver::Version,
    /// Direct dependencies of every kind; `[]` when there are none, never `null`.
    pub deps: Vec<IndexDependency>,
    /// Lowercase hex SHA-256 of the `.crate` bytes; also the blob key.
    pub cksum: String,
    /// The `[features]` table; `{}` when empty, never `null`.
    #[serde(default)]
    pub features: FeatureMap,
    /// Features using `dep:` / `?/` syntax, kept apart for pre-1.60 clients (implies `v: 2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<FeatureMap>,
    /// Whether the version is yanked (`null` on input reads as `false`).
    #[serde(default, deserialize_with = "null_as_false")]
    pub yanked: bool,
    /// The `package.links` value.
    #[serde(default)]
    pub links: Option<String>,
    /// Minimum supported Rust version, a bare version such as `1.70`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// Index schema version (absent means 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// When the version was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<Pubtime>,
    /// Fields cargo does not know (Wharf's own extensions, or a foreign registry's),
    /// kept so mirrored lines survive a round trip.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// One dependency inside an [`IndexEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDependency {
    /// The name the depending package uses (the alias when renamed).
    pub name: String,
    /// The semver requirement, kept verbatim.
    pub req: String,
    /// Features to enable; `[]` when none, never `null`.
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether the dependency is optional.
    #[serde(default)]
    pub optional: bool,
    /// Whether the dependency's default features are enabled.
    #[serde(default = "default_true")]
    pub default_features: bool,
    /// `cfg(...)` expression or target triple; `None` means every platform.
    #[serde(default)]
    pub target: Option<String>,
    /// Normal, build or dev.
    #[serde(default)]
    pub kind: DependencyKind,
    /// Index URL of another registry; `None` means this registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real package name when `name` is an alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl IndexDependency {
    /// The name of the package this dependency points at (`package` if renamed, else `name`).
    pub fn package_name(&self) -> &str {
        self.package.as_deref().unwrap_or(&self.name)
    }
}

/// The kind of a dependency. Unknown values and `null` read as [`DependencyKind::Normal`],
/// as cargo does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum DependencyKind {
    /// `[dependencies]`.
    #[default]
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`.
    Dev,
}

impl DependencyKind {
    /// The string cargo uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Build => "build",
            Self::Dev => "dev",
        }
    }
}

impl Serialize for DependencyKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DependencyKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        Ok(match text.as_deref() {
            Some("build") => Self::Build,
            Some("dev") => Self::Dev,
            _ => Self::Normal,
        })
    }
}

fn default_true() -> bool {
    true
}

fn null_as_false<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

impl IndexEntry {
    /// Parses one line with cargo's schema (`deps` and `cksum` required, no `null` containers).
    pub fn from_line(line: &str) -> Result<Self, FormatError> {
        serde_json::from_str(line).map_err(|e| FormatError::InvalidIndexLine {
            reason: e.to_string(),
        })
    }

    /// The line as JSON, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("index entries always serialise")
    }

    /// Whether stable cargo can use this line (`v` absent or at most [`INDEX_V_MAX`]).
    pub fn is_supported(&self) -> bool {
        self.v.unwrap_or(1) <= INDEX_V_MAX
    }

    /// `features` with `features2` merged in, values appended per key, as cargo reads them.
    pub fn all_features(&self) -> FeatureMap {
        let mut merged = self.features.clone();
        if let Some(extra) = &self.features2 {
            for (name, values) in extra {
                merged
                    .entry(name.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
        merged
    }

    /// Moves every feature that uses `dep:` or `?/` syntax into `features2` and sets `v: 2`
    /// when there are any, as crates.io does; otherwise leaves `v` unset.
    pub fn split_extended_features(&mut self) {
        let uses_new_syntax = |values: &Vec<String>| {
            values
                .iter()
                .any(|v| v.starts_with("dep:") || v.contains("?/"))
        };
        let (extended, plain): (FeatureMap, FeatureMap) = std::mem::take(&mut self.features)
            .into_iter()
            .partition(|(_, values)| uses_new_syntax(values));
        self.features = plain;
        if extended.is_empty() {
            self.features2 = None;
        } else {
            self.features2 = Some(extended);
            self.v = Some(INDEX_V_MAX);
        }
    }
}

/// A whole index file: one [`IndexEntry`] per line, in publish order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFile {
    /// The entries, oldest first.
    pub entries: Vec<IndexEntry>,
}

impl IndexFile {
    /// The file's bytes: each line followed by `\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.entries {
            out.extend_from_slice(entry.to_line().as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Parses a file the way cargo does: a bad line never breaks the other lines.
    /// Returns the good entries and, for each bad line, its 1-based number and error.
    pub fn parse_lenient(text: &str) -> (Self, Vec<(usize, FormatError)>) {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match IndexEntry::from_line(line) {
                Ok(entry) => entries.push(entry),
                Err(e) => errors.push((number + 1, e)),
            }
        }
        (Self { entries }, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"name":"Demo","vers":"1.2.3+build.5","deps":[{"name":"rand_alias","req":"^0.8","features":["std"],"optional":true,"default_features":false,"target":"cfg(unix)","kind":"normal","registry":"sparse+http://other/index/","package":"rand"}],"cksum":"abc","features":{"x":["rand_alias/std"]},"features2":{"y":["dep:rand_alias"]},"yanked":true,"links":"z","rust_version":"1.70","v":2,"pubtime":"2025-11-12T19:30:12Z","wharf_sig":{"k":"v"}}"#;

    #[test]
    fn full_line_round_trips_byte_for_byte() {
        let entry = IndexEntry::from_line(FULL).unwrap();
        assert_eq!(entry.to_line(), FULL);
        assert_eq!(entry.deps[0].package_name(), "rand");
        assert_eq!(entry.all_features().len(), 2);
    }

    #[test]
    fn minimal_line_gets_containers_not_nulls() {
        let entry = IndexEntry::from_line(
            r#"{"name":"a","vers":"1.0.0","deps":[{"name":"b","req":"^1"}],"cksum":"00","yanked":null}"#,
        )
        .unwrap();
        let line = entry.to_line();
        assert!(line.contains(r#""features":{}"#));
        assert!(line.contains(r#""features":[]"#));
        assert!(line.contains(r#""kind":"normal""#));
        assert!(!line.contains(r#":null,"v""#));
        assert!(!entry.yanked);
    }

    #[test]
    fn invalid_lines_are_refused_like_cargo() {
        for bad in [
            r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"00","features":null}"#,
            r#"{"name":"a","vers":"1.0.0","cksum":"00"}"#,
            r#"{"name":"a","vers":"1.0.0","deps":[]}"#,
            r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"00","yanked":"false"}"#,
            r#"{"name":"a","vers":"1.0.0","deps":[{"name":"b","req":"1","features":null}],"cksum":"00"}"#,
            r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"00","pubtime":"2025-11-12T19:30:12.1Z"}"#,
        ] {
            assert!(IndexEntry::from_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unsupported_schema_versions_are_detected() {
        let entry =
            IndexEntry::from_line(r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"00","v":3}"#)
                .unwrap();
        assert!(!entry.is_supported());
    }

    #[test]
    fn extended_features_move_to_features2() {
        let mut entry =
            IndexEntry::from_line(r#"{"name":"a","vers":"1.0.0","deps":[],"cksum":"00","features":{"a":["dep:x"],"b":["c"],"d":["x?/y"]}}"#)
                .unwrap();
        entry.split_extended_features();
        assert_eq!(entry.features.len(), 1);
        assert_eq!(entry.features2.as_ref().unwrap().len(), 2);
        assert_eq!(entry.v, Some(2));
    }

    #[test]
    fn lenient_file_parse_keeps_good_lines() {
        let text = "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"00\"}\nnot json\n";
        let (file, errors) = IndexFile::parse_lenient(text);
        assert_eq!(file.entries.len(), 1);
        assert_eq!(errors[0].0, 2);
    }
}
