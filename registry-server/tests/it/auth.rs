//! 401 with cargo's login challenge, 403, and the `/me` page the challenge points to.

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use wharf_storage::Scope;
use wharf_test_support::publish_body;

use crate::support::{Registry, request};

#[tokio::test]
async fn an_auth_required_registry_challenges_anonymous_and_bad_tokens() {
    let registry = Registry::with_config(|config| config.auth_required = true).await;

    let anonymous = registry.get("/index/config.json").await;
    insta::assert_json_snapshot!("index_without_a_token", anonymous.snapshot());

    let bogus = registry
        .send(
            request(Method::GET, "/index/se/rd/serde")
                .header(http::header::AUTHORIZATION, "wharf_bogus")
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("index_with_an_unknown_token", bogus.snapshot());

    let created = registry
        .state
        .storage
        .create_token(wharf_storage::NewToken {
            user: "leaver".to_owned(),
            scopes: vec![Scope::Read],
            expires_at: None,
            name_patterns: Vec::new(),
            label: None,
        })
        .expect("a token");
    registry
        .state
        .storage
        .revoke_token(created.info.id)
        .expect("revoked");
    let revoked = registry
        .send(
            request(Method::GET, "/api/v1/crates?q=x")
                .header(http::header::AUTHORIZATION, created.secret.expose())
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("search_with_a_revoked_token", revoked.snapshot());

    // The challenge's page needs no token, and a valid token reads.
    assert_eq!(registry.get("/me").await.status, StatusCode::OK);
    let reader = registry.token("reader", &[Scope::Read]);
    let allowed = registry
        .send(
            request(Method::GET, "/index/config.json")
                .header(http::header::AUTHORIZATION, &reader)
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
}

#[tokio::test]
async fn writes_without_a_token_are_challenged_even_on_a_public_registry() {
    let registry = Registry::start().await;
    let answer = registry
        .send(
            request(Method::PUT, "/api/v1/crates/new")
                .body(Full::new(Bytes::from(publish_body("fresh", "1.0.0"))))
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("publish_without_a_token", answer.snapshot());
    assert!(registry.events().is_empty(), "nothing was published");
}

#[tokio::test]
async fn bad_tokens_missing_scopes_and_foreign_crates_are_forbidden() {
    let registry = Registry::start().await;
    registry.seed("owned", "1.0.0").await;
    let before = registry.events();

    let bogus = registry
        .publish("wharf_bogus", publish_body("fresh", "1.0.0"))
        .await;
    insta::assert_json_snapshot!("publish_with_an_unknown_token", bogus.snapshot());

    let reader = registry.token("reader", &[Scope::Read]);
    let scoped = registry
        .publish(&reader, publish_body("fresh", "1.0.0"))
        .await;
    insta::assert_json_snapshot!("publish_without_the_scope", scoped.snapshot());

    let stranger = registry.token("stranger", &Scope::ALL);
    let foreign = registry
        .send(
            request(Method::DELETE, "/api/v1/crates/owned/1.0.0/yank")
                .header(http::header::AUTHORIZATION, &stranger)
                .body(Full::default())
                .expect("a request"),
        )
        .await;
    insta::assert_json_snapshot!("yank_by_a_non_owner", foreign.snapshot());

    assert_eq!(registry.events(), before, "a refused request wrote nothing");
}

#[tokio::test]
async fn me_tells_how_to_get_a_token() {
    let registry = Registry::start().await;
    insta::assert_json_snapshot!("me", registry.get("/me").await.snapshot());
}
