//! Publish requests built by hand, the way cargo frames them, for tests that speak raw HTTP.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// A `.crate` tarball like `cargo package` makes: `name-version/Cargo.toml` and `src/lib.rs`.
pub fn crate_tarball(name: &str, version: &str) -> Vec<u8> {
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\ndescription = \"test\"\nlicense = \"MIT\"\n"
    );
    let files = [
        ("Cargo.toml", manifest.as_str()),
        ("src/lib.rs", "pub fn f() {}\n"),
    ];
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(
                &mut header,
                format!("{name}-{version}/{path}"),
                contents.as_bytes(),
            )
            .expect("appending to an in-memory tarball");
    }
    builder
        .into_inner()
        .and_then(GzEncoder::finish)
        .expect("finishing an in-memory tarball")
}

/// cargo's publish metadata for a crate without dependencies.
pub fn metadata_json(name: &str, version: &str) -> serde_json::Value {
    metadata_json_with_deps(name, version, &[])
}

/// cargo's publish metadata for a crate with normal dependencies `(package, requirement)`
/// on packages of the same registry.
pub fn metadata_json_with_deps(
    name: &str,
    version: &str,
    deps: &[(&str, &str)],
) -> serde_json::Value {
    let deps: Vec<serde_json::Value> = deps
        .iter()
        .map(|(package, req)| {
            serde_json::json!({
                "optional": false, "default_features": true, "name": package,
                "features": [], "version_req": req, "target": null, "kind": "normal"
            })
        })
        .collect();
    serde_json::json!({
        "name": name, "vers": version, "deps": deps, "features": {}, "authors": [],
        "description": "test", "documentation": null, "homepage": null, "readme": null,
        "readme_file": null, "keywords": [], "categories": [], "license": "MIT",
        "license_file": null, "repository": null, "badges": {}, "links": null, "rust_version": null
    })
}

/// The publish frame: `[u32 LE json_len][json][u32 LE crate_len][crate]`.
pub fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(json.len() + krate.len() + 8);
    body.write_all(&u32::try_from(json.len()).expect("small json").to_le_bytes())
        .expect("vec write");
    body.extend_from_slice(json);
    body.write_all(
        &u32::try_from(krate.len())
            .expect("small crate")
            .to_le_bytes(),
    )
    .expect("vec write");
    body.extend_from_slice(krate);
    body
}

/// A complete, valid publish body for `name` at `version`.
pub fn publish_body(name: &str, version: &str) -> Vec<u8> {
    publish_body_with_deps(name, version, &[])
}

/// A complete, valid publish body for `name` at `version` with normal dependencies
/// `(package, requirement)`.
pub fn publish_body_with_deps(name: &str, version: &str, deps: &[(&str, &str)]) -> Vec<u8> {
    frame(
        metadata_json_with_deps(name, version, deps)
            .to_string()
            .as_bytes(),
        &crate_tarball(name, version),
    )
}
