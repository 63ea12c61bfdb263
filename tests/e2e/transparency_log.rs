//! The transparency log of a real `wharf serve`, checked as a client does: pin the root key
//! `wharf admin root-key export` prints, walk the keyset chain the server serves, open its
//! checkpoint and timestamp, and verify inclusion and consistency proofs fetched over HTTP.

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};
use wharf_trust::{
    Checkpoint, ConsistencyProof, InclusionProof, KeyRole, Keyset, PublicKey, Timestamp, UtcTime,
};

fn get(http: &reqwest::blocking::Client, url: &str) -> TestResult<String> {
    let response = http.get(url).send()?;
    let status = response.status();
    let text = response.text()?;
    assert_eq!(status, 200, "GET {url}: {text}");
    Ok(text)
}

fn publish(registry: &TestRegistry, name: &str, version: &str) -> TestResult {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body(name, version))
        .send()?;
    assert_eq!(response.status(), 200, "{}", response.text()?);
    Ok(())
}

/// The keyset, walked from `root` over the chain the server serves.
fn keyset(registry: &TestRegistry, root: &PublicKey) -> TestResult<Keyset> {
    let body: serde_json::Value = serde_json::from_str(&get(
        &registry.http(),
        &format!("{}/api/wharf/v1/log/keyset", registry.url()),
    )?)?;
    let notes: Vec<&[u8]> = body["keysets"]
        .as_array()
        .ok_or("a list of keysets")?
        .iter()
        .filter_map(|note| note.as_str().map(str::as_bytes))
        .collect();
    // Without `--public-url`, the registry is named after its root key.
    let origin = format!("wharf-{}", root.key_id().short());
    Ok(wharf_trust::verify_keyset_chain(
        root,
        &origin,
        &notes,
        UtcTime::now(),
    )?)
}

#[test]
fn a_client_pinning_the_exported_root_key_verifies_the_log() -> TestResult {
    let registry = TestRegistry::start();
    let http = registry.http();
    let log = format!("{}/api/wharf/v1/log", registry.url());
    let exported = registry.run_on_data(&["admin", "root-key", "export"], &[]);
    assert!(exported.status.success(), "{exported:?}");
    let line = String::from_utf8(exported.stdout)?;
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    let root = PublicKey::parse(line.trim_end())?;
    let keyset = keyset(&registry, &root)?;
    let log_key = keyset.note_key(KeyRole::Log);

    publish(&registry, "logged-demo", "1.0.0")?;
    let older = Checkpoint::open(
        get(&http, &format!("{log}/checkpoint"))?.as_bytes(),
        &log_key,
    )?;
    publish(&registry, "logged-demo", "1.1.0")?;
    publish(&registry, "other-demo", "0.1.0")?;
    let newer = Checkpoint::open(
        get(&http, &format!("{log}/checkpoint"))?.as_bytes(),
        &log_key,
    )?;
    assert_eq!((older.size(), newer.size()), (1, 3));

    let proof = ConsistencyProof::parse(&get(
        &http,
        &format!("{log}/proof/consistency?from=1&to=3"),
    )?)?;
    newer.check_extends(&older, &proof)?;

    let leaves: serde_json::Value =
        serde_json::from_str(&get(&http, &format!("{log}/leaves?start=0&end=3"))?)?;
    let leaves = leaves["leaves"].as_array().ok_or("leaves")?;
    assert_eq!(leaves.len(), 3);
    for leaf in leaves {
        let index = leaf["index"].as_u64().ok_or("an index")?;
        let bytes = leaf["leaf"].as_str().ok_or("leaf text")?.as_bytes();
        let proof = InclusionProof::parse(&get(
            &http,
            &format!("{log}/proof/inclusion?index={index}&size=3"),
        )?)?;
        newer.verify_inclusion(bytes, &proof)?;
        let event = wharf_trust::LogEvent::parse(bytes)?;
        event
            .statement()
            .verify(&event.signatures()[0], keyset.key(KeyRole::Release))?;
    }

    let timestamp = get(&http, &format!("{}/index/.wharf/timestamp", registry.url()))?;
    let timestamp = Timestamp::open(
        timestamp.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        keyset.origin(),
        UtcTime::now(),
    )?;
    timestamp.check_binds(&newer)?;
    Ok(())
}
