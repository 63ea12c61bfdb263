//! The root of a resolution given in code: package names, requirements and features, no
//! `Cargo.toml` needed.

use semver::Version;
use wharf_index_format::{FeatureMap, IndexDependency};

use crate::RootManifest;

/// What a tool asks for, built in code: each entry a package, a requirement and the features
/// wanted. Resolve it with [`crate::Resolver::resolve_requirements`]; explanations then speak
/// of "the requirements you gave" rather than of a manifest.
///
/// ```
/// use wharf_resolver::{IndexDependency, Requirements};
/// let wanted = Requirements::new()
///     .require("serde", "^1")
///     .require_with_features("tokio", "1.40", ["rt", "macros"])
///     .dependency(IndexDependency::new("rand", "0.8").with_default_features(false));
/// assert_eq!(wanted.dependencies().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    name: String,
    dependencies: Vec<IndexDependency>,
}

impl Default for Requirements {
    fn default() -> Self {
        Self::new()
    }
}

impl Requirements {
    /// The name the root gets in results and lockfiles when none is given.
    pub const DEFAULT_NAME: &'static str = "root";

    /// No requirements yet, for a root named [`Requirements::DEFAULT_NAME`].
    pub fn new() -> Self {
        Self::named(Self::DEFAULT_NAME)
    }

    /// No requirements yet, for a root named `name` (the plugin host, the tool, ...).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dependencies: Vec::new(),
        }
    }

    /// Requires `package` matching `requirement` (cargo syntax: `1.2`, `^1`, `>=1, <3`), with
    /// its default features.
    pub fn require(self, package: impl Into<String>, requirement: impl Into<String>) -> Self {
        self.dependency(IndexDependency::new(package, requirement))
    }

    /// Requires `package` matching `requirement` with these features on top of its defaults.
    pub fn require_with_features<I, S>(
        self,
        package: impl Into<String>,
        requirement: impl Into<String>,
        features: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dependency(IndexDependency::new(package, requirement).with_features(features))
    }

    /// Adds a requirement spelled out in full (renamed, no default features, build kind ...).
    pub fn dependency(mut self, dependency: IndexDependency) -> Self {
        self.dependencies.push(dependency);
        self
    }

    /// The root's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The requirements, in the order given.
    pub fn dependencies(&self) -> &[IndexDependency] {
        &self.dependencies
    }

    /// The same root as a [`RootManifest`] (version `0.0.0`, no features, no rust-version).
    pub fn to_root(&self) -> RootManifest {
        RootManifest {
            name: self.name.clone(),
            version: Version::new(0, 0, 0),
            rust_version: None,
            resolver_v3: true,
            dependencies: self.dependencies.clone(),
            features: FeatureMap::new(),
        }
    }
}
