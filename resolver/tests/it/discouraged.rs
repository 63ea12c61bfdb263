//! The opt-in preference against discouraged versions (deprecated, or under an advisory):
//! another candidate wins when one fits, the discouraged one is still chosen when nothing
//! else does, and a lock still comes first.

use wharf_resolver::{Lockfile, ResolveOptions, Version, resolve};

use crate::support::{index, manifest, picks, pkg};

fn discouraging(name: &str, version: &str) -> ResolveOptions {
    let mut options = ResolveOptions::default();
    options.discourage(name, Version::parse(version).unwrap());
    options
}

#[test]
fn another_candidate_wins_over_a_discouraged_version() {
    let idx = index([pkg("a", "1.0.0"), pkg("a", "1.1.0"), pkg("a", "1.2.0")]);
    let root = manifest("[dependencies]\na = \"1\"\n");
    assert_eq!(
        picks(&resolve(&idx, &root, &ResolveOptions::default()).unwrap()),
        ["a 1.2.0"],
        "without the option the newest is chosen"
    );
    assert_eq!(
        picks(&resolve(&idx, &root, &discouraging("a", "1.2.0")).unwrap()),
        ["a 1.1.0"]
    );
}

#[test]
fn a_discouraged_version_is_chosen_when_nothing_else_fits() {
    let idx = index([pkg("a", "1.0.0"), pkg("a", "2.0.0")]);
    let root = manifest("[dependencies]\na = \"2\"\n");
    assert_eq!(
        picks(&resolve(&idx, &root, &discouraging("a", "2.0.0")).unwrap()),
        ["a 2.0.0"]
    );
}

#[test]
fn a_locked_version_stays_preferred_even_when_discouraged() {
    let idx = index([pkg("a", "1.0.0"), pkg("a", "1.1.0")]);
    let root = manifest("[dependencies]\na = \"1\"\n");
    let first = resolve(&idx, &root, &ResolveOptions::default()).unwrap();
    let mut options = discouraging("a", "1.1.0");
    options.lock = Some(Lockfile::from(&first));
    assert_eq!(picks(&resolve(&idx, &root, &options).unwrap()), ["a 1.1.0"]);
}
