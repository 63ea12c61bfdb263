//! Failure explanations: pubgrub's derivation tree turned into facts about real packages,
//! with virtual packages folded away and ranges collapsed against versions that exist.

use std::rc::Rc;

use pubgrub::{DerivationTree, External, Term, VersionSet};
use semver::Version;

use crate::IndexSource;
use crate::catalog::{Compat, CrateData};
use crate::explanation::{Derivation, Fact, NoSolution};
use crate::packages::{Feat, Pkg};
use crate::provider::{Provider, Unusable};
use crate::verify::{Fix, Hint};
use crate::version_set::SemverSet;

type Tree = DerivationTree<Pkg, SemverSet, Unusable>;

/// The versions a fact is about, kept to merge facts that differ only in them.
type Scope = (Rc<str>, Option<Compat>, SemverSet);

pub(crate) struct Explainer<'p, 'a> {
    pub(crate) provider: &'p Provider<'a>,
    pub(crate) source: &'p dyn IndexSource,
    pub(crate) facts: Vec<Fact>,
    pub(crate) scopes: Vec<Option<Scope>>,
    pub(crate) pending_scope: Option<Scope>,
    pub(crate) hints: Vec<Hint>,
}

/// Builds the explanation of a failed resolution, and the hints still to verify.
pub(crate) fn explain(
    tree: &Tree,
    provider: &Provider<'_>,
    source: &dyn IndexSource,
) -> (NoSolution, Vec<Hint>) {
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
    let explanation = NoSolution {
        derivation,
        facts,
        hints: Vec::new(),
    };
    (explanation, hints)
}

fn feat_name(feat: &Feat) -> String {
    match feat {
        Feat::Named(x) => x.to_string(),
        Feat::Dep(x) => format!("dep:{x}"),
        Feat::Default => "default".to_owned(),
    }
}

impl Explainer<'_, '_> {
    pub(crate) fn host(&self) -> Option<&(Rc<str>, Version)> {
        self.provider.host.as_ref()
    }

    pub(crate) fn is_host(&self, name: &str) -> bool {
        self.host().is_some_and(|(host, _)| &**host == name)
    }

    pub(crate) fn data(&self, name: &str) -> Option<Rc<CrateData>> {
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
    pub(crate) fn versions_text(
        &self,
        name: &str,
        compat: Option<Compat>,
        set: &SemverSet,
    ) -> String {
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

    /// A statement of fact, shown as is.
    pub(crate) fn push_note(&mut self, note: String) {
        self.hints.push(Hint::Note(note));
    }

    /// A change to the root's requirements, shown only when it resolves.
    pub(crate) fn push_suggestion(&mut self, text: String, fix: Fix) {
        self.hints.push(Hint::Suggestion(vec![(text, fix)]));
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

    /// The root requires `package`, worded for where the root came from.
    fn root_fact(
        &mut self,
        package: String,
        requirement: String,
        feature: Option<String>,
    ) -> Derivation {
        let origin = self.provider.origin;
        self.push_fact(Fact::RootRequires {
            package,
            requirement,
            feature,
            origin,
        })
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
                self.root_fact(target.to_string(), requirement, feature)
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
}
