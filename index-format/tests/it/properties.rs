//! Property tests: index lines survive a round trip byte for byte, and translation never
//! produces a line stable cargo would skip.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};
use wharf_index_format::{
    DependencyKind, FeatureMap, INDEX_V_MAX, IndexDependency, IndexEntry, NewCrate, PublishLimits,
    Pubtime,
};

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,15}"
}

fn version() -> impl Strategy<Value = semver::Version> {
    (
        0_u64..50,
        0_u64..50,
        0_u64..50,
        option::of("[a-z]{1,5}(\\.[1-9][0-9]{0,2})?"),
        option::of("[a-z0-9]{1,6}"),
    )
        .prop_map(|(major, minor, patch, pre, build)| {
            let pre = pre.map(|p| format!("-{p}")).unwrap_or_default();
            let build = build.map(|b| format!("+{b}")).unwrap_or_default();
            let text = format!("{major}.{minor}.{patch}{pre}{build}");
            semver::Version::parse(&text).expect("the strategy only builds valid versions")
        })
}

fn kind() -> impl Strategy<Value = DependencyKind> {
    prop_oneof![
        Just(DependencyKind::Normal),
        Just(DependencyKind::Build),
        Just(DependencyKind::Dev)
    ]
}

fn feature_map() -> impl Strategy<Value = FeatureMap> {
    btree_map(
        "[a-z][a-z0-9_+.-]{0,8}",
        vec("(dep:)?[a-z][a-z0-9_]{0,6}(\\??/[a-z]{1,4})?", 0..4),
        0..4,
    )
}

fn dependency() -> impl Strategy<Value = IndexDependency> {
    (
        name(),
        "(\\^|~|=|>=)?[0-9]{1,2}(\\.[0-9]{1,2}){0,2}",
        vec("[a-z][a-z0-9_-]{0,8}", 0..3),
        any::<bool>(),
        any::<bool>(),
        option::of(prop_oneof![
            Just("cfg(unix)".to_owned()),
            "[a-z0-9_]{1,8}-[a-z]{1,8}-[a-z]{1,8}"
        ]),
        kind(),
        option::of(Just("sparse+https://other.example/index/".to_owned())),
        option::of(name()),
    )
        .prop_map(
            |(name, req, features, optional, default_features, target, kind, registry, package)| {
                IndexDependency {
                    name,
                    req,
                    features,
                    optional,
                    default_features,
                    target,
                    kind,
                    registry,
                    package,
                }
            },
        )
}

fn extensions() -> impl Strategy<Value = BTreeMap<String, Value>> {
    btree_map(
        "x_[a-z]{1,8}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::from),
            any::<bool>().prop_map(|b| json!({ "flag": b, "list": [1, 2] })),
        ],
        0..3,
    )
}

fn index_entry() -> impl Strategy<Value = IndexEntry> {
    (
        (
            name(),
            version(),
            vec(dependency(), 0..5),
            "[0-9a-f]{64}",
            feature_map(),
            option::of(feature_map()),
        ),
        (
            any::<bool>(),
            option::of("[a-z]{1,8}"),
            option::of("1\\.[0-9]{1,2}(\\.[0-9])?"),
            option::of(1_u32..=2),
        ),
        (option::of(0_i64..4_102_444_800), extensions()),
    )
        .prop_map(
            |(
                (name, vers, deps, cksum, features, features2),
                (yanked, links, rust_version, v),
                (pubtime, extensions),
            )| {
                IndexEntry {
                    name,
                    vers,
                    deps,
                    cksum,
                    features,
                    features2,
                    yanked,
                    links,
                    rust_version,
                    v,
                    pubtime: pubtime.map(Pubtime::from_unix),
                    extensions,
                }
            },
        )
}

/// Publish metadata with dependencies and features that mostly reference each other.
fn new_crate_json() -> impl Strategy<Value = Value> {
    let dep = (
        prop_oneof![Just("alpha"), Just("beta"), Just("gamma"), Just("delta")],
        option::of(prop_oneof![Just("_alias"), Just("renamed")]),
        any::<bool>(),
        prop_oneof![Just("normal"), Just("build"), Just("dev")],
        option::of(Just("cfg(unix)")),
    )
        .prop_map(|(name, alias, optional, kind, target)| {
            let mut dep = json!({
                "optional": optional && kind != "dev", "default_features": true, "name": name,
                "features": [], "version_req": "^1.2", "target": target, "kind": kind
            });
            if let Some(alias) = alias {
                dep["explicit_name_in_toml"] = json!(alias);
            }
            dep
        });
    let value = prop_oneof![
        Just("dep:alpha"),
        Just("dep:_alias"),
        Just("beta/std"),
        Just("gamma?/std"),
        Just("renamed/x"),
        Just("delta"),
        Just("base"),
    ];
    (
        vec(dep, 0..4),
        btree_map("[a-z]{1,6}", vec(value, 0..3), 0..4),
        version(),
    )
        .prop_map(|(extra, mut features, vers)| {
            // Always-present targets for `dep:`, `?/` and `/` references; `extra` may add
            // more or leave references (gamma, delta) dangling.
            let mut deps = vec![
                json!({"optional": true, "default_features": true, "name": "alpha", "features": [],
                       "version_req": "^1", "target": null, "kind": "normal"}),
                json!({"optional": true, "default_features": false, "name": "real", "features": [],
                       "version_req": "^1", "target": null, "kind": "build",
                       "explicit_name_in_toml": "_alias"}),
                json!({"optional": false, "default_features": true, "name": "beta", "features": [],
                       "version_req": "~2", "target": "cfg(unix)", "kind": "normal"}),
            ];
            deps.extend(extra);
            features.insert("base".to_owned(), vec![]);
            json!({
                "name": "demo", "vers": vers.to_string(), "deps": deps, "features": features,
                "authors": [], "description": null, "documentation": null, "homepage": null,
                "readme": null, "readme_file": null, "keywords": [], "categories": [],
                "license": null, "license_file": null, "repository": null, "badges": {},
                "links": null, "rust_version": null
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn index_lines_round_trip_byte_for_byte(entry in index_entry()) {
        let line = entry.to_line();
        let parsed = IndexEntry::from_line(&line).unwrap();
        prop_assert_eq!(&parsed, &entry);
        prop_assert_eq!(parsed.to_line(), line);
    }

    #[test]
    fn translation_never_goes_above_v2_and_keeps_every_feature(meta in new_crate_json()) {
        let krate = NewCrate::from_json(meta.to_string().as_bytes(), &PublishLimits::default()).unwrap();
        match krate.to_index_entry(&"0".repeat(64), &PublishLimits::default()) {
            Err(e) => prop_assert!(
                matches!(e.code(), "InvalidFeature" | "InvalidDependency"),
                "unexpected rejection: {}",
                e
            ),
            Ok(entry) => {
                prop_assert!(entry.v.unwrap_or(1) <= INDEX_V_MAX);
                prop_assert!(entry.is_supported());
                prop_assert_eq!(entry.all_features(), krate.features.clone());
                prop_assert_eq!(entry.features2.is_some(), entry.v == Some(2));
                let keys: Vec<_> = entry.deps.iter().map(|d| (d.name.clone(), d.kind)).collect();
                let mut sorted = keys.clone();
                sorted.sort();
                prop_assert_eq!(keys, sorted);
                let line = entry.to_line();
                prop_assert_eq!(IndexEntry::from_line(&line).unwrap().to_line(), line);
            }
        }
    }
}
