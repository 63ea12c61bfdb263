//! Refused publishes: `Cargo.toml` inside the `.crate`.

use wharf_index_format::{PublishLimits, ValidatedTarball, prepare_publish, validate_tarball};

use crate::support::{CrateBuilder, assert_rejected, body, manifest, metadata};

const NAME: &str = "demo";
const VERS: &str = "1.0.0";

fn validate(crate_bytes: &[u8]) -> Result<ValidatedTarball, wharf_index_format::FormatError> {
    validate_tarball(crate_bytes, NAME, VERS, &PublishLimits::default())
}

fn with_manifest(text: &str) -> Vec<u8> {
    CrateBuilder::empty(NAME, VERS)
        .file("Cargo.toml", text)
        .file("src/lib.rs", "")
        .build()
}

#[test]
fn missing_manifest() {
    let krate = CrateBuilder::empty(NAME, VERS)
        .file("src/lib.rs", "")
        .build();
    assert_rejected(
        validate(&krate),
        "InvalidManifest",
        "`demo-1.0.0/Cargo.toml`: the .crate has no `Cargo.toml`",
    );
    let nested = CrateBuilder::empty(NAME, VERS)
        .file("sub/Cargo.toml", &manifest(NAME, VERS))
        .build();
    assert_rejected(
        validate(&nested),
        "InvalidManifest",
        "no `Cargo.toml` at its root",
    );
    let lowercase = CrateBuilder::empty(NAME, VERS)
        .file("cargo.toml", &manifest(NAME, VERS))
        .build();
    assert_rejected(
        validate(&lowercase),
        "InvalidManifest",
        "demo-1.0.0/Cargo.toml",
    );
}

#[test]
fn two_manifests_differing_in_case() {
    let krate = CrateBuilder::standard(NAME, VERS)
        .file("CARGO.toml", &manifest(NAME, VERS))
        .build();
    assert_rejected(
        validate(&krate),
        "DuplicatePath",
        "`demo-1.0.0/CARGO.toml` collides with `demo-1.0.0/Cargo.toml`",
    );
}

#[test]
fn manifest_that_is_a_directory() {
    let tar = crate::support::raw_tar::RawTar::new()
        .entry(b"demo-1.0.0/Cargo.toml/", b'5', 0o755, b"")
        .finish();
    assert_rejected(
        validate(&crate::support::gzip(&tar)),
        "InvalidManifest",
        "not a regular file",
    );
}

#[test]
fn invalid_toml() {
    assert_rejected(
        validate(&with_manifest("[package\nname = ")),
        "InvalidManifest",
        "invalid TOML",
    );
}

#[test]
fn no_package_table() {
    assert_rejected(
        validate(&with_manifest("[lib]\npath = \"src/lib.rs\"\n")),
        "InvalidManifest",
        "no `[package]` table",
    );
}

#[test]
fn patch_section_present() {
    let text = format!(
        "{}\n[patch.crates-io]\nserde = {{ git = \"https://example.invalid/serde\" }}\n",
        manifest(NAME, VERS)
    );
    assert_rejected(
        validate(&with_manifest(&text)),
        "InvalidManifest",
        "`[patch]` is not allowed",
    );
}

#[test]
fn unresolved_workspace_inheritance() {
    let text = "[package]\nname = \"demo\"\nversion = \"1.0.0\"\nedition.workspace = true\n";
    assert_rejected(
        validate(&with_manifest(text)),
        "InvalidManifest",
        "`package.edition.workspace = true` is unresolved",
    );
    let text = format!(
        "{}\n[dependencies]\nserde = {{ workspace = true }}\n",
        manifest(NAME, VERS)
    );
    assert_rejected(
        validate(&with_manifest(&text)),
        "InvalidManifest",
        "`dependencies.serde.workspace = true`",
    );
    let text = format!("{}\n[lints]\nworkspace = true\n", manifest(NAME, VERS));
    assert_rejected(
        validate(&with_manifest(&text)),
        "InvalidManifest",
        "`lints.workspace = true`",
    );
}

#[test]
fn manifest_name_or_version_different_from_the_metadata() {
    let krate = with_manifest(&manifest("evil", VERS));
    let err = assert_rejected(validate(&krate), "ManifestMismatch", "name = `evil`");
    assert!(err.to_string().contains("metadata says `demo`"), "{err}");
    let krate = with_manifest(&manifest(NAME, "1.0.1"));
    assert_rejected(validate(&krate), "ManifestMismatch", "version = `1.0.1`");
    let krate = with_manifest(&manifest(NAME, "1.0.0+other"));
    assert_rejected(validate(&krate), "ManifestMismatch", "`1.0.0+other`");
}

#[test]
fn manifest_links_different_from_the_metadata() {
    let text = manifest(NAME, VERS).replace("build = false", "build = false\nlinks = \"z\"");
    let err = prepare_publish(
        &body(&metadata(NAME, VERS), &with_manifest(&text)),
        &PublishLimits::default(),
    );
    assert_rejected(err, "ManifestMismatch", "links = `z`");
}
