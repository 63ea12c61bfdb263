//! The catalogue API over real HTTP against a real `wharf serve`: search and package pages
//! on the core plugins and on a small generated ecosystem (insta snapshots), ranking (an
//! exact name first; compatible plugins above incompatible ones with `host=`), filters, the
//! README sanitised, download counts from real blob downloads, and the OpenAPI document.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wharf_e2e_tests::core_plugins::{CORE_PLUGINS, core_plugin_dir};
use wharf_e2e_tests::upload::frame;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

/// Publishes one plugin folder with `wharf plugin publish`.
pub(crate) fn publish_plugin(registry: &TestRegistry, dir: &Path) -> TestResult {
    let out = Command::new(wharf_binary())
        .args(["plugin", "publish"])
        .arg(dir)
        .args(["--registry", &registry.index_url()])
        .args(["--token", &registry.admin_token])
        .env_remove("WHARF_TOKEN")
        .output()?;
    assert!(
        out.status.success(),
        "publishing {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A registry holding the ten core plugins.
pub(crate) fn core_registry() -> TestResult<TestRegistry> {
    let registry = TestRegistry::start();
    for (name, version) in CORE_PLUGINS {
        publish_plugin(&registry, &core_plugin_dir(name, version))?;
    }
    Ok(registry)
}

/// `GET` a catalogue path (relative to `/api/wharf/v1/catalogue/`), expecting `status`.
pub(crate) fn get(registry: &TestRegistry, path: &str, status: u16) -> TestResult<Value> {
    let response = registry
        .http()
        .get(format!("{}/api/wharf/v1/catalogue/{path}", registry.url()))
        .send()?;
    let code = response.status().as_u16();
    let text = response.text()?;
    assert_eq!(code, status, "GET {path}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Replaces what differs between runs (times, the registry's URL) so snapshots are stable.
pub(crate) fn stable(mut value: Value, registry: &TestRegistry) -> Value {
    fn walk(value: &mut Value, url: &str) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if matches!(
                        key.as_str(),
                        "updated" | "published" | "created" | "date" | "at"
                    ) && item.is_string()
                    {
                        *item = Value::String("[time]".to_owned());
                    } else {
                        walk(item, url);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, url)),
            Value::String(text) if text.contains(url) => {
                *text = text.replace(url, "http://registry");
            }
            _ => {}
        }
    }
    walk(&mut value, &registry.url());
    value
}

/// The names of a search's results, in order.
fn names(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|hit| hit["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn core_plugins_search_and_pages_match_their_snapshots() -> TestResult {
    let registry = core_registry()?;
    let all = get(&registry, "search?per_page=100", 200)?;
    assert_eq!(all["total"], 10, "{all}");
    insta::assert_json_snapshot!("core_search_all", stable(all, &registry));
    let http = get(&registry, "search?q=http", 200)?;
    insta::assert_json_snapshot!("core_search_http", stable(http, &registry));
    let page = get(&registry, "packages/http-client", 200)?;
    insta::assert_json_snapshot!("core_page_http_client", stable(page, &registry));
    let page = get(&registry, "packages/approval-step", 200)?;
    insta::assert_json_snapshot!("core_page_approval_step", stable(page, &registry));
    Ok(())
}

#[test]
fn an_exact_name_ranks_first_and_filters_narrow_the_results() -> TestResult {
    let registry = core_registry()?;
    // "email" appears in other plugins' descriptions and READMEs; the package named so
    // comes first.
    let email = get(&registry, "search?q=email", 200)?;
    let found = names(&email);
    assert_eq!(found.first().map(String::as_str), Some("email"), "{email}");
    assert!(found.len() > 1, "only the exact match was found: {email}");
    // Folded spelling still matches the name exactly.
    let folded = get(&registry, "search?q=HTTP_Client", 200)?;
    assert_eq!(
        names(&folded).first().map(String::as_str),
        Some("http-client")
    );

    let connectors = get(&registry, "search?category=connectors&per_page=100", 200)?;
    assert!(
        names(&connectors).contains(&"http-client".to_owned()),
        "{connectors}"
    );
    for hit in connectors["results"].as_array().ok_or("results")? {
        assert!(
            hit["categories"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "connectors")),
            "{hit}"
        );
    }
    let network = get(&registry, "search?capability=network&per_page=100", 200)?;
    assert!(
        names(&network).contains(&"http-client".to_owned()),
        "{network}"
    );
    assert!(
        !names(&network).contains(&"data-mapper".to_owned()),
        "{network}"
    );
    let crates = get(&registry, "search?kind=crate", 200)?;
    assert_eq!(crates["total"], 0, "{crates}");

    let paged = get(&registry, "search?per_page=3&page=2&sort=recent", 200)?;
    assert_eq!(paged["total"], 10);
    assert_eq!(names(&paged).len(), 3);
    let refused = get(&registry, "search?sort=stars", 400)?;
    assert!(
        refused["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`sort=stars`")),
        "{refused}"
    );
    get(&registry, "packages/no-such-plugin", 404)?;
    Ok(())
}

#[test]
fn with_a_host_version_compatible_plugins_come_first() -> TestResult {
    let registry = core_registry()?;
    // message-queue has only a host API 1.x version, sql-connector needs ^2.1.
    let host2 = get(&registry, "search?host=2.1.0&per_page=100", 200)?;
    let host1 = get(&registry, "search?host=1.5.0&per_page=100", 200)?;
    for results in [&host2, &host1] {
        let flags: Vec<bool> = results["results"]
            .as_array()
            .ok_or("results")?
            .iter()
            .map(|hit| {
                hit["compatible"]
                    .as_bool()
                    .expect("`compatible` with host=")
            })
            .collect();
        assert!(flags.contains(&true), "{results}");
        assert!(
            flags.windows(2).all(|pair| pair[0] || !pair[1]),
            "an incompatible plugin ranks above a compatible one: {results}"
        );
    }
    let flag = |results: &Value, name: &str| {
        results["results"]
            .as_array()
            .and_then(|list| list.iter().find(|hit| hit["name"] == name))
            .map(|hit| (hit["compatible"].clone(), hit["compatible_version"].clone()))
    };
    let yes = |version: &str| Some((Value::Bool(true), Value::String(version.to_owned())));
    let no = Some((Value::Bool(false), Value::Null));
    assert_eq!(flag(&host2, "http-client"), yes("2.0.0"), "{host2}");
    assert_eq!(flag(&host2, "message-queue"), no, "{host2}");
    assert_eq!(flag(&host1, "http-client"), yes("1.4.0"), "{host1}");
    assert_eq!(flag(&host1, "sql-connector"), no, "{host1}");
    assert_eq!(flag(&host1, "message-queue"), yes("1.2.0"), "{host1}");
    insta::assert_json_snapshot!("core_search_host_1_5", stable(host1, &registry));
    Ok(())
}

/// A crate whose README tries script execution three ways.
fn publish_hostile_readme(registry: &TestRegistry) -> TestResult {
    let readme = "# Hostile\n\n<script>alert('x')</script>\n\n\
        [a link](javascript:alert('y'))\n\n<img src=\"a.png\" onerror=\"alert('z')\">\n\n\
        Plain **bold** text.\n";
    let mut metadata = wharf_e2e_tests::upload::metadata_json("hostile-readme", "1.0.0");
    metadata["readme"] = Value::String(readme.to_owned());
    metadata["description"] = Value::String("A crate with a hostile README".to_owned());
    let body = frame(
        &serde_json::to_vec(&metadata)?,
        &wharf_e2e_tests::upload::crate_tarball("hostile-readme", "1.0.0"),
    );
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(body)
        .send()?;
    assert!(response.status().is_success(), "{}", response.text()?);
    Ok(())
}

#[test]
fn readmes_are_rendered_without_scripts_javascript_links_or_event_attributes() -> TestResult {
    let registry = TestRegistry::start();
    publish_hostile_readme(&registry)?;
    let page = get(&registry, "packages/hostile-readme", 200)?;
    let html = page["readme_html"].as_str().ok_or("readme_html")?;
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(html.contains("<h1>Hostile</h1>"), "{html}");
    for forbidden in ["<script", "javascript:", "onerror", "alert("] {
        assert!(!html.contains(forbidden), "`{forbidden}` survived: {html}");
    }
    assert_eq!(page["kind"], "crate");
    assert!(
        page["install"]
            .as_str()
            .is_some_and(|c| c.starts_with("cargo add hostile-readme@1.0.0 --index sparse+")),
        "{page}"
    );
    // The README is searchable.
    let found = get(&registry, "search?q=hostile", 200)?;
    assert_eq!(names(&found), ["hostile-readme"]);
    Ok(())
}

#[test]
fn blob_downloads_are_counted_per_version_and_day() -> TestResult {
    let registry = core_registry()?;
    let index = registry
        .http()
        .get(format!("{}/index/ht/tp/http-client", registry.url()))
        .send()?
        .text()?;
    let cksums: Vec<String> = index
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line)?;
            Ok(entry["cksum"].as_str().ok_or("cksum")?.to_owned())
        })
        .collect::<TestResult<_>>()?;
    assert_eq!(cksums.len(), 2);
    // 1.4.0 twice, 2.0.0 three times.
    for (cksum, times) in cksums.iter().zip([2, 3]) {
        for _ in 0..times {
            let response = registry
                .http()
                .get(format!("{}/blobs/sha256/{cksum}", registry.url()))
                .send()?;
            assert_eq!(response.status(), 200);
        }
    }
    let stats = get(&registry, "packages/http-client/downloads", 200)?;
    assert_eq!(stats["total"], 5, "{stats}");
    assert_eq!(stats["versions"][0]["version"], "1.4.0");
    assert_eq!(stats["versions"][0]["downloads"], 2);
    assert_eq!(stats["versions"][1]["downloads"], 3);
    let daily = stats["daily"].as_array().ok_or("daily")?;
    assert_eq!(daily.len(), 90);
    assert_eq!(daily[89]["downloads"], 5, "today is last: {stats}");
    assert!(daily[..89].iter().all(|day| day["downloads"] == 0));
    let popular = get(&registry, "search?sort=downloads&per_page=1", 200)?;
    assert_eq!(names(&popular), ["http-client"]);
    assert_eq!(popular["results"][0]["downloads"], 5);
    get(&registry, "packages/nothing-here/downloads", 404)?;
    Ok(())
}

#[test]
fn the_openapi_document_parses_and_lists_every_catalogue_route() -> TestResult {
    let registry = TestRegistry::start();
    let response = registry
        .http()
        .get(format!("{}/api/wharf/v1/openapi.json", registry.url()))
        .send()?;
    assert_eq!(response.status(), 200);
    let document: Value = serde_json::from_str(&response.text()?)?;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    let paths = document["paths"].as_object().ok_or("paths")?;
    for (path, method) in [
        ("/api/wharf/v1/catalogue/search", "get"),
        ("/api/wharf/v1/catalogue/packages/{name}", "get"),
        ("/api/wharf/v1/catalogue/packages/{name}/downloads", "get"),
        ("/api/wharf/v1/catalogue/packages/{name}/reviews", "get"),
        ("/api/wharf/v1/catalogue/packages/{name}/reviews", "put"),
        (
            "/api/wharf/v1/catalogue/packages/{name}/reviews/{id}/reply",
            "post",
        ),
        (
            "/api/wharf/v1/catalogue/packages/{name}/reviews/{id}/report",
            "post",
        ),
        (
            "/api/wharf/v1/catalogue/packages/{name}/reviews/{id}/hide",
            "post",
        ),
        ("/api/wharf/v1/packages/{name}/recommendations", "get"),
        ("/api/wharf/v1/install-reports", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing from the document"
        );
    }
    let schemas = document["components"]["schemas"]
        .as_object()
        .ok_or("schemas")?;
    for schema in [
        "SearchResponse",
        "PackageResponse",
        "DownloadStats",
        "Review",
        "Recommendations",
        "InstallReportRequest",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} is missing");
    }
    Ok(())
}
