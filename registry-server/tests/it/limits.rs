//! The size limit (413, before or after reading the body) and the publish rate limits (429
//! with `Retry-After`).

use std::num::NonZeroU32;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use wharf_registry_server::ServerConfig;
use wharf_test_support::{body, metadata_json, publish_body};

use crate::support::{Registry, request};

/// A registry accepting `.crate` files of at most 1000 bytes and 1000 bytes of metadata.
async fn small_uploads() -> Registry {
    Registry::with_config(|config| {
        config.limits.max_crate_bytes = 1000;
        config.limits.max_json_bytes = 1000;
    })
    .await
}

#[tokio::test]
async fn an_upload_declared_too_large_is_refused_before_it_is_read() {
    let registry = small_uploads().await;
    let answer = registry
        .send(
            request(Method::PUT, "/api/v1/crates/new")
                .header(http::header::AUTHORIZATION, &registry.admin)
                .header(http::header::CONTENT_LENGTH, "2009")
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("declared_length_over_the_limit", answer.snapshot());
}

#[tokio::test]
async fn a_body_longer_than_the_limit_is_cut_off() {
    let registry = small_uploads().await;
    let answer = registry
        .send(
            request(Method::PUT, "/api/v1/crates/new")
                .header(http::header::AUTHORIZATION, &registry.admin)
                .body(Full::new(Bytes::from(vec![0_u8; 5000])))
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("body_over_the_limit", answer.snapshot());
}

#[tokio::test]
async fn a_crate_over_the_limit_inside_the_frame_is_413() {
    let registry = Registry::with_config(|config| config.limits.max_crate_bytes = 1000).await;
    let answer = registry
        .publish(
            &registry.admin,
            body(&metadata_json("big", "1.0.0"), &[0_u8; 1001]),
        )
        .await;
    insta::assert_json_snapshot!("crate_over_the_limit", answer.snapshot());
    assert!(registry.events().is_empty());
}

fn limit(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n)
}

/// Publishes `first` (which must pass) and then `second` as `admin`, and returns the answer
/// to `second` after checking it is a 429 that wrote nothing.
async fn refused_after(
    configure: impl FnOnce(&mut ServerConfig),
    first: (&str, &str),
    second: (&str, &str),
) -> serde_json::Value {
    let registry = Registry::with_config(configure).await;
    registry.seed(first.0, first.1).await;
    let before = registry.events();
    let answer = registry
        .publish(&registry.admin, publish_body(second.0, second.1))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text()
    );
    assert_eq!(registry.events(), before, "a refused publish wrote nothing");
    answer.snapshot()
}

#[tokio::test]
async fn the_per_minute_rate_is_429_with_retry_after() {
    let answer = refused_after(
        |config| config.rate_limits.publish_rate_per_minute = limit(1),
        ("first", "1.0.0"),
        ("second", "1.0.0"),
    )
    .await;
    insta::assert_json_snapshot!("publish_rate_per_minute", answer);
}

#[tokio::test]
async fn the_daily_limits_are_429_naming_the_limit() {
    let answer = refused_after(
        |config| config.rate_limits.publishes_per_day = limit(1),
        ("first", "1.0.0"),
        ("first", "1.0.1"),
    )
    .await;
    insta::assert_json_snapshot!("publishes_per_day", answer);

    let answer = refused_after(
        |config| config.rate_limits.new_crates_per_day = limit(1),
        ("first", "1.0.0"),
        ("second", "1.0.0"),
    )
    .await;
    insta::assert_json_snapshot!("new_crates_per_day", answer);

    let answer = refused_after(
        |config| config.rate_limits.versions_per_crate_per_day = limit(1),
        ("first", "1.0.0"),
        ("first", "1.0.1"),
    )
    .await;
    insta::assert_json_snapshot!("versions_per_crate_per_day", answer);
}
