//! The HTTP surface cargo depends on, checked byte by byte over real HTTP.

use std::io::Read;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};

/// A registry holding three versions of `Surface-Demo`, and the index file's text.
fn published() -> TestResult<(TestRegistry, reqwest::blocking::Client, String)> {
    let registry = TestRegistry::start();
    let http = registry.http();
    let base = registry.url();
    for version in ["1.0.0", "1.1.0", "2.0.0+meta"] {
        let published = http
            .put(format!("{base}/api/v1/crates/new"))
            .header("Authorization", &registry.admin_token)
            .body(publish_body("Surface-Demo", version))
            .send()?;
        assert_eq!(published.status(), 200, "{}", published.text()?);
    }
    let text = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .send()?
        .text()?;
    Ok((registry, http, text))
}

#[test]
fn config_json_points_at_blobs_and_has_no_trailing_slash() -> TestResult {
    let (registry, http, _) = published()?;
    let base = registry.url();
    // config.json: dl points at content-addressed blobs, api has no trailing slash.
    let config: serde_json::Value = http
        .get(format!("{base}/index/config.json"))
        .send()?
        .json()?;
    assert_eq!(
        config["dl"],
        format!("{base}/blobs/sha256/{{sha256-checksum}}")
    );
    assert_eq!(config["api"], base);
    assert!(config.get("auth-required").is_none());

    Ok(())
}

#[test]
fn index_file_is_valid_for_cargo_and_revalidates() -> TestResult {
    let (registry, http, _) = published()?;
    let base = registry.url();
    // The index file: lowercase path, original-case name inside, every line valid for cargo.
    let response = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .send()?;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str()?.to_owned();
    let last_modified = response.headers()["last-modified"].to_str()?.to_owned();
    assert!(
        etag.starts_with('"') && etag.len() == 66,
        "strong ETag: {etag}"
    );
    let text = response.text()?;
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        let entry = wharf_index_format::IndexEntry::from_line(line)?;
        assert_eq!(entry.name, "Surface-Demo");
        assert!(entry.is_supported());
        let pubtime = serde_json::from_str::<serde_json::Value>(line)?["pubtime"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(pubtime.len(), 20, "pubtime {pubtime}");
        assert!(
            !line.contains("null,\"v\"")
                && !line.contains("\"features\":null")
                && !line.contains("\"deps\":null")
        );
    }

    // 304 on If-None-Match alone and on If-Modified-Since alone; 200 when stale.
    let not_modified = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("If-None-Match", &etag)
        .send()?;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"].to_str()?, etag);
    // The caching fields of the 200 come with the 304 (RFC 9110 §15.4.5).
    assert_eq!(not_modified.headers()["cache-control"], "no-cache");
    assert_eq!(not_modified.headers()["vary"], "Accept-Encoding");
    assert_eq!(
        not_modified.headers()["last-modified"],
        last_modified.as_str()
    );
    let since = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("If-Modified-Since", &last_modified)
        .send()?;
    assert_eq!(since.status(), 304);
    let stale = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("If-None-Match", "\"0000\"")
        .send()?;
    assert_eq!(stale.status(), 200);
    let old = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")
        .send()?;
    assert_eq!(old.status(), 200);

    Ok(())
}

#[test]
fn gzip_is_served_to_clients_that_accept_it() -> TestResult {
    let (registry, http, text) = published()?;
    let base = registry.url();
    // gzip for clients that accept it, with its own ETag that also revalidates.
    let gz = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("Accept-Encoding", "deflate, gzip")
        .send()?;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let gz_etag = gz.headers()["etag"].to_str()?.to_owned();
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gz.bytes()?[..]).read_to_string(&mut decoded)?;
    assert_eq!(decoded, text);
    let gz_304 = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("Accept-Encoding", "gzip")
        .header("If-None-Match", &gz_etag)
        .send()?;
    assert_eq!(gz_304.status(), 304);

    Ok(())
}

#[test]
fn unknown_names_are_404_and_h2c_upgrades_are_harmless() -> TestResult {
    let (registry, http, _) = published()?;
    let base = registry.url();
    // Unknown names are 404, never 403; so is the mixed-case path and the `_` spelling.
    for path in [
        "no/ne/nonexistent",
        "Su/rf/Surface-Demo",
        "su/rf/surface_demo",
        "3/x/xyz",
    ] {
        let missing = http.get(format!("{base}/index/{path}")).send()?;
        assert_eq!(missing.status(), 404, "{path}");
    }

    // Cargo's h2c upgrade headers on HTTP/1.1 do not break anything.
    let upgraded = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("Connection", "Upgrade, HTTP2-Settings")
        .header("Upgrade", "h2c")
        .header("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
        .send()?;
    assert_eq!(upgraded.status(), 200);

    Ok(())
}

#[test]
fn downloads_by_hash_and_by_version() -> TestResult {
    let (registry, http, text) = published()?;
    let base = registry.url();
    // Downloads: by blob hash (immutable) and by name/version, `+` literal or `%2B`.
    let entry = wharf_index_format::IndexEntry::from_line(text.lines().last().unwrap_or_default())?;
    let blob = http
        .get(format!("{base}/blobs/sha256/{}", entry.cksum))
        .send()?;
    assert_eq!(blob.status(), 200);
    assert!(
        blob.headers()["cache-control"]
            .to_str()?
            .contains("immutable")
    );
    let bytes = blob.bytes()?;
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        entry.cksum
    );
    for version in ["2.0.0+meta", "2.0.0%2Bmeta"] {
        let by_version = http
            .get(format!(
                "{base}/api/v1/crates/Surface-Demo/{version}/download"
            ))
            .send()?;
        assert_eq!(by_version.status(), 200, "{version}");
        assert_eq!(by_version.bytes()?, bytes);
    }
    let missing_blob = http
        .get(format!("{base}/blobs/sha256/{}", "0".repeat(64)))
        .send()?;
    assert_eq!(missing_blob.status(), 404);

    // Errors are cargo's JSON envelope.
    let error: serde_json::Value = http
        .get(format!("{base}/api/v1/crates/Surface-Demo/9.9.9/download"))
        .send()?
        .json()?;
    assert!(
        error["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("9.9.9"))
    );

    Ok(())
}

#[test]
fn operations_endpoints_answer() -> TestResult {
    let (registry, http, _) = published()?;
    let base = registry.url();
    let fresh = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .send()?;
    let etag = fresh.headers()["etag"].clone();
    let cached = http
        .get(format!("{base}/index/su/rf/surface-demo"))
        .header("If-None-Match", etag)
        .send()?;
    assert_eq!(cached.status(), 304);
    // Operations endpoints.
    assert_eq!(http.get(format!("{base}/health")).send()?.status(), 200);
    assert_eq!(http.get(format!("{base}/ready")).send()?.status(), 200);
    let metrics = http.get(format!("{base}/metrics")).send()?.text()?;
    assert!(metrics.contains("wharf_publishes_total 3"), "{metrics}");
    assert!(metrics.contains("wharf_http_requests_total{route=\"index_file\",status=\"304\"}"));
    assert!(metrics.contains("wharf_index_bytes_served_total"));
    assert!(metrics.contains("wharf_http_request_duration_seconds_bucket{route=\"index_file\""));
    Ok(())
}
