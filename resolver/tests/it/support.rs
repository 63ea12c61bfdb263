//! Small builders for in-memory registries and manifests.

use std::path::Path;

use wharf_index_format::{DependencyKind, FeatureMap, IndexDependency, IndexEntry};
use wharf_resolver::{
    HostPin, MemoryIndex, Resolution, ResolveError, ResolveOptions, RootManifest, Version, resolve,
};

/// Builds one index entry.
pub(crate) struct Entry(IndexEntry);

/// A new version `name@vers` with no dependencies.
pub(crate) fn pkg(name: &str, vers: &str) -> Entry {
    Entry(IndexEntry {
        name: name.to_owned(),
        vers: Version::parse(vers).expect("test versions parse"),
        deps: Vec::new(),
        cksum: format!("{:0>64}", format!("{name}{vers}").len()),
        features: FeatureMap::new(),
        features2: None,
        yanked: false,
        links: None,
        rust_version: None,
        v: None,
        pubtime: None,
        extensions: std::collections::BTreeMap::new(),
    })
}

/// A dependency to attach with [`Entry::with`].
pub(crate) fn dep(name: &str, req: &str) -> IndexDependency {
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

/// Modifiers of a dependency.
pub(crate) trait DepExt {
    fn optional(self) -> Self;
    fn features(self, features: &[&str]) -> Self;
    fn no_default(self) -> Self;
    fn kind(self, kind: DependencyKind) -> Self;
    fn target(self, target: &str) -> Self;
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

impl Entry {
    pub(crate) fn with(mut self, dependency: IndexDependency) -> Self {
        self.0.deps.push(dependency);
        self
    }
    pub(crate) fn feature(mut self, name: &str, values: &[&str]) -> Self {
        self.0.features.insert(
            name.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        );
        self
    }
    pub(crate) fn yanked(mut self) -> Self {
        self.0.yanked = true;
        self
    }
    pub(crate) fn links(mut self, library: &str) -> Self {
        self.0.links = Some(library.to_owned());
        self
    }
    pub(crate) fn rust_version(mut self, version: &str) -> Self {
        self.0.rust_version = Some(version.to_owned());
        self
    }
    pub(crate) fn schema(mut self, v: u32) -> Self {
        self.0.v = Some(v);
        self
    }
    pub(crate) fn entry(self) -> IndexEntry {
        self.0
    }
}

/// An index holding `entries`.
pub(crate) fn index(entries: impl IntoIterator<Item = Entry>) -> MemoryIndex {
    let mut index = MemoryIndex::default();
    for entry in entries {
        index.add(entry.0);
    }
    index
}

/// A root manifest with the given `[dependencies]` body (and optional extra sections).
pub(crate) fn manifest(body: &str) -> RootManifest {
    let text =
        format!("[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{body}");
    RootManifest::from_toml_str(&text, Path::new(".")).expect("test manifests parse")
}

/// `name version` of every selected package.
pub(crate) fn picks(resolution: &Resolution) -> Vec<String> {
    resolution
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

/// Resolves in cargo mode and returns the picks.
pub(crate) fn cargo_picks(index: &MemoryIndex, body: &str) -> Vec<String> {
    picks(&resolve(index, &manifest(body), &ResolveOptions::default()).expect("resolvable"))
}

/// Resolves in cargo mode and returns the error.
pub(crate) fn cargo_error(index: &MemoryIndex, body: &str) -> ResolveError {
    match resolve(index, &manifest(body), &ResolveOptions::default()) {
        Ok(resolution) => panic!("expected a failure, got {:?}", picks(&resolution)),
        Err(e) => e,
    }
}

/// Plugin-mode options with the host API pinned at `version`.
pub(crate) fn host(version: &str) -> ResolveOptions {
    ResolveOptions {
        host_api: Some(HostPin::new(
            Version::parse(version).expect("test versions parse"),
        )),
        ..ResolveOptions::default()
    }
}
