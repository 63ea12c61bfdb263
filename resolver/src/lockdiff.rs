//! Lockfile tools: a lock from a resolution, the difference between two locks, and whether a
//! lock still satisfies a manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use semver::{Version, VersionReq};

use crate::{LockedPackage, Lockfile, Resolution, RootManifest};

impl From<&Resolution> for Lockfile {
    /// The lock of a resolution: every selected package with its checksum and dependencies
    /// (`name`, or `name version` when several versions of it are selected), as
    /// [`Resolution::to_wharf_lock`] writes them.
    fn from(resolution: &Resolution) -> Self {
        let counts = resolution.version_counts();
        let packages = resolution
            .packages
            .iter()
            .map(|p| {
                let mut dependencies: Vec<String> = p
                    .dependencies
                    .iter()
                    .map(|(name, version)| crate::lockfile::dependency_key(name, version, &counts))
                    .collect();
                dependencies.sort();
                dependencies.dedup();
                LockedPackage {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    source: None,
                    checksum: p.checksum.clone(),
                    dependencies,
                }
            })
            .collect();
        Self { packages }
    }
}

/// What happened to one package between two locks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "change", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum LockChangeKind {
    /// A version is locked now that was not before.
    Added {
        /// The new version.
        version: Version,
    },
    /// A version is no longer locked.
    Removed {
        /// The old version.
        version: Version,
    },
    /// The one locked version moved.
    Changed {
        /// The old version.
        from: Version,
        /// The new version.
        to: Version,
    },
}

/// One entry of a [`LockDiff`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LockChange {
    /// The package.
    pub name: String,
    /// What happened.
    pub kind: LockChangeKind,
    /// Why, as far as the locks tell: which packages need it now or needed it before,
    /// whether it moved up or down.
    pub reason: String,
}

impl fmt::Display for LockChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            LockChangeKind::Added { version } => write!(f, "added `{name}` {version}"),
            LockChangeKind::Removed { version } => write!(f, "removed `{name}` {version}"),
            LockChangeKind::Changed { from, to } => write!(f, "`{name}` {from} -> {to}"),
        }?;
        write!(f, " ({})", self.reason)
    }
}

/// The difference between two locks, sorted by package name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LockDiff {
    /// Every change, sorted by name then version.
    pub changes: Vec<LockChange>,
}

impl LockDiff {
    /// Whether the two locks select the same versions.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for LockDiff {
    /// One line per change.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        Ok(())
    }
}

/// One way a lock fails to satisfy a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Unsatisfied {
    /// The package concerned.
    pub package: String,
    /// What is wrong and what to do, one line.
    pub reason: String,
}

impl fmt::Display for Unsatisfied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.package, self.reason)
    }
}

/// The names of the packages of `lock` whose dependency lists name `name`.
fn dependents(lock: &Lockfile, name: &str) -> Vec<String> {
    let mut who: Vec<String> = lock
        .packages
        .iter()
        .filter(|p| {
            p.dependencies
                .iter()
                .any(|d| d.split_whitespace().next() == Some(name))
        })
        .map(|p| format!("`{}`", p.name))
        .collect();
    who.sort();
    who.dedup();
    who
}

fn versions_by_name(lock: &Lockfile) -> BTreeMap<&str, BTreeSet<&Version>> {
    let mut by_name: BTreeMap<&str, BTreeSet<&Version>> = BTreeMap::new();
    for p in &lock.packages {
        by_name
            .entry(p.name.as_str())
            .or_default()
            .insert(&p.version);
    }
    by_name
}

impl Lockfile {
    /// What changed from `self` (the old lock) to `newer`.
    ///
    /// ```
    /// use wharf_resolver::{LockChangeKind, Lockfile};
    /// let old = Lockfile::parse("[[package]]\nname = \"log\"\nversion = \"0.4.20\"\n").unwrap();
    /// let new = Lockfile::parse("[[package]]\nname = \"log\"\nversion = \"0.4.22\"\n").unwrap();
    /// let diff = old.diff(&new);
    /// assert!(matches!(diff.changes[0].kind, LockChangeKind::Changed { .. }));
    /// assert_eq!(diff.to_string(), "`log` 0.4.20 -> 0.4.22 (upgraded)\n");
    /// ```
    pub fn diff(&self, newer: &Lockfile) -> LockDiff {
        let old = versions_by_name(self);
        let new = versions_by_name(newer);
        let names: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
        let empty = BTreeSet::new();
        let mut changes = Vec::new();
        for name in names {
            let before = old.get(name).unwrap_or(&empty);
            let after = new.get(name).unwrap_or(&empty);
            let gone: Vec<&Version> = before.difference(after).copied().collect();
            let came: Vec<&Version> = after.difference(before).copied().collect();
            if let ([from], [to]) = (gone.as_slice(), came.as_slice()) {
                let reason = if to > from { "upgraded" } else { "downgraded" };
                changes.push(LockChange {
                    name: name.to_owned(),
                    kind: LockChangeKind::Changed {
                        from: (*from).clone(),
                        to: (*to).clone(),
                    },
                    reason: reason.to_owned(),
                });
                continue;
            }
            for version in gone {
                let who = dependents(self, name);
                let reason = if who.is_empty() {
                    "no longer locked".to_owned()
                } else {
                    format!("was needed by {}", who.join(", "))
                };
                changes.push(LockChange {
                    name: name.to_owned(),
                    kind: LockChangeKind::Removed {
                        version: version.clone(),
                    },
                    reason,
                });
            }
            for version in came {
                let who = dependents(newer, name);
                let reason = if who.is_empty() {
                    "newly required".to_owned()
                } else {
                    format!("needed by {}", who.join(", "))
                };
                changes.push(LockChange {
                    name: name.to_owned(),
                    kind: LockChangeKind::Added {
                        version: version.clone(),
                    },
                    reason,
                });
            }
        }
        LockDiff { changes }
    }

    /// Whether this lock still satisfies `root`, without an index: every dependency of the
    /// manifest (every kind and target, optional ones included, as cargo locks them) has a
    /// locked version matching its requirement, and every dependency a locked package lists
    /// is itself locked. Returns one [`Unsatisfied`] per problem, empty when the lock fits.
    ///
    /// ```
    /// use std::path::Path;
    /// use wharf_resolver::{Lockfile, RootManifest};
    /// let root = RootManifest::from_toml_str(
    ///     "[package]\nname = \"app\"\n[dependencies]\nlog = \"0.4.21\"\n",
    ///     Path::new("."),
    /// )
    /// .unwrap();
    /// let lock = Lockfile::parse("[[package]]\nname = \"log\"\nversion = \"0.4.20\"\n").unwrap();
    /// let problems = lock.check(&root);
    /// assert_eq!(
    ///     problems[0].to_string(),
    ///     "`log`: the manifest requires 0.4.21 but the lock has 0.4.20; update the lock (`wharf resolve --lock`)"
    /// );
    /// ```
    pub fn check(&self, root: &RootManifest) -> Vec<Unsatisfied> {
        let by_name = versions_by_name(self);
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for dependency in &root.dependencies {
            let package = dependency.package_name();
            if !seen.insert((package, dependency.req.as_str())) {
                continue;
            }
            let requirement = match VersionReq::parse(&dependency.req) {
                Ok(requirement) => requirement,
                Err(e) => {
                    problems.push(Unsatisfied {
                        package: package.to_owned(),
                        reason: format!(
                            "the manifest's requirement `{}` does not parse ({e}); fix it in Cargo.toml",
                            dependency.req
                        ),
                    });
                    continue;
                }
            };
            let locked = by_name.get(package);
            let reason = match locked {
                None => format!(
                    "the manifest requires {} but the lock has no version of it; update the lock (`wharf resolve --lock`)",
                    dependency.req
                ),
                Some(versions) if !versions.iter().any(|v| requirement.matches(v)) => {
                    let have: Vec<String> = versions.iter().map(ToString::to_string).collect();
                    format!(
                        "the manifest requires {} but the lock has {}; update the lock (`wharf resolve --lock`)",
                        dependency.req,
                        have.join(", ")
                    )
                }
                Some(_) => continue,
            };
            problems.push(Unsatisfied {
                package: package.to_owned(),
                reason,
            });
        }
        for package in &self.packages {
            for listed in &package.dependencies {
                let mut parts = listed.split_whitespace();
                let Some(name) = parts.next() else { continue };
                let version = parts.next().and_then(|v| Version::parse(v).ok());
                let found = by_name.get(name).is_some_and(|versions| {
                    version
                        .as_ref()
                        .is_none_or(|version| versions.contains(version))
                });
                if !found {
                    problems.push(Unsatisfied {
                        package: package.name.clone(),
                        reason: format!(
                            "{} depends on `{listed}`, which the lock does not list; regenerate the lock",
                            package.version
                        ),
                    });
                }
            }
        }
        problems
    }
}
