//! Failure explanations: pubgrub's derivation tree turned into facts about real packages,
//! with virtual packages folded away, ranges collapsed against versions that exist, and hints.

use std::fmt;
use std::rc::Rc;

use pubgrub::{DerivationTree, External, Term, VersionSet};
use semver::Version;
use wharf_index_format::canonical_name;

use crate::IndexSource;
use crate::catalog::{Compat, CrateData};
use crate::packages::{Feat, Pkg};
use crate::provider::{Provider, Unusable};
use crate::version_set::SemverSet;

/// One fact of an explanation, about real packages only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The manifest requires a package.
    RootRequires {
        /// The required package.
        package: String,
        /// The requirement.
        requirement: String,
        /// A feature the manifest asks of it, if the fact is about that feature.
        feature: Option<String>,
    },
    /// Plugin mode: the host pins its API package.
    HostProvides {
        /// The host API package.
        host: String,
        /// The version the host implements.
        version: Version,
    },
    /// Some versions of a package depend on another package.
    Requires {
        /// The depending package.
        package: String,
        /// Its versions concerned, collapsed against the published ones.
        versions: String,
        /// The feature of the depending package that brings the dependency, if any.
        via_feature: Option<String>,
        /// The dependency.
        dependency: String,
        /// The dependency's requirement.
        requirement: String,
        /// A feature requested of the dependency, if the fact is about that feature.
        dependency_feature: Option<String>,
    },
    /// A feature of some versions enables another feature or an optional dependency.
    FeatureEnables {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The feature.
        feature: String,
        /// What it enables: a feature name, or `dep:x` for an optional dependency.
        enables: String,
    },
    /// Plugin mode: some versions of a plugin need a host API the host does not provide.
    NeedsHostApi {
        /// The plugin.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The host API requirement of those versions.
        requirement: String,
        /// What the host provides.
        provided: Version,
    },
    /// No usable version matches a requirement.
    NoVersions {
        /// The package.
        package: String,
        /// The requirement no version matches.
        requirement: String,
    },
    /// Some versions lack a requested feature.
    MissingFeature {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The missing feature.
        feature: String,
    },
    /// Some versions have an unreadable index line or an invalid requirement.
    InvalidEntry {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
    },
    /// Some versions link a native library, which only one package may do.
    Links {
        /// The package.
        package: String,
        /// Its versions concerned.
        versions: String,
        /// The `links` value.
        library: String,
    },
}

impl Fact {
    fn versions_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::Requires { versions, .. }
            | Self::FeatureEnables { versions, .. }
            | Self::NeedsHostApi { versions, .. }
            | Self::MissingFeature { versions, .. }
            | Self::InvalidEntry { versions, .. }
            | Self::Links { versions, .. } => Some(versions),
            Self::RootRequires { .. } | Self::HostProvides { .. } | Self::NoVersions { .. } => None,
        }
    }

    fn without_versions(&self) -> Self {
        let mut copy = self.clone();
        if let Some(versions) = copy.versions_mut() {
            versions.clear();
        }
        copy
    }

    /// Requirements first, then what packages need, then what is missing.
    fn reading_order(&self) -> u8 {
        match self {
            Self::HostProvides { .. } => 0,
            Self::RootRequires { .. } => 1,
            Self::Requires { .. } | Self::FeatureEnables { .. } => 2,
            Self::NeedsHostApi { .. } => 3,
            Self::Links { .. } => 4,
            Self::MissingFeature { .. } | Self::InvalidEntry { .. } => 5,
            Self::NoVersions { .. } => 6,
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RootRequires {
                package,
                requirement,
                feature: None,
            } => {
                write!(f, "your manifest requires `{package}` {requirement}")
            }
            Self::RootRequires {
                package,
                requirement,
                feature: Some(feature),
            } => {
                write!(
                    f,
                    "your manifest requires `{package}` {requirement} with feature `{feature}`"
                )
            }
            Self::HostProvides { host, version } => {
                write!(f, "this host provides host API {version} (`{host}`)")
            }
            Self::Requires {
                package,
                versions,
                via_feature,
                dependency,
                requirement,
                dependency_feature,
            } => {
                write!(f, "`{package}` {versions}")?;
                match via_feature.as_deref().map(|v| (v, v.strip_prefix("dep:"))) {
                    Some((_, Some(optional))) => {
                        write!(f, " with its optional dependency `{optional}` enabled")?;
                    }
                    Some((feature, None)) => write!(f, " with feature `{feature}`")?,
                    None => {}
                }
                write!(f, " depends on `{dependency}` {requirement}")?;
                if let Some(feature) = dependency_feature {
                    write!(f, " with feature `{feature}`")?;
                }
                Ok(())
            }
            Self::FeatureEnables {
                package,
                versions,
                feature,
                enables,
            } => match enables.strip_prefix("dep:") {
                Some(optional) => write!(
                    f,
                    "feature `{feature}` of `{package}` {versions} enables its optional dependency `{optional}`"
                ),
                None => write!(
                    f,
                    "feature `{feature}` of `{package}` {versions} enables feature `{enables}`"
                ),
            },
            Self::NeedsHostApi {
                package,
                versions,
                requirement,
                provided,
            } => write!(
                f,
                "plugin `{package}` {versions} needs host API {requirement}; this host provides {provided}"
            ),
            Self::NoVersions {
                package,
                requirement,
            } => {
                write!(f, "no usable version of `{package}` matches {requirement}")
            }
            Self::MissingFeature {
                package,
                versions,
                feature,
            } => {
                write!(f, "`{package}` {versions} has no feature `{feature}`")
            }
            Self::InvalidEntry { package, versions } => {
                write!(f, "the index entry of `{package}` {versions} is invalid")
            }
            Self::Links {
                package,
                versions,
                library,
            } => write!(
                f,
                "`{package}` {versions} links the native library `{library}`, which only one package may link"
            ),
        }
    }
}

/// The derivation tree in Wharf's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derivation {
    /// A fact people can act on.
    Fact(Fact),
    /// A link between a virtual package and its real package: true by construction, not shown.
    Internal,
    /// A conclusion drawn from two causes.
    Derived {
        /// The incompatible terms, phrased with real package names.
        conclusion: Vec<String>,
        /// Set when the same conclusion is used more than once.
        shared_id: Option<usize>,
        /// The two causes.
        causes: Box<(Derivation, Derivation)>,
    },
}

/// Why no solution exists: the structured derivation, the facts it rests on, and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSolution {
    /// The whole derivation.
    pub derivation: Derivation,
    /// The distinct facts of the derivation, in the order a reader needs them.
    pub facts: Vec<Fact>,
    /// Suggestions, most specific first.
    pub hints: Vec<String>,
}

impl NoSolution {
    /// The explanation as text for people.
    pub fn render(&self) -> String {
        let mut out =
            String::from("no combination of versions satisfies every requirement, because:\n");
        for fact in &self.facts {
            out.push_str("  - ");
            out.push_str(&fact.to_string());
            out.push('\n');
        }
        if !self.hints.is_empty() {
            out.push_str("hints:\n");
            for hint in &self.hints {
                out.push_str("  - ");
                out.push_str(hint);
                out.push('\n');
            }
        }
        out
    }

    /// Every package the facts name, sorted.
    pub fn involved_packages(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .facts
            .iter()
            .flat_map(|fact| match fact {
                Fact::RootRequires { package, .. }
                | Fact::NoVersions { package, .. }
                | Fact::MissingFeature { package, .. }
                | Fact::Links { package, .. }
                | Fact::InvalidEntry { package, .. }
                | Fact::FeatureEnables { package, .. }
                | Fact::NeedsHostApi { package, .. } => vec![package.clone()],
                Fact::HostProvides { host, .. } => vec![host.clone()],
                Fact::Requires {
                    package,
                    dependency,
                    ..
                } => vec![package.clone(), dependency.clone()],
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

type Tree = DerivationTree<Pkg, SemverSet, Unusable>;

/// The versions a fact is about, kept to merge facts that differ only in them.
type Scope = (Rc<str>, Option<Compat>, SemverSet);

struct Explainer<'p, 'a> {
    provider: &'p Provider<'a>,
    source: &'p dyn IndexSource,
    facts: Vec<Fact>,
    scopes: Vec<Option<Scope>>,
    pending_scope: Option<Scope>,
    hints: Vec<String>,
}

/// Builds the explanation of a failed resolution.
pub(crate) fn explain(
    tree: &Tree,
    provider: &Provider<'_>,
    source: &dyn IndexSource,
) -> NoSolution {
    let mut explainer = Explainer {
        provider,
        source,
        facts: Vec::new(),
        scopes: Vec::new(),
        pending_scope: None,
        hints: Vec::new(),
    };
    let derivation = explainer.convert(tree);
    explainer.merge_facts();
    explainer.relax_hints();
    let Explainer {
        mut facts, hints, ..
    } = explainer;
    facts.sort_by_key(Fact::reading_order);
    NoSolution {
        derivation,
        facts,
        hints,
    }
}

fn feat_name(feat: &Feat) -> String {
    match feat {
        Feat::Named(x) => x.to_string(),
        Feat::Dep(x) => format!("dep:{x}"),
        Feat::Default => "default".to_owned(),
    }
}

impl Explainer<'_, '_> {
    fn host(&self) -> Option<&(Rc<str>, Version)> {
        self.provider.host.as_ref()
    }

    fn is_host(&self, name: &str) -> bool {
        self.host().is_some_and(|(host, _)| &**host == name)
    }

    fn data(&self, name: &str) -> Option<Rc<CrateData>> {
        self.provider.loaded(name)
    }

    /// A requirement's text when the set came from one, else the set itself.
    fn requirement_text(&self, set: &SemverSet) -> String {
        self.provider
            .requirements()
            .text_of(set)
            .unwrap_or_else(|| set.to_string())
    }

    /// Whether a "no versions" fact is only a gap between published versions, which the
    /// solver needs but people do not.
    fn is_gap(&self, name: &str, set: &SemverSet) -> bool {
        if self.is_host(name) {
            return true;
        }
        self.provider.requirements().text_of(set).is_none()
    }

    /// Names the published versions of `name` in `set` (within `compat`, if given).
    fn versions_text(&self, name: &str, compat: Option<Compat>, set: &SemverSet) -> String {
        let Some(data) = self.data(name) else {
            return set.to_string();
        };
        let slice = match compat {
            Some(c) => data.bucket(c),
            None => data.versions.as_slice(),
        };
        let pool: Vec<&Version> = slice
            .iter()
            .filter(|v| self.provider.available(name, v))
            .map(|v| &v.version)
            .collect();
        let inside: Vec<&Version> = pool.iter().copied().filter(|v| set.contains(v)).collect();
        match inside.as_slice() {
            [] => set.to_string(),
            [one] => one.to_string(),
            _ if inside.len() == pool.len() => compat.map_or_else(
                || format!("(all {} versions)", pool.len()),
                |c| c.to_string(),
            ),
            [a, b] => format!("{a} and {b}"),
            [first, .., last] => {
                let contiguous = pool
                    .iter()
                    .position(|v| v == first)
                    .is_some_and(|start| pool[start..start + inside.len()] == inside[..]);
                if contiguous {
                    format!("{first} to {last}")
                } else {
                    format!("{first} to {last} ({} of those versions)", inside.len())
                }
            }
        }
    }

    /// [`Self::versions_text`], remembering the scope for the fact about to be pushed.
    fn scoped_versions(
        &mut self,
        name: &Rc<str>,
        compat: Option<Compat>,
        set: &SemverSet,
    ) -> String {
        self.pending_scope = Some((Rc::clone(name), compat, set.clone()));
        self.versions_text(name, compat, set)
    }

    fn push_fact(&mut self, fact: Fact) -> Derivation {
        let scope = self.pending_scope.take();
        if !self.facts.contains(&fact) {
            self.facts.push(fact.clone());
            self.scopes.push(scope);
        }
        Derivation::Fact(fact)
    }

    /// Merges facts that differ only in the versions they are about ("`serde` 1.0.1 has no
    /// feature x", "`serde` 1.0.2 has no feature x" …) and names the union once.
    fn merge_facts(&mut self) {
        let facts = std::mem::take(&mut self.facts);
        let scopes = std::mem::take(&mut self.scopes);
        let mut merged: Vec<(Fact, Option<Scope>)> = Vec::new();
        for (fact, scope) in facts.into_iter().zip(scopes) {
            let key = fact.without_versions();
            let found = merged.iter_mut().find(|(other, other_scope)| {
                other.without_versions() == key
                    && matches!((&scope, other_scope), (Some(a), Some(b)) if a.0 == b.0)
            });
            match (found, scope) {
                (Some((_, Some(existing))), Some((_, compat, set))) => {
                    if existing.1 != compat {
                        existing.1 = None;
                    }
                    existing.2 = existing.2.union(&set);
                }
                (_, scope) => merged.push((fact, scope)),
            }
        }
        for (mut fact, scope) in merged {
            if let (Some((name, compat, set)), Some(versions)) = (&scope, fact.versions_mut()) {
                *versions = self.versions_text(name, *compat, set);
            }
            self.facts.push(fact);
            self.scopes.push(scope);
        }
    }

    fn push_hint(&mut self, hint: String) {
        if !self.hints.contains(&hint) {
            self.hints.push(hint);
        }
    }

    fn convert(&mut self, tree: &Tree) -> Derivation {
        match tree {
            DerivationTree::External(external) => self.external(external),
            DerivationTree::Derived(derived) => {
                let first = self.convert(&derived.cause1);
                let second = self.convert(&derived.cause2);
                let mut conclusion: Vec<String> = derived
                    .terms
                    .iter()
                    .filter_map(|(pkg, term)| self.term_text(pkg, term))
                    .collect();
                conclusion.sort();
                Derivation::Derived {
                    conclusion,
                    shared_id: derived.shared_id,
                    causes: Box::new((first, second)),
                }
            }
        }
    }

    fn term_text(&self, pkg: &Pkg, term: &Term<SemverSet>) -> Option<String> {
        let (name, compat) = match pkg {
            Pkg::Bucket(name, compat) | Pkg::Feature(name, compat, _) => (name, Some(*compat)),
            Pkg::Wide(wide) => (&wide.name, None),
            Pkg::Root | Pkg::Links(_) => return None,
        };
        Some(match term {
            Term::Positive(set) => format!("`{name}` {}", self.versions_text(name, compat, set)),
            Term::Negative(set) => {
                format!("not `{name}` {}", self.versions_text(name, compat, set))
            }
        })
    }

    fn external(&mut self, external: &External<Pkg, SemverSet, Unusable>) -> Derivation {
        match external {
            External::NotRoot(..) => Derivation::Internal,
            External::NoVersions(pkg, set) => match pkg {
                Pkg::Bucket(name, _) | Pkg::Feature(name, _, _) if self.is_gap(name, set) => {
                    Derivation::Internal
                }
                Pkg::Bucket(name, _) | Pkg::Feature(name, _, _) => {
                    let requirement = self.requirement_text(set);
                    self.no_version_hints(name, set, &requirement);
                    self.push_fact(Fact::NoVersions {
                        package: name.to_string(),
                        requirement,
                    })
                }
                Pkg::Wide(wide) => {
                    let requirement = self.requirement_text(&wide.set);
                    self.no_version_hints(&wide.name, &wide.set, &requirement);
                    self.push_fact(Fact::NoVersions {
                        package: wide.name.to_string(),
                        requirement,
                    })
                }
                Pkg::Root | Pkg::Links(_) => Derivation::Internal,
            },
            External::FromDependencyOf(from, from_set, to, to_set) => {
                self.dependency(from, from_set, to, to_set)
            }
            External::Custom(pkg, set, reason) => match (pkg, reason) {
                (
                    Pkg::Bucket(name, compat) | Pkg::Feature(name, compat, _),
                    Unusable::InvalidEntry,
                ) => {
                    let versions = self.scoped_versions(name, Some(*compat), set);
                    self.push_fact(Fact::InvalidEntry {
                        package: name.to_string(),
                        versions,
                    })
                }
                (
                    Pkg::Feature(name, compat, _),
                    Unusable::MissingFeature(feature) | Unusable::MissingDependency(feature),
                ) => {
                    let versions = self.scoped_versions(name, Some(*compat), set);
                    self.missing_feature_hints(name, feature);
                    self.push_fact(Fact::MissingFeature {
                        package: name.to_string(),
                        versions,
                        feature: feature.to_string(),
                    })
                }
                _ => Derivation::Internal,
            },
        }
    }

    fn dependency(
        &mut self,
        from: &Pkg,
        from_set: &SemverSet,
        to: &Pkg,
        to_set: &SemverSet,
    ) -> Derivation {
        let (target, feature, requirement) = match to {
            Pkg::Bucket(name, _) => (Rc::clone(name), None, self.requirement_text(to_set)),
            Pkg::Feature(name, _, feat) => (
                Rc::clone(name),
                match feat {
                    Feat::Default => None,
                    other => Some(feat_name(other)),
                },
                self.requirement_text(to_set),
            ),
            Pkg::Wide(wide) => (
                Rc::clone(&wide.name),
                None,
                self.requirement_text(&wide.set),
            ),
            Pkg::Links(library) => {
                return match from {
                    Pkg::Bucket(name, compat) => {
                        let versions = self.scoped_versions(name, Some(*compat), from_set);
                        self.push_fact(Fact::Links {
                            package: name.to_string(),
                            versions,
                            library: library.to_string(),
                        })
                    }
                    _ => Derivation::Internal,
                };
            }
            Pkg::Root => return Derivation::Internal,
        };
        match from {
            Pkg::Root => {
                if let Some((host, version)) = self.host().cloned()
                    && *host == *target
                {
                    return self.push_fact(Fact::HostProvides {
                        host: host.to_string(),
                        version,
                    });
                }
                self.push_fact(Fact::RootRequires {
                    package: target.to_string(),
                    requirement,
                    feature,
                })
            }
            Pkg::Bucket(name, compat) => {
                let versions = self.scoped_versions(name, Some(*compat), from_set);
                if let Some((_, provided)) = self.host().cloned()
                    && self.is_host(&target)
                {
                    self.host_hints(name, from_set, &provided);
                    return self.push_fact(Fact::NeedsHostApi {
                        package: name.to_string(),
                        versions,
                        requirement,
                        provided,
                    });
                }
                self.push_fact(Fact::Requires {
                    package: name.to_string(),
                    versions,
                    via_feature: None,
                    dependency: target.to_string(),
                    requirement,
                    dependency_feature: feature,
                })
            }
            Pkg::Feature(name, compat, feat) => {
                if *name == target {
                    return match (feat, to) {
                        (Feat::Named(feature), Pkg::Feature(_, _, enabled)) => {
                            let versions = self.scoped_versions(name, Some(*compat), from_set);
                            self.push_fact(Fact::FeatureEnables {
                                package: name.to_string(),
                                versions,
                                feature: feature.to_string(),
                                enables: feat_name(enabled),
                            })
                        }
                        _ => Derivation::Internal,
                    };
                }
                let versions = self.scoped_versions(name, Some(*compat), from_set);
                let via_feature = match feat {
                    Feat::Default => Some("default".to_owned()),
                    Feat::Named(x) => Some(x.to_string()),
                    Feat::Dep(x) => Some(format!("dep:{x}")),
                };
                self.push_fact(Fact::Requires {
                    package: name.to_string(),
                    versions,
                    via_feature,
                    dependency: target.to_string(),
                    requirement,
                    dependency_feature: feature,
                })
            }
            Pkg::Wide(_) | Pkg::Links(_) => Derivation::Internal,
        }
    }

    fn host_hints(&mut self, plugin: &str, blocked: &SemverSet, provided: &Version) {
        let Some((host, _)) = self.host().cloned() else {
            return;
        };
        let Some(data) = self.data(plugin) else {
            return;
        };
        let supports = |v: &crate::catalog::VersionData| {
            self.provider.details(plugin, v).is_some_and(|details| {
                details
                    .deps
                    .iter()
                    .filter(|d| d.package == host)
                    .all(|d| d.set.contains(provided))
            })
        };
        let newest_blocked = data
            .versions
            .iter()
            .rev()
            .find(|v| blocked.contains(&v.version))
            .map(|v| &v.version);
        let newest_ok = data
            .versions
            .iter()
            .rev()
            .find(|v| self.provider.available(plugin, v) && supports(v))
            .map(|v| &v.version);
        let hint = match (newest_ok, newest_blocked) {
            (Some(ok), Some(blocked)) if ok > blocked => format!(
                "a newer version of `{plugin}` ({ok}) supports this host (host API {provided}); allow it in your requirements"
            ),
            (Some(ok), _) => format!(
                "`{plugin}` {ok} supports this host (host API {provided}); relax your requirement on `{plugin}` to allow it"
            ),
            (None, _) => format!(
                "no published version of `{plugin}` supports host API {provided}; it needs a different host"
            ),
        };
        self.push_hint(hint);
    }

    fn no_version_hints(&mut self, name: &str, set: &SemverSet, requirement: &str) {
        let data = self.data(name);
        let versions = data.as_ref().map_or(&[][..], |d| d.versions.as_slice());
        if versions.is_empty() {
            let similar = self.source.similar_names(name);
            if let Some(first) = similar.first() {
                self.push_hint(format!(
                    "no package is named `{name}`; did you mean `{first}`?"
                ));
            } else {
                self.push_hint(format!("no package named `{name}` exists in this index"));
            }
            return;
        }
        let yanked: Vec<String> = versions
            .iter()
            .filter(|v| v.yanked && set.contains(&v.version))
            .map(|v| v.version.to_string())
            .collect();
        if !yanked.is_empty()
            && !versions
                .iter()
                .any(|v| !v.yanked && set.contains(&v.version))
        {
            self.push_hint(format!(
                "only yanked versions of `{name}` match {requirement} ({}); yanked versions are used only when a lockfile already pins them",
                yanked.join(", ")
            ));
            return;
        }
        let pre: Vec<&Version> = versions
            .iter()
            .filter(|v| !v.version.pre.is_empty() && !set.contains(&v.version))
            .map(|v| &v.version)
            .filter(|v| {
                let release = Version::new(v.major, v.minor, v.patch);
                set.contains(&release) || set.contains(&Version::new(v.major, v.minor, v.patch + 1))
            })
            .collect();
        if let Some(newest) = pre.last()
            && !versions
                .iter()
                .any(|v| v.version.pre.is_empty() && set.contains(&v.version))
        {
            self.push_hint(format!(
                "`{name}` has pre-releases near {requirement} (newest {newest}); pre-releases are used only when a requirement names one, for example `{name} = \"={newest}\"`"
            ));
            return;
        }
        if let Some(newest) = versions.iter().rev().find(|v| !v.yanked) {
            self.push_hint(format!(
                "no version of `{name}` matches {requirement}; the newest is {}: relax the requirement",
                newest.version
            ));
        }
    }

    fn missing_feature_hints(&mut self, name: &str, feature: &str) {
        let Some(data) = self.data(name) else { return };
        if let Some(with) = data.versions.iter().rev().find(|v| {
            self.provider
                .details(name, v)
                .is_some_and(|d| d.features.contains_key(feature))
        }) {
            self.push_hint(format!("`{name}` {} has feature `{feature}`", with.version));
            return;
        }
        let wanted = canonical_name(feature);
        let mut similar: Vec<&str> = data
            .versions
            .iter()
            .filter_map(|v| self.provider.details(name, v))
            .flat_map(|d| d.features.keys())
            .map(|k| &**k)
            .filter(|k| canonical_name(k) == wanted)
            .collect();
        similar.sort_unstable();
        similar.dedup();
        if let Some(first) = similar.first() {
            self.push_hint(format!(
                "`{name}` has no feature `{feature}`; did you mean `{first}`?"
            ));
        } else {
            self.push_hint(format!("no version of `{name}` has a feature `{feature}`"));
        }
    }

    /// "Relax requirement Y" for the manifest's requirements that take part in a conflict,
    /// and a note when several packages need different versions of one dependency.
    fn relax_hints(&mut self) {
        if self.facts.len() < 2 {
            return;
        }
        let mut needs: std::collections::BTreeMap<&str, Vec<(&str, &str)>> =
            std::collections::BTreeMap::new();
        for fact in &self.facts {
            match fact {
                Fact::Requires {
                    package,
                    dependency,
                    requirement,
                    ..
                } => {
                    needs
                        .entry(dependency)
                        .or_default()
                        .push((package, requirement));
                }
                Fact::RootRequires {
                    package,
                    requirement,
                    ..
                } => {
                    needs
                        .entry(package)
                        .or_default()
                        .push(("your manifest", requirement));
                }
                _ => {}
            }
        }
        let mut notes = Vec::new();
        for (dependency, mut wanted) in needs {
            wanted.sort_unstable();
            wanted.dedup();
            let mut requirements: Vec<&str> = wanted.iter().map(|(_, r)| *r).collect();
            requirements.sort_unstable();
            requirements.dedup();
            let mut who: Vec<&str> = wanted.iter().map(|(p, _)| *p).collect();
            who.dedup();
            if who.len() >= 2 && requirements.len() >= 2 {
                let who: Vec<String> = who
                    .iter()
                    .map(|w| {
                        if *w == "your manifest" {
                            (*w).to_owned()
                        } else {
                            format!("`{w}`")
                        }
                    })
                    .collect();
                notes.push(format!(
                    "{} need different versions of `{dependency}` ({}), and only one version per semver-compatible range can be selected: update or relax one side",
                    who.join(" and "),
                    requirements.join(" vs "),
                ));
            }
        }
        for note in notes {
            self.push_hint(note);
        }
        let requirements: Vec<(String, String)> = self
            .facts
            .iter()
            .filter_map(|fact| match fact {
                Fact::RootRequires {
                    package,
                    requirement,
                    feature: None,
                } => Some((package.clone(), requirement.clone())),
                _ => None,
            })
            .collect();
        for (package, requirement) in requirements {
            let Some(data) = self.data(&package) else {
                continue;
            };
            let Some(dep) = self
                .provider
                .root_deps
                .iter()
                .find(|d| *d.package == *package)
            else {
                continue;
            };
            let outside =
                data.versions.iter().rev().find(|v| {
                    !v.yanked && v.version.pre.is_empty() && !dep.set.contains(&v.version)
                });
            if let Some(other) = outside {
                self.push_hint(format!(
                    "relax your requirement `{package}` {requirement}: version {} exists outside it",
                    other.version
                ));
            }
        }
    }
}
