//! Resolving a real `Cargo.toml` against a sparse-index directory in cargo's layout.
//!
//! `cargo run -p wharf-resolver --example sparse_dir -- INDEX_DIR MANIFEST` resolves any
//! manifest; without arguments it unpacks the real-index fixture (`fixtures/resolver/`) into
//! a temporary directory and resolves its `cli-tool` case. The test suite runs it too.

use std::path::{Path, PathBuf};

use wharf_resolver::{LocalIndex, Resolution, Resolver, RootManifest, Version};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/resolver")
}

/// Resolves `manifest` against the index at `index_dir`, preferring versions that
/// `rust_version` supports.
fn resolve_dir(index_dir: &Path, manifest: &Path, rust_version: Version) -> Resolution {
    let index = LocalIndex::open(index_dir).unwrap_or_else(|e| panic!("{e}"));
    let root = RootManifest::from_path(manifest).unwrap_or_else(|e| panic!("{e}"));
    Resolver::new(&index)
        .rust_version(rust_version)
        .resolve(&root)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Unpacks the fixture index into `into` and resolves the `cli-tool` case.
fn resolve_fixture(into: &Path) -> Resolution {
    let archive = std::fs::read(fixtures().join("index.tar.gz")).expect("the fixture exists");
    tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()))
        .unpack(into)
        .expect("the fixture unpacks");
    let manifest = fixtures().join("cases/cli-tool/Cargo.toml");
    resolve_dir(into, &manifest, Version::new(1, 95, 0))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let resolution = if let [index_dir, manifest] = args.as_slice() {
        resolve_dir(
            Path::new(index_dir),
            Path::new(manifest),
            Version::new(1, 95, 0),
        )
    } else {
        let scratch = tempfile::tempdir().expect("a temporary directory");
        resolve_fixture(scratch.path())
    };
    println!("{}", resolution.to_json());
}

#[test]
fn the_fixture_case_resolves_as_cargo_did() {
    let scratch = tempfile::tempdir().unwrap();
    let resolution = resolve_fixture(scratch.path());
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("cases/cli-tool/expected.json")).unwrap(),
    )
    .unwrap();
    let wanted = expected["packages"].as_array().expect("a solvable case");
    assert_eq!(resolution.packages.len(), wanted.len());
    for package in wanted {
        let (name, version) = (package[0].as_str().unwrap(), package[1].as_str().unwrap());
        assert!(
            resolution
                .versions_of(name)
                .iter()
                .any(|v| v.to_string() == version),
            "cargo picked {name} {version}"
        );
    }
}
