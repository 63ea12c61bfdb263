//! Index entries (one line of a sparse-index file) built field by field.

use std::collections::BTreeMap;

use wharf_index_format::{DependencyKind, FeatureMap, IndexDependency, IndexEntry};

/// Builds one [`IndexEntry`]; start with [`pkg`].
#[derive(Debug, Clone)]
pub struct IndexEntryBuilder(IndexEntry);

/// A version `name@vers` with no dependencies or features, not yanked, schema `v` unset, and
/// a checksum of 64 hex digits (not the hash of any `.crate`; see
/// [`IndexEntryBuilder::cksum`]). Panics if `vers` is not semver.
pub fn pkg(name: &str, vers: &str) -> IndexEntryBuilder {
    IndexEntryBuilder(IndexEntry {
        name: name.to_owned(),
        vers: semver::Version::parse(vers)
            .unwrap_or_else(|e| panic!("test version `{vers}` is not semver: {e}")),
        deps: Vec::new(),
        cksum: format!("{:0>64}", format!("{name}{vers}").len()),
        features: FeatureMap::new(),
        features2: None,
        yanked: false,
        links: None,
        rust_version: None,
        v: None,
        pubtime: None,
        extensions: BTreeMap::new(),
    })
}

/// A normal dependency on `name` matching `req`, default features on; change it with
/// [`DepExt`] and attach it with [`IndexEntryBuilder::with`].
pub fn dep(name: &str, req: &str) -> IndexDependency {
    IndexDependency {
        name: name.to_owned(),
        req: req.to_owned(),
        features: Vec::new(),
        optional: false,
        default_features: true,
        target: None,
        kind: DependencyKind::Normal,
        registry: None,
        package: None,
    }
}

/// Modifiers of an [`IndexDependency`] made by [`dep`].
pub trait DepExt {
    /// Makes it optional.
    fn optional(self) -> Self;
    /// Enables these features of it.
    fn features(self, features: &[&str]) -> Self;
    /// Turns its default features off.
    fn no_default(self) -> Self;
    /// Makes it a dependency of this kind.
    fn kind(self, kind: DependencyKind) -> Self;
    /// Restricts it to a platform (`cfg(...)` or a target triple).
    fn target(self, target: &str) -> Self;
    /// Renames it: the dependency's name becomes an alias of the package `real_name`.
    fn package(self, real_name: &str) -> Self;
}

impl DepExt for IndexDependency {
    fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    fn features(mut self, features: &[&str]) -> Self {
        self.features = features.iter().map(|f| (*f).to_owned()).collect();
        self
    }
    fn no_default(mut self) -> Self {
        self.default_features = false;
        self
    }
    fn kind(mut self, kind: DependencyKind) -> Self {
        self.kind = kind;
        self
    }
    fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_owned());
        self
    }
    fn package(mut self, real_name: &str) -> Self {
        self.package = Some(real_name.to_owned());
        self
    }
}

impl IndexEntryBuilder {
    /// Adds a dependency.
    pub fn with(mut self, dependency: IndexDependency) -> Self {
        self.0.deps.push(dependency);
        self
    }

    /// Adds the feature `name` enabling `values`.
    pub fn feature(mut self, name: &str, values: &[&str]) -> Self {
        self.0.features.insert(
            name.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        );
        self
    }

    /// Marks the version yanked.
    pub fn yanked(mut self) -> Self {
        self.0.yanked = true;
        self
    }

    /// Sets `links`, the native library the package links.
    pub fn links(mut self, library: &str) -> Self {
        self.0.links = Some(library.to_owned());
        self
    }

    /// Sets `rust_version`.
    pub fn rust_version(mut self, version: &str) -> Self {
        self.0.rust_version = Some(version.to_owned());
        self
    }

    /// Sets the schema version `v`.
    pub fn schema(mut self, v: u32) -> Self {
        self.0.v = Some(v);
        self
    }

    /// Sets the checksum (the lowercase hex SHA-256 of the `.crate`).
    pub fn cksum(mut self, cksum: &str) -> Self {
        cksum.clone_into(&mut self.0.cksum);
        self
    }

    /// The entry.
    pub fn entry(self) -> IndexEntry {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_through_its_line() {
        let entry = pkg("demo", "1.2.0")
            .with(dep("serde", "^1").features(&["derive"]).optional())
            .feature("default", &["serde"])
            .rust_version("1.70")
            .entry();
        let line = entry.to_line();
        assert_eq!(
            IndexEntry::from_line(&line).expect("own lines parse"),
            entry
        );
        assert!(
            line.contains(r#""features":["derive"],"optional":true"#),
            "{line}"
        );
    }
}
