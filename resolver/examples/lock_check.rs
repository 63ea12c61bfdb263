//! Lockfile tools for CI: a lock from a resolution, whether it still satisfies a changed
//! manifest, and what an update changes, with reasons.
//!
//! Run with `cargo run -p wharf-resolver --example lock_check`; the test suite runs it too.
//! The same check is `wharf resolve --check-lock FILE` on the command line.

use std::path::Path;

use wharf_resolver::{IndexDependency, IndexEntry, Lockfile, MemoryIndex, Resolver, RootManifest};

fn manifest(dependencies: &str) -> RootManifest {
    let text = format!(
        "[package]\nname = \"service\"\nversion = \"0.1.0\"\n[dependencies]\n{dependencies}"
    );
    RootManifest::from_toml_str(&text, Path::new(".")).expect("the example manifests parse")
}

/// The problems of the old lock against the changed manifest, and the update's diff.
fn run() -> (Vec<String>, String) {
    let mut index = MemoryIndex::default();
    for entry in [
        IndexEntry::builder("log", "0.4.20"),
        IndexEntry::builder("log", "0.4.22"),
        IndexEntry::builder("http", "1.1.0"),
        IndexEntry::builder("http", "1.2.0").dep(IndexDependency::new("bytes", "1")),
        IndexEntry::builder("bytes", "1.7.0"),
    ] {
        index.add(entry.build().expect("the example's versions are semver"));
    }

    // Locked when the manifest asked for log 0.4.20 and http 1.1.
    let before = manifest("log = \"=0.4.20\"\nhttp = \"~1.1\"\n");
    let lock = Lockfile::from(&Resolver::new(&index).resolve(&before).expect("resolvable"));

    // The manifest now wants newer versions: the lock no longer satisfies it.
    let after = manifest("log = \"0.4.22\"\nhttp = \"1.2\"\n");
    let problems: Vec<String> = lock.check(&after).iter().map(ToString::to_string).collect();
    for problem in &problems {
        println!("unsatisfied: {problem}");
    }

    // Updating, keeping what still fits, and showing what moved.
    let updated = Resolver::new(&index)
        .lock(lock.clone())
        .resolve(&after)
        .expect("resolvable");
    let diff = lock.diff(&Lockfile::from(&updated)).to_string();
    print!("{diff}");
    assert!(Lockfile::from(&updated).check(&after).is_empty());
    (problems, diff)
}

fn main() {
    run();
}

#[test]
fn the_stale_lock_is_caught_and_the_update_explained() {
    let (problems, diff) = run();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("`http`: the manifest requires 1.2 but the lock has 1.1.0"));
    assert!(problems[1].starts_with("`log`: the manifest requires 0.4.22 but the lock has 0.4.20"));
    assert_eq!(
        diff,
        "added `bytes` 1.7.0 (needed by `http`)\n\
         `http` 1.1.0 -> 1.2.0 (upgraded)\n\
         `log` 0.4.20 -> 0.4.22 (upgraded)\n"
    );
}
