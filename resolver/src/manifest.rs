//! The root of a resolution, read from a `Cargo.toml`.

use std::path::Path;

use semver::Version;
use toml::{Table, Value};
use wharf_index_format::{DependencyKind, FeatureMap, IndexDependency};

use crate::ResolveError;

/// The package being resolved for: its direct dependencies of every kind and target, and its
/// `[features]`. Only registry dependencies are supported: a workspace, path dependencies and
/// `workspace = true` entries are read by [`crate::Workspace::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootManifest {
    /// `package.name` (`root` when the manifest has no `[package]`).
    pub name: String,
    /// `package.version` (`0.0.0` when absent, as cargo assumes since edition 2024).
    pub version: Version,
    /// `package.rust-version`, completed to three components.
    pub rust_version: Option<Version>,
    /// Whether the manifest uses resolver v3 (`resolver = "3"`, or edition 2024 without an
    /// explicit resolver), whose default prefers versions compatible with `rust_version`.
    pub resolver_v3: bool,
    /// Every dependency, in index form (`name` is the key in the manifest, `package` the real
    /// name when renamed), normal, build and dev, for every target.
    pub dependencies: Vec<IndexDependency>,
    /// The `[features]` table.
    pub features: FeatureMap,
}

impl RootManifest {
    /// Reads and parses a `Cargo.toml`.
    pub fn from_path(path: &Path) -> Result<Self, ResolveError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResolveError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_toml_str(&text, base).map_err(|e| match e {
            ResolveError::InvalidManifest { reason, .. } => ResolveError::InvalidManifest {
                path: path.to_owned(),
                reason,
            },
            ResolveError::UnsupportedSection { section, .. } => ResolveError::UnsupportedSection {
                path: path.to_owned(),
                section,
            },
            other => other,
        })
    }

    /// Parses manifest text; `base_dir` is the directory the manifest lives in.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Self, ResolveError> {
        let invalid = |reason: String| ResolveError::InvalidManifest {
            path: base_dir.join("Cargo.toml"),
            reason,
        };
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        crate::workspace::refuse_source_overrides(&base_dir.join("Cargo.toml"), &table)?;
        Self::from_table(&table, base_dir)
    }

    /// Reads a parsed manifest; `base_dir` is the directory the manifest lives in.
    pub(crate) fn from_table(table: &Table, base_dir: &Path) -> Result<Self, ResolveError> {
        let invalid = |reason: String| ResolveError::InvalidManifest {
            path: base_dir.join("Cargo.toml"),
            reason,
        };
        let package = table.get("package").and_then(Value::as_table);
        let name = package
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("root")
            .to_owned();
        let version = match package.and_then(|p| p.get("version")) {
            None => Version::new(0, 0, 0),
            Some(Value::String(text)) => Version::parse(text)
                .map_err(|e| invalid(format!("`package.version` `{text}`: {e}")))?,
            Some(_) => {
                return Err(invalid(
                    "`package.version` must be a string (workspace inheritance is not supported)"
                        .to_owned(),
                ));
            }
        };
        let rust_version = match package.and_then(|p| p.get("rust-version")) {
            None => None,
            Some(Value::String(text)) => Some(parse_rust_version(text).ok_or_else(|| {
                invalid(format!("`package.rust-version` `{text}` is not a version"))
            })?),
            Some(_) => {
                return Err(invalid(
                    "`package.rust-version` must be a string".to_owned(),
                ));
            }
        };

        let edition = package
            .and_then(|p| p.get("edition"))
            .and_then(Value::as_str);
        let resolver = package
            .and_then(|p| p.get("resolver"))
            .or_else(|| table.get("workspace").and_then(|w| w.get("resolver")))
            .and_then(Value::as_str);
        let resolver_v3 = match resolver {
            Some(explicit) => explicit == "3",
            None => edition == Some("2024"),
        };

        let mut dependencies = Vec::new();
        let kinds = [
            ("dependencies", DependencyKind::Normal),
            ("build-dependencies", DependencyKind::Build),
            ("build_dependencies", DependencyKind::Build),
            ("dev-dependencies", DependencyKind::Dev),
            ("dev_dependencies", DependencyKind::Dev),
        ];
        for (key, kind) in kinds {
            if let Some(deps) = table.get(key) {
                read_dependency_table(deps, kind, None, &name, &mut dependencies, &invalid)?;
            }
        }
        if let Some(targets) = table.get("target").and_then(Value::as_table) {
            for (target, body) in targets {
                let Some(body) = body.as_table() else {
                    continue;
                };
                for (key, kind) in kinds {
                    if let Some(deps) = body.get(key) {
                        read_dependency_table(
                            deps,
                            kind,
                            Some(target),
                            &name,
                            &mut dependencies,
                            &invalid,
                        )?;
                    }
                }
            }
        }

        let mut features = FeatureMap::new();
        if let Some(table) = table.get("features").and_then(Value::as_table) {
            for (feature, values) in table {
                let values = values
                    .as_array()
                    .ok_or_else(|| invalid(format!("feature `{feature}` must be an array")))?
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid(format!("feature `{feature}` must list strings")))?;
                features.insert(feature.clone(), values);
            }
        }
        Ok(Self {
            name,
            version,
            rust_version,
            resolver_v3,
            dependencies,
            features,
        })
    }
}

/// Completes `1.70` to `1.70.0` (and `1` to `1.0.0`), as cargo compares rust versions.
pub(crate) fn parse_rust_version(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    Some(Version::new(major, minor, patch))
}

fn read_dependency_table(
    deps: &Value,
    kind: DependencyKind,
    target: Option<&str>,
    package: &str,
    out: &mut Vec<IndexDependency>,
    invalid: &dyn Fn(String) -> ResolveError,
) -> Result<(), ResolveError> {
    let deps = deps
        .as_table()
        .ok_or_else(|| invalid(format!("`{}` dependencies must be a table", kind.as_str())))?;
    for (name, spec) in deps {
        out.push(read_dependency(name, spec, kind, target, package, invalid)?);
    }
    Ok(())
}

fn read_dependency(
    name: &str,
    spec: &Value,
    kind: DependencyKind,
    target: Option<&str>,
    package: &str,
    invalid: &dyn Fn(String) -> ResolveError,
) -> Result<IndexDependency, ResolveError> {
    let mut dependency = IndexDependency {
        name: name.to_owned(),
        req: "*".to_owned(),
        features: Vec::new(),
        optional: false,
        default_features: true,
        target: target.map(str::to_owned),
        kind,
        registry: None,
        package: None,
    };
    match spec {
        Value::String(req) => req.clone_into(&mut dependency.req),
        Value::Table(table) => {
            if let Some(url) = table.get("git") {
                return Err(ResolveError::GitDependency {
                    name: name.to_owned(),
                    package: package.to_owned(),
                    url: url.as_str().unwrap_or("?").to_owned(),
                });
            }
            for unsupported in ["path", "workspace"] {
                if table.contains_key(unsupported) {
                    return Err(ResolveError::UnsupportedDependency {
                        name: name.to_owned(),
                        reason: format!("it uses `{unsupported}`"),
                    });
                }
            }
            let string = |key: &str| -> Result<Option<String>, ResolveError> {
                match table.get(key) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(invalid(format!(
                        "dependency `{name}`: `{key}` must be a string"
                    ))),
                }
            };
            let boolean = |key: &str| -> Result<Option<bool>, ResolveError> {
                match table.get(key) {
                    None => Ok(None),
                    Some(Value::Boolean(b)) => Ok(Some(*b)),
                    Some(_) => Err(invalid(format!(
                        "dependency `{name}`: `{key}` must be a boolean"
                    ))),
                }
            };
            if let Some(req) = string("version")? {
                dependency.req = req;
            }
            dependency.package = string("package")?;
            dependency.registry = string("registry")?;
            dependency.optional = boolean("optional")?.unwrap_or(false);
            dependency.default_features = boolean("default-features")?
                .or(boolean("default_features")?)
                .unwrap_or(true);
            if let Some(features) = table.get("features") {
                dependency.features = features
                    .as_array()
                    .and_then(|list| {
                        list.iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| {
                        invalid(format!("dependency `{name}`: `features` must list strings"))
                    })?;
            }
        }
        _ => {
            return Err(invalid(format!(
                "dependency `{name}` must be a string or a table"
            )));
        }
    }
    Ok(dependency)
}
