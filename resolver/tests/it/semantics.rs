//! Cargo-mode semantics on small in-memory registries, one behaviour per test.

use wharf_index_format::DependencyKind;
use wharf_resolver::{ResolveError, ResolveOptions, Version, resolve};

use crate::support::{DepExt, cargo_error, cargo_picks, dep, host, index, manifest, picks, pkg};

#[test]
fn highest_matching_version_is_chosen() {
    let idx = index([
        pkg("a", "1.0.0"),
        pkg("a", "1.2.0"),
        pkg("a", "1.10.1"),
        pkg("a", "2.0.0"),
    ]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\na = \"1\"\n"),
        ["a 1.10.1"]
    );
}

#[test]
fn two_semver_incompatible_versions_coexist() {
    let idx = index([
        pkg("rand", "0.7.3"),
        pkg("rand", "0.8.5"),
        pkg("old", "1.0.0").with(dep("rand", "^0.7")),
    ]);
    let got = cargo_picks(&idx, "[dependencies]\nold = \"1\"\nrand = \"0.8\"\n");
    assert_eq!(got, ["old 1.0.0", "rand 0.7.3", "rand 0.8.5"]);
}

#[test]
fn compatible_requirements_unify_on_one_version() {
    let idx = index([
        pkg("util", "1.2.0"),
        pkg("util", "1.4.0"),
        pkg("util", "1.6.0"),
        pkg("x", "1.0.0").with(dep("util", "^1.2")),
        pkg("y", "1.0.0").with(dep("util", ">=1.0, <1.5")),
    ]);
    let got = cargo_picks(&idx, "[dependencies]\nx = \"1\"\ny = \"1\"\n");
    assert_eq!(got, ["util 1.4.0", "x 1.0.0", "y 1.0.0"]);
}

#[test]
fn requirement_spanning_buckets_takes_the_newest_bucket() {
    let idx = index([
        pkg("w", "0.1.0"),
        pkg("w", "0.2.4"),
        pkg("w", "0.3.1"),
        pkg("w", "1.0.0-rc.1"),
    ]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\nw = \">=0.1\"\n"),
        ["w 0.3.1"]
    );
    // Combined with a pin into an older bucket, both buckets are selected.
    let idx = index([
        pkg("w", "0.1.0"),
        pkg("w", "0.2.4"),
        pkg("w", "0.3.1"),
        pkg("p", "1.0.0").with(dep("w", "=0.2.4")),
    ]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\nw = \">=0.1\"\np = \"1\"\n"),
        ["p 1.0.0", "w 0.2.4", "w 0.3.1"]
    );
}

#[test]
fn spanning_requirement_falls_back_to_an_older_bucket_on_conflict() {
    let idx = index([
        pkg("w", "0.1.0").with(dep("z", "^1")),
        pkg("w", "0.2.0").with(dep("z", "^2")),
        pkg("z", "1.0.0"),
        pkg("z", "2.0.0").with(dep("never", "^1")),
    ]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\nw = \"<0.3\"\n"),
        ["w 0.1.0", "z 1.0.0"]
    );
}

#[test]
fn features_activate_optional_dependencies() {
    let idx = index([
        pkg("net", "1.0.0")
            .with(dep("rustls", "^0.23").optional())
            .with(dep("native", "^0.2").optional())
            .feature("tls", &["dep:rustls"])
            .feature("sys", &["dep:native"]),
        pkg("rustls", "0.23.1"),
        pkg("native", "0.2.0"),
    ]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\nnet = { version = \"1\", features = [\"tls\"] }\n",
    );
    assert_eq!(got, ["net 1.0.0", "rustls 0.23.1"]);
}

#[test]
fn optional_dependency_has_an_implicit_feature() {
    let idx = index([
        pkg("lib", "1.0.0").with(dep("serde", "^1").optional()),
        pkg("serde", "1.0.200"),
    ]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\nlib = { version = \"1\", features = [\"serde\"] }\n",
    );
    assert_eq!(got, ["lib 1.0.0", "serde 1.0.200"]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\nlib = \"1\"\n"),
        ["lib 1.0.0"]
    );
}

#[test]
fn dependency_feature_syntax_enables_the_dependency_and_its_feature() {
    let idx = index([
        pkg("top", "1.0.0")
            .with(dep("mid", "^1").optional())
            .feature("extra", &["mid/fast"]),
        pkg("mid", "1.0.0")
            .with(dep("simd", "^0.5").optional())
            .feature("fast", &["dep:simd"]),
        pkg("simd", "0.5.2"),
    ]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\ntop = { version = \"1\", features = [\"extra\"] }\n",
    );
    assert_eq!(got, ["mid 1.0.0", "simd 0.5.2", "top 1.0.0"]);
}

#[test]
fn weak_dependency_features_still_lock_the_dependency() {
    // Cargo's lockfile resolver activates `d?/f` dependencies too.
    let idx = index([
        pkg("top", "1.0.0")
            .with(dep("mid", "^1").optional())
            .feature("extra", &["mid?/fast"]),
        pkg("mid", "1.0.0").feature("fast", &[]),
    ]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\ntop = { version = \"1\", features = [\"extra\"] }\n",
    );
    assert_eq!(got, ["mid 1.0.0", "top 1.0.0"]);
}

#[test]
fn default_features_follow_default_features_flag() {
    let idx = index([
        pkg("core", "1.0.0")
            .with(dep("libc", "^0.2").optional())
            .feature("default", &["std"])
            .feature("std", &["dep:libc"]),
        pkg("libc", "0.2.150"),
    ]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\ncore = \"1\"\n"),
        ["core 1.0.0", "libc 0.2.150"]
    );
    assert_eq!(
        cargo_picks(
            &idx,
            "[dependencies]\ncore = { version = \"1\", default-features = false }\n"
        ),
        ["core 1.0.0"]
    );
}

#[test]
fn missing_feature_makes_cargo_take_an_older_version() {
    let idx = index([pkg("f", "1.0.0").feature("gone", &[]), pkg("f", "1.1.0")]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\nf = { version = \"1\", features = [\"gone\"] }\n",
    );
    assert_eq!(got, ["f 1.0.0"]);
}

#[test]
fn renamed_dependencies_resolve_the_real_package() {
    let idx = index([
        pkg("real", "1.3.0"),
        pkg("real", "2.1.0"),
        pkg("user", "1.0.0")
            .with(dep("old_real", "^1").package("real").optional())
            .feature("compat", &["old_real/x", "dep:old_real"]),
    ]);
    let idx = {
        let mut idx = idx;
        idx.add(pkg("real", "1.4.0").feature("x", &[]).entry());
        idx
    };
    let got = cargo_picks(
        &idx,
        "[dependencies]\nr2 = { package = \"real\", version = \"2\" }\nuser = { version = \"1\", features = [\"compat\"] }\n",
    );
    assert_eq!(got, ["real 1.4.0", "real 2.1.0", "user 1.0.0"]);
}

#[test]
fn dev_dependencies_count_for_the_root_only() {
    let idx = index([
        pkg("lib", "1.0.0").with(dep("testkit", "^1").kind(DependencyKind::Dev)),
        pkg("testkit", "1.0.0"),
        pkg("bench", "0.1.0"),
    ]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\nlib = \"1\"\n[dev-dependencies]\nbench = \"0.1\"\n",
    );
    assert_eq!(got, ["bench 0.1.0", "lib 1.0.0"]);
}

#[test]
fn build_and_target_specific_dependencies_are_locked_for_every_target() {
    let idx = index([
        pkg("lib", "1.0.0")
            .with(dep("cc", "^1").kind(DependencyKind::Build))
            .with(dep("winapi", "^0.3").target("cfg(windows)"))
            .with(dep("libc", "^0.2").target("cfg(unix)")),
        pkg("cc", "1.0.90"),
        pkg("winapi", "0.3.9"),
        pkg("libc", "0.2.150"),
        pkg("wasm", "0.2.0"),
    ]);
    let got = cargo_picks(
        &idx,
        "[dependencies]\nlib = \"1\"\n[target.'cfg(target_arch = \"wasm32\")'.dependencies]\nwasm = \"0.2\"\n",
    );
    assert_eq!(
        got,
        [
            "cc 1.0.90",
            "lib 1.0.0",
            "libc 0.2.150",
            "wasm 0.2.0",
            "winapi 0.3.9"
        ]
    );
}

#[test]
fn only_one_package_may_link_a_native_library() {
    let idx = index([
        pkg("sys-a", "1.0.0").links("z"),
        pkg("sys-b", "1.0.0").links("z"),
        pkg("sys-b", "0.9.0"),
    ]);
    // sys-b 0.9.0 does not link `z`, so cargo backtracks to it.
    let got = cargo_picks(&idx, "[dependencies]\nsys-a = \"1\"\nsys-b = \">=0.9\"\n");
    assert_eq!(got, ["sys-a 1.0.0", "sys-b 0.9.0"]);
    let err = cargo_error(&idx, "[dependencies]\nsys-a = \"1\"\nsys-b = \"1\"\n");
    assert!(matches!(err, ResolveError::NoSolution(_)));
}

#[test]
fn yanked_versions_are_skipped() {
    let idx = index([pkg("y", "1.0.0"), pkg("y", "1.1.0").yanked()]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\ny = \"1\"\n"),
        ["y 1.0.0"]
    );
    assert!(matches!(
        cargo_error(&idx, "[dependencies]\ny = \"=1.1.0\"\n"),
        ResolveError::NoSolution(_)
    ));
}

#[test]
fn pre_releases_only_when_a_requirement_names_one() {
    let idx = index([pkg("p", "1.0.0"), pkg("p", "1.1.0-beta.2")]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\np = \"1\"\n"),
        ["p 1.0.0"]
    );
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\np = \"^1.1.0-beta.1\"\n"),
        ["p 1.1.0-beta.2"]
    );
}

#[test]
fn rust_version_is_a_preference_with_fallback() {
    let idx = index([
        pkg("m", "1.0.0").rust_version("1.60"),
        pkg("m", "1.1.0").rust_version("1.70"),
        pkg("m", "1.2.0").rust_version("1.85"),
        pkg("n", "1.0.0").rust_version("1.90"),
    ]);
    let text = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.75\"\n[dependencies]\nm = \"1\"\nn = \"1\"\n";
    let root =
        wharf_resolver::RootManifest::from_toml_str(text, std::path::Path::new(".")).unwrap();
    let got = picks(&resolve(&idx, &root, &ResolveOptions::default()).unwrap());
    // m: newest compatible; n: no compatible version, so the newest anyway.
    assert_eq!(got, ["m 1.1.0", "n 1.0.0"]);
    // Resolver 2 ignores rust-version.
    let text2 = text.replace("edition = \"2024\"", "edition = \"2021\"");
    let root2 =
        wharf_resolver::RootManifest::from_toml_str(&text2, std::path::Path::new(".")).unwrap();
    assert_eq!(
        picks(&resolve(&idx, &root2, &ResolveOptions::default()).unwrap()),
        ["m 1.2.0", "n 1.0.0"]
    );
    // An explicit toolchain version applies whatever the manifest says.
    let explicit = ResolveOptions {
        rust_version: Some(Version::new(1, 65, 0)),
        ..ResolveOptions::default()
    };
    assert_eq!(
        picks(&resolve(&idx, &root2, &explicit).unwrap()),
        ["m 1.0.0", "n 1.0.0"]
    );
}

#[test]
fn dependency_cycles_are_rejected_after_solving() {
    let idx = index([
        pkg("a", "1.0.0").with(dep("b", "1")),
        pkg("b", "1.0.0").with(dep("a", "1")),
    ]);
    let err = cargo_error(&idx, "[dependencies]\na = \"1\"\n");
    assert!(
        matches!(err, ResolveError::Cycle { ref cycle } if cycle.len() == 3),
        "{err}"
    );
}

#[test]
fn the_root_is_locked_with_all_its_features() {
    let idx = index([
        pkg("opt", "1.0.0"),
        pkg("serde", "1.0.0").with(dep("derive", "^1").optional()),
        pkg("derive", "1.0.0"),
    ]);
    let body = "[dependencies]\nopt = { version = \"1\", optional = true }\nserde = \"1\"\n[features]\nfull = [\"serde/derive\"]\n";
    assert_eq!(
        cargo_picks(&idx, body),
        ["derive 1.0.0", "opt 1.0.0", "serde 1.0.0"]
    );
}

#[test]
fn lines_with_a_newer_schema_are_ignored() {
    let idx = index([pkg("s", "1.0.0"), pkg("s", "1.1.0").schema(3)]);
    assert_eq!(
        cargo_picks(&idx, "[dependencies]\ns = \"1\"\n"),
        ["s 1.0.0"]
    );
}

#[test]
fn non_registry_dependencies_are_refused() {
    let text = "[package]\nname = \"app\"\n[dependencies]\nlocal = { path = \"../local\" }\n";
    let err =
        wharf_resolver::RootManifest::from_toml_str(text, std::path::Path::new(".")).unwrap_err();
    assert!(matches!(err, ResolveError::UnsupportedDependency { ref name, .. } if name == "local"));
}

#[test]
fn plugin_mode_pins_the_host_api_and_installs_everything_else() {
    let idx = index([
        pkg("host-api", "2.3.0"),
        pkg("host-api", "2.4.1"),
        pkg("host-api", "3.0.0"),
        pkg("plugin-a", "1.0.0").with(dep("host-api", "^2.0")),
        pkg("plugin-a", "1.1.0").with(dep("host-api", "^2.5")),
        pkg("plugin-b", "0.3.0")
            .with(dep("host-api", ">=2.4"))
            .with(dep("helper", "1")),
        pkg("helper", "1.0.0"),
    ]);
    let root = manifest("[dependencies]\nplugin-a = \"1\"\nplugin-b = \"0.3\"\n");
    let resolution = resolve(&idx, &root, &host("2.4.1")).unwrap();
    assert_eq!(
        picks(&resolution),
        [
            "helper 1.0.0",
            "host-api 2.4.1",
            "plugin-a 1.0.0",
            "plugin-b 0.3.0"
        ]
    );
    let install: Vec<&str> = resolution
        .install_set()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(install, ["helper", "plugin-a", "plugin-b"]);
}

#[test]
fn a_host_api_missing_from_the_index_is_still_provided() {
    let idx = index([pkg("p", "1.0.0").with(dep("host-api", "^1.2"))]);
    let resolution = resolve(
        &idx,
        &manifest("[dependencies]\np = \"1\"\n"),
        &host("1.4.0"),
    )
    .unwrap();
    assert_eq!(picks(&resolution), ["host-api 1.4.0", "p 1.0.0"]);
    assert_eq!(resolution.packages[0].checksum, None);
}

#[test]
fn json_output_lists_names_versions_and_features() {
    let idx = index([pkg("j", "1.0.0")
        .feature("default", &["x"])
        .feature("x", &[])]);
    let resolution = resolve(
        &idx,
        &manifest("[dependencies]\nj = \"1\"\n"),
        &ResolveOptions::default(),
    )
    .unwrap();
    assert_eq!(
        resolution.to_json(),
        r#"{"packages":[{"name":"j","version":"1.0.0","features":["default","x"]}]}"#
    );
}

#[test]
fn index_dependencies_carry_their_features_and_default_flag() {
    let idx = index([
        pkg("top", "1.0.0").with(dep("core", "^1").no_default().features(&["alloc"])),
        pkg("core", "1.0.0")
            .with(dep("libc", "^0.2").optional())
            .with(dep("hash", "^0.8").optional())
            .feature("default", &["std"])
            .feature("std", &["dep:libc"])
            .feature("alloc", &["dep:hash"]),
        pkg("libc", "0.2.150"),
        pkg("hash", "0.8.0"),
    ]);
    let got = cargo_picks(&idx, "[dependencies]\ntop = \"1\"\n");
    assert_eq!(got, ["core 1.0.0", "hash 0.8.0", "top 1.0.0"]);
}
