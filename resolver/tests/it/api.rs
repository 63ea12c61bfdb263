//! The embedding API: entries built in code, requirements without a manifest, the
//! `Resolver` builder (host pin, lock, deadline, cancel token), opening directories, errors
//! that keep their source, and serialised results.

use std::error::Error as _;
use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_resolver::index::index_path;
use wharf_resolver::{
    CancelToken, DependencyKind, Fact, HostPin, IndexDependency, IndexEntry, IndexSource,
    LocalIndex, Lockfile, MemoryIndex, Requirements, ResolveError, Resolver, RootOrigin, Version,
};

/// An index of entries built with the public builders.
fn built(entries: impl IntoIterator<Item = wharf_resolver::IndexEntryBuilder>) -> MemoryIndex {
    let mut index = MemoryIndex::default();
    for entry in entries {
        index.add(entry.build().expect("test versions are semver"));
    }
    index
}

fn names(resolution: &wharf_resolver::Resolution) -> Vec<String> {
    resolution
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

#[test]
fn built_entries_resolve_with_features_optional_and_renamed_dependencies() {
    let index = built([
        IndexEntry::builder("serde", "1.0.200")
            .dep(IndexDependency::new("serde_derive", "=1.0.200").with_optional(true))
            .feature("derive", ["dep:serde_derive"]),
        IndexEntry::builder("serde_derive", "1.0.200"),
        IndexEntry::builder("rand", "0.8.5").dep(
            IndexDependency::new("libc", "0.2")
                .with_optional(true)
                .with_default_features(false)
                .with_target("cfg(unix)"),
        ),
        IndexEntry::builder("cc", "1.1.0"),
        IndexEntry::builder("libc", "0.2.150"),
        IndexEntry::builder("app-core", "2.0.0")
            .dep(IndexDependency::new("random", "0.8").with_package("rand"))
            .dep(IndexDependency::new("cc", "1").with_kind(DependencyKind::Build)),
    ]);
    let requirements = Requirements::named("tool")
        .require("app-core", "2")
        .require_with_features("serde", "1", ["derive"]);
    let resolution = Resolver::new(&index)
        .resolve_requirements(&requirements)
        .unwrap();
    assert_eq!(
        names(&resolution),
        [
            "app-core 2.0.0",
            "cc 1.1.0",
            "rand 0.8.5",
            "serde 1.0.200",
            "serde_derive 1.0.200"
        ]
    );
    // `libc` is an optional dependency of `rand` that nothing enables.
    let serde = &resolution.packages[3];
    assert_eq!(serde.features, ["derive"]);
}

#[test]
fn requirements_explanations_speak_of_the_requirements_given() {
    let index = built([
        IndexEntry::builder("host-api", "2.4.1"),
        IndexEntry::builder("plugin", "1.0.0").dep(IndexDependency::new("host-api", "^3")),
        IndexEntry::builder("plugin", "0.9.0").dep(IndexDependency::new("host-api", "^3")),
    ]);
    let error = Resolver::new(&index)
        .host_pin(HostPin::new(Version::new(2, 4, 1)))
        .resolve_requirements(&Requirements::new().require("plugin", "1"))
        .unwrap_err();
    let ResolveError::NoSolution(no_solution) = &error else {
        panic!("expected no solution, got {error}");
    };
    assert!(no_solution.facts.iter().any(|fact| matches!(
        fact,
        Fact::RootRequires { package, origin: RootOrigin::Requirements, .. } if package == "plugin"
    )));
    let text = error.to_string();
    assert!(
        text.contains("the requirements you gave ask for `plugin` ^1"),
        "{text}"
    );
    assert!(!text.contains("manifest"), "{text}");

    // The same root from a manifest keeps the manifest wording.
    let manifest = Requirements::new().require("plugin", "1").to_root();
    let error = Resolver::new(&index)
        .host_pin(HostPin::new(Version::new(2, 4, 1)))
        .resolve(&manifest)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("your manifest requires `plugin` ^1"),
        "{error}"
    );
}

#[test]
fn the_resolver_builder_prefers_a_lock_until_unlocked() {
    let mut index = built([IndexEntry::builder("log", "0.4.20")]);
    let requirements = Requirements::new().require("log", "0.4");
    let first = Resolver::new(&index)
        .resolve_requirements(&requirements)
        .unwrap();
    index.add(IndexEntry::builder("log", "0.4.22").build().unwrap());
    let lock = Lockfile::from(&first);
    let kept = Resolver::new(&index)
        .lock(lock.clone())
        .resolve_requirements(&requirements)
        .unwrap();
    assert_eq!(names(&kept), ["log 0.4.20"]);
    let updated = Resolver::new(&index)
        .lock(lock.clone())
        .unlock("log")
        .resolve_requirements(&requirements)
        .unwrap();
    assert_eq!(names(&updated), ["log 0.4.22"]);
    let diff = lock.diff(&Lockfile::from(&updated));
    assert_eq!(diff.to_string(), "`log` 0.4.20 -> 0.4.22 (upgraded)\n");
    assert!(lock.diff(&Lockfile::from(&kept)).is_empty());
}

/// `pigeons` packages that each need a `hole-N` to themselves, with one hole fewer than
/// pigeons: unsatisfiable, and a proof of it takes exponentially many steps (the pigeonhole
/// principle is hard for resolution, which PubGrub's learning is). In a debug build 7 pigeons
/// took about 2 s and 8 about 45 s; 12 never finish within a test run.
fn pigeonhole(pigeons: u64) -> (MemoryIndex, Requirements) {
    let holes = pigeons - 1;
    let mut entries = Vec::new();
    let mut requirements = Requirements::new();
    for pigeon in 0..pigeons {
        for hole in 0..holes {
            entries.push(
                IndexEntry::builder(format!("pigeon-{pigeon}"), format!("1.{hole}.0")).dep(
                    IndexDependency::new(format!("hole-{hole}"), format!("=1.{pigeon}.0")),
                ),
            );
        }
        requirements = requirements.require(format!("pigeon-{pigeon}"), "1");
    }
    for hole in 0..holes {
        for pigeon in 0..pigeons {
            entries.push(IndexEntry::builder(
                format!("hole-{hole}"),
                format!("1.{pigeon}.0"),
            ));
        }
    }
    (built(entries), requirements)
}

#[test]
fn a_pathological_graph_stops_at_its_deadline() {
    let (index, requirements) = pigeonhole(12);
    let error = Resolver::new(&index)
        .timeout(Duration::from_millis(300))
        .resolve_requirements(&requirements)
        .unwrap_err();
    assert!(
        matches!(&error, ResolveError::Cancelled { reason } if reason.contains("deadline")),
        "{error}"
    );
    assert!(error.to_string().contains("allow more time"), "{error}");
}

#[test]
fn a_cancel_token_stops_a_resolution_and_a_small_graph_still_resolves_without_one() {
    let (index, requirements) = pigeonhole(12);
    let token = CancelToken::new();
    let canceller = token.clone();
    // Cancelled from another thread while the resolution runs (it would never finish).
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    let error = Resolver::new(&index)
        .cancel_token(token)
        .resolve_requirements(&requirements)
        .unwrap_err();
    stopper.join().unwrap();
    assert!(
        matches!(&error, ResolveError::Cancelled { reason } if reason.contains("token")),
        "{error}"
    );
    // A small pigeonhole is proved unsatisfiable in time, so the deadline is what stops the
    // big one, not a mistake in the graph.
    let (small, requirements) = pigeonhole(3);
    let error = Resolver::new(&small)
        .deadline(Instant::now() + Duration::from_mins(10))
        .resolve_requirements(&requirements)
        .unwrap_err();
    assert!(matches!(error, ResolveError::NoSolution(_)), "{error}");
}

#[test]
fn opening_a_missing_or_foreign_directory_fails_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let error = LocalIndex::open(&missing).unwrap_err();
    assert!(matches!(error, ResolveError::NotAnIndex { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(&format!("`{}`", missing.display())), "{text}");
    assert!(text.contains("does not exist"), "{text}");

    let foreign = dir.path().join("documents");
    fs::create_dir_all(foreign.join("notes")).unwrap();
    fs::write(foreign.join("readme.txt"), "hello\n").unwrap();
    let text = LocalIndex::open(&foreign).unwrap_err().to_string();
    assert!(text.contains("neither `config.json`"), "{text}");

    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let text = LocalIndex::open(&file).unwrap_err().to_string();
    assert!(text.contains("not a directory"), "{text}");

    let index = dir.path().join("index");
    fs::create_dir_all(&index).unwrap();
    let empty = LocalIndex::open(&index).expect("an empty index is a registry's first state");
    assert!(empty.versions("serde").unwrap().is_empty());
    let path = index.join(index_path("serde"));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let line = IndexEntry::builder("serde", "1.0.0")
        .build()
        .unwrap()
        .to_line();
    fs::write(&path, line + "\n").unwrap();
    let opened = LocalIndex::open(&index).unwrap();
    assert_eq!(opened.versions("serde").unwrap().len(), 1);
}

/// A source whose network always fails.
struct Offline;

#[derive(Debug, thiserror::Error)]
#[error("connection refused by registry.example")]
struct Refused;

impl IndexSource for Offline {
    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        Err(ResolveError::index(name, Refused))
    }
}

#[test]
fn a_custom_source_error_is_kept_as_the_source() {
    let error = Resolver::new(&Offline)
        .resolve_requirements(&Requirements::new().require("serde", "1"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot read the index entry of `serde`: connection refused by registry.example"
    );
    let source = error.source().expect("the source error is kept");
    assert!(source.downcast_ref::<Refused>().is_some(), "{source:?}");
}

#[test]
fn lock_checks_name_each_unsatisfied_entry() {
    let root = Requirements::named("app")
        .require("log", "0.4.21")
        .require("serde", "1")
        .require("rand", "0.8")
        .to_root();
    let lock = Lockfile::parse(
        r#"
[[package]]
name = "log"
version = "0.4.20"

[[package]]
name = "rand"
version = "0.8.5"
dependencies = ["rand_core"]
"#,
    )
    .unwrap();
    let problems: Vec<String> = lock.check(&root).iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "`log`: the manifest requires 0.4.21 but the lock has 0.4.20; update the lock (`wharf resolve --lock`)",
            "`serde`: the manifest requires 1 but the lock has no version of it; update the lock (`wharf resolve --lock`)",
            "`rand`: 0.8.5 depends on `rand_core`, which the lock does not list; regenerate the lock",
        ]
    );
}

#[test]
fn lock_diffs_give_reasons_for_added_and_removed_packages() {
    let old = Lockfile::parse(
        r#"
[[package]]
name = "app-core"
version = "1.0.0"
dependencies = ["old-dep"]

[[package]]
name = "old-dep"
version = "0.3.0"
"#,
    )
    .unwrap();
    let new = Lockfile::parse(
        r#"
[[package]]
name = "app-core"
version = "0.9.0"
dependencies = ["new-dep"]

[[package]]
name = "new-dep"
version = "2.0.0"
"#,
    )
    .unwrap();
    assert_eq!(
        old.diff(&new).to_string(),
        "`app-core` 1.0.0 -> 0.9.0 (downgraded)\n\
         added `new-dep` 2.0.0 (needed by `app-core`)\n\
         removed `old-dep` 0.3.0 (was needed by `app-core`)\n"
    );
}

#[test]
#[cfg(feature = "serde")]
fn results_and_explanations_serialise() {
    let index = built([
        IndexEntry::builder("log", "0.4.22").cksum("ab"),
        IndexEntry::builder("plugin", "1.0.0").dep(IndexDependency::new("host-api", "^3")),
        IndexEntry::builder("host-api", "2.0.0"),
    ]);
    let resolution = Resolver::new(&index)
        .resolve_requirements(&Requirements::new().require("log", "0.4"))
        .unwrap();
    let json = serde_json::to_value(&resolution).unwrap();
    assert_eq!(json["packages"][0]["name"], "log");
    assert_eq!(json["packages"][0]["version"], "0.4.22");
    assert_eq!(json["packages"][0]["checksum"], "ab");
    assert_eq!(json["root_dependencies"][0][0], "log");

    let error = Resolver::new(&index)
        .host_pin(HostPin::new(Version::new(2, 0, 0)))
        .resolve_requirements(&Requirements::new().require("plugin", "1"))
        .unwrap_err();
    let ResolveError::NoSolution(no_solution) = error else {
        panic!("expected no solution");
    };
    let json = serde_json::to_value(&*no_solution).unwrap();
    let facts = json["facts"].as_array().unwrap();
    assert!(
        facts
            .iter()
            .any(|f| f["fact"] == "root_requires" && f["origin"] == "requirements"),
        "{json}"
    );
    assert!(
        facts.iter().any(|f| f["fact"] == "needs_host_api"),
        "{json}"
    );
}

#[test]
fn the_resolver_builder_prefers_versions_for_the_toolchain_as_cargo_does() {
    let index = built([
        IndexEntry::builder("log", "0.4.20").rust_version("1.60"),
        IndexEntry::builder("log", "0.4.22").rust_version("1.85"),
        // No toolchain satisfies this one yet.
        IndexEntry::builder("log", "0.4.30").rust_version("1.999"),
    ]);
    let manifest = |edition: &str, rust_version: &str| {
        wharf_resolver::RootManifest::from_toml_str(
            &format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"{edition}\"\n\
                 {rust_version}\n[dependencies]\nlog = \"0.4\"\n"
            ),
            std::path::Path::new("."),
        )
        .unwrap()
    };
    let picked = |resolver: &Resolver<'_>, edition: &str, rust_version: &str| {
        let resolution = resolver.resolve(&manifest(edition, rust_version)).unwrap();
        resolution
            .packages
            .iter()
            .find(|p| p.name == "log")
            .map(|p| p.version.to_string())
            .unwrap()
    };
    let as_cargo = Resolver::new(&index).rust_version_as_cargo();
    let plain = Resolver::new(&index);
    // Resolver v3 (edition 2024) without a rust-version: cargo prefers what the installed
    // rustc (1.95 here, rust-toolchain.toml) satisfies; without the option, no preference.
    assert_eq!(picked(&as_cargo, "2024", ""), "0.4.22");
    assert_eq!(picked(&plain, "2024", ""), "0.4.30");
    // The manifest's own rust-version comes first, with or without the option.
    assert_eq!(
        picked(&as_cargo, "2024", "rust-version = \"1.70\""),
        "0.4.20"
    );
    assert_eq!(picked(&plain, "2024", "rust-version = \"1.70\""), "0.4.20");
    // Resolver v2 (edition 2021) has no such preference: the newest.
    assert_eq!(picked(&as_cargo, "2021", ""), "0.4.30");
    // An explicit toolchain wins over the manifest's and the installed one.
    let explicit = Resolver::new(&index)
        .rust_version_as_cargo()
        .rust_version(Version::new(1, 90, 0));
    assert_eq!(
        picked(&explicit, "2024", "rust-version = \"1.70\""),
        "0.4.22"
    );
}
