//! Hints that end an explanation: a plugin version that suits the host, near names, yanked
//! or pre-release-only matches, requirements to relax.

use pubgrub::VersionSet;
use semver::Version;
use wharf_index_format::canonical_name;

use crate::explain::Explainer;
use crate::explanation::{Fact, RootOrigin};
use crate::verify::{Fix, Hint};
use crate::version_set::SemverSet;

impl Explainer<'_, '_> {
    pub(crate) fn host_hints(&mut self, plugin: &str, blocked: &SemverSet, provided: &Version) {
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
        let text = match (newest_ok, newest_blocked) {
            (Some(ok), Some(blocked)) if ok > blocked => format!(
                "a newer version of `{plugin}` ({ok}) supports this host (host API {provided}); allow it in your requirements"
            ),
            (Some(ok), _) => format!(
                "`{plugin}` {ok} supports this host (host API {provided}); relax your requirement on `{plugin}` to allow it"
            ),
            (None, _) => {
                self.push_note(format!(
                    "no published version of `{plugin}` supports host API {provided}; it needs a different host"
                ));
                return;
            }
        };
        let ok = newest_ok.expect("matched above");
        let fix = Fix::Require {
            package: plugin.to_owned(),
            req: format!("^{ok}"),
        };
        self.push_suggestion(text, fix);
    }

    pub(crate) fn no_version_hints(&mut self, name: &str, set: &SemverSet, requirement: &str) {
        let data = self.data(name);
        let versions = data.as_ref().map_or(&[][..], |d| d.versions.as_slice());
        if versions.is_empty() {
            let similar = self.source.similar_names(name);
            if let Some(first) = similar.first() {
                let fix = Fix::Rename {
                    from: name.to_owned(),
                    to: first.clone(),
                };
                self.push_suggestion(
                    format!("no package is named `{name}`; did you mean `{first}`?"),
                    fix,
                );
            } else {
                self.push_note(format!("no package named `{name}` exists in this index"));
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
            self.push_note(format!(
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
            let fix = Fix::Require {
                package: name.to_owned(),
                req: format!("={newest}"),
            };
            self.push_suggestion(format!(
                "`{name}` has pre-releases near {requirement} (newest {newest}); pre-releases are used only when a requirement names one, for example `{name} = \"={newest}\"`"
            ), fix);
            return;
        }
        if let Some(newest) = versions.iter().rev().find(|v| !v.yanked) {
            let fix = Fix::Require {
                package: name.to_owned(),
                req: format!("^{}", newest.version),
            };
            self.push_suggestion(
                format!(
                    "no version of `{name}` matches {requirement}; the newest is {}: relax the requirement",
                    newest.version
                ),
                fix,
            );
        }
    }

    pub(crate) fn missing_feature_hints(&mut self, name: &str, feature: &str) {
        let Some(data) = self.data(name) else { return };
        if let Some(with) = data.versions.iter().rev().find(|v| {
            self.provider
                .details(name, v)
                .is_some_and(|d| d.features.contains_key(feature))
        }) {
            let fix = Fix::Require {
                package: name.to_owned(),
                req: format!("^{}", with.version),
            };
            self.push_suggestion(
                format!("`{name}` {} has feature `{feature}`", with.version),
                fix,
            );
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
            let fix = Fix::RenameFeature {
                package: name.to_owned(),
                from: feature.to_owned(),
                to: (*first).to_owned(),
            };
            self.push_suggestion(
                format!("`{name}` has no feature `{feature}`; did you mean `{first}`?"),
                fix,
            );
        } else {
            self.push_note(format!("no version of `{name}` has a feature `{feature}`"));
        }
    }

    /// "Relax requirement Y" for the manifest's requirements that take part in a conflict,
    /// and a note when several packages need different versions of one dependency.
    pub(crate) fn relax_hints(&mut self) {
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
                        .push((self.provider.origin.subject(), requirement));
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
                        if *w == self.provider.origin.subject() {
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
            self.push_note(note);
        }
        self.keep_one_hints();
        self.relax_root_hints();
    }

    /// "Keep only one of them" when packages conflict over a native library: the root's
    /// requirements whose removal resolves the rest.
    fn keep_one_hints(&mut self) {
        let linkers: Vec<(String, String, String)> = self
            .facts
            .iter()
            .filter_map(|fact| match fact {
                Fact::Links {
                    package,
                    versions,
                    library,
                } => Some((package.clone(), versions.clone(), library.clone())),
                _ => None,
            })
            .collect();
        let Some((_, _, library)) = linkers.first() else {
            return;
        };
        let named: Vec<String> = linkers
            .iter()
            .filter(|(_, _, l)| l == library)
            .map(|(package, versions, _)| format!("`{package}` {versions}"))
            .collect();
        let whose = self.whose();
        let removals: Vec<(String, Fix)> = self
            .root_requirements()
            .into_iter()
            .map(|(package, requirement)| {
                (
                    format!("{whose} requirement `{package}` {requirement}"),
                    Fix::Remove { package },
                )
            })
            .collect();
        self.hints.push(Hint::KeepOne {
            intro: format!(
                "{} link the native library `{library}`, which only one package may link",
                named.join(" and ")
            ),
            removals,
        });
    }

    /// "your" for a manifest, "the" for requirements given in code.
    fn whose(&self) -> &'static str {
        match self.provider.origin {
            RootOrigin::Requirements => "the",
            _ => "your",
        }
    }

    /// The root's requirements (without a feature) that take part in the conflict.
    fn root_requirements(&self) -> Vec<(String, String)> {
        let mut requirements: Vec<(String, String)> = self
            .facts
            .iter()
            .filter_map(|fact| match fact {
                Fact::RootRequires {
                    package,
                    requirement,
                    feature: None,
                    ..
                } => Some((package.clone(), requirement.clone())),
                _ => None,
            })
            .collect();
        requirements.dedup();
        requirements
    }

    /// "Change requirement X" for the root's requirements: to what another package of the
    /// conflict requires of the same package, or to a published version outside it.
    fn relax_root_hints(&mut self) {
        let whose = self.whose();
        for (package, requirement) in self.root_requirements() {
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
            let mut alternatives: Vec<(String, Fix)> = Vec::new();
            for fact in &self.facts {
                if let Fact::Requires {
                    package: other,
                    dependency,
                    requirement: theirs,
                    ..
                } = fact
                    && *dependency == package
                    && *theirs != requirement
                {
                    alternatives.push((
                        format!(
                            "change {whose} requirement `{package}` {requirement} to {theirs}, which `{other}` requires"
                        ),
                        Fix::Require {
                            package: package.clone(),
                            req: theirs.clone(),
                        },
                    ));
                }
            }
            let outside =
                data.versions.iter().rev().find(|v| {
                    !v.yanked && v.version.pre.is_empty() && !dep.set.contains(&v.version)
                });
            if let Some(other) = outside {
                alternatives.push((
                    format!(
                        "relax {whose} requirement `{package}` {requirement} to ^{}: version {} exists outside it",
                        other.version, other.version
                    ),
                    Fix::Require {
                        package: package.clone(),
                        req: format!("^{}", other.version),
                    },
                ));
            }
            if !alternatives.is_empty() {
                self.hints.push(Hint::Suggestion(alternatives));
            }
        }
    }
}
