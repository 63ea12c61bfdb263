//! Resolving a [`Workspace`]: its path packages laid over the registry source, the members
//! as the root's requirements, and the result marked with where each path package lives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use semver::{Version, VersionReq};
use wharf_index_format::{DependencyKind, IndexEntry};

use crate::cancel::Cancellation;
use crate::resolve::resolve_with;
use crate::version_set::SemverSet;
use crate::{IndexSource, Resolution, ResolveError, ResolveOptions, RootOrigin, Workspace};

/// A registry source with the packages read from disk laid over it: a name read from disk
/// is that package only (its registry versions are not offered).
pub(crate) struct PathOverlay<'a> {
    base: &'a dyn IndexSource,
    local: HashMap<String, Arc<[IndexEntry]>>,
}

impl<'a> PathOverlay<'a> {
    pub(crate) fn new(base: &'a dyn IndexSource, workspace: &Workspace) -> Self {
        let mut local: HashMap<String, Vec<IndexEntry>> = HashMap::new();
        for entry in workspace.path_entries() {
            local.entry(entry.name.clone()).or_default().push(entry);
        }
        Self {
            base,
            local: local
                .into_iter()
                .map(|(name, entries)| (name, Arc::from(entries)))
                .collect(),
        }
    }
}

impl IndexSource for PathOverlay<'_> {
    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        match self.local.get(name) {
            Some(entries) => Ok(Arc::clone(entries)),
            None => self.base.versions(name),
        }
    }

    fn scan_index_file(
        &self,
        name: &str,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<bool, ResolveError> {
        if self.local.contains_key(name) {
            return Ok(false);
        }
        self.base.scan_index_file(name, visit)
    }

    fn index_line(
        &self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<String>, ResolveError> {
        self.base.index_line(name, offset, len)
    }

    fn similar_names(&self, name: &str) -> Vec<String> {
        let mut names = self.base.similar_names(name);
        let folded = |n: &str| n.to_ascii_lowercase().replace('_', "-");
        names.extend(
            self.local
                .keys()
                .filter(|local| *local != name && folded(local) == folded(name))
                .cloned(),
        );
        names
    }
}

/// Resolves every member of `workspace` together (as `cargo generate-lockfile` locks a
/// workspace): each member with all its features and its dev-dependencies, path packages
/// from disk, the rest from `source`. Path packages are in [`Resolution::packages`] with
/// [`crate::ResolvedPackage::path`] set and no checksum; [`Resolution::root_dependencies`]
/// lists the members. [`crate::Resolver::resolve_workspace`] does the same with a deadline.
pub fn resolve_workspace(
    source: &dyn IndexSource,
    workspace: &Workspace,
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    resolve_workspace_with(source, workspace, options, Cancellation::default())
}

pub(crate) fn resolve_workspace_with(
    source: &dyn IndexSource,
    workspace: &Workspace,
    options: &ResolveOptions,
    cancellation: Cancellation,
) -> Result<Resolution, ResolveError> {
    let overlay = PathOverlay::new(source, workspace);
    let root = workspace.virtual_root();
    let mut resolution =
        resolve_with(&overlay, &root, options, RootOrigin::Manifest, cancellation)?;
    mark_path_packages(&mut resolution, workspace);
    Ok(resolution)
}

/// Sets each path package's directory, adds each member's dev-dependencies to its
/// dependencies (Cargo.lock lists them), and makes the members the root's dependencies.
fn mark_path_packages(resolution: &mut Resolution, workspace: &Workspace) {
    let dirs: HashMap<(&str, &Version), &PathBuf> = workspace
        .packages
        .iter()
        .map(|p| ((p.manifest.name.as_str(), &p.manifest.version), &p.dir))
        .collect();
    let selected: Vec<(String, Version)> = resolution
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let pick = |name: &str, req: &str| -> Option<(String, Version)> {
        let set = SemverSet::from_req(&VersionReq::parse(req).ok()?);
        selected
            .iter()
            .filter(|(n, v)| n == name && pubgrub::VersionSet::contains(&set, v))
            .max_by(|a, b| a.1.cmp(&b.1))
            .cloned()
    };
    let mut members = Vec::new();
    for package in &mut resolution.packages {
        let Some(dir) = dirs.get(&(package.name.as_str(), &package.version)) else {
            continue;
        };
        package.path = Some((*dir).clone());
        package.checksum = None;
        let Some(member) = workspace
            .members()
            .find(|m| m.manifest.name == package.name && m.manifest.version == package.version)
        else {
            continue;
        };
        members.push((package.name.clone(), package.version.clone()));
        for dev in member
            .manifest
            .dependencies
            .iter()
            .filter(|d| d.kind == DependencyKind::Dev)
        {
            if let Some(target) = pick(dev.package_name(), &dev.req) {
                package.dependencies.push(target);
            }
        }
        package.dependencies.sort();
        package.dependencies.dedup();
    }
    members.sort();
    resolution.root_dependencies = members;
}
