//! docs/threats.md, rejection table, "Frame, metadata, names, versions, dependencies, features
//! and counts". Each test sends a whole body to `prepare_publish`.

use serde_json::{Value, json};
use wharf_index_format::{
    CRATES_IO_GIT_INDEX, CRATES_IO_SPARSE_INDEX, PublishLimits, default_dependency_registries,
    prepare_publish,
};

use crate::support::{CrateBuilder, assert_rejected, body, dependency, frame, metadata};

fn good_crate() -> Vec<u8> {
    CrateBuilder::standard("demo", "1.0.0").build()
}

fn publish(
    meta: &Value,
) -> Result<wharf_index_format::PreparedPublish, wharf_index_format::FormatError> {
    prepare_publish(&body(meta, &good_crate()), &PublishLimits::default())
}

fn with(field: &str, value: Value) -> Value {
    let mut meta = metadata("demo", "1.0.0");
    meta[field] = value;
    meta
}

#[test]
fn body_shorter_than_the_declared_json_length() {
    let mut bytes = frame(b"{}", b"");
    bytes.truncate(5);
    assert_rejected(
        prepare_publish(&bytes, &PublishLimits::default()),
        "MalformedFrame",
        "declared as 2 bytes but only 1",
    );
}

#[test]
fn body_shorter_than_the_declared_crate_length() {
    let krate = good_crate();
    let mut bytes = body(&metadata("demo", "1.0.0"), &krate);
    bytes.pop();
    let expected = format!(
        "declared as {} bytes but only {}",
        krate.len(),
        krate.len() - 1
    );
    assert_rejected(
        prepare_publish(&bytes, &PublishLimits::default()),
        "MalformedFrame",
        &expected,
    );
}

#[test]
fn trailing_bytes_after_the_crate() {
    let mut bytes = body(&metadata("demo", "1.0.0"), &good_crate());
    bytes.extend_from_slice(b"xyz");
    assert_rejected(
        prepare_publish(&bytes, &PublishLimits::default()),
        "MalformedFrame",
        "3 trailing bytes",
    );
}

#[test]
fn metadata_that_is_not_an_object() {
    let bytes = frame(b"[\"demo\"]", &good_crate());
    assert_rejected(
        prepare_publish(&bytes, &PublishLimits::default()),
        "InvalidMetadata",
        "found an array",
    );
}

#[test]
fn metadata_that_is_not_utf8() {
    let json = metadata("demo", "1.0.0")
        .to_string()
        .replace("\"test\"", "\"t\u{e9}st\"");
    let latin1: Vec<u8> = json
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    assert_rejected(
        prepare_publish(&frame(&latin1, &good_crate()), &PublishLimits::default()),
        "InvalidMetadata",
        "not UTF-8",
    );
}

#[test]
fn metadata_with_a_byte_order_mark() {
    let mut json = b"\xEF\xBB\xBF".to_vec();
    json.extend(metadata("demo", "1.0.0").to_string().bytes());
    assert_rejected(
        prepare_publish(&frame(&json, &good_crate()), &PublishLimits::default()),
        "InvalidMetadata",
        "byte-order mark",
    );
}

#[test]
fn metadata_with_duplicate_keys() {
    let json = metadata("demo", "1.0.0")
        .to_string()
        .replacen('{', r#"{"name":"other","#, 1);
    assert_rejected(
        prepare_publish(
            &frame(json.as_bytes(), &good_crate()),
            &PublishLimits::default(),
        ),
        "InvalidMetadata",
        "duplicate key `name`",
    );
}

#[test]
fn metadata_over_one_mebibyte() {
    let meta = with("readme", Value::String("x".repeat(1024 * 1024)));
    assert_rejected(
        publish(&meta),
        "InvalidMetadata",
        "the limit is 1048576 bytes",
    );
}

#[test]
fn crate_over_the_upload_limit_is_too_large() {
    let oversized = vec![0_u8; 10 * 1024 * 1024 + 1];
    let err = assert_rejected(
        prepare_publish(
            &body(&metadata("demo", "1.0.0"), &oversized),
            &PublishLimits::default(),
        ),
        "UploadTooLarge",
        "10485761 bytes",
    );
    assert_eq!(err.kind(), wharf_index_format::ErrorKind::TooLarge);
}

#[test]
fn invalid_package_names() {
    for name in ["", &"a".repeat(65), "1demo", "-demo", "\u{430}bc", "de mo"] {
        assert_rejected(
            publish(&with("name", json!(name))),
            "InvalidName",
            &format!("`{name}`"),
        );
    }
}

#[test]
fn reserved_package_names() {
    for name in [
        "std",
        "core",
        "alloc",
        "proc_macro",
        "test",
        "rustc",
        "nul",
        "con",
        "com1",
        "lpt9",
    ] {
        assert_rejected(
            publish(&with("name", json!(name))),
            "ReservedName",
            &format!("`{name}`"),
        );
    }
}

#[test]
fn versions_that_are_not_semver_or_too_long() {
    for version in ["1.0", "v1.0.0", "1.0.0.0", "latest"] {
        assert_rejected(
            publish(&with("vers", json!(version))),
            "InvalidVersion",
            &format!("`{version}`"),
        );
    }
    let long = format!("1.0.0+{}", "a".repeat(145));
    assert_rejected(
        publish(&with("vers", json!(long))),
        "InvalidVersion",
        "the limit is 150",
    );
}

#[test]
fn dependencies_with_invalid_names() {
    let meta = with("deps", json!([dependency("bad name", "^1", "normal")]));
    assert_rejected(publish(&meta), "InvalidDependency", "`bad name`");
    let mut renamed = dependency("serde", "^1", "normal");
    renamed["explicit_name_in_toml"] = json!("9lives");
    assert_rejected(
        publish(&with("deps", json!([renamed]))),
        "InvalidDependency",
        "`9lives`",
    );
}

#[test]
fn dependencies_with_unparsable_or_wildcard_requirements() {
    let meta = with("deps", json!([dependency("serde", "not a req", "normal")]));
    assert_rejected(publish(&meta), "InvalidDependency", "`not a req`");
    let meta = with("deps", json!([dependency("serde", "*", "normal")]));
    assert_rejected(
        publish(&meta),
        "InvalidDependency",
        "wildcard requirement `*`",
    );
}

/// What `wharf serve` allows by default: itself and crates.io.
fn registry_policy() -> PublishLimits {
    PublishLimits::default().with_dependency_registries(
        "sparse+https://wharf.example/index/",
        &default_dependency_registries(),
    )
}

fn with_registry(registry: Option<&str>) -> Value {
    let mut dep = dependency("serde", "^1", "normal");
    if let Some(registry) = registry {
        dep["registry"] = json!(registry);
    }
    with("deps", json!([dep]))
}

#[test]
fn dependencies_from_registries_not_allowed() {
    let elsewhere = body(
        &with_registry(Some("sparse+https://elsewhere.example/index/")),
        &good_crate(),
    );
    let error = assert_rejected(
        prepare_publish(&elsewhere, &registry_policy()),
        "InvalidDependency",
        "`sparse+https://elsewhere.example/index/`",
    );
    let message = error.to_string();
    assert!(
        message.starts_with("invalid dependency `serde`"),
        "{message}"
    );
    assert!(
        message.contains(
            "only from `sparse+https://wharf.example/index/`, `https://github.com/rust-lang/crates.io-index`, `sparse+https://index.crates.io/`"
        ),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    // An empty list allows this registry alone.
    let only_here = PublishLimits::default()
        .with_dependency_registries("sparse+https://wharf.example/index/", &[]);
    let crates_io = body(&with_registry(Some(CRATES_IO_GIT_INDEX)), &good_crate());
    assert_rejected(
        prepare_publish(&crates_io, &only_here),
        "InvalidDependency",
        CRATES_IO_GIT_INDEX,
    );
}

#[test]
fn dependencies_from_this_registry_or_crates_io_are_allowed() {
    for registry in [
        None,
        Some("sparse+https://wharf.example/index/"),
        Some("sparse+https://wharf.example/index"),
        Some(CRATES_IO_GIT_INDEX),
        Some(CRATES_IO_SPARSE_INDEX),
    ] {
        let prepared = prepare_publish(
            &body(&with_registry(registry), &good_crate()),
            &registry_policy(),
        )
        .unwrap_or_else(|e| panic!("{registry:?} refused: {e}"));
        assert_eq!(prepared.entry.deps[0].registry.as_deref(), registry);
    }
}

#[test]
fn dependencies_of_an_unknown_kind_or_artifact_dependencies() {
    let meta = with("deps", json!([dependency("serde", "^1", "weird")]));
    assert_rejected(publish(&meta), "InvalidDependency", "kind `weird`");
    let mut artifact = dependency("serde", "^1", "normal");
    artifact["artifact"] = json!(["bin"]);
    assert_rejected(
        publish(&with("deps", json!([artifact]))),
        "InvalidDependency",
        "v: 3",
    );
}

#[test]
fn more_than_500_dependencies() {
    let deps: Vec<Value> = (0..501)
        .map(|i| dependency(&format!("dep{i}"), "^1", "normal"))
        .collect();
    assert_rejected(
        publish(&with("deps", Value::Array(deps))),
        "PolicyViolation",
        "501 dependencies given; at most 500",
    );
}

#[test]
fn features_referencing_unknown_dependencies_or_with_bad_names() {
    let meta = with("features", json!({"fast": ["dep:simd"]}));
    assert_rejected(publish(&meta), "InvalidFeature", "`dep:simd`");
    let meta = with("features", json!({"fast": ["simd/avx"]}));
    assert_rejected(publish(&meta), "InvalidFeature", "`simd`");
    let meta = with("features", json!({"fa st": []}));
    assert_rejected(publish(&meta), "InvalidFeature", "`fa st`");
}

#[test]
fn more_than_300_features() {
    let features: serde_json::Map<String, Value> =
        (0..301).map(|i| (format!("f{i}"), json!([]))).collect();
    assert_rejected(
        publish(&with("features", Value::Object(features))),
        "PolicyViolation",
        "301 features given; at most 300",
    );
}

#[test]
fn more_than_five_keywords_or_categories() {
    let six = json!(["a", "b", "c", "d", "e", "f"]);
    assert_rejected(
        publish(&with("keywords", six.clone())),
        "PolicyViolation",
        "`keywords`",
    );
    assert_rejected(
        publish(&with("categories", six)),
        "PolicyViolation",
        "`categories`",
    );
}

#[test]
fn a_rust_version_with_an_operator() {
    assert_rejected(
        publish(&with("rust_version", json!(">=1.70"))),
        "InvalidMetadata",
        "`>=1.70`",
    );
}
