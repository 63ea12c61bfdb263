//! Plugins end to end: the ten core plugins published with `wharf plugin publish` to a real
//! `wharf serve`, their index lines as their manifests say, `wharf resolve --host-api` over
//! HTTP for both host API majors, every bad manifest refused with 400 naming the key and
//! nothing stored, and crates publishing as before.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::core_plugins::{CORE_PLUGINS, core_plugin_dir};
use wharf_e2e_tests::upload::{frame, publish_body};
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};
use wharf_index_format::{
    INDEX_V_MAX, IndexEntry, PackFile, PluginManifest, index_path, pack_plugin,
};

fn wharf(args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(wharf_binary())
        .args(args)
        .env_remove("WHARF_TOKEN")
        .env_remove("WHARF_CA_CERT")
        .output()?)
}

fn publish_plugin(registry: &TestRegistry, dir: &Path) -> TestResult<Output> {
    let dir = dir.to_str().ok_or("fixture path is UTF-8")?;
    let index = registry.index_url();
    wharf(&[
        "plugin",
        "publish",
        dir,
        "--registry",
        &index,
        "--token",
        &registry.admin_token,
    ])
}

/// The index lines of `name`, by version.
fn index_lines(registry: &TestRegistry, name: &str) -> TestResult<BTreeMap<String, IndexEntry>> {
    let url = format!("{}/index/{}", registry.url(), index_path(name));
    let text = registry
        .http()
        .get(url)
        .send()?
        .error_for_status()?
        .text()?;
    text.lines()
        .map(|line| {
            let entry = IndexEntry::from_line(line)?;
            Ok((entry.vers.to_string(), entry))
        })
        .collect()
}

#[test]
fn the_core_plugins_publish_resolve_and_show_their_capabilities() -> TestResult {
    let registry = TestRegistry::start();
    for (name, version) in CORE_PLUGINS {
        let out = publish_plugin(&registry, &core_plugin_dir(name, version))?;
        assert!(
            out.status.success(),
            "{name} {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .starts_with(&format!("published {name} {version} (plugin, sha256 ")),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    check_index_lines(&registry)?;
    check_plugin_api(&registry)?;
    check_resolutions(&registry)
}

/// Each index line says what the manifest says, in cargo's format.
fn check_index_lines(registry: &TestRegistry) -> TestResult {
    for (name, version) in CORE_PLUGINS {
        let manifest = PluginManifest::parse(&std::fs::read_to_string(
            core_plugin_dir(name, version).join("plugin.toml"),
        )?)?;
        let lines = index_lines(registry, name)?;
        let entry = &lines[*version];
        assert!(entry.v.unwrap_or(1) <= INDEX_V_MAX, "{name} {version}");
        let deps: BTreeMap<_, _> = entry
            .deps
            .iter()
            .map(|d| {
                assert_eq!(d.kind, wharf_index_format::DependencyKind::Normal);
                assert!(d.registry.is_none() && d.package.is_none() && d.target.is_none());
                (
                    d.name.clone(),
                    (d.req.clone(), d.optional, d.features.clone()),
                )
            })
            .collect();
        let expected: BTreeMap<_, _> = manifest
            .dependencies
            .iter()
            .map(|(dep, spec)| {
                (
                    dep.clone(),
                    (spec.version.clone(), spec.optional, spec.features.clone()),
                )
            })
            .collect();
        assert_eq!(deps, expected, "{name} {version}");
        let mut features = entry.features.clone();
        features.extend(entry.features2.clone().unwrap_or_default());
        assert_eq!(features, manifest.features, "{name} {version}");
        assert_eq!(
            entry.links, manifest.capabilities.exclusive,
            "{name} {version}"
        );
        assert!(!entry.yanked);
    }

    Ok(())
}

/// The plugin facts the index line does not carry, from the API.
fn check_plugin_api(registry: &TestRegistry) -> TestResult {
    let shown: serde_json::Value = registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/plugins/approval-step",
            registry.url()
        ))
        .send()?
        .json()?;
    assert_eq!(shown["name"], "approval-step");
    let versions = shown["versions"].as_array().ok_or("versions")?;
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["version"], "2.0.0");
    assert_eq!(versions[1]["kind"], "plugin");
    assert_eq!(versions[1]["host_api"], "^2.0");
    assert_eq!(versions[1]["capabilities"]["storage"], "read-write");
    assert_eq!(versions[1]["capabilities"]["schedules"], true);
    let search: serde_json::Value = registry
        .http()
        .get(format!("{}/api/v1/crates?q=approval", registry.url()))
        .send()?
        .json()?;
    assert_eq!(search["crates"][0]["plugin_kind"], "plugin");

    Ok(())
}

/// Resolution of plugin sets against each host API major.
fn check_resolutions(registry: &TestRegistry) -> TestResult {
    let root = registry.data_dir().join("install.toml");
    std::fs::write(
        &root,
        "[package]\nname = \"install\"\nversion = \"0.1.0\"\n[dependencies]\napproval-step = \">=1\"\nwebhook-trigger = \">=1\"\nscheduler = \">=1\"\ndata-mapper = \">=1\"\n",
    )?;
    let v1 = resolve(registry, &root, "1.5.0")?;
    assert_eq!(
        v1,
        picks(&[
            ("approval-step", "1.0.0"),
            ("data-mapper", "1.3.0"),
            ("email", "1.4.0"),
            ("http-client", "1.4.0"),
            ("notifications", "1.0.0"),
            ("scheduler", "1.0.0"),
            ("webhook-trigger", "1.1.0"),
        ])
    );
    let v2 = resolve(registry, &root, "2.1.0")?;
    assert_eq!(
        v2,
        picks(&[
            ("approval-step", "2.0.0"),
            ("data-mapper", "1.3.0"),
            ("email", "2.0.0"),
            ("http-client", "2.0.0"),
            ("notifications", "2.0.0"),
            ("scheduler", "1.0.0"),
            ("webhook-trigger", "2.0.0"),
        ])
    );
    // sql-connector needs host API 2.1: a 1.x host gets no resolution and an explanation.
    std::fs::write(
        &root,
        "[package]\nname = \"install\"\nversion = \"0.1.0\"\n[dependencies]\nsql-connector = \"^2\"\n",
    )?;
    let out = resolve_output(registry, &root, "1.5.0")?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("sql-connector") && said.contains("host API"),
        "{said}"
    );
    Ok(())
}

fn picks(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn resolve_output(registry: &TestRegistry, root: &Path, host: &str) -> TestResult<Output> {
    let root = root.to_str().ok_or("UTF-8 path")?;
    let index = registry.index_url();
    wharf(&[
        "resolve",
        "--manifest",
        root,
        "--index-url",
        &index,
        "--host-api",
        host,
    ])
}

/// The resolved plugins (without the root and the host API) as name → version.
fn resolve(
    registry: &TestRegistry,
    root: &Path,
    host: &str,
) -> TestResult<BTreeMap<String, String>> {
    let out = resolve_output(registry, root, host)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut picked = BTreeMap::new();
    for package in listing["packages"].as_array().ok_or("packages")? {
        let name = package["name"].as_str().ok_or("name")?;
        let version = package["version"].as_str().ok_or("version")?;
        if name == "host-api" {
            assert_eq!(version, host);
        } else if name != "install" {
            picked.insert(name.to_owned(), version.to_owned());
        }
    }
    Ok(picked)
}

const GOOD: &str = r#"[plugin]
name = "bad-plugin"
version = "1.0.0"
kind = "plugin"
description = "A plugin"
license = "MIT"
entry = "main.wat"

[dependencies]
host-api = "^2"

[capabilities]
network = ["api.example.com:443"]
"#;

/// A publish body: the tarball holds `manifest`, the metadata is derived from `metadata_from`.
fn plugin_body(manifest: &str, metadata_from: &str) -> TestResult<Vec<u8>> {
    let parsed = PluginManifest::parse(metadata_from)?;
    let root = format!("{}-{}", parsed.plugin.name, parsed.plugin.version);
    let files = [("plugin.toml", manifest), ("main.wat", "(module)\n")]
        .into_iter()
        .map(|(path, text)| PackFile {
            path: path.to_owned(),
            data: text.as_bytes().to_vec(),
            executable: false,
        })
        .collect();
    let json = serde_json::to_vec(&parsed.to_new_crate(None))?;
    Ok(frame(&json, &pack_plugin(&root, files)))
}

#[test]
fn bad_plugins_are_refused_naming_the_key_and_nothing_is_stored() -> TestResult {
    let registry = TestRegistry::start();
    let http = registry.http();
    let url = format!("{}/api/v1/crates/new", registry.url());
    let put = |body: Vec<u8>| -> TestResult<(u16, String)> {
        let response = http
            .put(&url)
            .header("Authorization", &registry.admin_token)
            .body(body)
            .send()?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap_or_default();
        Ok((
            status,
            body["errors"][0]["detail"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    };
    let (status, detail) = put(plugin_body(GOOD, GOOD)?)?;
    assert_eq!(status, 200, "{detail}");
    let before = registry.data_snapshot();

    let mut failures = Vec::new();
    for (what, manifest, metadata_from, needle) in bad_cases() {
        let metadata_from = metadata_from.unwrap_or_else(|| GOOD.to_owned());
        let (status, detail) = put(plugin_body(&manifest, &metadata_from)?)?;
        let expected = if what.starts_with("a second") {
            409
        } else {
            400
        };
        if status != expected || !detail.contains(needle) {
            failures.push(format!(
                "{what}: got {status} {detail:?}, want {expected} containing {needle:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused plugin changed stored data"
    );

    check_author_tool(&registry, &before)?;

    // Crates publish as before, and are no plugins.
    let (status, detail) = put(publish_body("plain-crate", "1.0.0"))?;
    assert_eq!(status, 200, "{detail}");
    let response = http
        .get(format!(
            "{}/api/wharf/v1/plugins/plain-crate",
            registry.url()
        ))
        .send()?;
    assert_eq!(response.status(), 404);
    Ok(())
}

fn bad(from: &str, to: &str) -> String {
    GOOD.replacen(from, to, 1)
}

/// `(what, manifest in the tarball, manifest the metadata comes from, expected detail)`.
type BadCase = (&'static str, String, Option<String>, &'static str);

fn bad_cases() -> Vec<BadCase> {
    vec![
        (
            "unknown key",
            bad(
                "entry = \"main.wat\"",
                "entry = \"main.wat\"\ncolor = \"red\"",
            ),
            None,
            "plugin.toml: [plugin] color: unknown key",
        ),
        (
            "bad version",
            bad("version = \"1.0.0\"", "version = \"1.1\""),
            Some(bad("version = \"1.0.0\"", "version = \"1.1\"")),
            "plugin.toml: [plugin] version: `1.1`",
        ),
        (
            "bad SPDX",
            bad("license = \"MIT\"", "license = \"MIT-ish\""),
            None,
            "plugin.toml: [plugin] license: `MIT-ish` is not an SPDX license expression",
        ),
        (
            "missing entry file",
            bad("entry = \"main.wat\"", "entry = \"plugin.wasm\""),
            None,
            "plugin.toml: [plugin] entry: `plugin.wasm` is not a file of the package",
        ),
        (
            "bad capability",
            bad("api.example.com:443", "*.example.com:99999"),
            None,
            "plugin.toml: [capabilities] network: \"*.example.com:99999\" is not a host[:port]",
        ),
        (
            "no host API",
            bad("host-api = \"^2\"", ""),
            None,
            "plugin.toml: [dependencies] host-api: it is missing",
        ),
        (
            "metadata says other deps",
            GOOD.to_owned(),
            Some(bad("host-api = \"^2\"", "host-api = \"^3\"")),
            "`plugin.toml` says deps =",
        ),
        (
            "metadata says another name",
            bad("name = \"bad-plugin\"", "name = \"bad-plugin\"\n"),
            Some(bad("name = \"bad-plugin\"", "name = \"other-plugin\"")),
            "`plugin.toml` says name = `bad-plugin` but the publish metadata says `other-plugin`",
        ),
        (
            "a second publish of 1.0.0",
            bad("name = \"bad-plugin\"", "name = \"bad-plugin\"\n"),
            None,
            "1.0.0",
        ),
    ]
}

/// The author tool refuses a broken folder itself, naming the file and key (exit 1); a
/// refusal by the registry is one line with its reason (exit 1); nothing is stored.
fn check_author_tool(
    registry: &TestRegistry,
    before: &wharf_e2e_tests::DataSnapshot,
) -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("plugin.toml"),
        bad("license = \"MIT\"", "license = \"MIT-ish\""),
    )?;
    std::fs::write(dir.path().join("main.wat"), "(module)\n")?;
    let out = publish_plugin(registry, dir.path())?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "/plugin.toml: [plugin] license: `MIT-ish` is not an SPDX license expression"
        ),
        "{stderr}"
    );
    // A refusal by the registry is one line with its reason, exit 1.
    std::fs::write(dir.path().join("plugin.toml"), GOOD)?;
    let out = publish_plugin(registry, dir.path())?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: the registry refused bad-plugin 1.0.0 (HTTP 409)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        &registry.data_snapshot(),
        before,
        "a refused plugin changed stored data"
    );
    Ok(())
}
