//! The entry point: manifest + options + index in, a resolution or an explanation out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use pubgrub::PubGrubError;
use semver::Version;

use crate::cancel::Cancellation;
use crate::catalog::Dep;
use crate::details::convert_index_dep;
use crate::explain::explain;
use crate::packages::{Feat, Pkg};
use crate::provider::Provider;
use crate::verify::Checker;
use crate::{IndexSource, ResolveError, ResolveOptions, RootManifest, RootOrigin};

/// One selected package version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ResolvedPackage {
    /// The package name.
    pub name: String,
    /// The selected version.
    pub version: semver::Version,
    /// Named features activated by the lockfile resolution, sorted.
    pub features: Vec<String>,
    /// The `cksum` of the index line (`None` for a host API the index does not publish).
    pub checksum: Option<String>,
    /// The packages this one depends on in the solution (normal and build, activated
    /// optional ones included; a workspace member's dev-dependencies too), sorted.
    pub dependencies: Vec<(String, semver::Version)>,
    /// Where a package read from disk lives (a workspace member or a path dependency, see
    /// [`crate::Workspace`]); `None` for a registry package.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub path: Option<std::path::PathBuf>,
}

/// A successful resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Resolution {
    /// Every selected package, root excluded, sorted by (name, version).
    pub packages: Vec<ResolvedPackage>,
    /// What the root depends on (every kind), sorted.
    pub root_dependencies: Vec<(String, semver::Version)>,
    /// Plugin mode: the host API package's name.
    pub host_api: Option<String>,
}

impl Resolution {
    /// The selected version(s) of `name`.
    pub fn versions_of(&self, name: &str) -> Vec<&Version> {
        self.packages
            .iter()
            .filter(|p| p.name == name)
            .map(|p| &p.version)
            .collect()
    }

    /// Plugin mode's install set: every package except the host API, which the host provides.
    pub fn install_set(&self) -> Vec<&ResolvedPackage> {
        self.packages
            .iter()
            .filter(|p| Some(&p.name) != self.host_api.as_ref())
            .collect()
    }
}

/// Resolves `root` against `source`. [`crate::Resolver`] does the same with a deadline or a
/// cancel token, and for [`crate::Requirements`] built in code.
///
/// ```
/// use std::path::Path;
/// use wharf_resolver::{IndexEntry, MemoryIndex, ResolveOptions, RootManifest, resolve};
/// let mut index = MemoryIndex::default();
/// index.add(IndexEntry::builder("log", "0.4.22").build().unwrap());
/// let manifest = "[package]\nname = \"app\"\n[dependencies]\nlog = \"0.4\"\n";
/// let root = RootManifest::from_toml_str(manifest, Path::new(".")).unwrap();
/// let resolution = resolve(&index, &root, &ResolveOptions::default()).unwrap();
/// assert_eq!(resolution.versions_of("log")[0].to_string(), "0.4.22");
/// ```
pub fn resolve(
    source: &dyn IndexSource,
    root: &RootManifest,
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    resolve_with(
        source,
        root,
        options,
        RootOrigin::Manifest,
        Cancellation::default(),
    )
}

/// [`resolve`], with the root's origin (for explanations) and when to stop early.
pub(crate) fn resolve_with(
    source: &dyn IndexSource,
    root: &RootManifest,
    options: &ResolveOptions,
    origin: RootOrigin,
    cancellation: Cancellation,
) -> Result<Resolution, ResolveError> {
    resolve_inner(source, root, options, origin, cancellation, true)
}

/// [`resolve_with`]; `verify_hints` re-resolves with each suggested change applied when
/// nothing fits (off for those checks themselves, which need no explanation).
pub(crate) fn resolve_inner(
    source: &dyn IndexSource,
    root: &RootManifest,
    options: &ResolveOptions,
    origin: RootOrigin,
    cancellation: Cancellation,
    verify_hints: bool,
) -> Result<Resolution, ResolveError> {
    let rust_version = options
        .rust_version
        .clone()
        .or_else(|| root.rust_version.clone().filter(|_| root.resolver_v3));
    let mut locked: HashMap<String, Vec<Version>> = HashMap::new();
    if let Some(lock) = &options.lock {
        for package in &lock.packages {
            let is_root =
                package.name == root.name && package.source.is_none() && package.checksum.is_none();
            if !is_root && !options.unlock.contains(&package.name) {
                locked
                    .entry(package.name.clone())
                    .or_default()
                    .push(package.version.clone());
            }
        }
    }
    let host = options
        .host_api
        .as_ref()
        .map(|pin| (Rc::<str>::from(pin.name.as_str()), pin.version.clone()));
    let mut provider = Provider::new(source, root.version.clone(), rust_version, locked, host);
    provider.discouraged = options.discouraged.clone();
    provider.origin = origin;
    provider.cancellation = cancellation;
    provider.root_deps = root_dependencies(root, options, &provider)?;

    let solution = match pubgrub::resolve(&provider, Pkg::Root, root.version.clone()) {
        Ok(solution) => solution,
        Err(PubGrubError::NoSolution(tree)) => {
            let (mut explanation, hints) = explain(&tree, &provider, source);
            if !verify_hints {
                return Err(ResolveError::NoSolution(Box::new(explanation)));
            }
            // The checks re-read what this resolution loaded: free it first.
            let outer = provider.cancellation.clone();
            drop(provider);
            let checker = Checker {
                source,
                root,
                options,
                origin,
                outer: &outer,
            };
            explanation.hints = checker.verify(hints);
            return Err(ResolveError::NoSolution(Box::new(explanation)));
        }
        Err(
            PubGrubError::ErrorRetrievingDependencies { source, .. }
            | PubGrubError::ErrorChoosingVersion { source, .. }
            | PubGrubError::ErrorInShouldCancel(source),
        ) => return Err(source),
    };
    let resolution = build_resolution(&solution, &provider, options);
    check_cycles(&resolution)?;
    tracing::debug!(packages = resolution.packages.len(), "resolved");
    Ok(resolution)
}

/// Per selected (package, version): its named features and its active optional dependencies.
type Selected = BTreeMap<(Rc<str>, Version), (BTreeSet<String>, BTreeSet<Rc<str>>)>;

fn build_resolution(
    solution: &pubgrub::SelectedDependencies<Pkg, Version>,
    provider: &Provider<'_>,
    options: &ResolveOptions,
) -> Resolution {
    let mut selected = Selected::new();
    for (pkg, version) in solution.iter() {
        match pkg {
            Pkg::Bucket(name, _) => {
                selected
                    .entry((Rc::clone(name), version.clone()))
                    .or_default();
            }
            Pkg::Feature(name, _, Feat::Named(feature))
                if !feature.contains('/') && !feature.starts_with("dep:") =>
            {
                selected
                    .entry((Rc::clone(name), version.clone()))
                    .or_default()
                    .0
                    .insert(feature.to_string());
            }
            Pkg::Feature(name, _, Feat::Dep(dep)) => {
                selected
                    .entry((Rc::clone(name), version.clone()))
                    .or_default()
                    .1
                    .insert(Rc::clone(dep));
            }
            _ => {}
        }
    }
    let mut by_name: HashMap<Rc<str>, Vec<Version>> = HashMap::new();
    for (name, version) in selected.keys() {
        by_name
            .entry(Rc::clone(name))
            .or_default()
            .push(version.clone());
    }
    let target_of = |dep: &Dep| -> Option<(String, Version)> {
        by_name.get(&dep.package).and_then(|versions| {
            versions
                .iter()
                .rev()
                .find(|v| pubgrub::VersionSet::contains(&dep.set, *v))
                .map(|v| (dep.package.to_string(), v.clone()))
        })
    };

    let mut packages = Vec::with_capacity(selected.len());
    for ((name, version), (features, active_optional)) in &selected {
        let data = provider
            .loaded(name)
            .expect("selected packages were loaded");
        let this = data.get(version).expect("selected versions exist");
        let details = provider
            .details(name, this)
            .expect("selected versions have usable entries");
        let mut dependencies: Vec<(String, Version)> = details
            .deps
            .iter()
            .filter(|d| !d.optional || active_optional.contains(&d.alias))
            .filter_map(&target_of)
            .collect();
        dependencies.sort();
        dependencies.dedup();
        packages.push(ResolvedPackage {
            name: name.to_string(),
            version: version.clone(),
            features: features.iter().cloned().collect(),
            checksum: (!details.checksum.is_empty()).then(|| details.checksum.to_string()),
            dependencies,
            path: None,
        });
    }
    let mut root_dependencies: Vec<(String, Version)> =
        provider.root_deps.iter().filter_map(&target_of).collect();
    root_dependencies.sort();
    root_dependencies.dedup();

    Resolution {
        packages,
        root_dependencies,
        host_api: options.host_api.as_ref().map(|pin| pin.name.clone()),
    }
}

/// The root's edges: every dependency of every kind and target, optional ones included (cargo
/// writes lockfiles with all features of the root), with the `dep/feature` values of the
/// root's `[features]` applied; plus the host pin in plugin mode.
fn root_dependencies(
    root: &RootManifest,
    options: &ResolveOptions,
    provider: &Provider<'_>,
) -> Result<Vec<Dep>, ResolveError> {
    let mut extra: HashMap<&str, Vec<Rc<str>>> = HashMap::new();
    for values in root.features.values() {
        for value in values {
            if let Some((dep, feature)) = value.split_once('/') {
                extra
                    .entry(dep.trim_end_matches('?'))
                    .or_default()
                    .push(Rc::from(feature));
            }
        }
    }
    let mut deps = Vec::with_capacity(root.dependencies.len() + 1);
    let mut cache = provider.requirements();
    for dependency in &root.dependencies {
        let mut dep = convert_index_dep(dependency, &mut cache).ok_or_else(|| {
            ResolveError::InvalidRequirement {
                package: dependency.name.clone(),
                requirement: dependency.req.clone(),
                reason: semver::VersionReq::parse(&dependency.req)
                    .err()
                    .map_or_else(String::new, |e| e.to_string()),
            }
        })?;
        if let Some(features) = extra.get(dependency.name.as_str()) {
            dep.features = dep.features.iter().chain(features).cloned().collect();
        }
        deps.push(dep);
    }
    if let Some(pin) = &options.host_api {
        let req = format!("={}", pin.version);
        let (req, set) = cache
            .get(&req)
            .expect("an exact version is a valid requirement");
        deps.push(Dep {
            alias: Rc::from(pin.name.as_str()),
            package: Rc::from(pin.name.as_str()),
            req,
            set,
            features: Rc::from([]),
            default_features: true,
            optional: false,
        });
    }
    Ok(deps)
}

/// Cargo rejects a solution whose normal/build dependency graph has a cycle.
fn check_cycles(resolution: &Resolution) -> Result<(), ResolveError> {
    let index: HashMap<(&str, &Version), usize> = resolution
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.name.as_str(), &p.version), i))
        .collect();
    let edges: Vec<Vec<usize>> = resolution
        .packages
        .iter()
        .map(|p| {
            p.dependencies
                .iter()
                .filter_map(|(n, v)| index.get(&(n.as_str(), v)).copied())
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; edges.len()];
    for start in 0..edges.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some((node, next)) = stack.last_mut() {
            if let Some(&child) = edges[*node].get(*next) {
                *next += 1;
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let from = stack
                            .iter()
                            .position(|(n, _)| *n == child)
                            .expect("on the stack");
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|(n, _)| {
                                let p = &resolution.packages[*n];
                                format!("{} {}", p.name, p.version)
                            })
                            .collect();
                        cycle.push(cycle[0].clone());
                        return Err(ResolveError::Cycle { cycle });
                    }
                    _ => {}
                }
            } else {
                state[*node] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}
