//! cargo's publish metadata and the `PUT /api/v1/crates/new` bodies around it.

use serde_json::{Value, json};
use wharf_index_format::encode_publish_frame;

use crate::crate_tarball;

/// Publish metadata in the exact shape cargo 1.95 sends (every field present, optional ones
/// `null`), for a package without dependencies.
pub fn metadata_json(name: &str, version: &str) -> Value {
    metadata_json_with_deps(name, version, &[])
}

/// [`metadata_json`] with normal dependencies `(package, requirement)` on packages of the
/// same registry.
pub fn metadata_json_with_deps(name: &str, version: &str, deps: &[(&str, &str)]) -> Value {
    let deps: Vec<Value> = deps
        .iter()
        .map(|(package, req)| dependency_json(package, req, "normal"))
        .collect();
    json!({
        "name": name, "vers": version, "deps": deps, "features": {}, "authors": [],
        "description": "test", "documentation": null, "homepage": null, "readme": null,
        "readme_file": null, "keywords": [], "categories": [], "license": "MIT",
        "license_file": null, "repository": null, "badges": {}, "links": null,
        "rust_version": null
    })
}

/// One dependency entry of the publish metadata as cargo sends it (`kind` is `normal`,
/// `build` or `dev`).
pub fn dependency_json(name: &str, req: &str, kind: &str) -> Value {
    json!({
        "optional": false, "default_features": true, "name": name, "features": [],
        "version_req": req, "target": null, "kind": kind
    })
}

/// The publish frame around `json` and `krate`, by the registry's own encoder; panics on
/// parts over 4 GiB.
pub fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
    encode_publish_frame(json, krate).unwrap_or_else(|e| panic!("a test frame: {e}"))
}

/// A publish body for `metadata` and `krate`.
pub fn body(metadata: &Value, krate: &[u8]) -> Vec<u8> {
    frame(metadata.to_string().as_bytes(), krate)
}

/// A complete, valid publish body for `name` at `version`: [`metadata_json`] and
/// [`crate_tarball`].
pub fn publish_body(name: &str, version: &str) -> Vec<u8> {
    publish_body_with_deps(name, version, &[])
}

/// A complete, valid publish body for `name` at `version` with normal dependencies
/// `(package, requirement)`.
pub fn publish_body_with_deps(name: &str, version: &str, deps: &[(&str, &str)]) -> Vec<u8> {
    body(
        &metadata_json_with_deps(name, version, deps),
        &crate_tarball(name, version),
    )
}

#[cfg(test)]
mod tests {
    use wharf_index_format::{PublishLimits, prepare_publish};

    use super::*;

    #[test]
    fn a_publish_body_passes_every_check_and_keeps_its_dependencies() {
        let body = publish_body_with_deps("app", "0.2.0", &[("base", "^1.0")]);
        let prepared = prepare_publish(&body, &PublishLimits::default()).expect("valid");
        assert_eq!(prepared.entry.deps.len(), 1);
        assert_eq!(prepared.entry.deps[0].name, "base");
        assert_eq!(prepared.entry.deps[0].req, "^1.0");
        assert_eq!(prepared.crate_bytes, crate_tarball("app", "0.2.0"));
    }
}
