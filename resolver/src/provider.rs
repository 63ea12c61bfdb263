//! The pubgrub `DependencyProvider`: cargo's choices over the catalog.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
    VersionSet,
};
use semver::Version;
use wharf_index_format::IndexEntry;

use crate::cancel::Cancellation;
use crate::catalog::{Compat, CrateData, Dep, ScannedLine, VersionData};
use crate::details::{Details, FastMap, RequirementCache};
use crate::packages::{Feat, Pkg, WideRequirement};
use crate::version_set::SemverSet;
use crate::{IndexSource, ResolveError, RootOrigin};

/// Why a version of a virtual package cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// The version does not define the requested feature.
    MissingFeature(Rc<str>),
    /// `dep:x` names no optional dependency of the version.
    MissingDependency(Rc<str>),
    /// The version's index line is unreadable or has an invalid requirement.
    InvalidEntry,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingFeature(x) => write!(f, "it has no feature `{x}`"),
            Self::MissingDependency(x) => write!(f, "it has no optional dependency `{x}`"),
            Self::InvalidEntry => f.write_str("its index entry is invalid"),
        }
    }
}

type Constraints = Vec<(Pkg, SemverSet)>;

/// One resolution's view of the index, with interior-mutable caches.
pub(crate) struct Provider<'a> {
    source: &'a dyn IndexSource,
    pub(crate) root_version: Version,
    pub(crate) root_deps: Vec<Dep>,
    rust_version: Option<Version>,
    /// Locked versions per package name (already without the unlocked ones).
    locked: HashMap<String, Vec<Version>>,
    /// Plugin mode: the host API package and the version the host provides.
    pub(crate) host: Option<(Rc<str>, Version)>,
    /// Versions chosen only when nothing else fits ([`crate::ResolveOptions::discouraged`]).
    pub(crate) discouraged: BTreeMap<String, BTreeSet<Version>>,
    crates: RefCell<FastMap<Rc<str>, Rc<CrateData>>>,
    /// Reused for every scanned file, so reading a catalog grows no vector step by step.
    scanned: RefCell<Vec<ScannedLine>>,
    requirements: RefCell<RequirementCache>,
    /// The version last chosen for each bucket: feature packages follow it.
    bucket_choice: RefCell<FastMap<(Rc<str>, Compat), Version>>,
    /// A distinct number per (package, bucket) that uses `links`.
    link_ids: RefCell<FastMap<(Rc<str>, Compat), u64>>,
    /// Where the root's requirements came from (for the wording of explanations).
    pub(crate) origin: RootOrigin,
    /// When to stop early.
    pub(crate) cancellation: Cancellation,
}

impl<'a> Provider<'a> {
    pub(crate) fn new(
        source: &'a dyn IndexSource,
        root_version: Version,
        rust_version: Option<Version>,
        locked: HashMap<String, Vec<Version>>,
        host: Option<(Rc<str>, Version)>,
    ) -> Self {
        Self {
            source,
            root_version,
            root_deps: Vec::new(),
            rust_version,
            locked,
            host,
            discouraged: BTreeMap::new(),
            crates: RefCell::default(),
            scanned: RefCell::default(),
            requirements: RefCell::default(),
            bucket_choice: RefCell::default(),
            link_ids: RefCell::default(),
            origin: RootOrigin::Manifest,
            cancellation: Cancellation::default(),
        }
    }

    pub(crate) fn requirements(&self) -> std::cell::RefMut<'_, RequirementCache> {
        self.requirements.borrow_mut()
    }

    /// The catalog of `name`, loaded on first use.
    pub(crate) fn crate_data(&self, name: &Rc<str>) -> Result<Rc<CrateData>, ResolveError> {
        if let Some(found) = self.crates.borrow().get(name) {
            return Ok(Rc::clone(found));
        }
        let rust_version = self.rust_version.as_ref();
        let mut lines = self.scanned.take();
        lines.clear();
        let scanned = self.source.scan_index_file(name, &mut |offset, line| {
            ScannedLine::visit(&mut lines, name, rust_version, offset, line);
        });
        let from_file = scanned.map(|found| found.then(|| CrateData::from_lines(lines.drain(..))));
        self.scanned.replace(lines);
        let mut data = match from_file? {
            Some(data) => data,
            None => CrateData::from_entries(&self.source.versions(name)?, rust_version),
        };
        if let Some((host, pinned)) = &self.host
            && host == name
        {
            data.restrict_to(pinned, synthetic_host_entry(host, pinned));
        }
        let data = Rc::new(data);
        self.crates
            .borrow_mut()
            .insert(Rc::clone(name), Rc::clone(&data));
        Ok(data)
    }

    /// A catalog already loaded (every package named in a solution or a failure is).
    pub(crate) fn loaded(&self, name: &str) -> Option<Rc<CrateData>> {
        self.crates.borrow().get(name).cloned()
    }

    /// The parsed details of a version (`None` when its index line is unusable).
    pub(crate) fn details<'d>(&self, name: &str, data: &'d VersionData) -> Option<&'d Details> {
        data.details(name, self.source, &mut self.requirements.borrow_mut())
    }

    fn is_locked(&self, name: &str, version: &Version) -> bool {
        self.locked
            .get(name)
            .is_some_and(|versions| versions.contains(version))
    }

    /// Whether a version may be chosen: not yanked, or yanked but locked.
    pub(crate) fn available(&self, name: &str, data: &VersionData) -> bool {
        !data.yanked || self.is_locked(name, &data.version)
    }

    fn is_discouraged(&self, name: &str, version: &Version) -> bool {
        self.discouraged
            .get(name)
            .is_some_and(|versions| versions.contains(version))
    }

    /// Cargo's candidate order: locked first, then (when the caller discourages some
    /// versions) the others, then versions whose `rust_version` the toolchain satisfies,
    /// then the newest.
    fn best<'d>(
        &self,
        name: &str,
        candidates: impl DoubleEndedIterator<Item = &'d VersionData>,
    ) -> Option<&'d VersionData> {
        let mut best: Option<(&VersionData, (bool, bool, bool))> = None;
        for data in candidates.rev() {
            let rank = (
                self.is_locked(name, &data.version),
                !self.is_discouraged(name, &data.version),
                data.rust_ok,
            );
            if best.is_none_or(|(_, best_rank)| rank > best_rank) {
                best = Some((data, rank));
                if rank == (true, true, true) {
                    break;
                }
            }
        }
        best.map(|(data, _)| data)
    }

    /// Adds the constraints of one dependency edge.
    fn edge(
        &self,
        dep: &Dep,
        extra_features: &[Rc<str>],
        default_features: bool,
        from: Option<(Rc<str>, Compat)>,
        out: &mut Constraints,
    ) -> Result<(), ResolveError> {
        let data = self.crate_data(&dep.package)?;
        let mut feats: Vec<Feat> = dep
            .features
            .iter()
            .chain(extra_features)
            .map(|f| Feat::Named(Rc::clone(f)))
            .collect();
        if default_features {
            feats.push(Feat::Default);
        }
        let mut only_bucket: Option<Compat> = None;
        let mut several = false;
        for (compat, range) in &data.buckets {
            let matches = data.versions[range.clone()]
                .iter()
                .any(|v| dep.set.contains(&v.version) && self.available(&dep.package, v));
            if matches {
                if only_bucket.is_some() {
                    several = true;
                    break;
                }
                only_bucket = Some(*compat);
            }
        }
        if several {
            feats.sort();
            feats.dedup();
            let wide = WideRequirement {
                name: Rc::clone(&dep.package),
                req: Rc::clone(&dep.req),
                set: dep.set.clone(),
                features: feats.into(),
                from,
            };
            out.push((Pkg::Wide(Rc::new(wide)), SemverSet::full()));
            return Ok(());
        }
        let Some(compat) = only_bucket else {
            let compat = dep
                .set
                .lowest_triple()
                .map_or(Compat::Patch(0), Compat::of_triple);
            out.push((
                Pkg::Bucket(Rc::clone(&dep.package), compat),
                dep.set.clone(),
            ));
            return Ok(());
        };
        out.push((
            Pkg::Bucket(Rc::clone(&dep.package), compat),
            dep.set.clone(),
        ));
        for feat in feats {
            out.push((
                Pkg::Feature(Rc::clone(&dep.package), compat, feat),
                dep.set.clone(),
            ));
        }
        Ok(())
    }

    fn link_id(&self, name: &Rc<str>, compat: Compat) -> Version {
        let mut ids = self.link_ids.borrow_mut();
        let next = u64::try_from(ids.len()).expect("fewer than 2^64 buckets");
        let id = *ids.entry((Rc::clone(name), compat)).or_insert(next);
        Version::new(id, 0, 0)
    }

    fn bucket_dependencies(
        &self,
        name: &Rc<str>,
        compat: Compat,
        data: &Details,
        out: &mut Constraints,
    ) -> Result<(), ResolveError> {
        for dep in data.deps.iter().filter(|d| !d.optional) {
            self.edge(
                dep,
                &[],
                dep.default_features,
                Some((Rc::clone(name), compat)),
                out,
            )?;
        }
        if let Some(lib) = &data.links {
            out.push((
                Pkg::Links(Rc::clone(lib)),
                SemverSet::singleton(self.link_id(name, compat)),
            ));
        }
        Ok(())
    }

    /// Expands one feature value (`x`, `dep:x`, `x/f`, `x?/f`) of `name` at `data`.
    fn feature_value(
        &self,
        name: &Rc<str>,
        compat: Compat,
        version: &Version,
        data: &Details,
        value: &str,
        out: &mut Constraints,
    ) -> Result<(), ResolveError> {
        let me = || SemverSet::singleton(version.clone());
        if let Some(dep) = value.strip_prefix("dep:") {
            out.push((
                Pkg::Feature(Rc::clone(name), compat, Feat::Dep(Rc::from(dep))),
                me(),
            ));
        } else if let Some((dep_name, feature)) = value.split_once('/') {
            // The lockfile resolver activates weak (`?/`) dependencies too, as cargo does.
            let dep_name = dep_name.trim_end_matches('?');
            let feature: Rc<str> = Rc::from(feature);
            let mut any_optional = false;
            for dep in data.deps.iter().filter(|d| &*d.alias == dep_name) {
                any_optional |= dep.optional;
                let narrowed = Dep {
                    features: Rc::from([]),
                    ..dep.clone()
                };
                self.edge(
                    &narrowed,
                    std::slice::from_ref(&feature),
                    false,
                    Some((Rc::clone(name), compat)),
                    out,
                )?;
            }
            if any_optional {
                out.push((
                    Pkg::Feature(Rc::clone(name), compat, Feat::Dep(Rc::from(dep_name))),
                    me(),
                ));
            }
        } else {
            out.push((
                Pkg::Feature(Rc::clone(name), compat, Feat::Named(Rc::from(value))),
                me(),
            ));
        }
        Ok(())
    }

    fn feature_dependencies(
        &self,
        name: &Rc<str>,
        compat: Compat,
        feat: &Feat,
        version: &Version,
        data: &Details,
        out: &mut Constraints,
    ) -> Result<Option<Unusable>, ResolveError> {
        out.push((
            Pkg::Bucket(Rc::clone(name), compat),
            SemverSet::singleton(version.clone()),
        ));
        match feat {
            Feat::Default => {
                if data.features.contains_key("default") {
                    self.feature_value(name, compat, version, data, "default", out)?;
                }
            }
            Feat::Named(x) if x.contains('/') || x.starts_with("dep:") => {
                self.feature_value(name, compat, version, data, x, out)?;
            }
            Feat::Named(x) => {
                let Some(values) = data.features.get(x) else {
                    return Ok(Some(Unusable::MissingFeature(Rc::clone(x))));
                };
                for value in values.iter() {
                    self.feature_value(name, compat, version, data, value, out)?;
                }
            }
            Feat::Dep(x) => {
                let mut found = false;
                for dep in data.deps.iter().filter(|d| d.optional && d.alias == *x) {
                    found = true;
                    self.edge(
                        dep,
                        &[],
                        dep.default_features,
                        Some((Rc::clone(name), compat)),
                        out,
                    )?;
                }
                if !found {
                    return Ok(Some(Unusable::MissingDependency(Rc::clone(x))));
                }
            }
        }
        Ok(None)
    }

    fn choose_in_bucket(
        &self,
        name: &Rc<str>,
        compat: Compat,
        range: &SemverSet,
    ) -> Result<Option<Version>, ResolveError> {
        let data = self.crate_data(name)?;
        let chosen = self
            .best(
                name,
                data.bucket(compat)
                    .iter()
                    .filter(|v| self.available(name, v) && range.contains(&v.version)),
            )
            .map(|v| v.version.clone());
        Ok(chosen)
    }

    fn count_in_bucket(&self, name: &Rc<str>, compat: Compat, range: &SemverSet) -> usize {
        self.loaded(name).map_or(0, |data| {
            data.bucket(compat)
                .iter()
                .filter(|v| self.available(name, v) && range.contains(&v.version))
                .count()
        })
    }

    /// For a multi-bucket requirement: how many buckets in `range` have a candidate, and
    /// the canonical version of the bucket holding the best candidate (cargo's order).
    fn wide_choice(
        &self,
        wide: &WideRequirement,
        range: &SemverSet,
    ) -> Result<(usize, Option<Version>), ResolveError> {
        let data = self.crate_data(&wide.name)?;
        let usable =
            |v: &&VersionData| wide.set.contains(&v.version) && self.available(&wide.name, v);
        let in_range = data
            .buckets
            .iter()
            .filter(|(compat, _)| range.contains(&compat.canonical()));
        let count = in_range
            .clone()
            .filter(|(_, idx)| data.versions[idx.clone()].iter().any(|v| usable(&v)))
            .count();
        let best = self.best(
            &wide.name,
            in_range
                .flat_map(|(_, idx)| data.versions[idx.clone()].iter())
                .filter(usable),
        );
        Ok((count, best.map(|v| v.compat.canonical())))
    }
}

fn synthetic_host_entry(name: &str, version: &Version) -> IndexEntry {
    IndexEntry {
        name: name.to_owned(),
        vers: version.clone(),
        deps: Vec::new(),
        cksum: String::new(),
        features: wharf_index_format::FeatureMap::new(),
        features2: None,
        yanked: false,
        links: None,
        rust_version: None,
        v: None,
        pubtime: None,
        extensions: std::collections::BTreeMap::new(),
    }
}

/// Merges repeated packages by intersecting their sets.
fn merge(out: Constraints) -> DependencyConstraints<Pkg, SemverSet> {
    let mut merged: Constraints = Vec::with_capacity(out.len());
    for (pkg, set) in out {
        match merged.iter_mut().find(|(seen, _)| *seen == pkg) {
            Some((_, existing)) => *existing = existing.intersection(&set),
            None => merged.push((pkg, set)),
        }
    }
    merged.into_iter().collect()
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = SemverSet;
    type M = Unusable;
    type Err = ResolveError;
    type Priority = (u8, u32, Reverse<usize>);

    fn should_cancel(&self) -> Result<(), ResolveError> {
        self.cancellation.check()
    }

    fn prioritize(
        &self,
        pkg: &Pkg,
        range: &SemverSet,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let count = match pkg {
            Pkg::Root => return (u8::MAX, 0, Reverse(0)),
            Pkg::Links(_) => return (0, stats.conflict_count(), Reverse(0)),
            Pkg::Feature(..) => return (1, stats.conflict_count(), Reverse(0)),
            Pkg::Bucket(name, compat) => self.count_in_bucket(name, *compat, range),
            Pkg::Wide(wide) => self.wide_choice(wide, range).map_or(0, |(count, _)| count),
        };
        match count {
            0 => (4, u32::MAX, Reverse(0)),
            1 => (3, stats.conflict_count(), Reverse(1)),
            n => (2, stats.conflict_count(), Reverse(n)),
        }
    }

    fn choose_version(
        &self,
        pkg: &Pkg,
        range: &SemverSet,
    ) -> Result<Option<Version>, ResolveError> {
        match pkg {
            Pkg::Root => Ok(Some(self.root_version.clone())),
            Pkg::Bucket(name, compat) => {
                let chosen = self.choose_in_bucket(name, *compat, range)?;
                if let Some(version) = &chosen {
                    self.bucket_choice
                        .borrow_mut()
                        .insert((Rc::clone(name), *compat), version.clone());
                }
                Ok(chosen)
            }
            Pkg::Feature(name, compat, _) => {
                let hint = self
                    .bucket_choice
                    .borrow()
                    .get(&(Rc::clone(name), *compat))
                    .filter(|v| range.contains(v))
                    .cloned();
                match hint {
                    Some(version) => Ok(Some(version)),
                    None => self.choose_in_bucket(name, *compat, range),
                }
            }
            Pkg::Wide(wide) => Ok(self.wide_choice(wide, range)?.1),
            Pkg::Links(_) => {
                let count = u64::try_from(self.link_ids.borrow().len()).expect("fits");
                Ok((0..count)
                    .map(|id| Version::new(id, 0, 0))
                    .find(|v| range.contains(v)))
            }
        }
    }

    fn get_dependencies(
        &self,
        pkg: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, SemverSet, Unusable>, ResolveError> {
        let mut out = Vec::new();
        match pkg {
            Pkg::Root => {
                for dep in &self.root_deps {
                    self.edge(dep, &[], dep.default_features, None, &mut out)?;
                }
            }
            Pkg::Links(_) => {}
            Pkg::Bucket(name, compat) => {
                let data = self.crate_data(name)?;
                let this = data.get(version).expect("chosen versions exist");
                let Some(details) = self.details(name, this) else {
                    return Ok(Dependencies::Unavailable(Unusable::InvalidEntry));
                };
                self.bucket_dependencies(name, *compat, details, &mut out)?;
            }
            Pkg::Feature(name, compat, feat) => {
                let data = self.crate_data(name)?;
                let this = data.get(version).expect("chosen versions exist");
                let Some(details) = self.details(name, this) else {
                    return Ok(Dependencies::Unavailable(Unusable::InvalidEntry));
                };
                if let Some(reason) =
                    self.feature_dependencies(name, *compat, feat, version, details, &mut out)?
                {
                    return Ok(Dependencies::Unavailable(reason));
                }
            }
            Pkg::Wide(wide) => {
                let compat = Compat::of(version);
                let set = wide.set.intersection(&compat.range());
                out.push((Pkg::Bucket(Rc::clone(&wide.name), compat), set.clone()));
                for feat in wide.features.iter() {
                    out.push((
                        Pkg::Feature(Rc::clone(&wide.name), compat, feat.clone()),
                        set.clone(),
                    ));
                }
            }
        }
        Ok(Dependencies::Available(merge(out)))
    }
}
