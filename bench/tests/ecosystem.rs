//! The plugin ecosystem generator: reproducible bytes, every version a valid plugin the
//! registry accepts, and the shape the benchmarks rely on (several versions, three host API
//! majors, dependency chains over a popular core, safe yanks, deliberate conflicts).

use std::collections::{BTreeMap, BTreeSet};

use wharf_bench::{Ecosystem, EcosystemParams, generate};
use wharf_index_format::{HOST_API_PACKAGE, PublishLimits, prepare_publish};

fn ecosystem(seed: u64) -> Ecosystem {
    generate(EcosystemParams { seed, plugins: 500 })
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let first = ecosystem(7).files().unwrap();
    let second = ecosystem(7).files().unwrap();
    assert_eq!(first.len(), second.len());
    assert!(first == second, "two runs with seed 7 differ");
    let other = ecosystem(8).files().unwrap();
    assert!(first != other, "seeds 7 and 8 give the same ecosystem");

    // Written to disk, the bytes are the ones listed.
    let dir = tempfile::tempdir().unwrap();
    let small = generate(EcosystemParams {
        seed: 7,
        plugins: 40,
    });
    let count = small.write_to(dir.path()).unwrap();
    for file in small.files().unwrap() {
        assert_eq!(
            std::fs::read(dir.path().join(&file.path)).unwrap(),
            file.bytes,
            "{}",
            file.path
        );
    }
    assert_eq!(count, small.files().unwrap().len());
}

#[test]
fn every_version_is_a_plugin_the_registry_accepts() {
    let ecosystem = ecosystem(7);
    let files = ecosystem.files().unwrap();
    let bodies: Vec<_> = files
        .iter()
        .filter(|f| f.path.starts_with("publish/"))
        .collect();
    assert_eq!(bodies.len(), ecosystem.versions.len());
    let mut published: BTreeSet<String> = BTreeSet::new();
    for (body, version) in bodies.iter().zip(&ecosystem.versions) {
        let prepared = prepare_publish(&body.bytes, &PublishLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", body.path));
        assert_eq!(prepared.entry.name, version.name());
        assert!(prepared.metadata.plugin.is_some());
        // Publish order: every dependency exists before its dependents.
        for dep in &prepared.entry.deps {
            assert!(
                dep.name == HOST_API_PACKAGE || published.contains(&dep.name),
                "{} {} depends on {}, published later",
                version.name(),
                version.version(),
                dep.name
            );
        }
        published.insert(version.name().to_owned());
    }
}

#[test]
fn the_ecosystem_has_the_shape_benchmarks_need() {
    let ecosystem = ecosystem(7);
    let mut versions_per_plugin: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<&str, usize> = BTreeMap::new();
    let mut host_majors = BTreeSet::new();
    for version in &ecosystem.versions {
        *versions_per_plugin.entry(version.name()).or_default() += 1;
        host_majors.insert(version.host_majors.0);
        for dep in version.manifest.dependencies.keys() {
            if dep != HOST_API_PACKAGE {
                *dependents.entry(dep.as_str()).or_default() += 1;
            }
        }
    }
    assert_eq!(versions_per_plugin.len(), 500);
    assert!(
        ecosystem.versions.len() >= 1400,
        "{} versions",
        ecosystem.versions.len()
    );
    assert!(versions_per_plugin.values().filter(|n| **n >= 3).count() >= 250);
    assert_eq!(host_majors, BTreeSet::from([1, 2, 3]));
    // Power law: the most depended-on plugin is used far more than the median one.
    let mut counts: Vec<usize> = dependents.values().copied().collect();
    counts.sort_unstable();
    let (top, median) = (counts[counts.len() - 1], counts[counts.len() / 2]);
    assert!(top >= 20 * median.max(1), "top {top}, median {median}");
    // Yanked versions always have a later version of the same major.
    for (at, version) in ecosystem.versions.iter().enumerate() {
        if version.yanked {
            let major = version.version().split('.').next().unwrap();
            let next = &ecosystem.versions[at + 1];
            assert_eq!(next.name(), version.name());
            assert_eq!(next.version().split('.').next().unwrap(), major);
        }
    }
    assert!(ecosystem.versions.iter().filter(|v| v.yanked).count() >= 30);
    let reasons: Vec<_> = ecosystem
        .conflicts
        .iter()
        .map(|c| c.reason.as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("exclusive resource"))
            .count()
            >= 5
    );
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("needs host API"))
            .count()
            >= 5
    );
}

/// The newest host of each API major: the most any plugin of that major can ask for.
fn hosts() -> Vec<wharf_resolver::Version> {
    wharf_bench::HOST_MINORS
        .iter()
        .zip(1..)
        .map(|(minor, major)| wharf_resolver::Version::new(major, *minor, 0))
        .collect()
}

#[test]
fn deliberate_conflicts_never_resolve_and_the_rest_mostly_does() {
    use wharf_resolver::{HostPin, MemoryIndex, Requirements, ResolveError, Resolver};

    let ecosystem = ecosystem(7);
    let mut index = MemoryIndex::default();
    for (file, version) in ecosystem
        .files()
        .unwrap()
        .iter()
        .filter(|f| f.path.starts_with("publish/"))
        .zip(&ecosystem.versions)
    {
        let mut entry = prepare_publish(&file.bytes, &PublishLimits::default())
            .unwrap()
            .entry;
        entry.yanked = version.yanked;
        index.add(entry);
    }
    let installs = |name: &str, version: &str| {
        hosts().into_iter().any(|host| {
            let resolver = Resolver::new(&index).host_pin(HostPin::new(host));
            let wanted = Requirements::named("install").require(name, format!("={version}"));
            match resolver.resolve_requirements(&wanted) {
                Ok(_) => true,
                Err(ResolveError::NoSolution(_)) => false,
                Err(other) => panic!("{name} {version}: {other}"),
            }
        })
    };
    for conflict in &ecosystem.conflicts {
        assert!(
            !installs(&conflict.name, &conflict.version),
            "{} {} resolves, though {}",
            conflict.name,
            conflict.version,
            conflict.reason
        );
    }
    let conflicting: BTreeSet<(&str, &str)> = ecosystem
        .conflicts
        .iter()
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    let candidates: Vec<_> = ecosystem
        .versions
        .iter()
        .filter(|v| !v.yanked && !conflicting.contains(&(v.name(), v.version())))
        .collect();
    let resolved = candidates
        .iter()
        .filter(|v| installs(v.name(), v.version()))
        .count();
    // Versions depending (directly or not) on a deliberate conflict fail too.
    assert!(
        resolved * 100 >= candidates.len() * 95,
        "{resolved} of {} versions install",
        candidates.len()
    );
}
