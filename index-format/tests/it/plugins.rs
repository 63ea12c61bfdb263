//! Plugin packages through the one publish path: the index line is derived from
//! `plugin.toml`, the metadata must agree with it, and a bad manifest names its key.

use wharf_index_format::{
    DependencyKind, FormatError, PackFile, PluginKind, PluginManifest, PublishLimits,
    encode_publish_frame, pack_plugin, prepare_publish,
};

const MANIFEST: &str = r#"[plugin]
name = "webhook-trigger"
version = "1.1.0"
kind = "plugin"
description = "Starts a flow when an HTTP request arrives"
license = "MIT OR Apache-2.0"
entry = "trigger.wat"
keywords = ["webhook"]

[dependencies]
host-api = "^1.2"
http-client = { version = "^1.0", features = ["tls"] }

[features]
default = ["signatures"]
signatures = []

[capabilities]
webhooks = true
exclusive = "inbound-http"
"#;

fn files(manifest: &str) -> Vec<PackFile> {
    [
        ("plugin.toml", manifest),
        ("trigger.wat", "(module)\n"),
        ("README.md", "# webhook-trigger\n"),
    ]
    .into_iter()
    .map(|(path, data)| PackFile {
        path: path.to_owned(),
        data: data.as_bytes().to_vec(),
        executable: false,
    })
    .collect()
}

/// The body `wharf plugin publish` sends: metadata derived from the manifest.
fn body(manifest: &str, metadata_from: &str) -> Vec<u8> {
    let parsed = PluginManifest::parse(metadata_from).unwrap();
    let root = format!("{}-{}", parsed.plugin.name, parsed.plugin.version);
    let tarball = pack_plugin(&root, files(manifest));
    let json =
        serde_json::to_vec(&parsed.to_new_crate(Some("# webhook-trigger\n".into()))).unwrap();
    encode_publish_frame(&json, &tarball).unwrap()
}

#[test]
fn a_plugin_publishes_with_an_index_line_from_its_manifest() {
    let prepared = prepare_publish(&body(MANIFEST, MANIFEST), &PublishLimits::default()).unwrap();
    let entry = &prepared.entry;
    assert_eq!(
        (entry.name.as_str(), entry.vers.to_string().as_str()),
        ("webhook-trigger", "1.1.0")
    );
    let deps: Vec<_> = entry
        .deps
        .iter()
        .map(|d| (d.name.as_str(), d.req.as_str(), d.kind))
        .collect();
    assert_eq!(
        deps,
        [
            ("host-api", "^1.2", DependencyKind::Normal),
            ("http-client", "^1.0", DependencyKind::Normal)
        ]
    );
    assert_eq!(entry.deps[1].features, ["tls"]);
    assert_eq!(entry.features["default"], ["signatures"]);
    assert_eq!(entry.links.as_deref(), Some("inbound-http"));
    assert!(entry.v.is_none_or(|v| v <= 2));
    let plugin = prepared
        .metadata
        .plugin
        .expect("a plugin upload carries its plugin facts");
    assert_eq!(plugin.kind, PluginKind::Plugin);
    assert!(plugin.capabilities.webhooks);
    assert_eq!(plugin.host_api, "^1.2");
    assert_eq!(
        prepared.metadata.license.as_deref(),
        Some("MIT OR Apache-2.0")
    );
}

#[test]
fn metadata_that_differs_from_the_manifest_is_refused() {
    for (from, to, field) in [
        (
            "name = \"webhook-trigger\"",
            "name = \"webhook-trigger2\"",
            "name",
        ),
        ("version = \"1.1.0\"", "version = \"1.1.1\"", "vers"),
        ("host-api = \"^1.2\"", "host-api = \"^1.3\"", "deps"),
        ("signatures = []", "signatures = []\nextra = []", "features"),
        (
            "license = \"MIT OR Apache-2.0\"",
            "license = \"MIT\"",
            "license",
        ),
    ] {
        let metadata_from = MANIFEST.replacen(from, to, 1);
        let err = prepare_publish(&body(MANIFEST, &metadata_from), &PublishLimits::default())
            .unwrap_err();
        let FormatError::PluginManifestMismatch { field: got, .. } = &err else {
            panic!("{field}: {err}");
        };
        assert_eq!(got, field);
    }
}

#[test]
fn a_bad_manifest_is_refused_naming_its_key() {
    for (from, to, message) in [
        (
            "kind = \"plugin\"",
            "kind = \"plugin\"\ncolour = \"red\"",
            "plugin.toml: [plugin] colour: unknown key",
        ),
        (
            "license = \"MIT OR Apache-2.0\"",
            "license = \"MIT OR Nonsense\"",
            "plugin.toml: [plugin] license: `MIT OR Nonsense` is not an SPDX",
        ),
        (
            "entry = \"trigger.wat\"",
            "entry = \"missing.wat\"",
            "plugin.toml: [plugin] entry: `missing.wat` is not a file of the package",
        ),
        (
            "webhooks = true",
            "webhooks = true\nnetwork = [\"*.example.com:99999\"]",
            "plugin.toml: [capabilities] network: \"*.example.com:99999\" is not a host[:port]",
        ),
    ] {
        let manifest = MANIFEST.replacen(from, to, 1);
        // The metadata is the good one: the tarball's manifest alone is at fault.
        let err =
            prepare_publish(&body(&manifest, MANIFEST), &PublishLimits::default()).unwrap_err();
        assert_eq!(err.code(), "InvalidPluginManifest", "{err}");
        assert!(err.to_string().starts_with(message), "{err}");
    }
    // A bad version in both manifest and metadata is reported as the manifest's key.
    let manifest = MANIFEST.replacen("version = \"1.1.0\"", "version = \"1.1\"", 1);
    let err = prepare_publish(&body(&manifest, &manifest), &PublishLimits::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("plugin.toml: [plugin] version: `1.1`"),
        "{err}"
    );
}

#[test]
fn a_package_with_neither_manifest_says_so() {
    let parsed = PluginManifest::parse(MANIFEST).unwrap();
    let tarball = pack_plugin(
        "webhook-trigger-1.1.0",
        files(MANIFEST)
            .into_iter()
            .filter(|f| f.path != "plugin.toml")
            .collect(),
    );
    let json = serde_json::to_vec(&parsed.to_new_crate(None)).unwrap();
    let err = prepare_publish(
        &encode_publish_frame(&json, &tarball).unwrap(),
        &PublishLimits::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("has no `Cargo.toml` at its root (nor a `plugin.toml`"),
        "{err}"
    );
}
