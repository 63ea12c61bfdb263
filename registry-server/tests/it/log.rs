//! The transparency log over HTTP: checkpoint, proofs, leaves, keyset and timestamp, each
//! verified with `wharf-trust` against the keyset chain of the registry's root key; every
//! refusal is a snapshot.

use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use wharf_trust::{
    Checkpoint, ConsistencyProof, InclusionProof, KeyRole, Keyset, Timestamp, UtcTime,
};

use crate::support::{Registry, request};

/// Walks the keyset chain the registry serves from the root key a client pinned.
async fn keyset(registry: &Registry) -> Keyset {
    let answer = registry.get("/api/wharf/v1/log/keyset").await;
    assert_eq!(answer.status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&answer.body).expect("JSON");
    let notes: Vec<String> = body["keysets"]
        .as_array()
        .expect("a list of keysets")
        .iter()
        .map(|note| note.as_str().expect("a note").to_owned())
        .collect();
    let chain: Vec<&[u8]> = notes.iter().map(String::as_bytes).collect();
    let storage = &registry.state.storage;
    wharf_trust::verify_keyset_chain(
        &storage.root_key(),
        storage.log_origin(),
        &chain,
        UtcTime::now(),
    )
    .expect("the served chain verifies from the root key")
}

async fn checkpoint(registry: &Registry, keyset: &Keyset) -> Checkpoint {
    let answer = registry.get("/api/wharf/v1/log/checkpoint").await;
    assert_eq!(answer.status, StatusCode::OK);
    Checkpoint::open(&answer.body, &keyset.note_key(KeyRole::Log)).expect("a signed checkpoint")
}

#[tokio::test]
async fn checkpoint_and_proofs_verify_against_the_pinned_root() {
    let registry = Registry::start().await;
    let keyset = keyset(&registry).await;
    registry.seed("first", "1.0.0").await;
    let older = checkpoint(&registry, &keyset).await;
    registry.seed("first", "1.1.0").await;
    registry.seed("second", "0.1.0").await;
    let newer = checkpoint(&registry, &keyset).await;
    assert_eq!((older.size(), newer.size()), (1, 3));

    let answer = registry
        .get(&format!(
            "/api/wharf/v1/log/proof/consistency?from={}&to={}",
            older.size(),
            newer.size()
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let proof = ConsistencyProof::parse(&answer.text()).expect("a consistency proof");
    newer
        .check_extends(&older, &proof)
        .expect("the log only grew");

    let answer = registry
        .get("/api/wharf/v1/log/leaves?start=0&end=100")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&answer.body).expect("JSON");
    let leaves = body["leaves"].as_array().expect("leaves");
    assert_eq!(leaves.len(), 3);
    for leaf in leaves {
        let index = leaf["index"].as_u64().expect("an index");
        let bytes = leaf["leaf"].as_str().expect("leaf text").as_bytes();
        let answer = registry
            .get(&format!(
                "/api/wharf/v1/log/proof/inclusion?index={index}&size={}",
                newer.size()
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let proof = InclusionProof::parse(&answer.text()).expect("an inclusion proof");
        newer
            .verify_inclusion(bytes, &proof)
            .expect("the leaf is in the log");
    }
}

#[tokio::test]
async fn the_timestamp_binds_the_newest_checkpoint_and_follows_the_log() {
    let registry = Registry::start().await;
    let keyset = keyset(&registry).await;
    let origin = registry.state.storage.log_origin().to_owned();
    let open = |body: &[u8]| {
        Timestamp::open(
            body,
            keyset.key(KeyRole::Timestamp),
            &origin,
            UtcTime::now(),
        )
        .expect("a signed timestamp in force")
    };
    registry.seed("stamped", "1.0.0").await;
    let first = open(&registry.get("/index/.wharf/timestamp").await.body);
    first
        .check_binds(&checkpoint(&registry, &keyset).await)
        .expect("it names the newest checkpoint");
    assert_eq!(
        first.expires().unix() - first.issued().unix(),
        24 * 3600,
        "valid for the default day"
    );
    registry.seed("stamped", "1.1.0").await;
    let second = open(&registry.get("/index/.wharf/timestamp").await.body);
    second
        .check_binds(&checkpoint(&registry, &keyset).await)
        .expect("a new timestamp once the log grew");
    assert_ne!(first.snapshot(), second.snapshot());

    // The served index file is in the snapshot the timestamp signs, found through its bin.
    let bins = registry.get("/index/.wharf/bins").await;
    assert_eq!(bins.status, StatusCode::OK);
    let bin_list = wharf_trust::snapshot::open_bin_list(&bins.text(), second.snapshot())
        .expect("the bin list hashes to the signed snapshot");
    let path = "st/am/stamped";
    let bin = wharf_trust::snapshot::bin_of(path);
    let bin_text = registry.get(&format!("/index/.wharf/bins/{bin:02x}")).await;
    assert_eq!(bin_text.status, StatusCode::OK);
    let file = registry.get(&format!("/index/{path}")).await;
    wharf_trust::snapshot::verify_file(
        path,
        &wharf_trust::Hash::sha256(&file.body),
        &bin_text.text(),
        &bin_list,
    )
    .expect("the served file is the one the snapshot names");
}

#[tokio::test]
async fn bad_log_requests_are_refused_naming_the_input() {
    let registry = Registry::start().await;
    registry.seed("solo", "1.0.0").await;
    let before = registry.events();
    for (name, path) in [
        (
            "inclusion_beyond_the_tree",
            "/api/wharf/v1/log/proof/inclusion?index=0&size=9",
        ),
        (
            "inclusion_of_a_leaf_outside_the_size",
            "/api/wharf/v1/log/proof/inclusion?index=1&size=1",
        ),
        (
            "inclusion_without_a_size",
            "/api/wharf/v1/log/proof/inclusion?index=0",
        ),
        (
            "consistency_with_a_size_that_is_not_a_number",
            "/api/wharf/v1/log/proof/consistency?from=one&to=1",
        ),
        (
            "consistency_backwards",
            "/api/wharf/v1/log/proof/consistency?from=1&to=0",
        ),
        (
            "leaves_of_an_empty_range",
            "/api/wharf/v1/log/leaves?start=2&end=2",
        ),
        ("unknown_log_path", "/api/wharf/v1/log/roots"),
        ("unknown_snapshot_bin", "/index/.wharf/bins/1g"),
    ] {
        insta::assert_json_snapshot!(name, registry.get(path).await.snapshot());
    }
    let answer = registry
        .send(
            request(Method::POST, "/api/wharf/v1/log/checkpoint")
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("post_to_the_log", answer.snapshot());
    assert_eq!(
        registry.events(),
        before,
        "a refused request changes nothing"
    );
}

#[tokio::test]
async fn the_log_follows_the_read_rule_of_an_auth_required_registry() {
    let registry = Registry::with_config(|config| config.auth_required = true).await;
    for path in ["/api/wharf/v1/log/checkpoint", "/index/.wharf/timestamp"] {
        assert_eq!(registry.get(path).await.status, StatusCode::UNAUTHORIZED);
    }
}
