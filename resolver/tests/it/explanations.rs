//! Snapshot tests of failure explanations, one conflict shape each (the host API first).

use wharf_resolver::{Derivation, Fact, MemoryIndex, ResolveError, ResolveOptions, resolve};

use crate::support::{DepExt, dep, host, index, manifest, pkg};

fn explain(index: &MemoryIndex, body: &str, options: &ResolveOptions) -> String {
    match resolve(index, &manifest(body), options) {
        Ok(resolution) => panic!("expected a failure, got {:?}", resolution.packages),
        Err(ResolveError::NoSolution(no_solution)) => {
            // Internal virtual packages never reach people.
            let text = no_solution.render();
            for internal in ["@", "[dep:", "+default", "<root>", "links:"] {
                assert!(
                    !text.contains(internal),
                    "`{internal}` leaked into:\n{text}"
                );
            }
            text
        }
        Err(other) => panic!("expected no solution, got {other}"),
    }
}

#[test]
fn host_api_too_old_for_the_plugin() {
    let idx = index([
        pkg("host-api", "2.4.1"),
        pkg("host-api", "3.0.0"),
        pkg("plugin-c", "1.0.0").with(dep("host-api", "^1")),
        pkg("plugin-c", "2.0.0").with(dep("host-api", "^3.0")),
        pkg("plugin-c", "2.1.0").with(dep("host-api", "^3.0")),
        pkg("plugin-c", "3.0.0").with(dep("host-api", "^2.4")),
    ]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\nplugin-c = \"2\"\n",
        &host("2.4.1")
    ));
}

#[test]
fn host_api_newer_than_every_plugin_version() {
    let idx = index([
        pkg("plugin-old", "1.0.0").with(dep("host-api", "^1.2")),
        pkg("plugin-old", "1.1.0").with(dep("host-api", "^1.4")),
    ]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\nplugin-old = \"1\"\n",
        &host("2.0.0")
    ));
}

#[test]
fn two_plugins_pin_different_versions_of_a_library() {
    let idx = index([
        pkg("util", "1.2.0"),
        pkg("util", "1.3.0"),
        pkg("p1", "1.0.0").with(dep("util", "=1.2.0")),
        pkg("p2", "1.0.0").with(dep("util", "=1.3.0")),
        pkg("p2", "1.1.0").with(dep("util", "~1.3")),
    ]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\np1 = \"1\"\np2 = \"1\"\n",
        &ResolveOptions::default()
    ));
}

#[test]
fn missing_feature_with_a_near_name() {
    let idx = index([
        pkg("fancy", "0.3.2").feature("serde-json", &[]),
        pkg("fancy", "0.3.1"),
    ]);
    let body = "[dependencies]\nfancy = { version = \"0.3\", features = [\"serde_json\"] }\n";
    insta::assert_snapshot!(explain(&idx, body, &ResolveOptions::default()));
}

#[test]
fn only_yanked_versions_match() {
    let idx = index([
        pkg("y", "1.0.0"),
        pkg("y", "1.1.0").yanked(),
        pkg("y", "1.1.1").yanked(),
    ]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\ny = \"^1.1\"\n",
        &ResolveOptions::default()
    ));
}

#[test]
fn only_pre_releases_match() {
    let idx = index([
        pkg("next", "1.4.0"),
        pkg("next", "2.0.0-beta.1"),
        pkg("next", "2.0.0-beta.2"),
    ]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\nnext = \"2\"\n",
        &ResolveOptions::default()
    ));
}

#[test]
fn package_name_with_dash_instead_of_underscore() {
    let idx = index([pkg("serde_json", "1.0.100")]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\nserde-json = \"1\"\n",
        &ResolveOptions::default()
    ));
}

#[test]
fn package_name_with_other_letter_case() {
    let idx = index([pkg("Inflector", "0.11.4")]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\ninflector = \"0.11\"\n",
        &ResolveOptions::default()
    ));
}

#[test]
fn requirement_newer_than_anything_published() {
    let idx = index([
        pkg("lib", "2.0.0"),
        pkg("lib", "2.1.0"),
        pkg("app-core", "1.0.0").with(dep("lib", "^3")),
    ]);
    insta::assert_snapshot!(explain(
        &idx,
        "[dependencies]\napp-core = \"1\"\n",
        &ResolveOptions::default()
    ));
}

#[test]
fn two_packages_link_the_same_native_library() {
    let idx = index([
        pkg("openssl-sys", "0.9.100").links("openssl"),
        pkg("boring-sys", "4.0.0").links("openssl"),
        pkg("tls-a", "1.0.0").with(dep("openssl-sys", "0.9")),
    ]);
    let body = "[dependencies]\ntls-a = \"1\"\nboring-sys = \"4\"\n";
    insta::assert_snapshot!(explain(&idx, body, &ResolveOptions::default()));
}

#[test]
fn a_feature_pulls_an_incompatible_optional_dependency() {
    let idx = index([
        pkg("web", "1.0.0")
            .with(dep("codec", "^2").optional())
            .feature("compress", &["dep:codec"]),
        pkg("codec", "1.5.0"),
        pkg("codec", "2.0.0").with(dep("zlib", "=1.2.0")),
        pkg("zlib", "1.2.0"),
        pkg("zlib", "1.3.0"),
    ]);
    let body =
        "[dependencies]\nweb = { version = \"1\", features = [\"compress\"] }\nzlib = \"=1.3.0\"\n";
    insta::assert_snapshot!(explain(&idx, body, &ResolveOptions::default()));
}

#[test]
fn plugins_disagree_through_a_shared_library_under_a_host() {
    let idx = index([
        pkg("host-api", "3.1.0"),
        pkg("render", "1.0.0")
            .with(dep("host-api", "^3"))
            .with(dep("gfx", "^0.5")),
        pkg("audio", "1.0.0")
            .with(dep("host-api", "^3"))
            .with(dep("gfx", "^0.5").features(&["sound"])),
        pkg("gfx", "0.5.0"),
        pkg("gfx", "0.5.1")
            .feature("sound", &[])
            .with(dep("host-api", "^4")),
    ]);
    let body = "[dependencies]\nrender = \"1\"\naudio = \"1\"\n";
    insta::assert_snapshot!(explain(&idx, body, &host("3.1.0")));
}

#[test]
fn the_explanation_is_structured_data_as_well() {
    let idx = index([
        pkg("plugin-c", "2.0.0").with(dep("host-api", "^3.0")),
        pkg("plugin-c", "2.1.0").with(dep("host-api", "^3.0")),
    ]);
    let Err(ResolveError::NoSolution(no_solution)) = resolve(
        &idx,
        &manifest("[dependencies]\nplugin-c = \"2\"\n"),
        &host("2.4.1"),
    ) else {
        panic!("expected no solution");
    };
    assert!(no_solution.facts.contains(&Fact::NeedsHostApi {
        package: "plugin-c".to_owned(),
        versions: "2.x".to_owned(),
        requirement: "^3.0".to_owned(),
        provided: wharf_resolver::Version::new(2, 4, 1),
    }));
    assert_eq!(no_solution.involved_packages(), ["plugin-c"]);
    let Derivation::Derived { causes, .. } = &no_solution.derivation else {
        panic!("a conflict is derived from several facts");
    };
    let mut pending = vec![&causes.0, &causes.1];
    let mut leaves = 0;
    while let Some(node) = pending.pop() {
        match node {
            Derivation::Derived { causes, .. } => pending.extend([&causes.0, &causes.1]),
            Derivation::Fact(_) => leaves += 1,
            _ => {}
        }
    }
    assert!(leaves >= 2, "the tree holds the facts it was built from");
}

/// Two majors of a package that links a native library (through its `-sys` crate) cannot
/// both be selected. Allowing a newer major of the root's requirement changes nothing (the
/// other side still needs the old one): that hint is checked and dropped; keeping only one
/// of the two, or aligning with what the other side requires, resolves and is offered.
#[test]
fn two_majors_linking_one_library_suggest_keeping_one() {
    let idx = index([
        pkg("libsqlite3-sys", "0.27.0").links("sqlite3"),
        pkg("libsqlite3-sys", "0.35.0").links("sqlite3"),
        pkg("libsqlite3-sys", "0.41.0").links("sqlite3"),
        pkg("rusqlite", "0.30.0").with(dep("libsqlite3-sys", "^0.27")),
        pkg("rusqlite", "0.37.0").with(dep("libsqlite3-sys", "^0.35")),
        pkg("rusqlite", "0.43.0").with(dep("libsqlite3-sys", "^0.41")),
        pkg("legacy-store", "1.0.0").with(dep("rusqlite", "^0.30")),
    ]);
    let body = "[dependencies]\nrusqlite = \"0.37\"\nlegacy-store = \"1\"\n";
    let text = explain(&idx, body, &ResolveOptions::default());
    let hints = text.split("hints:\n").nth(1).expect("hints are given");
    assert!(!hints.contains("0.43"), "{text}");
    assert!(hints.contains("keep only one of them"), "{text}");
    insta::assert_snapshot!(text);
}

/// Every suggested change is one that resolves: applying the relaxed requirement the hint
/// names gives a resolution.
#[test]
fn a_suggested_requirement_resolves_when_applied() {
    let idx = index([
        pkg("zlib", "1.2.0"),
        pkg("zlib", "1.3.0"),
        pkg("codec", "2.0.0").with(dep("zlib", "=1.2.0")),
    ]);
    let text = explain(
        &idx,
        "[dependencies]\ncodec = \"2\"\nzlib = \"=1.3.0\"\n",
        &ResolveOptions::default(),
    );
    assert!(
        text.contains("change your requirement `zlib` =1.3.0 to =1.2.0, which `codec` requires"),
        "{text}"
    );
    let fixed = "[dependencies]\ncodec = \"2\"\nzlib = \"=1.2.0\"\n";
    assert!(resolve(&idx, &manifest(fixed), &ResolveOptions::default()).is_ok());
}
