//! A plugin host embedding the resolver: an in-memory index built in code, the host's API
//! pinned to the version it implements, an install set, and a conflict with its explanation.
//!
//! Run with `cargo run -p wharf-resolver --example plugin_host`; the test suite runs it too.

use wharf_resolver::{
    HostPin, IndexDependency, IndexEntry, MemoryIndex, Requirements, ResolveError, Resolver,
    Version,
};

/// The registry the host knows: its API in two majors and three plugins.
fn plugin_index() -> MemoryIndex {
    let entries = [
        IndexEntry::builder("host-api", "2.4.1"),
        IndexEntry::builder("host-api", "3.0.0"),
        IndexEntry::builder("markdown", "1.2.0")
            .dep(IndexDependency::new("host-api", "^2.1"))
            .dep(IndexDependency::new("pulldown", "0.12")),
        IndexEntry::builder("pulldown", "0.12.3"),
        IndexEntry::builder("spellcheck", "0.5.0").dep(IndexDependency::new("host-api", "^2")),
        IndexEntry::builder("spellcheck", "1.0.0").dep(IndexDependency::new("host-api", "^3")),
    ];
    let mut index = MemoryIndex::default();
    for entry in entries {
        index.add(entry.build().expect("the example's versions are semver"));
    }
    index
}

/// Resolves what the user enabled; returns the install set and the explanation of a conflict.
fn run() -> (Vec<String>, String) {
    let index = plugin_index();
    let host = Resolver::new(&index).host_pin(HostPin::new(Version::new(2, 4, 1)));

    let enabled = Requirements::named("editor")
        .require("markdown", "1")
        .require("spellcheck", "0.5");
    let resolution = host
        .resolve_requirements(&enabled)
        .expect("these plugins fit host API 2.4.1");
    let install: Vec<String> = resolution
        .install_set()
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    println!("install: {}", install.join(", "));

    // spellcheck 1.x needs host API 3, which this host does not implement.
    let too_new = Requirements::named("editor").require("spellcheck", "1");
    let explanation = match host.resolve_requirements(&too_new) {
        Err(ResolveError::NoSolution(why)) => why.render(),
        other => panic!("spellcheck 1 cannot fit host API 2.4.1, got {other:?}"),
    };
    print!("{explanation}");
    (install, explanation)
}

fn main() {
    run();
}

#[test]
fn the_plugin_host_installs_and_explains() {
    let (install, explanation) = run();
    assert_eq!(
        install,
        ["markdown 1.2.0", "pulldown 0.12.3", "spellcheck 0.5.0"]
    );
    assert!(
        explanation.contains("the requirements you gave ask for `spellcheck` ^1"),
        "{explanation}"
    );
    assert!(
        explanation.contains("needs host API ^3; this host provides 2.4.1"),
        "{explanation}"
    );
}
