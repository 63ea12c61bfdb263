//! A registry's worth of packages for the index benchmark.
//!
//! Packages get names spread over many index directories, several versions each, and
//! dependency lists of realistic size (a few normal dependencies, one optional behind a
//! feature, sometimes a dev-, build- or platform-specific one), so index lines are about as
//! long as on a public registry. A handful of "base" packages are what everyone depends on;
//! they are published first so every dependency exists before its dependents.

use std::collections::BTreeSet;

use crate::{SyntheticCrate, SyntheticDependency};

/// Syllables for package names; two of them start a name, which spreads names over the
/// index's two-level directories.
const SYLLABLES: [&str; 32] = [
    "ka", "mo", "ri", "te", "su", "no", "ha", "li", "ve", "zo", "pa", "du", "fi", "go", "be", "xa",
    "qu", "we", "yo", "ce", "ni", "ro", "sa", "ta", "mi", "ku", "lo", "fe", "ji", "ba", "po", "de",
];

/// How many packages everyone else depends on.
const BASE_PACKAGES: usize = 16;

/// What to seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    /// How many packages.
    pub packages: usize,
    /// How many versions of each.
    pub versions: usize,
    /// Part of every name, so several seeds can share a registry.
    pub prefix: String,
}

impl SeedPlan {
    /// The name of package number `index`.
    pub fn package_name(&self, index: usize) -> String {
        let n = SYLLABLES.len();
        let first = SYLLABLES[index % n];
        let second = SYLLABLES[(index / n + index * 7) % n];
        format!("{first}{second}-{}{index}", self.prefix)
    }

    fn base_count(&self) -> usize {
        self.packages.min(BASE_PACKAGES)
    }

    fn version(version_index: usize) -> String {
        format!("1.{version_index}.0")
    }

    /// Package `index` at version number `version_index`, with its dependencies and features.
    fn package(&self, index: usize, version_index: usize) -> SyntheticCrate {
        let mut krate = SyntheticCrate::new(self.package_name(index), Self::version(version_index));
        krate.features.insert("default".into(), vec!["std".into()]);
        krate.features.insert("std".into(), Vec::new());
        let base = self.base_count();
        if index < base {
            return krate;
        }
        let base_name = |i: usize| self.package_name(i % base);
        let mut used = BTreeSet::new();
        let normal: Vec<usize> = (0..2 + index % 4)
            .map(|j| (index + j * 3) % base)
            .filter(|b| used.insert(*b))
            .collect();
        for (position, &b) in normal.iter().enumerate() {
            let optional = position + 1 == normal.len() && normal.len() > 1;
            let mut dep = SyntheticDependency::normal(base_name(b), "^1.0");
            dep.optional = optional;
            if position == 0 {
                dep.default_features = false;
                dep.features = vec!["std".into()];
            }
            if optional {
                krate
                    .features
                    .insert("extra".into(), vec![format!("dep:{}", dep.name)]);
            }
            krate.deps.push(dep);
        }
        let mut extra = |kind: &'static str, target: Option<&str>, pick: usize| {
            if used.insert(pick % base) {
                krate.deps.push(SyntheticDependency {
                    kind,
                    target: target.map(str::to_owned),
                    ..SyntheticDependency::normal(base_name(pick), "^1.0")
                });
            }
        };
        extra("dev", None, index * 5 + 1);
        if index.is_multiple_of(5) {
            extra("build", None, index * 11 + 2);
        }
        if index.is_multiple_of(7) {
            extra("normal", Some("cfg(windows)"), index * 13 + 5);
        }
        krate
    }
}

/// The packages of `plan` in publish order: waves whose members may be published
/// concurrently, each wave only depending on earlier ones. Wave 1 is the base packages'
/// first version, wave 2 every other package's first version, then one wave per further
/// version.
pub fn seed_waves(plan: &SeedPlan) -> Vec<Vec<SyntheticCrate>> {
    let base = plan.base_count();
    let mut waves = vec![
        (0..base).map(|i| plan.package(i, 0)).collect::<Vec<_>>(),
        (base..plan.packages).map(|i| plan.package(i, 0)).collect(),
    ];
    for version in 1..plan.versions {
        waves.push(
            (0..plan.packages)
                .map(|i| plan.package(i, version))
                .collect(),
        );
    }
    waves.retain(|wave| !wave.is_empty());
    if plan.versions == 0 {
        waves.clear();
    }
    waves
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn plan(packages: usize, versions: usize) -> SeedPlan {
        SeedPlan {
            packages,
            versions,
            prefix: "t".to_owned(),
        }
    }

    #[test]
    fn every_package_version_appears_once() {
        let waves = seed_waves(&plan(100, 3));
        let all: BTreeSet<(String, String)> = waves
            .iter()
            .flatten()
            .map(|k| (k.name.clone(), k.version.clone()))
            .collect();
        assert_eq!(all.len(), 300);
        assert_eq!(waves.iter().map(Vec::len).sum::<usize>(), 300);
    }

    #[test]
    fn dependencies_exist_before_their_dependents() {
        let waves = seed_waves(&plan(200, 2));
        let mut published: BTreeMap<String, usize> = BTreeMap::new();
        for wave in &waves {
            for krate in wave {
                for dep in &krate.deps {
                    assert!(
                        published.contains_key(&dep.name),
                        "`{}` {} needs `{}` first",
                        krate.name,
                        krate.version,
                        dep.name
                    );
                }
            }
            for krate in wave {
                *published.entry(krate.name.clone()).or_default() += 1;
            }
        }
    }

    #[test]
    fn features_name_only_optional_dependencies() {
        for krate in seed_waves(&plan(64, 1)).iter().flatten() {
            let Some(extra) = krate.features.get("extra") else {
                continue;
            };
            let dep = extra[0].strip_prefix("dep:").expect("dep: syntax");
            assert!(
                krate
                    .deps
                    .iter()
                    .any(|d| d.name == dep && d.optional && d.kind != "dev"),
                "`{}` enables `{dep}` which is not optional",
                krate.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_spread_over_directories() {
        let plan = plan(2000, 1);
        let names: BTreeSet<String> = (0..2000).map(|i| plan.package_name(i)).collect();
        assert_eq!(names.len(), 2000);
        let directories: BTreeSet<&str> = names.iter().map(|n| &n[..4]).collect();
        assert!(
            directories.len() > 200,
            "only {} directories",
            directories.len()
        );
    }

    #[test]
    fn dependents_have_several_dependencies() {
        let waves = seed_waves(&plan(50, 1));
        let dependents = &waves[1];
        assert!(dependents.iter().all(|k| k.deps.len() >= 2));
        assert!(dependents.iter().any(|k| k.deps.len() >= 5));
    }
}
