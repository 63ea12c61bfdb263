//! Index entries and dependencies built in code: [`IndexEntry::builder`] and
//! [`IndexDependency::new`] with its chainable setters.

use std::collections::BTreeMap;

use crate::{DependencyKind, FeatureMap, FormatError, IndexDependency, IndexEntry, Pubtime};

impl IndexDependency {
    /// A normal dependency on `name` matching `req` (kept verbatim), default features on,
    /// every platform, this registry. Change it with the chainable setters.
    ///
    /// ```
    /// use wharf_index_format::{DependencyKind, IndexDependency};
    /// let dep = IndexDependency::new("rand", "^0.8")
    ///     .with_features(["std"])
    ///     .with_default_features(false)
    ///     .with_optional(true)
    ///     .with_kind(DependencyKind::Build)
    ///     .with_target("cfg(unix)");
    /// assert_eq!(dep.package_name(), "rand");
    /// assert!(dep.optional && !dep.default_features);
    /// ```
    pub fn new(name: impl Into<String>, req: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            req: req.into(),
            features: Vec::new(),
            optional: false,
            default_features: true,
            target: None,
            kind: DependencyKind::Normal,
            registry: None,
            package: None,
        }
    }

    /// Enables these features of the dependency (added to any already set).
    pub fn with_features<I, S>(mut self, features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features.extend(features.into_iter().map(Into::into));
        self
    }

    /// Makes the dependency optional (or not).
    pub fn with_optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }

    /// Turns the dependency's default features on or off.
    pub fn with_default_features(mut self, enabled: bool) -> Self {
        self.default_features = enabled;
        self
    }

    /// Makes it a dependency of this kind.
    pub fn with_kind(mut self, kind: DependencyKind) -> Self {
        self.kind = kind;
        self
    }

    /// Restricts it to a platform: a `cfg(...)` expression or a target triple.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Renames it: `name` becomes the alias and `package` the real package name.
    pub fn with_package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    /// Takes it from another registry, given by its index URL.
    pub fn with_registry(mut self, index_url: impl Into<String>) -> Self {
        self.registry = Some(index_url.into());
        self
    }
}

impl IndexEntry {
    /// A builder for one version of `name`; `vers` is checked by [`IndexEntryBuilder::build`].
    ///
    /// ```
    /// use wharf_index_format::{IndexDependency, IndexEntry};
    /// let entry = IndexEntry::builder("app", "1.2.0")
    ///     .dep(IndexDependency::new("serde", "^1").with_optional(true))
    ///     .feature("default", ["dep:serde"])
    ///     .rust_version("1.70")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(entry.vers.to_string(), "1.2.0");
    /// // `dep:` features go to `features2` with `v: 2`, as crates.io writes them.
    /// assert!(entry.features.is_empty());
    /// assert_eq!(entry.v, Some(2));
    ///
    /// let error = IndexEntry::builder("app", "one").build().unwrap_err();
    /// assert!(error.to_string().contains("`one`"));
    /// ```
    pub fn builder(name: impl Into<String>, vers: impl Into<String>) -> IndexEntryBuilder {
        IndexEntryBuilder {
            name: name.into(),
            vers: vers.into(),
            deps: Vec::new(),
            cksum: String::new(),
            features: FeatureMap::new(),
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: None,
        }
    }
}

/// Builds an [`IndexEntry`]; made by [`IndexEntry::builder`].
#[derive(Debug, Clone)]
pub struct IndexEntryBuilder {
    name: String,
    vers: String,
    deps: Vec<IndexDependency>,
    cksum: String,
    features: FeatureMap,
    yanked: bool,
    links: Option<String>,
    rust_version: Option<String>,
    pubtime: Option<Pubtime>,
}

impl IndexEntryBuilder {
    /// Adds a dependency.
    pub fn dep(mut self, dependency: IndexDependency) -> Self {
        self.deps.push(dependency);
        self
    }

    /// Adds dependencies.
    pub fn deps(mut self, dependencies: impl IntoIterator<Item = IndexDependency>) -> Self {
        self.deps.extend(dependencies);
        self
    }

    /// Defines feature `name` as enabling `values` (features, `dep:x`, `x/feature`).
    pub fn feature<I, S>(mut self, name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features
            .insert(name.into(), values.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the checksum (lowercase hex SHA-256 of the `.crate`); empty by default.
    pub fn cksum(mut self, cksum: impl Into<String>) -> Self {
        self.cksum = cksum.into();
        self
    }

    /// Marks the version yanked (or not).
    pub fn yanked(mut self, yanked: bool) -> Self {
        self.yanked = yanked;
        self
    }

    /// Sets `links`, the native library the package links.
    pub fn links(mut self, library: impl Into<String>) -> Self {
        self.links = Some(library.into());
        self
    }

    /// Sets the minimum supported Rust version (`1.70` or `1.70.0`).
    pub fn rust_version(mut self, rust_version: impl Into<String>) -> Self {
        self.rust_version = Some(rust_version.into());
        self
    }

    /// Sets the publication time.
    pub fn pubtime(mut self, pubtime: Pubtime) -> Self {
        self.pubtime = Some(pubtime);
        self
    }

    /// The entry; [`FormatError::InvalidVersion`] when the version is not semver.
    pub fn build(self) -> Result<IndexEntry, FormatError> {
        let vers = semver::Version::parse(&self.vers).map_err(|e| FormatError::InvalidVersion {
            version: self.vers.clone(),
            reason: format!("{e}; give a semver version such as `1.0.0`"),
        })?;
        let mut entry = IndexEntry {
            name: self.name,
            vers,
            deps: self.deps,
            cksum: self.cksum,
            features: self.features,
            features2: None,
            yanked: self.yanked,
            links: self.links,
            rust_version: self.rust_version,
            v: None,
            pubtime: self.pubtime,
            extensions: BTreeMap::new(),
        };
        entry.split_extended_features();
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_entries_print_as_cargo_lines() {
        let entry = IndexEntry::builder("demo", "1.0.0")
            .dep(IndexDependency::new("alias", "^2").with_package("real"))
            .feature("fast", ["alias/simd"])
            .links("z")
            .yanked(true)
            .cksum("ab")
            .build()
            .unwrap();
        assert_eq!(
            entry.to_line(),
            r#"{"name":"demo","vers":"1.0.0","deps":[{"name":"alias","req":"^2","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","package":"real"}],"cksum":"ab","features":{"fast":["alias/simd"]},"yanked":true,"links":"z"}"#
        );
        assert_eq!(IndexEntry::from_line(&entry.to_line()).unwrap(), entry);
    }
}
