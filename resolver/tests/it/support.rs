//! Small builders for in-memory registries and manifests; index entries come from the
//! workspace's shared builders (`wharf-test-support`).

use std::path::Path;

use wharf_resolver::{
    HostPin, MemoryIndex, Resolution, ResolveError, ResolveOptions, RootManifest, Version, resolve,
};

pub(crate) use wharf_test_support::{DepExt, IndexEntryBuilder as Entry, dep, pkg};

/// An index holding `entries`.
pub(crate) fn index(entries: impl IntoIterator<Item = Entry>) -> MemoryIndex {
    let mut index = MemoryIndex::default();
    for entry in entries {
        index.add(entry.entry());
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
