//! What the solver needs of a version beyond its number (dependencies, feature table,
//! checksum, `links`), read from its index line only when the version is tried.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use semver::{Version, VersionReq};
use serde::Deserialize;
use wharf_index_format::{DependencyKind, FeatureMap, INDEX_V_MAX, IndexDependency, IndexEntry};

use crate::catalog::Dep;
use crate::version_set::SemverSet;

/// The resolver's own hash maps, keyed by package names, features and requirement texts:
/// `foldhash` (seeded per process) hashes these short keys in a fraction of SipHash's time,
/// which showed in profiles of large graphs.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What the solver needs of a version beyond its number, parsed only when the version is
/// tried: most versions of a package never are.
#[derive(Debug)]
pub(crate) struct Details {
    pub(crate) checksum: Rc<str>,
    pub(crate) links: Option<Rc<str>>,
    /// Dependencies that matter to a non-root package (dev-dependencies dropped).
    pub(crate) deps: Vec<Dep>,
    /// The feature table, `features2` merged and implicit optional-dependency features added.
    pub(crate) features: FastMap<Rc<str>, Rc<[Rc<str>]>>,
}

impl Details {
    /// The details of a parsed entry; `None` when a requirement is invalid.
    pub(crate) fn of_entry(
        name: &str,
        entry: &IndexEntry,
        cache: &mut RequirementCache,
    ) -> Option<Box<Self>> {
        build_details(name, DetailLine::of(entry), cache).map(Box::new)
    }

    /// The details of `version` from its raw index line; `None` when the line is unusable or
    /// (the file changed since it was scanned) is no longer that version's.
    pub(crate) fn of_line(
        name: &str,
        line: &str,
        version: &Version,
        cache: &mut RequirementCache,
    ) -> Option<Box<Self>> {
        // Strings are borrowed from the line; a line whose strings hold escapes cannot lend
        // them and is read again into owned ones.
        if let Ok(parts) = serde_json::from_str::<DetailLine<&str>>(line) {
            checked(name, parts, version, cache)
        } else {
            let parts = serde_json::from_str::<DetailLine<String>>(line).ok()?;
            checked(name, parts, version, cache)
        }
    }
}

/// [`build_details`] after checking the line is `version`'s and of a schema cargo reads (a
/// line laid out unusually may hide its schema version from the quick head reader).
fn checked<S: AsRef<str> + Ord>(
    name: &str,
    parts: DetailLine<S>,
    version: &Version,
    cache: &mut RequirementCache,
) -> Option<Box<Details>> {
    let same_version = Version::parse(parts.vers.as_ref()).is_ok_and(|v| v == *version);
    if !same_version || parts.v.unwrap_or(1) > INDEX_V_MAX {
        return None;
    }
    build_details(name, parts, cache).map(Box::new)
}

/// Parses requirement strings once per resolution.
#[derive(Debug, Default)]
pub(crate) struct RequirementCache {
    parsed: FastMap<Box<str>, Option<(Rc<str>, SemverSet)>>,
}

impl RequirementCache {
    /// The requirement, as cargo would print it, whose set is exactly `set`.
    pub(crate) fn text_of(&self, set: &SemverSet) -> Option<String> {
        let mut texts: Vec<&str> = self
            .parsed
            .values()
            .flatten()
            .filter(|(_, parsed)| parsed == set)
            .map(|(text, _)| &**text)
            .collect();
        texts.sort_unstable();
        let text = texts.first()?;
        Some(VersionReq::parse(text).map_or_else(|_| (*text).to_owned(), |req| req.to_string()))
    }

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
pub(crate) fn convert_index_dep(
    dep: &IndexDependency,
    cache: &mut RequirementCache,
) -> Option<Dep> {
    convert_dep(&DetailDep::of(dep), cache)
}

/// Turns one dependency into a solver dependency; `None` when its requirement is invalid.
fn convert_dep<S: AsRef<str>>(dep: &DetailDep<S>, cache: &mut RequirementCache) -> Option<Dep> {
    let (req, set) = cache.get(dep.req.as_ref())?;
    let alias = dep.name.as_ref();
    Some(Dep {
        alias: Rc::from(alias),
        package: Rc::from(dep.package.as_ref().map_or(alias, AsRef::as_ref)),
        req,
        set,
        features: dep.features.iter().map(|f| Rc::from(f.as_ref())).collect(),
        default_features: dep.default_features,
        optional: dep.optional,
    })
}

/// The parts of an index line that [`Details`] need, read without the catch-all of unknown
/// fields that makes a full [`IndexEntry`] slow to parse. `S` is `&str` when the strings can be
/// borrowed from the line, `String` otherwise; the types and defaults are those of
/// [`IndexEntry`], so a line this refuses is one cargo's schema refuses too.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Ord"))]
struct DetailLine<S> {
    vers: S,
    deps: Vec<DetailDep<S>>,
    cksum: S,
    #[serde(default = "BTreeMap::new")]
    features: BTreeMap<S, Vec<S>>,
    #[serde(default)]
    features2: Option<BTreeMap<S, Vec<S>>>,
    #[serde(default)]
    links: Option<S>,
    #[serde(default)]
    v: Option<u32>,
}

/// One dependency of a [`DetailLine`] (the fields of [`IndexDependency`]).
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
struct DetailDep<S> {
    name: S,
    req: S,
    #[serde(default = "Vec::new")]
    features: Vec<S>,
    #[serde(default)]
    optional: bool,
    #[serde(default = "default_true")]
    default_features: bool,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read only to refuse a line whose target is not a string, as cargo's schema does"
    )]
    target: Option<S>,
    #[serde(default)]
    kind: DependencyKind,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read only to refuse a line whose registry is not a string"
    )]
    registry: Option<S>,
    #[serde(default)]
    package: Option<S>,
}

fn default_true() -> bool {
    true
}

impl<'e> DetailDep<&'e str> {
    /// A parsed dependency, borrowed.
    fn of(dep: &'e IndexDependency) -> Self {
        Self {
            name: dep.name.as_str(),
            req: dep.req.as_str(),
            features: dep.features.iter().map(String::as_str).collect(),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.as_deref(),
            kind: dep.kind,
            registry: dep.registry.as_deref(),
            package: dep.package.as_deref(),
        }
    }
}

impl<'e> DetailLine<&'e str> {
    /// The parts of a parsed entry, borrowed.
    fn of(entry: &'e IndexEntry) -> Self {
        let map = |features: &'e FeatureMap| {
            features
                .iter()
                .map(|(name, values)| (name.as_str(), values.iter().map(String::as_str).collect()))
                .collect()
        };
        Self {
            vers: "",
            deps: entry.deps.iter().map(DetailDep::of).collect(),
            cksum: entry.cksum.as_str(),
            features: map(&entry.features),
            features2: entry.features2.as_ref().map(map),
            links: entry.links.as_deref(),
            v: entry.v,
        }
    }
}

fn build_details<S: AsRef<str> + Ord>(
    name: &str,
    line: DetailLine<S>,
    cache: &mut RequirementCache,
) -> Option<Details> {
    let mut deps = Vec::with_capacity(line.deps.len());
    for dep in &line.deps {
        if dep.kind == DependencyKind::Dev {
            continue;
        }
        let Some(converted) = convert_dep(dep, cache) else {
            tracing::debug!(
                package = name,
                req = dep.req.as_ref(),
                "version has an invalid requirement"
            );
            return None;
        };
        deps.push(converted);
    }
    let mut referenced_with_dep: Vec<&str> = Vec::new();
    let mut all = line.features;
    for (feature, values) in line.features2.unwrap_or_default() {
        all.entry(feature).or_default().extend(values);
    }
    let mut features: FastMap<Rc<str>, Rc<[Rc<str>]>> =
        FastMap::with_capacity_and_hasher(all.len(), foldhash::fast::RandomState::default());
    for (name, values) in &all {
        for value in values {
            if let Some(dep) = value.as_ref().strip_prefix("dep:") {
                referenced_with_dep.push(dep);
            }
        }
        features.insert(
            Rc::from(name.as_ref()),
            values.iter().map(|v| Rc::from(v.as_ref())).collect(),
        );
    }
    for dep in deps.iter().filter(|d| d.optional) {
        if !referenced_with_dep.contains(&&*dep.alias) && !features.contains_key(&dep.alias) {
            let implicit: Rc<str> = Rc::from(format!("dep:{}", dep.alias));
            features.insert(Rc::clone(&dep.alias), Rc::from([implicit]));
        }
    }
    Some(Details {
        checksum: Rc::from(line.cksum.as_ref()),
        links: line.links.as_ref().map(|links| Rc::from(links.as_ref())),
        deps,
        features,
    })
}
