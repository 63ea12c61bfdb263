//! Index entries turned into what the solver reads: parsed requirements, compatibility
//! buckets, feature tables with cargo's implicit features. Built once per package name.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;

use semver::{Version, VersionReq};
use wharf_index_format::{DependencyKind, IndexDependency, IndexEntry};

use crate::version_set::{SemverSet, Triple};

/// Cargo's semver-compatibility bucket: the left-most non-zero component. One version per
/// bucket of a package may be selected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) enum Compat {
    /// `X.y.z` with `X > 0`.
    Major(u64),
    /// `0.Y.z` with `Y > 0`.
    Minor(u64),
    /// `0.0.Z`.
    Patch(u64),
}

impl Compat {
    pub(crate) fn of(version: &Version) -> Self {
        Self::of_triple((version.major, version.minor, version.patch))
    }

    pub(crate) fn of_triple((major, minor, patch): Triple) -> Self {
        if major > 0 {
            Self::Major(major)
        } else if minor > 0 {
            Self::Minor(minor)
        } else {
            Self::Patch(patch)
        }
    }

    /// Every version of the bucket, pre-releases included.
    pub(crate) fn range(self) -> SemverSet {
        let (low, high) = match self {
            Self::Major(m) => ((m, 0, 0), (m + 1, 0, 0)),
            Self::Minor(m) => ((0, m, 0), (0, m + 1, 0)),
            Self::Patch(p) => ((0, 0, p), (0, 0, p + 1)),
        };
        SemverSet::between(low, high)
    }

    /// The version that stands for the whole bucket in proxy packages.
    pub(crate) fn canonical(self) -> Version {
        match self {
            Self::Major(m) => Version::new(m, 0, 0),
            Self::Minor(m) => Version::new(0, m, 0),
            Self::Patch(p) => Version::new(0, 0, p),
        }
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Major(m) => write!(f, "{m}.x"),
            Self::Minor(m) => write!(f, "0.{m}.x"),
            Self::Patch(p) => write!(f, "0.0.{p}"),
        }
    }
}

/// One dependency of one version, ready for the solver.
#[derive(Debug, Clone)]
pub(crate) struct Dep {
    /// The name the depending package uses (`dep:x` and `x/f` refer to it).
    pub(crate) alias: Rc<str>,
    /// The real package name.
    pub(crate) package: Rc<str>,
    /// The requirement text, for messages.
    pub(crate) req: Rc<str>,
    /// The requirement as a version set.
    pub(crate) set: SemverSet,
    pub(crate) features: Rc<[Rc<str>]>,
    pub(crate) default_features: bool,
    pub(crate) optional: bool,
}

/// One version of a package.
#[derive(Debug)]
pub(crate) struct VersionData {
    pub(crate) version: Version,
    pub(crate) compat: Compat,
    pub(crate) yanked: bool,
    /// Whether the toolchain satisfies the version's `rust_version` (true when either is unset).
    pub(crate) rust_ok: bool,
    pub(crate) checksum: Rc<str>,
    pub(crate) links: Option<Rc<str>>,
    /// Dependencies that matter to a non-root package (dev-dependencies dropped).
    pub(crate) deps: Vec<Dep>,
    /// The feature table, `features2` merged and implicit optional-dependency features added.
    pub(crate) features: HashMap<Rc<str>, Rc<[Rc<str>]>>,
}

/// Every usable version of one package, sorted ascending, grouped by bucket.
#[derive(Debug, Default)]
pub(crate) struct CrateData {
    pub(crate) versions: Vec<VersionData>,
    /// Contiguous index ranges of `versions`, one per bucket, ascending.
    pub(crate) buckets: Vec<(Compat, Range<usize>)>,
}

impl CrateData {
    pub(crate) fn bucket(&self, compat: Compat) -> &[VersionData] {
        self.buckets
            .iter()
            .find(|(c, _)| *c == compat)
            .map_or(&[], |(_, range)| &self.versions[range.clone()])
    }

    pub(crate) fn get(&self, version: &Version) -> Option<&VersionData> {
        self.versions
            .binary_search_by(|data| data.version.cmp(version))
            .ok()
            .map(|i| &self.versions[i])
    }
}

/// Parses requirement strings once per resolution.
#[derive(Debug, Default)]
pub(crate) struct RequirementCache {
    parsed: HashMap<Box<str>, Option<(Rc<str>, SemverSet)>>,
}

impl RequirementCache {
    /// The set of `text`, or `None` when it does not parse.
    pub(crate) fn get(&mut self, text: &str) -> Option<(Rc<str>, SemverSet)> {
        if let Some(found) = self.parsed.get(text) {
            return found.clone();
        }
        let parsed = VersionReq::parse(text)
            .ok()
            .map(|req| (Rc::from(text), SemverSet::from_req(&req)));
        self.parsed.insert(text.into(), parsed.clone());
        parsed
    }
}

/// Turns one index dependency into a solver dependency; `None` when its requirement is invalid.
pub(crate) fn convert_dep(dep: &IndexDependency, cache: &mut RequirementCache) -> Option<Dep> {
    let (req, set) = cache.get(&dep.req)?;
    Some(Dep {
        alias: Rc::from(dep.name.as_str()),
        package: Rc::from(dep.package_name()),
        req,
        set,
        features: dep.features.iter().map(|f| Rc::from(f.as_str())).collect(),
        default_features: dep.default_features,
        optional: dep.optional,
    })
}

/// Builds the catalog of one package from its index lines.
pub(crate) fn build_crate(
    entries: &[IndexEntry],
    rust_version: Option<&Version>,
    cache: &mut RequirementCache,
) -> CrateData {
    let mut versions: Vec<VersionData> = entries
        .iter()
        .filter_map(|entry| build_version(entry, rust_version, cache))
        .collect();
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    versions.dedup_by(|later, earlier| later.version == earlier.version);
    let mut buckets: Vec<(Compat, Range<usize>)> = Vec::new();
    for (i, data) in versions.iter().enumerate() {
        match buckets.last_mut() {
            Some((compat, range)) if *compat == data.compat => range.end = i + 1,
            _ => buckets.push((data.compat, i..i + 1)),
        }
    }
    CrateData { versions, buckets }
}

fn build_version(
    entry: &IndexEntry,
    rust_version: Option<&Version>,
    cache: &mut RequirementCache,
) -> Option<VersionData> {
    let mut deps = Vec::with_capacity(entry.deps.len());
    for dep in &entry.deps {
        if dep.kind == DependencyKind::Dev {
            continue;
        }
        let Some(converted) = convert_dep(dep, cache) else {
            tracing::debug!(package = entry.name, version = %entry.vers, req = dep.req, "skipping version with an invalid requirement");
            return None;
        };
        deps.push(converted);
    }
    let mut features: HashMap<Rc<str>, Rc<[Rc<str>]>> = HashMap::new();
    let mut explicit_dep_refs: Vec<&str> = Vec::new();
    for (name, values) in entry.all_features() {
        for value in &values {
            if let Some(dep) = value.strip_prefix("dep:") {
                explicit_dep_refs.push(
                    entry
                        .deps
                        .iter()
                        .find(|d| d.name == dep)
                        .map_or("", |d| d.name.as_str()),
                );
            }
        }
        features.insert(
            Rc::from(name.as_str()),
            values.iter().map(|v| Rc::from(v.as_str())).collect(),
        );
    }
    for dep in deps.iter().filter(|d| d.optional) {
        let referenced = explicit_dep_refs.contains(&&*dep.alias);
        if !referenced && !features.contains_key(&dep.alias) {
            let implicit: Rc<str> = Rc::from(format!("dep:{}", dep.alias));
            features.insert(Rc::clone(&dep.alias), Rc::from([implicit]));
        }
    }
    let rust_ok = match (rust_version, entry.rust_version.as_deref()) {
        (Some(toolchain), Some(needed)) => {
            crate::manifest::parse_rust_version(needed).is_none_or(|needed| needed <= *toolchain)
        }
        _ => true,
    };
    Some(VersionData {
        compat: Compat::of(&entry.vers),
        version: entry.vers.clone(),
        yanked: entry.yanked,
        rust_ok,
        checksum: Rc::from(entry.cksum.as_str()),
        links: entry.links.as_deref().map(Rc::from),
        deps,
        features,
    })
}
