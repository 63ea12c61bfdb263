//! [`Workspace`]: a workspace's manifests read together from disk, as cargo reads them before
//! it writes one `Cargo.lock` for all members: `members` globs and `exclude`, the root
//! package, path dependencies (members when inside the workspace, read from disk either way),
//! and `workspace = true` inheritance from `[workspace.package]` and
//! `[workspace.dependencies]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use semver::Version;
use toml::{Table, Value};
use wharf_index_format::{DependencyKind, IndexDependency, IndexEntry};

use crate::{ResolveError, RootManifest};

/// The dependency tables of a manifest (each also under `[target.'cfg'.…]`).
const DEPENDENCY_KEYS: [&str; 5] = [
    "dependencies",
    "build-dependencies",
    "build_dependencies",
    "dev-dependencies",
    "dev_dependencies",
];

/// `[package]` fields a member may take from `[workspace.package]` that resolution reads.
const INHERITED_PACKAGE_KEYS: [&str; 4] = ["version", "rust-version", "edition", "links"];

/// One package read from disk: a workspace member or a path dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPackage {
    /// The package's manifest, inheritance applied; its path dependencies are exact
    /// requirements (`=version`) on the packages they point to.
    pub manifest: RootManifest,
    /// The directory holding its `Cargo.toml` (canonical).
    pub dir: PathBuf,
    /// Whether it is a workspace member (resolved with all its features and dev-dependencies).
    pub member: bool,
    /// `package.links`.
    pub links: Option<String>,
}

/// A workspace (or a lone package and its path dependencies) read from disk.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let root = dir.path();
/// # std::fs::create_dir_all(root.join("crates/core")).unwrap();
/// # std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = [\"crates/*\"]\n[workspace.dependencies]\nlog = \"0.4\"\n").unwrap();
/// # std::fs::write(root.join("crates/core/Cargo.toml"), "[package]\nname = \"core\"\nversion = \"0.1.0\"\n[dependencies]\nlog.workspace = true\n").unwrap();
/// use wharf_resolver::{IndexEntry, MemoryIndex, ResolveOptions, Workspace, resolve_workspace};
/// let workspace = Workspace::load(root).unwrap();
/// assert_eq!(workspace.members().map(|m| m.manifest.name.as_str()).collect::<Vec<_>>(), ["core"]);
/// let mut index = MemoryIndex::default();
/// index.add(IndexEntry::builder("log", "0.4.22").build().unwrap());
/// let resolution = resolve_workspace(&index, &workspace, &ResolveOptions::default()).unwrap();
/// assert_eq!(resolution.versions_of("log")[0].to_string(), "0.4.22");
/// assert!(resolution.packages.iter().any(|p| p.name == "core" && p.path.is_some()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The directory of the workspace's root manifest (of the package, without `[workspace]`).
    pub root_dir: PathBuf,
    /// Every package read from disk, members first in the order found.
    pub packages: Vec<PathPackage>,
    /// Whether the workspace resolves with resolver v3 (`resolver = "3"`, or edition 2024).
    pub resolver_v3: bool,
}

/// What `[workspace]` of the root manifest says.
#[derive(Debug, Default)]
struct WorkspaceRoot {
    dir: PathBuf,
    package: Table,
    dependencies: Table,
}

/// Reads packages from disk, each directory once.
struct Loader {
    root: Option<WorkspaceRoot>,
    packages: Vec<PathPackage>,
    by_dir: HashMap<PathBuf, usize>,
}

impl Workspace {
    /// Reads the workspace of the `Cargo.toml` at `path` (a file or its directory). A
    /// manifest without `[workspace]` belongs to the nearest ancestor workspace that lists
    /// it (or to the one `package.workspace` names), as with cargo; otherwise it stands alone
    /// with its path dependencies.
    pub fn load(path: &Path) -> Result<Self, ResolveError> {
        let manifest = if path.is_dir() {
            path.join("Cargo.toml")
        } else {
            path.to_owned()
        };
        let table = read_table(&manifest)?;
        let dir = canonical_dir(&manifest)?;
        if table.contains_key("workspace") {
            refuse_source_overrides(&manifest, &table)?;
            return Self::load_root(&dir, &table);
        }
        if let Some(root) = find_workspace_root(&dir, &table)? {
            let root_manifest = root.join("Cargo.toml");
            let root_table = read_table(&root_manifest)?;
            refuse_source_overrides(&root_manifest, &root_table)?;
            return Self::load_root(&root, &root_table);
        }
        refuse_source_overrides(&manifest, &table)?;
        let mut loader = Loader {
            root: None,
            packages: Vec::new(),
            by_dir: HashMap::new(),
        };
        let index = loader.load_package(&dir, Some(table))?;
        loader.packages[index].member = true;
        let resolver_v3 = loader.packages[index].manifest.resolver_v3;
        Ok(Self {
            root_dir: dir,
            packages: loader.finish(),
            resolver_v3,
        })
    }

    fn load_root(dir: &Path, table: &Table) -> Result<Self, ResolveError> {
        let manifest_path = dir.join("Cargo.toml");
        let invalid = |reason: String| ResolveError::InvalidManifest {
            path: manifest_path.clone(),
            reason,
        };
        let workspace = table
            .get("workspace")
            .and_then(Value::as_table)
            .ok_or_else(|| invalid("`workspace` must be a table".to_owned()))?;
        let sub_table = |key: &str| -> Result<Table, ResolveError> {
            match workspace.get(key) {
                None => Ok(Table::new()),
                Some(Value::Table(table)) => Ok(table.clone()),
                Some(_) => Err(invalid(format!("`workspace.{key}` must be a table"))),
            }
        };
        let paths = |key: &str| -> Result<Vec<String>, ResolveError> {
            workspace.get(key).map_or(Ok(Vec::new()), |list| {
                list.as_array()
                    .and_then(|list| {
                        list.iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| invalid(format!("`workspace.{key}` must list paths")))
            })
        };
        let excluded: Vec<PathBuf> = paths("exclude")?
            .iter()
            .map(|p| normalize(&dir.join(p)))
            .collect();
        let mut loader = Loader {
            root: Some(WorkspaceRoot {
                dir: dir.to_owned(),
                package: sub_table("package")?,
                dependencies: sub_table("dependencies")?,
            }),
            packages: Vec::new(),
            by_dir: HashMap::new(),
        };
        let mut members = Vec::new();
        if table.contains_key("package") {
            members.push(loader.load_package(dir, Some(table.clone()))?);
        }
        for pattern in paths("members")? {
            for member_dir in expand_members(dir, &pattern, &excluded, &invalid)? {
                members.push(loader.load_package(&member_dir, None)?);
            }
        }
        for index in members {
            loader.packages[index].member = true;
        }
        // Path dependencies inside the workspace directory are members too.
        for package in &mut loader.packages {
            let inside = package.dir.starts_with(dir);
            let is_excluded = excluded.iter().any(|e| package.dir.starts_with(e));
            if inside && !is_excluded {
                package.member = true;
            }
        }
        let resolver = workspace.get("resolver").and_then(Value::as_str);
        let root_edition = table
            .get("package")
            .and_then(|p| p.get("edition"))
            .and_then(Value::as_str);
        let resolver_v3 = match resolver {
            Some(explicit) => explicit == "3",
            None => root_edition == Some("2024"),
        };
        Ok(Self {
            root_dir: dir.to_owned(),
            packages: loader.finish(),
            resolver_v3,
        })
    }

    /// The workspace members, in the order found.
    pub fn members(&self) -> impl Iterator<Item = &PathPackage> {
        self.packages.iter().filter(|p| p.member)
    }

    /// Whether this is one package with no path dependencies: its manifest alone is the root.
    pub fn is_single_package(&self) -> bool {
        self.packages.len() == 1
    }

    /// The package read from `dir`, if any.
    pub fn package_at(&self, dir: &Path) -> Option<&PathPackage> {
        self.packages.iter().find(|p| p.dir == dir)
    }

    /// The lowest `rust-version` of the members (what picks the lockfile format).
    pub fn rust_version(&self) -> Option<&Version> {
        self.members()
            .filter_map(|m| m.manifest.rust_version.as_ref())
            .min()
    }

    /// The index entries standing for the packages read from disk (no checksum), each with
    /// its dependencies of every kind and its features.
    pub(crate) fn path_entries(&self) -> Vec<IndexEntry> {
        self.packages
            .iter()
            .map(|package| {
                let manifest = &package.manifest;
                let mut builder =
                    IndexEntry::builder(manifest.name.clone(), manifest.version.to_string())
                        .deps(manifest.dependencies.iter().cloned());
                for (feature, values) in &manifest.features {
                    builder = builder.feature(feature.clone(), values.iter().cloned());
                }
                if let Some(links) = &package.links {
                    builder = builder.links(links.clone());
                }
                builder.build().expect("manifest versions are semver")
            })
            .collect()
    }

    /// The root the resolver starts from: every member exactly, with all its features, and
    /// every member's dev-dependencies (as cargo locks a workspace).
    pub(crate) fn virtual_root(&self) -> RootManifest {
        let mut dependencies = Vec::new();
        for member in self.members() {
            let manifest = &member.manifest;
            let mut features: Vec<String> = manifest.features.keys().cloned().collect();
            for dep in manifest.dependencies.iter().filter(|d| d.optional) {
                let named = manifest
                    .features
                    .values()
                    .flatten()
                    .any(|value| value.strip_prefix("dep:") == Some(dep.name.as_str()));
                if !named && !features.contains(&dep.name) {
                    features.push(dep.name.clone());
                }
            }
            dependencies.push(
                IndexDependency::new(manifest.name.clone(), format!("={}", manifest.version))
                    .with_features(features),
            );
            dependencies.extend(
                manifest
                    .dependencies
                    .iter()
                    .filter(|d| d.kind == DependencyKind::Dev)
                    .cloned(),
            );
        }
        RootManifest {
            name: String::new(),
            version: Version::new(0, 0, 0),
            rust_version: self.rust_version().cloned(),
            resolver_v3: self.resolver_v3,
            dependencies,
            features: wharf_index_format::FeatureMap::new(),
        }
    }
}

impl Loader {
    fn finish(self) -> Vec<PathPackage> {
        let mut packages = self.packages;
        // Members first, keeping the order found.
        packages.sort_by_key(|p| !p.member);
        packages
    }

    /// Reads the package in `dir` (its parsed manifest when already read) and, recursively,
    /// its path dependencies; returns its index in `packages`.
    fn load_package(&mut self, dir: &Path, table: Option<Table>) -> Result<usize, ResolveError> {
        if let Some(&index) = self.by_dir.get(dir) {
            return Ok(index);
        }
        let manifest_path = dir.join("Cargo.toml");
        let mut table = match table {
            Some(table) => table,
            None => read_table(&manifest_path)?,
        };
        let invalid = |reason: String| ResolveError::InvalidManifest {
            path: manifest_path.clone(),
            reason,
        };
        // A lone manifest without `[package]` is a root named `root`, as `RootManifest` reads it.
        let name = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("root")
            .to_owned();
        self.inherit_package_fields(&mut table, &invalid)?;
        // Each path dependency: where it points, and the requirement it states, if any.
        let mut path_deps: Vec<(String, PathBuf, Option<String>)> = Vec::new();
        for_each_dependency(&mut table, &mut |dep_name, spec| {
            self.normalize_dependency(dir, &name, dep_name, spec, &mut path_deps, &invalid)
        })?;
        let manifest = RootManifest::from_table(&without_paths(&table), dir)?;
        let links = table
            .get("package")
            .and_then(|p| p.get("links"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let index = self.packages.len();
        self.packages.push(PathPackage {
            manifest,
            dir: dir.to_owned(),
            member: false,
            links,
        });
        self.by_dir.insert(dir.to_owned(), index);

        let mut versions: HashMap<PathBuf, Version> = HashMap::new();
        for (dep_name, path, requirement) in path_deps {
            let dep_dir = std::fs::canonicalize(&path)
                .ok()
                .filter(|d| d.join("Cargo.toml").is_file())
                .ok_or_else(|| ResolveError::PathDependency {
                    name: dep_name.clone(),
                    package: name.clone(),
                    path: path.clone(),
                    reason: "no `Cargo.toml` there; fix the dependency's `path`".to_owned(),
                })?;
            let found = self.load_package(&dep_dir, None)?;
            let version = self.packages[found].manifest.version.clone();
            if let Some(requirement) = requirement {
                let matches =
                    semver::VersionReq::parse(&requirement).is_ok_and(|req| req.matches(&version));
                if !matches {
                    return Err(ResolveError::PathDependency {
                        name: dep_name,
                        package: name,
                        path,
                        reason: format!(
                            "it requires `{requirement}` but the package there is version {version}; change the requirement or the package's version"
                        ),
                    });
                }
            }
            versions.insert(path, version);
        }
        // The dependencies again, each path one now an exact requirement on what is there.
        for_each_dependency(&mut table, &mut |_, spec| {
            if let Some(spec) = spec.as_table_mut()
                && let Some(Value::String(path)) = spec.remove("path")
            {
                let version = &versions[Path::new(&path)];
                spec.insert("version".to_owned(), Value::String(format!("={version}")));
            }
            Ok(())
        })?;
        self.packages[index].manifest = RootManifest::from_table(&table, dir)?;
        Ok(index)
    }

    /// Replaces `{ workspace = true }` fields of `[package]` with `[workspace.package]`'s.
    fn inherit_package_fields(
        &self,
        table: &mut Table,
        invalid: &dyn Fn(String) -> ResolveError,
    ) -> Result<(), ResolveError> {
        let Some(Value::Table(package)) = table.get_mut("package") else {
            return Ok(());
        };
        for key in INHERITED_PACKAGE_KEYS {
            let inherits = package
                .get(key)
                .and_then(|v| v.get("workspace"))
                .and_then(Value::as_bool)
                == Some(true);
            if !inherits {
                continue;
            }
            let value = self
                .root
                .as_ref()
                .and_then(|root| root.package.get(key))
                .ok_or_else(|| {
                    invalid(format!(
                        "`package.{key}` is inherited (`workspace = true`) but no workspace root sets `[workspace.package].{key}`"
                    ))
                })?;
            package.insert(key.to_owned(), value.clone());
        }
        Ok(())
    }

    /// Applies `workspace = true`, refuses git, and turns `path` into an absolute path
    /// (recorded in `path_deps`) for one dependency of `package`.
    fn normalize_dependency(
        &self,
        dir: &Path,
        package: &str,
        name: &str,
        spec: &mut Value,
        path_deps: &mut Vec<(String, PathBuf, Option<String>)>,
        invalid: &dyn Fn(String) -> ResolveError,
    ) -> Result<(), ResolveError> {
        let Value::Table(table) = spec else {
            return Ok(());
        };
        if table.get("workspace").and_then(Value::as_bool) == Some(true) {
            let root = self.root.as_ref();
            let inherited = root
                .and_then(|root| root.dependencies.get(name))
                .ok_or_else(|| {
                    invalid(format!(
                        "dependency `{name}` has `workspace = true` but no workspace root declares it in `[workspace.dependencies]`; add it there"
                    ))
                })?;
            let mut merged = match inherited {
                Value::String(req) => {
                    Table::from_iter([("version".to_owned(), Value::String(req.clone()))])
                }
                Value::Table(table) => table.clone(),
                _ => {
                    return Err(invalid(format!(
                        "`[workspace.dependencies].{name}` must be a string or a table"
                    )));
                }
            };
            if let (Some(root), Some(Value::String(path))) = (root, merged.get_mut("path")) {
                *path = root.dir.join(&*path).to_string_lossy().into_owned();
            }
            for (key, value) in std::mem::take(table) {
                match key.as_str() {
                    "workspace" => {}
                    "features" => {
                        let mut features = merged
                            .get("features")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        features.extend(value.as_array().cloned().unwrap_or_default());
                        merged.insert(key, Value::Array(features));
                    }
                    _ => {
                        merged.insert(key, value);
                    }
                }
            }
            *table = merged;
        }
        if let Some(url) = table.get("git") {
            return Err(ResolveError::GitDependency {
                name: name.to_owned(),
                package: package.to_owned(),
                url: url.as_str().unwrap_or("?").to_owned(),
            });
        }
        if let Some(path) = table.get_mut("path") {
            let Value::String(text) = path else {
                return Err(invalid(format!(
                    "dependency `{name}`: `path` must be a string"
                )));
            };
            let absolute = normalize(&dir.join(&*text));
            *text = absolute.to_string_lossy().into_owned();
            let requirement = table
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if !path_deps.iter().any(|(_, p, _)| *p == absolute) {
                path_deps.push((name.to_owned(), absolute, requirement));
            }
        }
        Ok(())
    }
}

/// Calls `visit(name, spec)` for every dependency of every kind and target of a manifest.
fn for_each_dependency(
    table: &mut Table,
    visit: &mut dyn FnMut(&str, &mut Value) -> Result<(), ResolveError>,
) -> Result<(), ResolveError> {
    let mut visit_tables = |holder: &mut Table| -> Result<(), ResolveError> {
        for key in DEPENDENCY_KEYS {
            if let Some(Value::Table(deps)) = holder.get_mut(key) {
                for (name, spec) in deps.iter_mut() {
                    visit(name, spec)?;
                }
            }
        }
        Ok(())
    };
    visit_tables(table)?;
    if let Some(Value::Table(targets)) = table.get_mut("target") {
        for (_, body) in targets.iter_mut() {
            if let Value::Table(body) = body {
                visit_tables(body)?;
            }
        }
    }
    Ok(())
}

/// `table` with every dependency's `path` removed (for a first read of name and features).
fn without_paths(table: &Table) -> Table {
    let mut copy = table.clone();
    let _ = for_each_dependency(&mut copy, &mut |_, spec| {
        if let Some(spec) = spec.as_table_mut()
            && spec.remove("path").is_some()
        {
            spec.insert("version".to_owned(), Value::String("*".to_owned()));
        }
        Ok(())
    });
    copy
}

/// The member directories `pattern` (a path or a glob, relative to the workspace root)
/// names, excluded ones left out; each must hold a `Cargo.toml`, as cargo requires.
fn expand_members(
    root: &Path,
    pattern: &str,
    excluded: &[PathBuf],
    invalid: &dyn Fn(String) -> ResolveError,
) -> Result<Vec<PathBuf>, ResolveError> {
    let full = root.join(pattern);
    let matches = glob::glob(&full.to_string_lossy())
        .map_err(|e| invalid(format!("member pattern `{pattern}`: {e}")))?;
    let is_glob = pattern.contains(['*', '?', '[']);
    let mut found: Vec<PathBuf> = matches.flatten().filter(|p| p.is_dir()).collect();
    if !is_glob {
        found = vec![full];
    }
    let mut dirs = Vec::new();
    for dir in found {
        let dir = normalize(&dir);
        if is_glob && excluded.iter().any(|e| dir.starts_with(e)) {
            continue;
        }
        if !dir.join("Cargo.toml").is_file() {
            return Err(invalid(format!(
                "member `{}` (from `workspace.members` entry `{pattern}`) has no `Cargo.toml`; add one, or leave the directory out with `workspace.exclude`",
                dir.display()
            )));
        }
        dirs.push(canonical_dir(&dir.join("Cargo.toml"))?);
    }
    dirs.sort();
    Ok(dirs)
}

/// The ancestor directory whose `Cargo.toml` has a `[workspace]` listing the package in
/// `dir` (or the one `package.workspace` names).
fn find_workspace_root(dir: &Path, table: &Table) -> Result<Option<PathBuf>, ResolveError> {
    if let Some(explicit) = table
        .get("package")
        .and_then(|p| p.get("workspace"))
        .and_then(Value::as_str)
    {
        return canonical_dir(&dir.join(explicit).join("Cargo.toml")).map(Some);
    }
    for ancestor in dir.ancestors().skip(1) {
        let candidate = ancestor.join("Cargo.toml");
        if !candidate.is_file() {
            continue;
        }
        let Ok(parent) = read_table(&candidate) else {
            continue;
        };
        let Some(workspace) = parent.get("workspace").and_then(Value::as_table) else {
            continue;
        };
        let listed = |key: &str| -> Vec<String> {
            workspace
                .get(key)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let excluded = listed("exclude")
            .iter()
            .any(|e| dir.starts_with(normalize(&ancestor.join(e))));
        let member = listed("members").iter().any(|pattern| {
            let full = ancestor.join(pattern);
            glob::Pattern::new(&full.to_string_lossy()).is_ok_and(|p| p.matches_path(dir))
        });
        if member && !excluded {
            return Ok(Some(ancestor.to_owned()));
        }
        return Ok(None);
    }
    Ok(None)
}

/// [`ResolveError::UnsupportedSection`] when the root manifest at `path` has `[patch]` or
/// `[replace]` (cargo reads them from the root only; members' copies it ignores).
pub(crate) fn refuse_source_overrides(path: &Path, table: &Table) -> Result<(), ResolveError> {
    for key in ["patch", "replace"] {
        let Some(value) = table.get(key) else {
            continue;
        };
        // `[patch.crates-io]` is named as written; an empty `[patch]` changes nothing.
        let section = match value.as_table() {
            Some(sources) if sources.is_empty() => continue,
            Some(sources) if key == "patch" => {
                format!("patch.{}", sources.keys().next().map_or("", String::as_str))
            }
            _ => key.to_owned(),
        };
        return Err(ResolveError::UnsupportedSection {
            path: path.to_owned(),
            section,
        });
    }
    Ok(())
}

fn read_table(path: &Path) -> Result<Table, ResolveError> {
    let text = std::fs::read_to_string(path).map_err(|source| ResolveError::Io {
        path: path.to_owned(),
        source,
    })?;
    text.parse()
        .map_err(|e: toml::de::Error| ResolveError::InvalidManifest {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// The canonical directory of a manifest file.
fn canonical_dir(manifest: &Path) -> Result<PathBuf, ResolveError> {
    let dir = manifest.parent().unwrap_or_else(|| Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).map_err(|source| ResolveError::Io {
        path: manifest.to_owned(),
        source,
    })
}

/// `path` with `.` and `..` components folded (without touching the disk).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
