//! Publish metadata → index line, as docs/wire-formats.md §4 "The index line" and §5
//! "Publish" describe it.

use serde_json::{Value, json};
use wharf_index_format::{DependencyKind, IndexEntry, NewCrate, PublishLimits, prepare_publish};

use crate::support::{dependency, metadata};

const RICH_BODY: &[u8] = include_bytes!("../fixtures/publish/wharf-rich-0.2.0+build.7.body");

fn translate(meta: &Value) -> IndexEntry {
    let krate =
        NewCrate::from_json(meta.to_string().as_bytes(), &PublishLimits::default()).unwrap();
    krate
        .to_index_entry(&"ab".repeat(32), &PublishLimits::default())
        .unwrap()
}

#[test]
fn the_recorded_cargo_body_translates_to_the_expected_line() {
    let prepared = prepare_publish(RICH_BODY, &PublishLimits::default()).unwrap();
    let expected = concat!(
        r#"{"name":"wharf-rich","vers":"0.2.0+build.7","deps":["#,
        r#"{"name":"dep-a","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"},"#,
        r#"{"name":"dep-b","req":"^1","features":[],"optional":true,"default_features":false,"target":null,"kind":"normal"},"#,
        r#"{"name":"dep-b","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"dev"},"#,
        r#"{"name":"dep-c","req":"^1","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"},"#,
        r#"{"name":"dep-d","req":"^1","features":[],"optional":false,"default_features":true,"target":"cfg(unix)","kind":"normal"},"#,
        r#"{"name":"other-x","req":"^0.3","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":"sparse+http://127.0.0.1:38472/other/"},"#,
        r#"{"name":"renamed","req":"^1.2","features":["std"],"optional":false,"default_features":true,"target":null,"kind":"normal","package":"dep-a"}],"#,
        r#""cksum":"CKSUM","features":{"default":["std"]},"features2":{"extra":["dep:dep-c"],"std":["dep-b?/std"]},"#,
        r#""yanked":false,"links":"rich","rust_version":"1.85","v":2}"#
    )
    .replace("CKSUM", &prepared.entry.cksum);
    assert_eq!(prepared.entry.to_line(), expected);
}

#[test]
fn a_renamed_dependency_gets_the_alias_as_name_and_the_package() {
    let mut dep = dependency("rand", "^0.8", "normal");
    dep["explicit_name_in_toml"] = json!("_rand");
    let mut meta = metadata("demo", "1.0.0");
    meta["deps"] = json!([dep]);
    let entry = translate(&meta);
    assert_eq!(entry.deps[0].name, "_rand");
    assert_eq!(entry.deps[0].package.as_deref(), Some("rand"));
    assert_eq!(entry.deps[0].package_name(), "rand");
    let plain = translate(&{
        let mut meta = metadata("demo", "1.0.0");
        meta["deps"] = json!([dependency("rand", "^0.8", "normal")]);
        meta
    });
    assert_eq!(plain.deps[0].package, None);
    assert!(!plain.to_line().contains("\"package\""));
}

#[test]
fn an_optional_dependency_behind_dep_syntax_moves_the_feature_to_features2() {
    let mut dep = dependency("simd", "^1", "normal");
    dep["optional"] = json!(true);
    let mut meta = metadata("demo", "1.0.0");
    meta["deps"] = json!([dep]);
    meta["features"] = json!({"fast": ["dep:simd"], "default": ["fast"]});
    let entry = translate(&meta);
    assert_eq!(entry.v, Some(2));
    assert_eq!(entry.features.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(entry.features2.as_ref().unwrap()["fast"], ["dep:simd"]);
    assert!(entry.is_supported());
}

#[test]
fn implicit_optional_features_stay_at_v1() {
    let mut dep = dependency("simd", "^1", "normal");
    dep["optional"] = json!(true);
    let mut meta = metadata("demo", "1.0.0");
    meta["deps"] = json!([dep]);
    meta["features"] = json!({"fast": ["simd", "simd/avx"]});
    let entry = translate(&meta);
    assert_eq!((entry.v, entry.features2.is_none()), (None, true));
    assert!(!entry.to_line().contains("\"v\""));
}

#[test]
fn build_and_dev_kinds_are_copied_and_sorted_by_name_then_kind() {
    let mut meta = metadata("demo", "1.0.0");
    meta["deps"] = json!([
        dependency("zeta", "^1", "normal"),
        dependency("cc", "^1", "dev"),
        dependency("cc", "^1", "build"),
        dependency("cc", "^1", "normal"),
    ]);
    let entry = translate(&meta);
    let order: Vec<(&str, DependencyKind)> = entry
        .deps
        .iter()
        .map(|d| (d.name.as_str(), d.kind))
        .collect();
    assert_eq!(
        order,
        [
            ("cc", DependencyKind::Normal),
            ("cc", DependencyKind::Build),
            ("cc", DependencyKind::Dev),
            ("zeta", DependencyKind::Normal),
        ]
    );
}

#[test]
fn target_specific_dependencies_keep_their_target() {
    let mut windows = dependency("winapi", "^0.3", "normal");
    windows["target"] = json!("cfg(windows)");
    let mut triple = dependency("libc", "^0.2", "build");
    triple["target"] = json!("x86_64-unknown-linux-gnu");
    let mut meta = metadata("demo", "1.0.0");
    meta["deps"] = json!([windows, triple]);
    let entry = translate(&meta);
    assert_eq!(
        entry.deps[0].target.as_deref(),
        Some("x86_64-unknown-linux-gnu")
    );
    assert_eq!(entry.deps[1].target.as_deref(), Some("cfg(windows)"));
}

#[test]
fn the_registry_field_is_copied_verbatim() {
    let mut crates_io = dependency("serde", "^1", "normal");
    crates_io["registry"] = json!("https://github.com/rust-lang/crates.io-index");
    let mut meta = metadata("demo", "1.0.0");
    meta["deps"] = json!([crates_io, dependency("local", "^1", "normal")]);
    let entry = translate(&meta);
    assert_eq!(entry.deps[0].registry, None);
    assert_eq!(
        entry.deps[1].registry.as_deref(),
        Some("https://github.com/rust-lang/crates.io-index")
    );
    assert!(
        entry
            .to_line()
            .contains(r#""registry":"https://github.com/rust-lang/crates.io-index""#)
    );
}

#[test]
fn build_metadata_versions_are_kept_whole() {
    let entry = translate(&metadata("demo", "2.0.0-rc.1+git.abc"));
    assert_eq!(entry.vers.to_string(), "2.0.0-rc.1+git.abc");
    assert!(
        entry
            .to_line()
            .starts_with(r#"{"name":"demo","vers":"2.0.0-rc.1+git.abc","#)
    );
}

#[test]
fn links_rust_version_and_cksum_are_copied_and_the_rest_dropped() {
    let mut meta = metadata("demo", "1.0.0");
    meta["links"] = json!("z");
    meta["rust_version"] = json!("1.70");
    meta["description"] = json!("not in the index");
    let entry = translate(&meta);
    assert_eq!(entry.links.as_deref(), Some("z"));
    assert_eq!(entry.rust_version.as_deref(), Some("1.70"));
    assert_eq!(entry.cksum, "ab".repeat(32));
    assert_eq!(entry.pubtime, None);
    assert!(!entry.to_line().contains("not in the index"));
}
