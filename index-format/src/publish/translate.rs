//! Publish metadata → index line, as docs/wire-formats.md §5 describes and crates.io does it.

use super::features::{check_feature_name, check_features};
use super::metadata::{NewCrate, NewCrateDependency};
use super::version::validate_version;
use crate::dependency_registries::same_index_url;
use crate::name::name_syntax_error;
use crate::{DependencyKind, FormatError, IndexDependency, IndexEntry, PublishLimits};

impl NewCrate {
    /// Builds the index line for this publish, with `cksum` (lowercase hex SHA-256 of the
    /// `.crate` bytes) and no `pubtime`. Checks the version, every dependency (names, requirements,
    /// kinds, registries), every feature reference, and the counts in `limits`.
    ///
    /// Renamed dependencies get `name` = alias and `package` = real name; `version_req`
    /// becomes `req`; `registry` is copied verbatim (and must be one of
    /// [`PublishLimits::allowed_dependency_registries`]); dependencies are sorted by (name, kind);
    /// features using `dep:` or `?/` move to `features2` with `v: 2`.
    pub fn to_index_entry(
        &self,
        cksum: &str,
        limits: &PublishLimits,
    ) -> Result<IndexEntry, FormatError> {
        let vers = validate_version(&self.vers)?;
        if self.deps.len() > limits.max_dependencies {
            return Err(FormatError::policy(
                "deps",
                format!(
                    "{} dependencies given; at most {} are allowed",
                    self.deps.len(),
                    limits.max_dependencies
                ),
            ));
        }
        if let Some(rust_version) = &self.rust_version {
            check_rust_version(rust_version)?;
        }
        if self.links.as_deref() == Some("") {
            return Err(FormatError::metadata("links", "`links` is empty"));
        }
        let mut deps = self
            .deps
            .iter()
            .map(|dep| translate_dependency(dep, limits))
            .collect::<Result<Vec<_>, _>>()?;
        deps.sort_by(|a, b| {
            (&a.name, a.kind, &a.target, &a.req, &a.package, &a.registry).cmp(&(
                &b.name,
                b.kind,
                &b.target,
                &b.req,
                &b.package,
                &b.registry,
            ))
        });
        check_features(&self.features, &deps, limits)?;
        let mut entry = IndexEntry {
            name: self.name.clone(),
            vers,
            deps,
            cksum: cksum.to_owned(),
            features: self.features.clone(),
            features2: None,
            yanked: false,
            links: self.links.clone(),
            rust_version: self.rust_version.clone(),
            v: None,
            pubtime: None,
            extensions: std::collections::BTreeMap::new(),
        };
        entry.split_extended_features();
        Ok(entry)
    }
}

fn translate_dependency(
    dep: &NewCrateDependency,
    limits: &PublishLimits,
) -> Result<IndexDependency, FormatError> {
    let shown = dep.explicit_name_in_toml.as_deref().unwrap_or(&dep.name);
    let invalid = |reason: String| FormatError::InvalidDependency {
        name: shown.to_owned(),
        reason,
    };
    if let Some(reason) = name_syntax_error(&dep.name, false) {
        return Err(invalid(format!("package name `{}`: {reason}", dep.name)));
    }
    if let Some(alias) = &dep.explicit_name_in_toml
        && let Some(reason) = name_syntax_error(alias, true)
    {
        return Err(invalid(format!("renamed to `{alias}`: {reason}")));
    }
    let kind = match dep.kind.as_str() {
        "normal" => DependencyKind::Normal,
        "build" => DependencyKind::Build,
        "dev" => DependencyKind::Dev,
        other => {
            return Err(invalid(format!(
                "kind `{other}` is not one of `normal`, `build`, `dev`"
            )));
        }
    };
    if dep.artifact.is_some() || dep.bindep_target.is_some() || dep.lib {
        return Err(invalid(
            "artifact dependencies are unstable and need index `v: 3`, which stable cargo skips"
                .to_owned(),
        ));
    }
    if dep.optional && kind == DependencyKind::Dev {
        return Err(invalid("dev-dependencies cannot be optional".to_owned()));
    }
    let req = semver::VersionReq::parse(&dep.version_req)
        .map_err(|e| invalid(format!("requirement `{}`: {e}", dep.version_req)))?;
    if req.comparators.is_empty() {
        return Err(invalid(format!(
            "wildcard requirement `{}` is not allowed; give a version range",
            dep.version_req
        )));
    }
    if dep.target.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(invalid("`target` is empty".to_owned()));
    }
    if let (Some(registry), Some(allowed)) = (&dep.registry, &limits.allowed_dependency_registries)
        && !allowed.iter().any(|url| same_index_url(url, registry))
    {
        return Err(invalid(format!(
            "it comes from registry `{registry}`, but this registry accepts dependencies only from `{}`; depend on a crate of one of those, or ask the operator to add the registry to `allowed-dependency-registries`",
            allowed.join("`, `")
        )));
    }
    for feature in &dep.features {
        check_feature_name(feature)
            .map_err(|reason| invalid(format!("feature `{feature}`: {reason}")))?;
    }
    Ok(IndexDependency {
        name: shown.to_owned(),
        req: dep.version_req.clone(),
        features: dep.features.clone(),
        optional: dep.optional,
        default_features: dep.default_features,
        target: dep.target.clone(),
        kind,
        registry: dep.registry.clone(),
        package: dep.explicit_name_in_toml.as_ref().map(|_| dep.name.clone()),
    })
}

/// `rust_version` is a bare version: one to three numeric parts, no operator.
fn check_rust_version(value: &str) -> Result<(), FormatError> {
    let parts: Vec<&str> = value.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() > 3 || !parts.iter().all(numeric) {
        return Err(FormatError::metadata(
            "rust_version",
            format!("`{value}` is not a bare version such as `1.70` or `1.70.0`"),
        ));
    }
    Ok(())
}
