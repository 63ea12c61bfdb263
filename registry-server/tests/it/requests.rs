//! 400 for bad input, 404 for what does not exist (never 403), 405 for writes to read-only
//! trees.

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use wharf_test_support::{body, crate_tarball, metadata_json, publish_body};

use crate::support::{Registry, request};

#[tokio::test]
async fn bad_input_is_400_naming_it() {
    let registry = Registry::start().await;
    registry.seed("solo", "1.0.0").await;
    let before = registry.events();

    let mut truncated = publish_body("demo", "1.0.0");
    truncated.truncate(truncated.len() - 10);
    let answer = registry.publish(&registry.admin, truncated).await;
    insta::assert_json_snapshot!("publish_with_a_short_body", answer.snapshot());

    let answer = registry
        .publish(
            &registry.admin,
            body(
                &metadata_json("1demo", "1.0.0"),
                &crate_tarball("1demo", "1.0.0"),
            ),
        )
        .await;
    insta::assert_json_snapshot!("publish_with_a_bad_name", answer.snapshot());

    let answer = registry
        .publish(
            &registry.admin,
            body(&metadata_json("demo", "1.0.0"), b"not gzip"),
        )
        .await;
    insta::assert_json_snapshot!("publish_with_a_crate_that_is_not_gzip", answer.snapshot());

    let answer = registry.get("/api/v1/crates?q=x&per_page=many").await;
    insta::assert_json_snapshot!("search_with_a_bad_page_size", answer.snapshot());

    let owners = |body: &'static [u8]| {
        request(Method::PUT, "/api/v1/crates/solo/owners")
            .header(http::header::AUTHORIZATION, &registry.admin)
            .body(Full::new(Bytes::from_static(body)))
            .expect("a request")
    };
    let answer = registry.send(owners(b"[\"bob\"]")).await;
    insta::assert_json_snapshot!(
        "owners_with_a_body_that_is_not_an_object",
        answer.snapshot()
    );
    let answer = registry.send(owners(br#"{"users":[]}"#)).await;
    insta::assert_json_snapshot!("owners_naming_nobody", answer.snapshot());

    let answer = registry
        .send(
            request(Method::DELETE, "/api/v1/crates/solo/owners")
                .header(http::header::AUTHORIZATION, &registry.admin)
                .body(Full::new(Bytes::from_static(br#"{"users":["admin"]}"#)))
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("removing_the_last_owner", answer.snapshot());

    let answer = registry.get("/api/v1/crates/%FF/owners").await;
    insta::assert_json_snapshot!("path_segment_that_is_not_utf8", answer.snapshot());

    assert_eq!(registry.events(), before, "a refused request wrote nothing");
}

#[tokio::test]
async fn what_does_not_exist_is_404() {
    let registry = Registry::start().await;
    registry.seed("solo", "1.0.0").await;

    for (name, path) in [
        ("unknown_index_file", "/index/no/ne/nothing"),
        ("unknown_endpoint", "/api/v2/everything"),
        ("unknown_api_route", "/api/v1/crates/solo/1.0.0/readme"),
        ("blob_address_that_is_not_a_sha256", "/blobs/sha256/xyz"),
        (
            "unknown_blob",
            "/blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            "download_of_an_unknown_version",
            "/api/v1/crates/solo/9.9.9/download",
        ),
        (
            "owners_of_an_unknown_crate",
            "/api/v1/crates/nothing/owners",
        ),
    ] {
        let answer = registry.get(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        insta::assert_json_snapshot!(name, answer.snapshot());
    }

    let answer = registry
        .send(
            request(Method::DELETE, "/api/v1/crates/nothing/1.0.0/yank")
                .header(http::header::AUTHORIZATION, &registry.admin)
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("yank_of_an_unknown_crate", answer.snapshot());
}

#[tokio::test]
async fn the_index_and_blobs_are_read_only() {
    let registry = Registry::start().await;
    let config = registry
        .send(
            request(Method::POST, "/index/config.json")
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("post_to_the_index", config.snapshot());
    let blob = registry
        .send(
            request(Method::DELETE, &format!("/blobs/sha256/{}", "a".repeat(64)))
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("delete_of_a_blob", blob.snapshot());
}
